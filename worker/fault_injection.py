"""Failures on purpose: `say_hello`'s `fail_times` (DEMO.md step 6) and `poison` (step 9).

A real task fails by itself; this one can be told to, so that you can watch what
Celery and RabbitMQ do then.

- `fail_times` (the page's Failing attempts): the first attempts raise a
  TransientError, and `self.retry` sends the message again after a countdown that
  doubles. The stored state is RETRY until the next attempt starts.
- `poison` (the page's Poison checkbox): every delivery SIGKILLs its own pool
  process. The message is delivered DELIVERIES_WHEN_LOST times, counted by Celery
  (task_retry_on_worker_lost: a retry, with retries + 1, until say_hello's max_retries
  are spent; worker/dead_letters.py keeps a copy in hello_queue.dlq) or, in the cluster,
  by RabbitMQ (the same message back in hello_queue, until its delivery-limit; then
  RabbitMQ dead-letters it to hello_queue.dlq): worker/deliveries.py sets the two side
  by side. Instead of a loop forever.

`poison` is keyword-only in say_hello's signature: a message that passes arguments
by position keeps the meaning it had before `poison` existed, and one with a
positional argument too many still fails as "takes from 1 to 5 positional
arguments" rather than landing in `poison`.
"""

import os
import signal

from celery import Task
from celery.utils.log import get_task_logger
from celery.utils.time import get_exponential_backoff_interval

from worker.deliveries import DELIVERIES_WHEN_LOST, delivery_number

# A task logger: Celery's TaskFormatter prefixes each line with the running task,
# `say_hello[<id>]:`, whichever module logs it.
logger = get_task_logger(__name__)

# The most attempts `fail_times` may spoil; the web app accepts 0 to 5.
MAX_RETRIES = 5


class TransientError(Exception):
    """A failure worth another try: a mail server that is busy, an API that timed out."""


def inject_faults(task: Task, *, fail_times: int, poison: bool) -> None:
    """Make the running attempt of `task` fail, if `fail_times` or `poison` asks for it.

    Args:
        task: the bound task (`self` of say_hello); `task.request.retries` is how
            many attempts came before this one.
        fail_times: how many first attempts fail (0 to 5), each retried after 1, 2,
            4, 8, 16 s.
        poison: kill this pool process with SIGKILL, on every delivery of its message
            (`task.request.delivery_info` and its headers say which one: `delivery_number`).

    Returns:
        None: the attempt goes on (no fault asked, or its failing attempts are spent).

    Raises:
        celery.exceptions.Retry: from `task.retry`, for an attempt that `fail_times`
            spoils; Celery stores RETRY with the TransientError and runs the task
            again after the countdown.
    """
    attempt = task.request.retries + 1
    if poison:
        delivery = delivery_number(task.request.retries, task.request.delivery_info, vars(task.request))
        logger.error("poison: killing my own pool process (delivery %d of %d)", delivery, DELIVERIES_WHEN_LOST)
        # SIGKILL, which no Python code can catch or clean up after: what a segfault
        # in a C extension or the kernel's out-of-memory killer does to a process.
        os.kill(os.getpid(), signal.SIGKILL)
    if task.request.retries < fail_times:
        # The countdown doubles with each retry, as Celery's own autoretry_for
        # computes it (Celery docs, "Tasks: Automatic retry for known exceptions").
        countdown = get_exponential_backoff_interval(factor=1, retries=task.request.retries, maximum=16)
        error = TransientError(f"attempt {attempt} of {fail_times + 1} fails on purpose")
        # retry() sends a copy of the message, with retries + 1 and an ETA, and
        # raises Retry: this attempt ends here, and its own message is acked.
        raise task.retry(exc=error, countdown=countdown, max_retries=MAX_RETRIES)
