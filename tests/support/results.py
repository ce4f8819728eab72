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


class PublishedStates:
    """Every state the worker stores, in the order it stores them, as Celery's Redis result
    backend publishes each on the pub/sub channel `celery-task-meta-<task id>` when it sets
    that key (celery/backends/redis.py, `RedisBackend._set`).

    A state that lasts a second (STARTED, PROGRESS, RETRY) cannot be missed here, as a
    poll that stalls for a second misses it. But Redis forwards a message only to those
    subscribed when it is published, and it keeps none: open this before the worker can
    run the task. Use it as a context manager: it subscribes on entry, leaves on exit.
    """

    def __init__(self) -> None:
        self._pubsub = _redis.pubsub()
        self._metas: dict[str, list[dict]] = {}

    def __enter__(self) -> "PublishedStates":
        # Every task's channel: a task's id is known only once the web app has sent it.
        self._pubsub.psubscribe("celery-task-meta-*")
        # Subscribed only once Redis confirms it: a state published before would not reach us.
        wait_until(self._confirmed, 5, "Redis to confirm the subscription to celery-task-meta-*", interval=0)
        return self

    def __exit__(self, *_: object) -> None:
        self._pubsub.close()

    def _confirmed(self) -> bool:
        message = self._pubsub.get_message(timeout=0.1)
        return bool(message) and message["type"] == "psubscribe"

    def _read_one(self) -> None:
        """Take in the next message, if one comes within 0.1 s."""
        message = self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message and message["type"] == "pmessage":
            meta = json.loads(message["data"])
            self._metas.setdefault(meta["task_id"], []).append(meta)

    def until(self, task_id: str, state: str | tuple[str, ...], timeout: float = 30) -> list[dict]:
        """Wait until the worker stores `state` (or one of them) for `task_id`.

        Returns:
            Each meta stored for the task so far (`status`, `result`, `retries`, ...), in order.

        Raises:
            AssertionError: not stored within `timeout` seconds; the states stored are in the message.
        """
        wanted = (state,) if isinstance(state, str) else state

        def reached() -> bool:
            self._read_one()
            metas = self._metas.get(task_id, [])
            return bool(metas) and metas[-1]["status"] in wanted

        try:
            wait_until(reached, timeout, f"task {task_id} to store {' or '.join(wanted)}", interval=0)
        except AssertionError as error:
            stored = [meta["status"] for meta in self._metas.get(task_id, [])]
            raise AssertionError(f"{error}\nstates stored: {stored}") from None
        return list(self._metas[task_id])

    def until_ended(self, task_id: str, timeout: float = 30) -> list[dict]:
        """Wait until `task_id` stores SUCCESS or FAILURE; return each meta stored for it, in order."""
        return self.until(task_id, ("SUCCESS", "FAILURE"), timeout)
