"""The ids of the tasks this web app has sent, so that it can tell an unknown id.

Celery cannot: a result backend that holds nothing for an id answers PENDING,
the state of a task that waits in the queue, for an id that was never issued as
well (Celery docs, `AsyncResult.state`: "PENDING: the task is waiting for
execution or unknown"). So the app notes each id in Redis, beside the results,
for as long as a result is kept.
"""

import uuid

import redis

KEY_PREFIX = "hello-queue:issued:"


def is_task_id(text: str) -> bool:
    """Whether `text` has the form of the ids Celery issues: a UUID, lowercase, with hyphens."""
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


class IssuedTasks:
    """A set of task ids kept in Redis, each for `ttl` seconds.

    Args:
        client: the result backend's own Redis client (`celery.backend.client`):
            the ids live beside the results, on the same connections, with the
            same timeouts (redis_socket_timeout).
        ttl: seconds to remember an id: as long as the worker keeps its result.

    Methods raise `redis.RedisError` when Redis does not answer in time.
    """

    def __init__(self, client: redis.Redis, ttl: int) -> None:
        self.client = client
        self.ttl = ttl

    def add(self, task_id: str) -> None:
        """Remember `task_id` for `ttl` seconds."""
        self.client.set(KEY_PREFIX + task_id, 1, ex=self.ttl)

    def discard(self, task_id: str) -> None:
        """Forget `task_id` (its message could not be sent)."""
        self.client.delete(KEY_PREFIX + task_id)

    def recall(self, task_id: str) -> bool:
        """Whether `task_id` was issued; if so, remember it for another `ttl` seconds.

        A task may wait in the queue for longer than `ttl` (a worker stopped for
        the night): as long as someone asks after it, it stays known.
        """
        return self.client.getex(KEY_PREFIX + task_id, ex=self.ttl) is not None
