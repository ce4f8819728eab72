"""A full Redis (maxmemory reached, noeviction) refuses writes and answers reads: the worker's
result backend (worker/redis_full.py) logs each state it cannot store and the task runs,
and the claim of worker/abandoned.py is read instead of taken. With a stand-in for Redis;
the real one: tests/integration/test_redis_full.py."""

import json
import logging
from types import SimpleNamespace

import pytest
from celery import Celery
from celery.app.task import Context
from celery.app.trace import build_tracer
from celery.backends.rpc import RPCBackend
from celery.exceptions import Ignore
from redis.exceptions import OutOfMemoryError, ReadOnlyError

import worker.completions  # noqa: F401 - connects count_completion to task_success, as the worker does
from worker import abandoned
from worker.celery_app import celery, worker_settings
from worker.redis_full import RedisFullTolerantBackend
from worker.tasks import say_hello

TASK_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
# What redis-py raises for Redis's OOM reply to a write (redis/_parsers/base.py).
OOM = "command not allowed when used memory > 'maxmemory'."


class FullRedis:
    """A Redis stand-in at its maxmemory: every write raises OutOfMemoryError, reads answer from `values`."""

    def __init__(self, values: dict[str, bytes] | None = None, error: Exception | None = None) -> None:
        self.values = values or {}
        self.error = error or OutOfMemoryError(OOM)

    def get(self, key: str | bytes) -> bytes | None:
        return self.values.get(key.decode() if isinstance(key, bytes) else key)

    def set(self, *args: object, **kwargs: object) -> None:
        raise self.error

    def pipeline(self) -> "FullRedis":
        return self

    def __enter__(self) -> "FullRedis":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def setex(self, *args: object) -> None:
        return None  # queued in the pipeline; execute() gets Redis's answer

    publish = incr = expire = setex

    def execute(self) -> None:
        raise self.error


def full_backend(redis: FullRedis) -> RedisFullTolerantBackend:
    backend = RedisFullTolerantBackend(app=celery, url="redis://127.0.0.1:9/0")
    backend.client = redis  # the backend's cached redis client
    return backend


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]


def test_each_state_not_stored_is_one_line_naming_the_task(caplog: pytest.LogCaptureFixture) -> None:
    backend = full_backend(FullRedis())
    request = SimpleNamespace(task="say_hello", id=TASK_ID)
    for state in ("STARTED", "PROGRESS", "PROGRESS", "PROGRESS", "SUCCESS"):
        assert backend.store_result(TASK_ID, {"current": 1}, state, request=request) == {"current": 1}
    shown = "the page shows the task as PENDING"
    full = "Redis is full (OOM command not allowed when used memory > 'maxmemory')"
    assert warnings(caplog) == [
        f"say_hello[{TASK_ID}]: its STARTED state was not stored: {full}; {shown}",
        f"say_hello[{TASK_ID}]: its PROGRESS state was not stored: {full}; {shown}",
        f"say_hello[{TASK_ID}]: its SUCCESS state was not stored: {full}; {shown}",
    ]


def test_the_line_says_which_state_the_page_shows(caplog: pytest.LogCaptureFixture) -> None:
    started = json.dumps({"status": "STARTED", "result": {"pid": 1}, "task_id": TASK_ID}).encode()
    backend = full_backend(FullRedis({f"celery-task-meta-{TASK_ID}": started}))
    backend.mark_as_failure(TASK_ID, TypeError("boom"), request=Context(task="say_hello", id=TASK_ID))
    assert warnings(caplog) == [
        f"say_hello[{TASK_ID}]: its FAILURE state was not stored: Redis is full (OOM command not allowed when "
        "used memory > 'maxmemory'); the page shows the task as STARTED"
    ]


def test_other_redis_errors_are_raised_as_before(caplog: pytest.LogCaptureFixture) -> None:
    # A replica refusing writes is no full Redis: Celery's behaviour stays.
    backend = full_backend(FullRedis(error=ReadOnlyError("You can't write against a read only replica.")))
    with pytest.raises(ReadOnlyError):
        backend.store_result(TASK_ID, None, "STARTED")
    assert warnings(caplog) == []


def test_a_task_runs_under_celerys_tracer_when_redis_is_full(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Celery's own tracer, as a pool process runs it: STARTED first (task_track_started),
    # then the task, then SUCCESS and the task_success signal (worker/completions.py).
    monkeypatch.setattr(celery.backend, "client", FullRedis())
    caplog.set_level(logging.INFO)
    trace = build_tracer(say_hello.name, say_hello, app=celery, eager=False)
    request = {"id": TASK_ID, "task": "say_hello", "delivery_info": {"routing_key": "hello_queue"}}
    result = trace(TASK_ID, (), {"name": "Ada", "duration": 0}, request)
    assert result.info is None, result  # no failure: Celery's TraceInfo is only for one
    assert result.retval == {
        "greeting": "Hello, Ada!",
        "duration": 0,
        "task_id": TASK_ID,
        "retries": 0,
        "hostname": None,
        "routing_key": "hello_queue",
    }
    lines = [record.getMessage() for record in caplog.records]
    assert f"Hello, Ada! (task id {TASK_ID})" in lines
    full = "Redis is full (OOM command not allowed when used memory > 'maxmemory')"
    assert warnings(caplog) == [
        f"say_hello[{TASK_ID}]: its STARTED state was not stored: {full}; the page shows the task as PENDING",
        f"say_hello[{TASK_ID}]: its SUCCESS state was not stored: {full}; the page shows the task as PENDING",
        "its completion was not counted: Redis is full",  # a task logger: the worker's format adds the task
    ], lines


def test_the_backend_is_ours_for_redis_urls_only(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(celery.backend, RedisFullTolerantBackend)
    for url, backend in [
        ("rediss://127.0.0.1:9/0?ssl_cert_reqs=required", RedisFullTolerantBackend),
        ("rpc://", RPCBackend),
    ]:
        # CELERY_RESULT_BACKEND, as supervisord and compose set it, wins over result_backend.
        monkeypatch.setenv("CELERY_RESULT_BACKEND", url)
        app = Celery("worker", set_as_current=False)
        app.config_from_object(worker_settings(), force=True)
        assert type(app.backend) is backend, url


def claiming_task(redis: FullRedis, revoked: list[str]) -> SimpleNamespace:
    """A bound task as worker/abandoned.py reads it, its result backend's Redis `redis`."""
    backend = SimpleNamespace(client=redis, mark_as_revoked=lambda task_id, **kwargs: revoked.append(task_id))
    return SimpleNamespace(
        request=SimpleNamespace(id=TASK_ID),
        app=SimpleNamespace(conf=SimpleNamespace(result_expires=60)),
        backend=backend,
    )


@pytest.mark.parametrize("claim", [None, b"started"])
def test_a_full_redis_runs_a_task_not_claimed_as_abandoned(claim: bytes | None) -> None:
    revoked: list[str] = []
    values = {abandoned.CLAIM_PREFIX + TASK_ID: claim} if claim else {}
    abandoned.skip_if_abandoned(claiming_task(FullRedis(values), revoked))  # no Ignore: it runs
    assert revoked == []


def test_a_full_redis_still_drops_a_task_claimed_as_abandoned() -> None:
    revoked: list[str] = []
    task = claiming_task(FullRedis({abandoned.CLAIM_PREFIX + TASK_ID: abandoned.ABANDONED}), revoked)
    with pytest.raises(Ignore):
        abandoned.skip_if_abandoned(task)
    assert revoked == [TASK_ID]
