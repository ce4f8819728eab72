"""A task whose POST /hello was answered 503 does not run, even if its message arrives.

Why: when RabbitMQ blocks a publisher (a resource alarm) or does not confirm a
message in time, the web app answers 503: "this task will not run". But the bytes
it had written may still be read, and the message routed, once the alarm ends
(RabbitMQ stops reading a blocked connection; it does not throw away what it had
not read). So the two sides claim each task in Redis, which RabbitMQ's alarm does
not block, with one atomic `SET ... NX` each (Redis docs, "SET"): the web app
claims it as abandoned before it answers 503 (app/publish.py), a worker as started
before it runs it. Whoever claims first wins.

Redis full (maxmemory reached with the noeviction policy) refuses the worker's
`SET`, a write, and still answers its `GET`, a read (Redis docs, "Key eviction"):
the worker then reads the claim, drops a task claimed as abandoned, and runs any
other. The web app cannot claim a task either while Redis is full: it answers 503,
"the result backend (Redis) is full, nothing was queued", before it publishes
(app/errors.py), so no click answered 503 then has a message that could run.

What this refuses to do: drop a task whose claim it cannot read. Redis down means
no result backend, and the task fails to store its state anyway; a result backend
other than Redis (rpc://, TROUBLESHOOTING.md case 3) holds no claims, and the web
app then answers that the task may still run.
"""

from celery import Task
from celery.exceptions import Ignore
from celery.utils.log import get_task_logger
from redis.exceptions import OutOfMemoryError

logger = get_task_logger(__name__)

# Shared with the web app (app/publish.py): the key and its two values.
CLAIM_PREFIX = "hello-queue:claim:"
ABANDONED = b"abandoned"
STARTED = "started"


def skip_if_abandoned(task: Task) -> None:
    """Claim the running task as started, unless the web app abandoned it first.

    A task claimed as started before (a retry, a redelivery after a crash) runs
    again: at least once, as acks_late promises.

    Args:
        task: the bound task (`self` of say_hello); its id is `task.request.id`.

    Raises:
        celery.exceptions.Ignore: the web app answered 503 for this task: its state is
            stored as REVOKED, its message acked, and it does not run.
    """
    client = getattr(task.backend, "client", None)
    if client is None:  # a result backend other than Redis (rpc://, TROUBLESHOOTING.md case 3): no claims
        return
    key = CLAIM_PREFIX + task.request.id
    try:
        claimed = client.set(key, STARTED, nx=True, ex=task.app.conf.result_expires)
    except OutOfMemoryError:  # Redis is full: not claimed, but the claim can still be read
        claimed = False
    if claimed or client.get(key) != ABANDONED:
        return
    logger.warning("dropped: its POST /hello was answered 503, so it does not run")
    task.backend.mark_as_revoked(task.request.id, reason="abandoned by the web app (503)", request=task.request)
    raise Ignore()
