"""What the worker left in Redis (the result backend), read straight from it."""

import json

import redis

from tests.support.poll import wait_until
from worker.completions import completions_key

# The stacks of the tests use the default result backend: a local Redis, db 0.
REDIS_URL = "redis://localhost:6379/0"
_redis = redis.Redis.from_url(REDIS_URL)


def completions(task_ids: list[str]) -> list[int]:
    """How many times each task ran to the end (`worker.completions`), in the order of `task_ids`; 0 for never."""
    values = _redis.mget([completions_key(task_id) for task_id in task_ids])
    return [int(value or 0) for value in values]


def states(task_ids: list[str]) -> list[str]:
    """Each task's state as the worker last stored it (Celery's `celery-task-meta-<id>` keys); PENDING for none."""
    values = _redis.mget([f"celery-task-meta-{task_id}" for task_id in task_ids])
    return [json.loads(value)["status"] if value else "PENDING" for value in values]


def wait_for_success(task_ids: list[str], timeout: float = 60) -> None:
    """Wait until every one of `task_ids` has stored SUCCESS and counted its completion.

    Raises:
        AssertionError: not so after `timeout` seconds.
    """

    def all_done() -> bool:
        return all(state == "SUCCESS" for state in states(task_ids)) and all(completions(task_ids))

    wait_until(all_done, timeout, f"{len(task_ids)} task(s) to succeed", interval=0.2)
