"""The task `worker_hello` runs, `say_hello`. Its name and arguments are the message
contract with the web app, which sends it by name: change them as carefully as an API."""

import time
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.log import get_task_logger

from worker.abandoned import skip_if_abandoned
from worker.arguments import check_say_hello_arguments
from worker.broker_dead_letters import BrokerCountedRequest
from worker.celery_app import celery
from worker.deliveries import DELIVERIES_WHEN_LOST
from worker.fault_injection import inject_faults

logger = get_task_logger(__name__)

# Seconds between two progress reports: the page asks for a task's state about every
# 0.5 s (page.js), so a report every second is seen (and STARTED shows for a second).
PROGRESS_INTERVAL = 1.0


# name= is the name the web app sends by (send_task("say_hello")); without it the task
# would be worker.tasks.say_hello, and every message "unregistered" (TROUBLESHOOTING.md,
# case 2). bind=True passes the task as `self`
# (self.request: what the worker knows of the message). max_retries, default_retry_delay
# (s): for a task whose pool process dies (task_retry_on_worker_lost; worker/fault_injection.py).
# Request: what the worker's main process does with each message, Celery's own and, where
# RabbitMQ counts the deliveries of a message whose pool process dies, a line and a state
# for each (worker/broker_dead_letters.py).
@celery.task(
    name="say_hello",
    bind=True,
    max_retries=DELIVERIES_WHEN_LOST - 1,
    default_retry_delay=1,
    Request=BrokerCountedRequest,
)
def say_hello(
    self: Task,
    name: str = "world",
    duration: float = 3.0,
    greeting: str = "Hello",
    fail_times: int = 0,
    *,  # poison is keyword-only: worker/fault_injection.py says why
    poison: bool = False,
    **kwargs: Any,
) -> dict[str, Any]:
    """Greet `name` with `greeting`, after `duration` seconds of slow work.

    Every argument has a default, and `**kwargs` takes those this version does not
    know (logged, ignored): producers older and newer than this worker still run
    (DEMO.md step 5). While it works it stores the state PROGRESS with
    `{"current": seconds done, "total": duration}` (Celery docs, "Tasks: Custom states").

    Args:
        name: who to greet.
        duration: how long the slow work takes, in seconds.
        greeting: the word to greet with ("Hello", "Bonjour"); added in step 4.
        fail_times, poison: failures on purpose (steps 6 and 9): `worker.fault_injection`.
        **kwargs: arguments this version does not know; ignored.

    Returns:
        `{"greeting": str, "duration": seconds, "task_id": str, "retries": int,
        "hostname": the worker's name, "routing_key": str}`, from `self.request`.

    Raises:
        TypeError: an argument of the wrong type (`worker.arguments`): FAILURE, not
            retried, and acked (task_acks_on_failure).
        celery.exceptions.Retry: an attempt that `fail_times` spoils.
        SoftTimeLimitExceeded: past task_soft_time_limit; logged, then FAILURE.
    """
    skip_if_abandoned(self)  # its click was answered 503 (app/publish.py)
    check_say_hello_arguments(name=name, duration=duration, greeting=greeting, fail_times=fail_times, poison=poison)
    if kwargs:
        logger.warning("ignoring arguments this worker does not know: %s", ", ".join(sorted(kwargs)))
    inject_faults(self, fail_times=fail_times, poison=poison)
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
        # Raised inside the task past the soft time limit: its chance to clean up
        # before the hard limit kills its pool process (Celery docs, "Workers Guide: Time Limits").
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
