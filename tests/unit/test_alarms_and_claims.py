"""app/alarms.py's reading of RabbitMQ's health check, and the claim that keeps a task
answered 503 from running (app/publish.py, worker/abandoned.py), with stand-ins for the
management API and Redis. The real ones: tests/integration/test_resource_alarm.py."""

from types import SimpleNamespace

import pytest
import requests
from celery.exceptions import Ignore

from app import alarms, management_api, publish
from worker import abandoned


class Answer:
    def __init__(self, status: int, body: dict) -> None:
        self.status_code, self.body = status, body

    def json(self) -> dict:
        return self.body


def health_check(monkeypatch: pytest.MonkeyPatch, *answers: Answer) -> None:
    pending = list(answers)
    monkeypatch.setattr(management_api._session, "get", lambda *args, **kwargs: pending.pop(0))


def test_no_alarm_memory_and_disk_and_an_unanswered_check(monkeypatch: pytest.MonkeyPatch) -> None:
    alarms._sightings.clear()
    failed = {"status": "failed", "alarms": [{"node": "rabbit@a", "resource": "memory"}]}
    disk = {"status": "failed", "alarms": [{"node": "rabbit@b", "resource": "disk space"}]}
    health_check(monkeypatch, Answer(200, {"status": "ok"}), Answer(503, failed), Answer(503, disk))
    url = "amqp://guest:guest@localhost:5672//"
    assert alarms.resource_alarms(url) == []
    (memory,) = alarms.resource_alarms(url)
    assert (memory["resource"], memory["node"]) == ("memory", "rabbit@a")
    (space,) = alarms.resource_alarms(url)
    assert (space["resource"], space["node"]) == ("disk", "rabbit@b")

    def unanswered(*args: object, **kwargs: object) -> None:
        raise requests.Timeout("no answer")

    monkeypatch.setattr(management_api._session, "get", unanswered)
    assert alarms.resource_alarms(url) is None


def test_since_stays_while_the_alarm_is_seen_and_starts_afresh_after_a_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    alarms._sightings.clear()
    failed = {"alarms": [{"node": "rabbit@a", "resource": "memory"}]}
    health_check(monkeypatch, *[Answer(503, failed)] * 3)
    clock = iter([100.0, 100.0 + alarms.CONTINUITY, 100.0 + 3 * alarms.CONTINUITY])
    monkeypatch.setattr(alarms.time, "monotonic", lambda: next(clock))
    alarms.resource_alarms("amqp://guest:guest@localhost//")  # first seen at 100.0
    alarms._sightings[("rabbit@a", "memory")] = ("then", 100.0)  # with a known since
    assert alarms.resource_alarms("amqp://guest:guest@localhost//")[0]["since"] == "then"
    assert alarms.resource_alarms("amqp://guest:guest@localhost//")[0]["since"] != "then"


class Claims:
    """A Redis stand-in with SET NX and GET, as app/publish.py and worker/abandoned.py use it."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}

    def set(self, key: str, value: str, nx: bool, ex: int) -> bool:
        if nx and key in self.values:
            return False
        self.values[key] = value.encode()
        return True

    def get(self, key: str) -> bytes | None:
        return self.values.get(key)


def celery_with(client: Claims | None) -> SimpleNamespace:
    backend = SimpleNamespace(client=client) if client else SimpleNamespace()
    routes = {"say_hello": {"queue": "hello_queue"}}
    return SimpleNamespace(
        backend=backend, conf=SimpleNamespace(broker_url="amqp://x:y@h//", result_expires=60, task_routes=routes)
    )


def test_the_web_app_claims_first_and_the_worker_drops_the_task(monkeypatch: pytest.MonkeyPatch) -> None:
    disk = {"resource": "disk", "node": "rabbit@a", "since": "t"}
    monkeypatch.setattr(publish, "resource_alarms", lambda url: [disk])
    claims = Claims()
    with pytest.raises(publish.NotQueued) as refused:
        publish.abandon(celery_with(claims), "id-1", "RabbitMQ blocked the publish")
    assert refused.value.will_run is False and refused.value.alarm["resource"] == "disk"
    assert "disk alarm is on (node rabbit@a)" in refused.value.reason and "will not run" in refused.value.reason
    revoked = []
    task = SimpleNamespace(
        request=SimpleNamespace(id="id-1"),
        app=SimpleNamespace(conf=SimpleNamespace(result_expires=60)),
        backend=SimpleNamespace(client=claims, mark_as_revoked=lambda task_id, **kwargs: revoked.append(task_id)),
    )
    with pytest.raises(Ignore):
        abandoned.skip_if_abandoned(task)
    assert revoked == ["id-1"]


def test_the_worker_claims_first_and_the_click_is_a_success(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publish, "resource_alarms", lambda url: None)
    claims = Claims()
    task = SimpleNamespace(
        request=SimpleNamespace(id="id-2"),
        app=SimpleNamespace(conf=SimpleNamespace(result_expires=60)),
        backend=SimpleNamespace(client=claims),
    )
    abandoned.skip_if_abandoned(task)  # started: it runs
    abandoned.skip_if_abandoned(task)  # a retry or a redelivery runs too
    publish.abandon(celery_with(claims), "id-2", "RabbitMQ did not confirm the message within 1 s")  # no raise


def test_without_a_redis_result_backend_the_answer_says_the_task_may_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publish, "resource_alarms", lambda url: [])
    monkeypatch.setattr(publish, "queue_minority", lambda url, queue, timeout: None)
    with pytest.raises(publish.NotQueued) as refused:
        publish.abandon(celery_with(None), "id-3", "RabbitMQ did not confirm the message within 1 s")
    assert refused.value.will_run is None and "may still be in RabbitMQ" in refused.value.reason
