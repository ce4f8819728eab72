"""`GET /status`, for the page's panel: hello_queue's depth, the state of supervisord's programs,
RabbitMQ's resource alarm, if one is on, and in a cluster whether hello_queue lost its majority.

Read-only: nothing here starts or stops a program or touches a message.
"""

import http.client
import os
import xmlrpc.client
from typing import TypedDict
from urllib.parse import quote

import requests
from amqp.exceptions import NotFound
from celery import Celery
from flask import Blueprint, current_app
from kombu.exceptions import OperationalError
from supervisor import childutils

from app import management_api
from app.alarms import ALARMS_TIMEOUT, resource_alarms
from app.celery_app import HELLO_QUEUE
from app.failover import connect
from app.majority import queue_minority
from app.publish import answer_within

bp = Blueprint("status", __name__)


class QueueDepth(TypedDict):
    """A queue's counts, as RabbitMQ's UI shows them under Queues."""

    name: str
    ready: int
    unacked: int | None
    consumers: int


def queue_depth(celery: Celery, queue: str) -> QueueDepth:
    """The counts of `queue` on the broker of `celery`.

    `ready` and `consumers` are exact, from an AMQP passive `queue.declare`: it
    only asks, and never creates the queue (0 and 0 if it does not exist yet).
    `unacked` (delivered to a consumer, not yet acked) comes from the
    management API, which refreshes it every 5 s (RabbitMQ docs, "Management
    Plugin": collect_statistics_interval); None when that API does not answer.

    Args:
        celery: the producer Celery object: its connection pool and broker URL.
        queue: the queue's name.

    Raises:
        kombu.exceptions.OperationalError: the broker is unreachable, refused to
            answer, or did not answer within broker_connection_timeout.
    """
    # The pool keeps one connection open between calls: the page asks every
    # second, and a new connection each time would flood RabbitMQ's log.
    with celery.pool.acquire(block=True, timeout=2) as connection:
        try:
            # Connects if need be, to each node of a cluster in turn, each in
            # broker_connection_timeout (app/failover.py); a failure is raised as
            # kombu's OperationalError, which the app answers with 503.
            connect(connection)
            # Each answer within broker_connection_timeout: on an open connection to a
            # RabbitMQ that stopped reading, GET /status would otherwise hang, and
            # gunicorn's one worker with it, clicks included, until its 60 s timeout.
            with answer_within(connection, connection.connect_timeout), connection.channel() as channel:
                _, ready, consumers = channel.queue_declare(queue, passive=True)
        except NotFound:  # 404 NOT_FOUND: not declared yet
            ready, consumers = 0, 0
        except connection.channel_errors as error:  # any other refusal (ACCESS_REFUSED, ...)
            raise OperationalError(f"the broker would not tell: {error}") from error
        except TimeoutError as error:  # no answer in time: a frame may be half read
            connection.collect()  # so that the pool connects afresh next time
            raise OperationalError(f"no answer within {connection.connect_timeout:g} s") from error
        except connection.connection_errors as error:  # it died since the last call
            connection.collect()
            raise OperationalError(f"lost the connection to the broker: {error}") from error
        unacked = _management_unacked(connection.userid, connection.password, connection.virtual_host, queue)
    return QueueDepth(name=queue, ready=ready, unacked=unacked, consumers=consumers)


def _management_unacked(user: str, password: str, vhost: str, queue: str) -> int | None:
    path = f"/api/queues/{quote(vhost, safe='')}/{quote(queue, safe='')}"
    try:
        answer = management_api.get(path, auth=(user, password), timeout=1)
        answer.raise_for_status()
        return answer.json().get("messages_unacknowledged")  # absent until first sampled
    except (requests.RequestException, ValueError):
        return None


def program_states() -> dict[str, str] | None:
    """The state (RUNNING, STOPPED, ...) of each program of the supervisord that runs this process.

    supervisord tells its programs where its socket is (SUPERVISOR_SERVER_URL),
    and supervisor's own client talks XML-RPC over it (supervisor docs,
    "Subprocess Environment" and "XML-RPC API Documentation").

    Returns:
        `{program name: state name}`; None when this process does not run under
        supervisord (`flask run`, tests) or supervisord does not answer.
    """
    if "SUPERVISOR_SERVER_URL" not in os.environ:
        return None
    try:
        programs = childutils.getRPCInterface(os.environ).supervisor.getAllProcessInfo()
    except (OSError, http.client.HTTPException, xmlrpc.client.Error):
        return None
    return {program["name"]: program["statename"] for program in programs}


@bp.get("/status")
def status() -> dict | tuple[dict, int]:
    """hello_queue's counts and the programs' states, for the page's panel (read-only).

    Returns:
        200 with `{"queue": {"name", "ready", "unacked", "consumers"},
        "programs": {"web": "RUNNING", "worker_hello": "STOPPED", ...} | null,
        "alarm": {"resource": "memory" | "disk", "node", "since"} | null,
        "quorum": {"members": [node, ...], "online": [node, ...]} | null}`
        (`queue_depth`: which count comes from where; `app.alarms`: the alarm;
        `app.majority`: quorum, while hello_queue is a quorum queue without its majority).

        503 with `{"error": str}` when the broker cannot tell the queue's depth.
    """
    try:
        queue = queue_depth(current_app.extensions["celery"], HELLO_QUEUE)
    except OperationalError as error:
        return {"error": f"cannot read {HELLO_QUEUE}'s depth from the broker: {error}"}, 503
    broker_url = current_app.extensions["celery"].conf.broker_url
    alarms = resource_alarms(broker_url)
    # Asked only of a management API that just answered, as app/publish.py does.
    quorum = queue_minority(broker_url, HELLO_QUEUE, ALARMS_TIMEOUT) if alarms == [] else None
    return {"queue": queue, "programs": program_states(), "alarm": alarms[0] if alarms else None, "quorum": quorum}
