"""Whether hello_queue, a quorum queue, has lost its majority: why RabbitMQ neither takes
nor refuses a click's message while most of the cluster's nodes are down.

A quorum queue has a member on each node of the cluster (docker-compose.cluster.yml) and
takes a message once a majority of its members have written it: Raft (RabbitMQ docs,
"Quorum Queues"). With two of three nodes down no majority is left, and RabbitMQ neither
confirms the publish nor rejects it: the web app answers 503 once CONFIRM_TIMEOUT is over
(app/publish.py), and this module says why.

RabbitMQ's management API names the queue's members and those online
(`GET /api/queues/<vhost>/<name>`: `members`, `online`; RabbitMQ 4.x, quorum queues only).
The rule is RabbitMQ's own (rabbit_quorum_queue.erl, `is_minority`): fewer online than
half the members plus one. The API answers from any node that runs, the minority's too.
"""

from typing import TypedDict
from urllib.parse import quote

import requests
from kombu import Connection

from app import management_api


class Minority(TypedDict):
    """A quorum queue without its majority: its `members` and the ones `online`, node names."""

    members: list[str]
    online: list[str]


def minority(queue: dict) -> Minority | None:
    """The minority that `queue` is left with, from the management API's JSON of one queue.

    Returns:
        Its members and the ones online when fewer than a majority are online; None when a
        majority is, or when `queue` is no quorum queue (a classic queue has no members).
    """
    members, online = queue.get("members"), queue.get("online")
    if not isinstance(members, list) or not isinstance(online, list) or not members:
        return None
    if len(online) >= len(members) // 2 + 1:
        return None
    return Minority(members=sorted(members), online=sorted(online))


def queue_minority(broker_url: str, queue: str, timeout: float) -> Minority | None:
    """The minority that `queue` is left with on the RabbitMQ of `broker_url`, if it lost its majority.

    Args:
        broker_url: the broker's URL (the first of a `;`-separated list); its user, password
            and vhost log in to the management API at RABBITMQ_MANAGEMENT_URL.
        queue: the queue's name.
        timeout: seconds to wait for the management API.

    Returns:
        As `minority`; None too when the management API does not answer in time (the node
        it is on is down as well, its plugin is off), or knows no such queue.
    """
    broker = Connection(broker_url)
    path = f"/api/queues/{quote(broker.virtual_host, safe='')}/{quote(queue, safe='')}"
    try:
        answer = management_api.get(path, auth=(broker.userid, broker.password), timeout=timeout)
        answer.raise_for_status()
        return minority(answer.json())
    except (requests.RequestException, ValueError):
        return None
