"""app/majority.py's reading of a quorum queue's members online, and the 503 that names the
minority (app/publish.py), with stand-ins for the management API and Redis. The real ones:
tests/containers/cluster/test_docker_cluster_node_loss.py (a majority lost)."""

import json
from types import SimpleNamespace

import pytest
import requests

from app import majority, management_api, publish
from tests.unit.test_alarms_and_claims import Claims, celery_with

NODES = ["rabbit@a", "rabbit@b", "rabbit@c"]


def test_a_quorum_queue_lacks_its_majority_with_fewer_than_half_plus_one_online() -> None:
    assert majority.minority({"members": NODES, "online": NODES}) is None
    assert majority.minority({"members": NODES, "online": ["rabbit@c", "rabbit@a"]}) is None
    assert majority.minority({"members": NODES, "online": ["rabbit@a"]}) == {"members": NODES, "online": ["rabbit@a"]}
    assert majority.minority({"members": NODES, "online": []}) == {"members": NODES, "online": []}
    # Five members: three online is a majority, two is not.
    five = [*NODES, "rabbit@d", "rabbit@e"]
    assert majority.minority({"members": five, "online": five[:3]}) is None
    assert majority.minority({"members": five, "online": five[:2]}) is not None
    # A classic queue has no members: never a minority.
    assert majority.minority({"name": "hello_queue", "type": "classic", "node": "rabbit@a"}) is None


def test_the_management_api_is_asked_for_the_queue_of_the_broker_url(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []

    def get(path: str, auth: tuple[str, str], timeout: float) -> SimpleNamespace:
        asked.append((path, auth, timeout))
        return SimpleNamespace(raise_for_status=lambda: None, json=lambda: {"members": NODES, "online": ["rabbit@b"]})

    monkeypatch.setattr(management_api, "get", get)
    found = majority.queue_minority("amqp://u:p@rabbitmq:5672//;amqp://u:p@rabbitmq2:5672//", "hello_queue", 0.5)
    assert found == {"members": NODES, "online": ["rabbit@b"]}
    assert asked == [("/api/queues/%2F/hello_queue", ("u", "p"), 0.5)]

    def unanswered(*args: object, **kwargs: object) -> None:
        raise requests.Timeout("no answer")

    monkeypatch.setattr(management_api, "get", unanswered)
    assert majority.queue_minority("amqp://u:p@rabbitmq:5672//", "hello_queue", 0.5) is None


def test_a_click_not_confirmed_names_the_nodes_left(monkeypatch: pytest.MonkeyPatch) -> None:
    left = {"members": NODES, "online": ["rabbit@a"]}
    monkeypatch.setattr(publish, "resource_alarms", lambda url: [])
    monkeypatch.setattr(publish, "queue_minority", lambda url, queue, timeout: left if queue == "hello_queue" else None)
    with pytest.raises(publish.NotQueued) as refused:
        publish.abandon(celery_with(Claims()), "id-4", "RabbitMQ did not confirm the message within 1 s")
    assert refused.value.quorum == left and refused.value.will_run is False
    assert "1 of its 3 members online (rabbit@a)" in refused.value.reason and "will not run" in refused.value.reason


def test_the_majority_is_not_asked_of_a_management_api_that_did_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    # The alarms' question timed out (a RabbitMQ that reads nothing): no second wait.
    monkeypatch.setattr(publish, "resource_alarms", lambda url: None)

    def asked(*args: object) -> None:
        raise AssertionError("asked the management API again")

    monkeypatch.setattr(publish, "queue_minority", asked)
    with pytest.raises(publish.NotQueued) as refused:
        publish.abandon(celery_with(Claims()), "id-5", "RabbitMQ did not confirm the message within 1 s")
    assert refused.value.quorum is None and refused.value.alarm is None


def test_a_classic_queue_or_an_unknown_one_is_no_minority(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [(200, {"name": "hello_queue", "type": "classic"}), (404, {"error": "Object Not Found"})]

    def get(*args: object, **kwargs: object) -> requests.Response:
        answer = requests.Response()
        answer.status_code, body = answers.pop(0)
        answer._content = json.dumps(body).encode()
        return answer

    monkeypatch.setattr(management_api._session, "get", get)
    assert majority.queue_minority("amqp://guest:guest@localhost//", "hello_queue", 0.5) is None
    assert majority.queue_minority("amqp://guest:guest@localhost//", "hello_queue", 0.5) is None
