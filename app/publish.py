"""POST /hello's publish, bounded: RabbitMQ takes the message within seconds, or the click is
told why not, and the task it asked for never runs.

Why a bound of our own: during a resource alarm RabbitMQ stops reading from every
connection that publishes (RabbitMQ docs, "Memory and Disk Alarms"). TCP stays up,
the publish waits, no publisher confirm comes, and Celery has no time limit for that
(celery/celery#2689, #10386): the click hangs until gunicorn kills its worker. What
bounds it here comes from py-amqp and kombu:

- `on_blocked` (py-amqp's `Connection`): RabbitMQ sends connection.blocked to a
  connection that publishes during an alarm (RabbitMQ docs, "Blocked Connection
  Notifications"); the callback raises `Blocked`, which ends the wait at once.
- `confirm_timeout` (py-amqp's `basic_publish_confirm`, through kombu and
  `send_task`): the longest wait for the confirm, for a broker that neither confirms
  nor says it is blocked.
- a socket timeout (`answer_within`): the same bound for every other answer the
  publish may wait for first, with no time limit of py-amqp's: channel.open,
  confirm.select and queue.declare, on a connection that has not published yet.
- `retry=False`: Celery's own publish retry would send the same message again after
  a timeout, up to 4 copies; here only a connection that broke is tried again.
- `collect()` (kombu): drop the connection without AMQP's polite close, which waits,
  with no bound, for an answer from a broker that no longer reads.

A message that was not confirmed may still be in RabbitMQ: the bytes already written
are read, and routed, once the alarm ends. So before it answers 503, the web app
claims the task in Redis as abandoned (`claim`), and the worker, which claims each
task as started before it runs it (worker/abandoned.py), drops one that the web app
claimed first. Redis is not blocked by RabbitMQ's alarm. Whoever claims first wins:
a click answered 503 never runs, one answered 202 runs at least once.

A cluster whose hello_queue, a quorum queue, lost its majority (two of three nodes
down) neither confirms nor rejects either: the same bound answers, and the answer says
which nodes are left (app/majority.py).
"""

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from celery import Celery
from kombu import Connection
from kombu.exceptions import OperationalError

from app.alarms import ALARMS_TIMEOUT, Alarm, resource_alarms
from app.failover import connect
from app.majority import Minority, queue_minority

HELLO_TASK = "say_hello"
# Seconds to wait for RabbitMQ's confirm of one publish; with a second attempt after
# a broken connection, and the question to the management API (ALARMS_TIMEOUT), a
# click is answered within 3 s.
CONFIRM_TIMEOUT = 1.0
ATTEMPTS = 2
# The claim of a task, shared with the worker (worker/abandoned.py): "abandoned" when the
# web app gave up on its message, "started" when a worker began to run it.
CLAIM_PREFIX = "hello-queue:claim:"
ABANDONED = "abandoned"


class Blocked(Exception):
    """RabbitMQ said connection.blocked: a resource alarm is on (py-amqp's `on_blocked`)."""


def raise_blocked(reason: str | None = None) -> None:
    """py-amqp's `on_blocked` callback (broker_transport_options, app/celery_app.py).

    Raises:
        Blocked: always, so that the publish waiting for its confirm stops now.
    """
    raise Blocked(reason or "connection blocked")


class NotQueued(Exception):
    """A message RabbitMQ did not confirm in time; answered as HTTP 503 (app/errors.py).

    Args:
        task_id: the task's id, which the answer carries.
        reason: what happened, in words a user can act on.
        alarm: the resource alarm that explains it, if the management API names one.
        will_run: False when the task is claimed as abandoned (it never runs); None
            when Redis could not take the claim (its message may still run).
        quorum: the members of hello_queue, a quorum queue, and those online, when fewer
            than a majority are (app/majority.py), which explains it too.
    """

    def __init__(
        self, task_id: str, reason: str, alarm: Alarm | None, will_run: bool | None, quorum: Minority | None = None
    ) -> None:
        super().__init__(reason)
        self.task_id = task_id
        self.reason = reason
        self.alarm = alarm
        self.will_run = will_run
        self.quorum = quorum


