"""A task answered 202 runs even when Redis, the result backend, is full: only its states go unstored.

Why: Redis at its `maxmemory` with the `noeviction` policy refuses every command
that would use more memory (SET, SETEX, INCR, ...), with the error "OOM command
not allowed when used memory > 'maxmemory'", and still answers reads (Redis docs,
"Key eviction"). Celery stores STARTED before it runs a task (task_track_started,
worker/celery_app.py); when that store fails, its tracer reports an internal error,
the task body never runs, and the message is acked all the same
(celery/app/trace.py, `build_tracer`): a task whose click was answered 202 would be
lost. This backend stores states as Celery's RedisBackend does, and a state that
Redis refuses for want of memory costs one log line instead of the task:

    say_hello[<id>]: its SUCCESS state was not stored: Redis is full (OOM command not allowed when used
    memory > 'maxmemory'); the page shows the task as PENDING

and the task goes on: the work its click asked for is done, only its state is
missing. The page shows the last state Redis holds (PENDING for a task that stored
none), as `GET /tasks/<id>` reads it. One line per task and state: the PROGRESS
reports that follow a refused one, each a store of its own, say nothing more.

Celery's `override_backends` setting (Celery docs, "Configuration and defaults")
puts this class in the place of RedisBackend for redis:// and rediss:// URLs
(worker/celery_app.py): `result_backend` and CELERY_RESULT_BACKEND stay plain
URLs, and any other scheme (rpc://, TROUBLESHOOTING.md case 3) keeps Celery's own
backend.

What this refuses to do: pass over any other Redis error. A lost connection is
Celery's to retry (`result_backend_always_retry`) or to fail the task with, as
before; only a full Redis, which no retry within a task's time would mend, lets
the task's work go on without its state.
"""

from typing import Any

from celery.backends.redis import RedisBackend
from celery.utils.log import get_logger
from redis.exceptions import OutOfMemoryError, RedisError

# A plain logger, not a task logger: the worker's main process stores states too (a
# FAILURE for a lost pool process), with no task of its own running; the line names
# the task itself.
logger = get_logger(__name__)

# Redis's reply to a write when it is full (`redis-cli` shows it so). redis-py turns
# the reply's OOM code into OutOfMemoryError, and in a pipeline its message names the
# command and the value it refused: long, and no clearer.
REDIS_SAYS = "OOM command not allowed when used memory > 'maxmemory'"


class RedisFullTolerantBackend(RedisBackend):
    """Celery's RedisBackend, whose `store_result` logs a state refused by a full Redis and goes on."""

    # The last (task id, state) logged, in this process: a pool process runs one task
    # at a time, so this is what keeps a task's PROGRESS reports to one line.
    _last_unstored: tuple[str, str] | None = None

    def store_result(
        self, task_id: str, result: Any, state: str, traceback: str | None = None, request: Any = None, **kwargs: Any
    ) -> Any:
        """Store `state` and `result` for `task_id` (Celery's `Backend.store_result`), unless Redis is full.

        Args:
            task_id: the task's id.
            result: the return value, the exception, or the state's meta (PROGRESS).
            state: STARTED, PROGRESS, SUCCESS, FAILURE, RETRY, REVOKED, ...
            traceback: the failure's traceback text, if any.
            request: the task's request context; its `task` is the task's name.

        Returns:
            What Celery's store_result returns (the encoded result); `result` itself
            when Redis was full and nothing was stored.

        Raises:
            Whatever Celery's RedisBackend raises, except OutOfMemoryError: a
            connection error after the backend's retries, BackendStoreError, ...
        """
        try:
            return super().store_result(task_id, result, state, traceback=traceback, request=request, **kwargs)
        except OutOfMemoryError:
            if (task_id, state) != self._last_unstored:
                self._last_unstored = (task_id, state)
                name = getattr(request, "task", None) or "task"
                logger.warning(
                    "%s[%s]: its %s state was not stored: Redis is full (%s); the page shows the task as %s",
                    name,
                    task_id,
                    state,
                    REDIS_SAYS,
                    self._shown_state(task_id),
                )
            return result

    def _shown_state(self, task_id: str) -> str:
        """The state that `GET /tasks/<id>` shows now: the last one stored, PENDING for none.

        A read, which a full Redis still answers; "its last stored state" if even that fails.
        """
        try:
            return self._get_task_meta_for(task_id)["status"]
        except RedisError:
            return "its last stored state"
