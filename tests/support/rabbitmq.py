"""The machine's real RabbitMQ, shared with other test runs: each run works in a vhost of its own.

Queue depths are read two ways: exactly, by AMQP passive declare (what the broker
holds this instant), and through the management API (what the learner sees in
the UI at http://localhost:15672, refreshed every 5 s by default:
`collect_statistics_interval`, RabbitMQ docs "Management Plugin").
"""

import os
import re
import time
import uuid
from dataclasses import dataclass
from urllib.parse import quote

import requests
from kombu import Connection

from tests.support.poll import wait_until
from tests.support.timing import HTTP, HTTP_SLOW, SERVICE, SERVICE_CHECK

HOST = os.environ.get("RABBITMQ_HOST", "127.0.0.1")
AMQP_PORT = int(os.environ.get("RABBITMQ_PORT", "5672"))
MANAGEMENT_URL = os.environ.get("RABBITMQ_MANAGEMENT_URL", f"http://{HOST}:15672")
USER = os.environ.get("RABBITMQ_USER", "guest")
PASSWORD = os.environ.get("RABBITMQ_PASSWORD", "guest")
HELLO_QUEUE = "hello_queue"


@dataclass
class Depth:
    """A queue's counts: `ready` messages wait for a consumer, `unacked` are delivered
    to one and not yet acknowledged; `consumers` is how many consume the queue."""

    ready: int
    consumers: int
    unacked: int | None = None


def depth_from_management(answer: requests.Response) -> Depth | None:
    """A queue's counts from the management API's answer to `GET /api/queues/VHOST/QUEUE`;
    None while the queue does not exist (404) or has not been sampled yet.

    Raises:
        requests.HTTPError: the API answered another error.
    """
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    stats = answer.json()
    if "messages_ready" not in stats or "consumers" not in stats:  # a fresh queue, not yet sampled
        return None
    return Depth(ready=stats["messages_ready"], consumers=stats["consumers"], unacked=stats["messages_unacknowledged"])


class VHost:
    """A throwaway RabbitMQ virtual host, created and deleted through the management API.

    Its methods raise `requests.HTTPError` when the management API refuses a call.

    Args:
        prefix: the start of its name; the creation time (Unix seconds) and a
            random suffix follow, so that `sweep_stale` can tell old ones.
    """

    def __init__(self, prefix: str = "hello-queue-test") -> None:
        self.name = f"{prefix}-{int(time.time())}-{uuid.uuid4().hex[:8]}"
        self.broker_url = f"amqp://{USER}:{PASSWORD}@{HOST}:{AMQP_PORT}/{quote(self.name, safe='')}"
        self._api = requests.Session()
        self._api.auth = (USER, PASSWORD)

    def _url(self, path: str) -> str:
        return f"{MANAGEMENT_URL}/api/{path}"

    def on_management_api(self, command: str) -> str:
        """A documented shell `command` that calls the management API at localhost:15672 on
        the default vhost (`%2F`, "/" quoted), aimed at this run's API and this vhost instead."""
        command = command.replace("localhost:15672", MANAGEMENT_URL.removeprefix("http://"))
        return command.replace("%2F", quote(self.name, safe=""))

    def create(self) -> None:
        """Create the vhost and give our user every permission in it."""
        vhost = quote(self.name, safe="")
        self._api.put(self._url(f"vhosts/{vhost}"), timeout=HTTP_SLOW).raise_for_status()
        permissions = {"configure": ".*", "write": ".*", "read": ".*"}
        self._api.put(
            self._url(f"permissions/{vhost}/{quote(USER)}"), json=permissions, timeout=HTTP_SLOW
        ).raise_for_status()

    def delete(self) -> None:
        """Delete the vhost, and with it every queue and message the run left."""
        self._api.delete(self._url(f"vhosts/{quote(self.name, safe='')}"), timeout=3 * HTTP_SLOW).raise_for_status()

    def depth(self, queue: str) -> Depth | None:
        """The exact counts of `queue` now, by AMQP passive declare; None if it does not exist.

        A passive declare only asks: it never creates the queue (AMQP 0-9-1 `queue.declare`).
        """
        with Connection(self.broker_url, connect_timeout=HTTP) as connection:
            try:
                _, ready, consumers = connection.default_channel.queue_declare(queue, passive=True)
            except connection.channel_errors:  # 404 NOT_FOUND
                return None
            return Depth(ready=ready, consumers=consumers)

    def wait_for_consumers(self, consumers: int, queue: str = HELLO_QUEUE, timeout: float = SERVICE) -> None:
        """Wait until exactly `consumers` consumers are attached to `queue` (passive declare).

        Raises:
            AssertionError: not so after `timeout` seconds.
        """

        def attached() -> bool:
            depth = self.depth(queue)
            return depth is not None and depth.consumers == consumers

        wait_until(attached, timeout, f"{consumers} consumer(s) on {queue}")

    def purge(self, queue: str) -> None:
        """Drop the Ready messages of `queue`, in this vhost of ours only."""
        with Connection(self.broker_url, connect_timeout=HTTP) as connection:
            connection.default_channel.queue_purge(queue)

    def management_depth(self, queue: str) -> Depth | None:
        """The counts of `queue` as the management UI shows them; None until it knows them."""
        answer = self._api.get(
            self._url(f"queues/{quote(self.name, safe='')}/{quote(queue, safe='')}"), timeout=HTTP_SLOW
        )
        return depth_from_management(answer)

    def connections(self) -> dict[str, str]:
        """The client connections to this vhost, as the UI lists them under Connections
        (it may take a few seconds to list a new one): name → the name the client gave
        itself (`connection_name`, "" if none)."""
        answer = self._api.get(self._url(f"vhosts/{quote(self.name, safe='')}/connections"), timeout=HTTP_SLOW)
        answer.raise_for_status()
        return {connection["name"]: connection.get("user_provided_name", "") for connection in answer.json()}

    def consumer_connections(self, queue: str = HELLO_QUEUE) -> set[str]:
        """The names of the connections whose channels consume `queue`, as the management API
        lists them (the queue's Consumers in the UI; it may take a few seconds to list a new
        one, and to forget a closed one: meanwhile it lists the consumer of a closed channel
        with empty `channel_details`, left out here)."""
        answer = self._api.get(self._url(f"consumers/{quote(self.name, safe='')}"), timeout=HTTP_SLOW)
        answer.raise_for_status()
        return {
            consumer["channel_details"]["connection_name"]
            for consumer in answer.json()
            if consumer["queue"]["name"] == queue and consumer["channel_details"]
        }

    def close_connection(self, name: str, reason: str) -> None:
        """Close one client connection from the broker's side, as the UI's "Force Close" button does.

        The client gets a `connection.close` with reply code 320 (CONNECTION_FORCED) and `reason`.
        """
        url = self._url(f"connections/{quote(name, safe='')}")
        answer = self._api.delete(url, headers={"X-Reason": reason}, timeout=HTTP_SLOW)
        if answer.status_code != 404:  # 404: it closed meanwhile (a passing check's connection)
            answer.raise_for_status()

    def publish(self, routing_key: str, body: str, headers: dict, content_type: str = "application/json") -> bool:
        """Publish one message to the default exchange, as the UI's "Publish message" form does.

        Returns:
            True if RabbitMQ routed it to a queue.
        """
        message = {
            "properties": {"content_type": content_type, "content_encoding": "utf-8", "headers": headers},
            "routing_key": routing_key,
            "payload": body,
            "payload_encoding": "string",
        }
        url = self._url(f"exchanges/{quote(self.name, safe='')}/amq.default/publish")
        answer = self._api.post(url, json=message, timeout=HTTP_SLOW)
        answer.raise_for_status()
        return answer.json()["routed"]


