"""The tasks `worker_hello` runs. Their names and arguments are the message contract
with the web app, which sends them by name: change them as carefully as an API."""

import os
import signal
import time
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.log import get_task_logger
from celery.utils.time import get_exponential_backoff_interval

from worker.arguments import check_say_hello_arguments
from worker.celery_app import celery

logger = get_task_logger(__name__)

# Seconds between two progress reports: the page asks for a task's state at most
# every 0.5 s, so a report every second is seen (and STARTED shows for a second).
PROGRESS_INTERVAL = 1.0
# The most attempts `fail_times` may spoil; the web app accepts 0 to 5.
MAX_RETRIES = 5
# How many times a message is delivered whose task's pool process dies every time
# (`poison`, a segfault, the out-of-memory killer): the first delivery and 4 retries
# (task_retry_on_worker_lost with this task's max_retries), then FAILURE and a copy
# in the dead-letter queue (worker/dead_letters.py), instead of a loop forever.
DELIVERIES_WHEN_LOST = 5


class TransientError(Exception):
    """A failure worth another try: a mail server that is busy, an API that timed out."""


# name= pins the task name in the messages ("say_hello"), whatever the module is
# called. bind=True passes the task itself as `self`, and with it `self.request`:
# what the worker knows of the message being run (its id, retries, delivery info),
# `self.update_state` to report progress and `self.retry` to try again later.
# max_retries and default_retry_delay (seconds) apply when the pool process running
# the task dies (task_retry_on_worker_lost, worker/celery_app.py); `fail_times`'s
# retries give their own (MAX_RETRIES, a doubling countdown).
@celery.task(name="say_hello", bind=True, max_retries=DELIVERIES_WHEN_LOST - 1, default_retry_delay=1)
def say_hello(
    self: Task,
    name: str = "world",
    duration: float = 3.0,
    greeting: str = "Hello",
    fail_times: int = 0,
    # Keyword-only (after the `*`): a message that passes arguments by position
    # keeps the meaning it had before this argument existed, and one with a
    # positional argument too many still fails as "takes from 1 to 5 positional
    # arguments" rather than landing here.
    *,
    poison: bool = False,
    **kwargs: Any,
) -> dict[str, Any]:
    """Greet `name` with `greeting`, after `duration` seconds of slow work.

    The signature tolerates producers of other versions (DEMO.md step 5): every
    argument has a default, so a message from an older producer that lacks a newer
    argument still runs, and `**kwargs` takes the arguments of a newer producer
    that this worker does not know yet, which are logged and ignored.

    While it works, it stores the state PROGRESS with `{"current": seconds done,
    "total": duration}` every `PROGRESS_INTERVAL` seconds (Celery docs, "Tasks:
    Custom states").

    Args:
        name: who to greet.
        duration: how long the slow work takes, in seconds.
        greeting: the word to greet with ("Hello", "Bonjour"); added in step 4.
        fail_times: how many first attempts fail on purpose (0 to 5), each retried
            after 1, 2, 4, 8, 16 s; added in step 6.
        poison: kill this task's own pool process with SIGKILL on every attempt, as a
            segfault or the out-of-memory killer would (step 9); the message is
            delivered DELIVERIES_WHEN_LOST times, then dead-lettered.
        **kwargs: arguments this version does not know; ignored.

    Returns:
        The greeting and what `self.request` knew of the message: `{"greeting":
        str, "duration": seconds, "task_id": str, "retries": int, "hostname": the
        worker's name, "routing_key": the routing key the message came with}`.

    Raises:
        TypeError: an argument of the wrong type, e.g. `duration="abc"` or
            `fail_times=true` (`worker.arguments`). Not retried: the same
            message would fail again. Celery stores FAILURE and acks the
            message: with task_acks_late, a failed task's message is acked
            too (task_acks_on_failure, True unless set otherwise).
        celery.exceptions.Retry: an attempt that `fail_times` spoils; Celery
            stores the state RETRY and runs the task again after the countdown.
        celery.exceptions.SoftTimeLimitExceeded: the task ran past the worker's
            soft time limit (task_soft_time_limit, seconds); logged, and FAILURE.
    """
    check_say_hello_arguments(name=name, duration=duration, greeting=greeting, fail_times=fail_times, poison=poison)
    if poison:
        attempt = self.request.retries + 1
        logger.error("poison: killing my own pool process (delivery %d of %d)", attempt, DELIVERIES_WHEN_LOST)
        # SIGKILL, which no Python code can catch or clean up after: what a segfault
        # in a C extension or the kernel's out-of-memory killer does to a process.
        os.kill(os.getpid(), signal.SIGKILL)
    if kwargs:
        logger.warning("ignoring arguments this worker does not know: %s", ", ".join(sorted(kwargs)))
    if self.request.retries < fail_times:
        # The countdown doubles with each retry, as Celery's own autoretry_for
        # computes it (Celery docs, "Tasks: Automatic retry for known exceptions").
        countdown = get_exponential_backoff_interval(factor=1, retries=self.request.retries, maximum=16)
        error = TransientError(f"attempt {self.request.retries + 1} of {fail_times + 1} fails on purpose")
        # retry() sends a copy of the message, with retries + 1 and an ETA, and
        # raises Retry: this attempt ends here, and its own message is acked.
        raise self.retry(exc=error, countdown=countdown, max_retries=MAX_RETRIES)
    logger.info("%s, %s! (task id %s)", greeting, name, self.request.id)
    started, done = time.monotonic(), 0.0
    try:
        while done < duration:
            step = min(PROGRESS_INTERVAL, duration - done)
            time.sleep(step)  # the slow work that left the web request
            done = round(done + step, 3)
            if done < duration:
                self.update_state(state="PROGRESS", meta={"current": done, "total": duration})
    except SoftTimeLimitExceeded:
        # Raised inside the task when the soft time limit has passed: its chance to
        # clean up (close a file, say what it got done) before the hard limit kills
        # its pool process (Celery docs, "Workers Guide: Time Limits").
        logger.error("soft time limit reached after %.1f of %s s: stopping", time.monotonic() - started, duration)
        raise
    return {
        "greeting": f"{greeting}, {name}!",
        "duration": duration,
        "task_id": self.request.id,
        "retries": self.request.retries,
        "hostname": self.request.hostname,
        "routing_key": self.request.delivery_info.get("routing_key"),
    }
