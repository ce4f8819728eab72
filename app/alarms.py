"""RabbitMQ's resource alarms, as its management API tells them: which alarm, on which node,
and since when this web app has seen it.

When a node runs short of memory or disk, RabbitMQ raises an alarm and blocks every
connection that publishes, cluster-wide, until the resource is back (RabbitMQ docs,
"Memory and Disk Alarms"); consumers go on, which is what frees the memory. The
health check `GET /api/health/checks/alarms` answers 200 `{"status": "ok"}`, or 503
with `{"alarms": [{"node": ..., "resource": "memory" | "disk space"}]}` (RabbitMQ
docs, "HTTP API Reference"; the same on 3.10 and 4.x).

It gives no start time: `since` is when this process first saw the alarm, in an
unbroken run of sightings no more than CONTINUITY seconds apart (the page asks every
second), kept in its memory (one gunicorn worker here; several would each have their
own). An alarm not seen for longer may have ended meanwhile: the next sighting starts
a new `since`.
"""

import datetime
import time
from typing import TypedDict

import requests
from kombu import Connection

from app import management_api

# Seconds to wait for the health check: a click that is about to be answered 503 waits for it.
ALARMS_TIMEOUT = 0.5
# RabbitMQ's names of the resources, and ours.
RESOURCES = {"memory": "memory", "disk space": "disk", "disk": "disk"}
# Seconds between two sightings of an alarm for them to count as the same alarm.
CONTINUITY = 5.0
# (node, resource) -> (since, as ISO 8601; when last seen, time.monotonic()).
_sightings: dict[tuple[str, str], tuple[str, float]] = {}


class Alarm(TypedDict):
    """One resource alarm: `resource` is "memory" or "disk"; `since` an ISO 8601 UTC time."""

    resource: str
    node: str
    since: str


def resource_alarms(broker_url: str) -> list[Alarm] | None:
    """The resource alarms in effect in the cluster of `broker_url`'s RabbitMQ.

    Args:
        broker_url: the broker's URL; its user and password log in to the management API
            at RABBITMQ_MANAGEMENT_URL (app/management_api.py).

    Returns:
        The alarms, [] when there is none, None when the management API does not answer
        within ALARMS_TIMEOUT seconds (its plugin off, RabbitMQ too busy).
    """
    broker = Connection(broker_url)
    try:
        answer = management_api.get(
            "/api/health/checks/alarms", auth=(broker.userid, broker.password), timeout=ALARMS_TIMEOUT
        )
        body = answer.json()
    except (requests.RequestException, ValueError):
        return None
    if answer.status_code not in (200, 503):
        return None
    now, seen = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), time.monotonic()
    alarms = []
    for alarm in body.get("alarms", []):
        key = (alarm.get("node", "?"), RESOURCES.get(alarm.get("resource", ""), alarm.get("resource", "?")))
        since, last = _sightings.get(key, (now, seen))
        since = since if seen - last <= CONTINUITY else now
        _sightings[key] = (since, seen)
        alarms.append(Alarm(resource=key[1], node=key[0], since=since))
    for key in set(_sightings) - {(alarm["node"], alarm["resource"]) for alarm in alarms}:
        del _sightings[key]  # over: the next one starts its own time
    return alarms