def sweep_stale(prefix: str = "hello-queue-test", older_than: float = 3600) -> list[str]:
    """Delete the vhosts that test runs killed before their clean-up left behind.

    Only names of our own form (`PREFIX-<unix seconds>-<hex>`) older than
    `older_than` seconds are deleted: a run takes a few minutes, so an older one
    is dead.

    Returns:
        The names deleted.
    """
    api = requests.Session()
    api.auth = (USER, PASSWORD)
    own = re.compile(rf"{re.escape(prefix)}-(\d+)-[0-9a-f]+")
    deleted = []
    for vhost in api.get(f"{MANAGEMENT_URL}/api/vhosts", timeout=HTTP_SLOW).json():
        match = own.fullmatch(vhost["name"])
        if match and time.time() - int(match[1]) > older_than:
            api.delete(
                f"{MANAGEMENT_URL}/api/vhosts/{quote(vhost['name'], safe='')}", timeout=3 * HTTP_SLOW
            ).raise_for_status()
            deleted.append(vhost["name"])
    return deleted


def unreachable_reason() -> str | None:
    """Why the tests cannot use RabbitMQ here, in one line; None when AMQP and the management API answer."""
    try:
        with Connection(f"amqp://{USER}:{PASSWORD}@{HOST}:{AMQP_PORT}//", connect_timeout=SERVICE_CHECK) as connection:
            connection.ensure_connection(max_retries=0, timeout=SERVICE_CHECK)
    except Exception as error:  # noqa: BLE001 - reported, whatever it is
        return (
            f"RabbitMQ is not reachable over AMQP at {HOST}:{AMQP_PORT} ({error}): "
            "start it with `rabbitmq-server -detached`"
        )
    try:
        requests.get(f"{MANAGEMENT_URL}/api/overview", auth=(USER, PASSWORD), timeout=SERVICE_CHECK).raise_for_status()
    except requests.RequestException as error:
        return (
            f"RabbitMQ's management API does not answer at {MANAGEMENT_URL} ({error}): "
            "enable it with `rabbitmq-plugins enable rabbitmq_management`"
        )
    return None