def publish_hello(celery: Celery, task_id: str, kwargs: dict) -> None:
    """Send `say_hello` with `kwargs` to its queue, and return once RabbitMQ confirmed it.

    Args:
        celery: the producer Celery object; its `broker_transport_options` hold
            `confirm_publish` and `on_blocked` (app/celery_app.py).
        task_id: the task's id (a UUID string), noted by the caller beforehand.
        kwargs: the task's keyword arguments (the message contract).

    Raises:
        NotQueued: RabbitMQ blocked the publish, or did not confirm it within
            CONFIRM_TIMEOUT seconds; the task is claimed as abandoned first.
        kombu.exceptions.OperationalError: no connection to RabbitMQ could be
            opened (within broker_connection_timeout): nothing was written, so
            nothing can run later.
    """
    for attempt in range(1, ATTEMPTS + 1):
        with celery.producer_or_acquire() as producer:
            # Connect first, if the pool has no open connection, to each node of a
            # cluster in turn (app/failover.py): a failure here wrote nothing, and is
            # answered as "unreachable" (app/errors.py).
            connect(producer.connection)
            try:
                # A connection that has not published yet (opened by GET /status, or
                # just now) first opens its channel, in confirm mode, and declares
                # hello_queue: on a RabbitMQ that stopped reading, without a bound,
                # the click would hang until gunicorn's timeout.
                with answer_within(producer.connection, CONFIRM_TIMEOUT):
                    celery.send_task(
                        HELLO_TASK,
                        kwargs=kwargs,
                        task_id=task_id,
                        producer=producer,
                        retry=False,
                        confirm_timeout=CONFIRM_TIMEOUT,
                    )
                return
            except Blocked:
                producer.connection.collect()
                reason = "RabbitMQ blocked the publish"
            except OperationalError as error:
                producer.connection.collect()
                if not isinstance(error.__cause__, TimeoutError):
                    if attempt < ATTEMPTS:
                        continue  # a pooled connection that broke since its last use: once more, afresh
                    raise
                reason = f"RabbitMQ did not confirm the message within {CONFIRM_TIMEOUT:g} s"
        abandon(celery, task_id, reason)  # raises NotQueued, unless a worker started the task
        return


@contextmanager
def answer_within(connection: Connection, seconds: float) -> Iterator[None]:
    """Bound each wait for RabbitMQ's answer on `connection` (kombu's, connected) to `seconds`,
    in the block it guards: the wait raises TimeoutError.

    py-amqp waits for most answers with no time limit (channel.open, confirm.select,
    queue.declare, channel.close): once connected, its socket blocks without a timeout
    (amqp/transport.py, `_init_socket`; celery/py-amqp#19). A socket timeout is what
    its own waits with a timeout use (`having_timeout`). Not `having_timeout` itself:
    it then restores the timeout on a socket that py-amqp may have closed meanwhile
    (RabbitMQ closed the connection), and its OSError (EBADF) hides the error that
    closed it, which publish_hello answers by trying again.

    A transport without a socket (kombu's memory://, in the unit tests) waits for
    nothing, and gets no bound.
    """
    transport = getattr(connection.connection, "transport", None)
    sock = getattr(transport, "sock", None)
    if sock is None:
        yield
        return
    before = sock.gettimeout()
    sock.settimeout(seconds)
    try:
        yield
    finally:
        if transport.sock is sock:  # not closed meanwhile (py-amqp forgets a socket it closes)
            sock.settimeout(before)


def abandon(celery: Celery, task_id: str, reason: str) -> None:
    """Claim `task_id` as abandoned, unless a worker started it already, and say why.

    Raises:
        NotQueued: always, unless a worker had claimed the task first: then the
            message did arrive, the task runs, and the click is a success.
    """
    alarms = resource_alarms(celery.conf.broker_url)
    alarm = alarms[0] if alarms else None
    # No alarm, and the management API answers: is hello_queue a quorum queue left without its
    # majority? Not asked when the API did not answer in time, so that a click to a RabbitMQ
    # that reads nothing still waits no longer than CONFIRM_TIMEOUT and ALARMS_TIMEOUT.
    queue = celery.conf.task_routes[HELLO_TASK]["queue"]
    quorum = queue_minority(celery.conf.broker_url, queue, ALARMS_TIMEOUT) if alarms == [] else None
    key = CLAIM_PREFIX + task_id
    try:
        client = getattr(celery.backend, "client", None)
        if client is None:  # a result backend other than Redis (rpc://): nowhere to claim it
            raise redis.RedisError("the result backend is not Redis")
        claimed = client.set(key, ABANDONED, nx=True, ex=celery.conf.result_expires)
        if not claimed and client.get(key) != ABANDONED.encode():
            return  # a worker claimed it first: it runs
        will_run: bool | None = False
    except redis.RedisError:
        will_run = None
    raise NotQueued(task_id, explain(reason, alarm, will_run, quorum), alarm, will_run, quorum)


def explain(reason: str, alarm: Alarm | None, will_run: bool | None, quorum: Minority | None = None) -> str:
    """The error's text: what happened, why, and what to do (RabbitMQ docs, "Memory and Disk Alarms",
    "Quorum Queues")."""
    if alarm:
        until = {
            "memory": "its memory use is back under vm_memory_high_watermark",
            "disk": "its free disk space is back above disk_free_limit",
        }[alarm["resource"]]
        reason = (
            f"{reason}: its {alarm['resource']} alarm is on (node {alarm['node']}), which blocks every "
            f"publisher until {until}; consumers keep draining hello_queue"
        )
    if quorum:
        reason = (
            f"{reason}: hello_queue is a quorum queue with {len(quorum['online'])} of its "
            f"{len(quorum['members'])} members online ({', '.join(quorum['online']) or 'none'}), and takes a "
            "message only while a majority of them run; it does again once enough of its nodes are back"
        )
    until = "its nodes are back" if quorum else "the alarm ends"
    outcome = {
        False: "This task will not run; try again in a minute",
        None: f"Its message may still be in RabbitMQ, and run once {until}",
    }[will_run]
    return f"{reason}. {outcome}."
