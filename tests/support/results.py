"""What the worker left in Redis (the result backend), read straight from it."""

import json
from datetime import datetime

import redis

from tests.support.poll import wait_until
from tests.support.timing import DRAIN
from worker.completions import completions_key

# The stacks of the tests use the default result backend: a local Redis, db 0.
REDIS_URL = "redis://localhost:6379/0"
_redis = redis.Redis.from_url(REDIS_URL)


def completions(task_ids: list[str]) -> list[int]:
    """How many times each task ran to the end (`worker.completions`), in the order of `task_ids`; 0 for never."""
    values = _redis.mget([completions_key(task_id) for task_id in task_ids])
    return [int(value or 0) for value in values]


def _metas(task_ids: list[str]) -> list[dict | None]:
    """What the worker last stored about each task (Celery's `celery-task-meta-<id>` keys); None for nothing."""
    values = _redis.mget([f"celery-task-meta-{task_id}" for task_id in task_ids])
    return [json.loads(value) if value else None for value in values]


def states(task_ids: list[str]) -> list[str]:
    """Each task's state as the worker last stored it; PENDING for none."""
    return [meta["status"] if meta else "PENDING" for meta in _metas(task_ids)]


def workers(task_ids: list[str]) -> list[str | None]:
    """The node name of the worker that ran each task (`worker_hello@<host>`, ...), as it stored
    it with the task's state (`result_extended`); None for a task that stored nothing."""
    return [meta and meta["worker"] for meta in _metas(task_ids)]


def last_done(task_ids: list[str]) -> float:
    """When the last of `task_ids` ended: the latest `date_done` the worker stored with their
    states (Celery's result meta; an ISO 8601 time in UTC), in Unix seconds.

    Raises:
        AssertionError: one of them has stored no end yet.
    """
    ends = [meta and meta["date_done"] for meta in _metas(task_ids)]
    assert None not in ends, f"{ends.count(None)} task(s) not ended yet"
    return max(datetime.fromisoformat(end).timestamp() for end in ends)


def wait_for_success(task_ids: list[str], timeout: float = DRAIN) -> None:
    """Wait until every one of `task_ids` has stored SUCCESS and counted its completion.

    Raises:
        AssertionError: not so after `timeout` seconds.
    """

    def all_done() -> bool:
        return all(state == "SUCCESS" for state in states(task_ids)) and all(completions(task_ids))

    wait_until(all_done, timeout, f"{len(task_ids)} task(s) to succeed", interval=0.2)
