"""One log line naming each message the worker rejects unread, so that you can tell which one it dropped.

Celery rejects a message it will not even read (a pickle, when `accept_content`
is JSON only) and logs why, but not which message: that log shows the body,
never the task name and id that the message's headers carry.
"""

from typing import Any

from celery.signals import task_rejected
from celery.utils.log import get_logger

logger = get_logger(__name__)


@task_rejected.connect
def log_rejected_message(message: Any, exc: BaseException | None = None, **_: Any) -> None:
    """Log the task name and id of a message the worker rejects, and why.

    Celery sends the `task_rejected` signal from its consumer, in the worker's
    main process, after it rejected the message without requeueing it: RabbitMQ
    drops it (Celery docs, "Signals: task_rejected").

    Args:
        message: the kombu message; its `headers` hold the task name and id
            (Celery docs, "Message Protocol"), or are None for a message that
            is no Celery task at all.
        exc: why it was rejected, e.g. kombu's ContentDisallowed; None for a
            message that is no Celery task.
    """
    headers = message.headers or {}
    reason = f"{type(exc).__name__}: {exc}" if exc else "not a Celery task message"
    logger.error("Rejected %s[%s] without requeue, dropped: %s", headers.get("task"), headers.get("id"), reason)
