"""The tasks `worker_hello` runs. Their names and arguments are the message contract
with the web app, which sends them by name: change them as carefully as an API."""

import time
from typing import Any

from celery import Task
from celery.utils.log import get_task_logger

from worker.celery_app import celery

logger = get_task_logger(__name__)


# name= pins the task name in the messages ("say_hello"), whatever the module is
# called. bind=True passes the task itself as `self`, and with it `self.request`:
# what the worker knows of the message being run (its id, retries, delivery info).
@celery.task(name="say_hello", bind=True)
def say_hello(self: Task, name: str = "world", duration: float = 3.0, greeting: str = "Hello", **kwargs: Any) -> None:
    """Greet `name` with `greeting`, after `duration` seconds of slow work.

    The signature tolerates producers of other versions (DEMO.md step 5): every
    argument has a default, so a message from an older producer that lacks a newer
    argument still runs, and `**kwargs` takes the arguments of a newer producer
    that this worker does not know yet, which are logged and ignored.

    Args:
        name: who to greet.
        duration: how long the slow work takes, in seconds.
        greeting: the word to greet with ("Hello", "Bonjour"); added in step 4.
        **kwargs: arguments this version does not know; ignored.
    """
    if kwargs:
        logger.warning("ignoring arguments this worker does not know: %s", ", ".join(sorted(kwargs)))
    logger.info("%s, %s! (task id %s)", greeting, name, self.request.id)
    time.sleep(duration)  # the slow work that left the web request
