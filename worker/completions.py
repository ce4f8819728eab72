"""Count, per task id, how many times a task ran to the end: the proof of "none lost, none run twice".

RabbitMQ and Celery promise at-least-once delivery: with `task_acks_late`, a
message is acked only after its task has finished, so a worker that dies in
between gets the message delivered again, and the task runs again. A task that
completed twice would show here as 2. RELIABILITY.md's scenarios read these
counts: `redis-cli get hello-queue:completed:<task-id>`.
"""

from typing import Any

from celery import Task
from celery.backends.redis import RedisBackend
from celery.signals import task_success
from celery.utils.log import get_task_logger
from redis.exceptions import OutOfMemoryError

KEY = "hello-queue:completed:{task_id}"

# A task logger: the line starts with the task, `say_hello[<id>]:` (Celery's TaskFormatter).
logger = get_task_logger(__name__)


def completions_key(task_id: str) -> str:
    """The Redis key that counts the completions of `task_id`."""
    return KEY.format(task_id=task_id)


# task_success is sent in the pool process that ran the task, right after the
# result backend stored SUCCESS and before the worker acks the message (Celery
# docs, "Signals: task_success"; celery/app/trace.py).
@task_success.connect
def count_completion(sender: Task, **kwargs: Any) -> None:
    """Add 1 to the completions of the task that just succeeded.

    The count lives in the result backend's Redis (`sender.backend.client`) as
    long as the task's result does (`result_expires`, seconds). A worker started
    with another result backend (TROUBLESHOOTING.md's rpc:// case) counts nothing:
    the count is the tests' measure, not part of the task. Nor does a full Redis
    (worker/redis_full.py), which refuses INCR as it refuses the SUCCESS state: one
    line says so, where an error would have Celery log a traceback for this handler.
    """
    if not isinstance(sender.backend, RedisBackend):
        return
    key = completions_key(sender.request.id)
    try:
        with sender.backend.client.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, sender.app.conf.result_expires)
            pipe.execute()
    except OutOfMemoryError:
        logger.warning("its completion was not counted: Redis is full")
