"""Who counts the deliveries of a message whose pool process dies (worker/deliveries.py): the
settings by HELLO_QUEUE_TYPE, the delivery number a task reads, the policy of
docker-compose.cluster.yml that they must agree with, what the worker's main process does
with a message it put back (worker/broker_dead_letters.py), and where a retry goes.

No broker: Celery objects of their own, and Celery's TaskMessage (a mock message) for the
main process's Request. The cluster itself: tests/containers/cluster/test_docker_cluster_queues.py.
"""

import json
import logging
import re
from pathlib import Path
from unittest.mock import Mock

import pytest
import yaml
from billiard.einfo import ExceptionInfo
from celery import Celery
from celery.contrib.testing.mocks import TaskMessage
from celery.exceptions import WorkerLostError

from worker import celery_app as consumer
from worker.broker_dead_letters import BrokerCountedRequest
from worker.dead_letters import DEAD_LETTER_QUEUE
from worker.deliveries import DELIVERIES_WHEN_LOST, delivery_number, worker_lost_settings
from worker.tasks import say_hello

ROOT = Path(__file__).resolve().parents[2]
LOST = "Worker exited prematurely: signal 9 (SIGKILL) Job: 3."


def test_celery_counts_on_a_classic_hello_queue_and_rabbitmq_on_a_quorum_one() -> None:
    assert worker_lost_settings("classic") == {"task_retry_on_worker_lost": True, "task_reject_on_worker_lost": True}
    assert worker_lost_settings("quorum") == {"task_retry_on_worker_lost": False, "task_reject_on_worker_lost": True}


@pytest.mark.parametrize(("queue_type", "retry"), [(None, True), ("classic", True), ("quorum", False)])
def test_the_worker_reads_who_counts_from_hello_queue_type(
    queue_type: str | None, retry: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if queue_type is None:
        monkeypatch.delenv("HELLO_QUEUE_TYPE", raising=False)  # make run, the single-node compose
    else:
        monkeypatch.setenv("HELLO_QUEUE_TYPE", queue_type)
    settings = consumer.worker_settings()
    assert (settings["task_retry_on_worker_lost"], settings["task_reject_on_worker_lost"]) == (retry, True)
    assert settings["task_acks_late"], "without a late ack there is no message left to requeue or retry"


@pytest.mark.parametrize(
    ("retries", "delivery_info", "headers", "number"),
    [
        (0, {"redelivered": False}, {}, 1),  # the first delivery
        (3, {"redelivered": False}, {}, 4),  # Celery counts: the fourth message, retries 3
        (0, {"redelivered": True}, {"x-delivery-count": 3}, 4),  # RabbitMQ counts: 3 failed before
        (0, {"redelivered": True}, {}, 1),  # redelivered after a connection loss: not a failed delivery
        (0, {"redelivered": False}, {"x-delivery-count": 5}, 1),  # moved back by a shovel: its old header
        (2, None, {}, 3),  # run without a message (eagerly)
    ],
)
def test_the_delivery_number_counts_celerys_retries_and_rabbitmqs_failed_deliveries(
    retries: int, delivery_info: dict | None, headers: dict, number: int
) -> None:
    assert delivery_number(retries, delivery_info, headers) == number


@pytest.fixture(scope="module")
def policy() -> list[str]:
    """The command of docker-compose.cluster.yml's one-shot `policy` service."""
    return yaml.safe_load((ROOT / "docker-compose.cluster.yml").read_text())["services"]["policy"]["command"]


def test_the_cluster_policy_dead_letters_after_as_many_deliveries_as_celery_allows(policy: list[str]) -> None:
    # Both mechanisms deliver a poison message DELIVERIES_WHEN_LOST times: the first, and
    # say_hello's max_retries more (Celery), or delivery-limit more (RabbitMQ: a message is
    # dead-lettered once its count of failed deliveries exceeds the limit).
    assert say_hello.max_retries + 1 == DELIVERIES_WHEN_LOST
    definition = json.loads(policy[-1])
    assert definition["delivery-limit"] + 1 == DELIVERIES_WHEN_LOST
    # Through the default exchange, to the queue the workers declare (worker/dead_letters.py).
    assert (definition["dead-letter-exchange"], definition["dead-letter-routing-key"]) == ("", DEAD_LETTER_QUEUE)
    # At-least-once dead-lettering needs overflow reject-publish (RabbitMQ docs, "Quorum Queues").
    assert (definition["dead-letter-strategy"], definition["overflow"]) == ("at-least-once", "reject-publish")


def test_the_cluster_policy_applies_to_the_quorum_hello_queue_alone(policy: list[str]) -> None:
    assert policy[:3] == ["rabbitmqctl", "--node", "rabbit@rabbitmq"]
    assert policy[3:7] == ["set_policy", "--apply-to", "quorum_queues", "hello_queue-dead-letters"]
    # `$$` is Compose's escape of `$`.
    pattern = re.compile(policy[7].replace("$$", "$"))
    assert pattern.search("hello_queue")
    for other in (DEAD_LETTER_QUEUE, "celery_delayed_3", "hello_queue_2", "my_hello_queue"):
        assert not pattern.search(other), other


def requeued_request(
    task: Celery, retries: int, redelivered: bool, delivery_count: int | None
) -> tuple[BrokerCountedRequest, Mock]:
    """A BrokerCountedRequest of a say_hello message in `task`'s app, as the worker's main process
    builds it, with its basic.ack and basic.reject (`on_reject`) mocks; a mock result backend."""
    headers = {"retries": retries}
    if delivery_count is not None:
        headers["x-delivery-count"] = delivery_count
    message = TaskMessage("say_hello", id="7e57ab1e-0000-4000-8000-000000000005", **headers)
    message.delivery_info = {"exchange": "hello_queue", "routing_key": "hello_queue", "redelivered": redelivered}
    message.properties = {}
    on_reject = Mock()
    request = BrokerCountedRequest(message, app=task.app, task=task, on_ack=Mock(), on_reject=on_reject)
    return request, on_reject


@pytest.fixture
def quorum_say_hello(monkeypatch: pytest.MonkeyPatch) -> Celery:
    """say_hello in a Celery app of the worker's quorum settings, with a mock result backend."""
    monkeypatch.setenv("HELLO_QUEUE_TYPE", "quorum")
    app = Celery("worker", set_as_current=False, config_source=consumer.worker_settings())
    app.conf.result_backend = "cache+memory://"
    task = app.task(name="say_hello", bind=True, max_retries=4, Request=BrokerCountedRequest)(say_hello.run)
    task.backend = Mock()
    return task


def lose(request: BrokerCountedRequest) -> None:
    """What the pool reports for a pool process that died: WorkerLostError."""
    try:
        raise WorkerLostError(LOST)
    except WorkerLostError:
        request.on_failure(ExceptionInfo())


@pytest.mark.parametrize("delivery_count", [None, 1, 3])
def test_a_lost_delivery_before_the_last_is_put_back_with_one_line_and_no_state(
    delivery_count: int | None, quorum_say_hello: Celery, caplog: pytest.LogCaptureFixture
) -> None:
    request, on_reject = requeued_request(quorum_say_hello, 0, delivery_count is not None, delivery_count)
    with caplog.at_level(logging.ERROR, logger="worker.broker_dead_letters"):
        lose(request)
    (reject,) = on_reject.call_args_list
    assert reject.args[2] is True, "Celery puts the message back (requeue) for RabbitMQ to count"
    quorum_say_hello.backend.mark_as_failure.assert_not_called()
    number = (delivery_count or 0) + 1
    (line,) = [r.getMessage() for r in caplog.records if r.name == "worker.broker_dead_letters"]
    assert line == (
        f"say_hello[7e57ab1e-0000-4000-8000-000000000005]: its pool process died on delivery {number} of 5 "
        f"({LOST}); back in hello_queue, for RabbitMQ to deliver again"
    )


def test_the_last_lost_delivery_stores_failure_saying_where_rabbitmq_puts_the_message(
    quorum_say_hello: Celery, caplog: pytest.LogCaptureFixture
) -> None:
    request, on_reject = requeued_request(quorum_say_hello, 0, True, DELIVERIES_WHEN_LOST - 1)
    with caplog.at_level(logging.ERROR, logger="worker.broker_dead_letters"):
        lose(request)
    assert on_reject.call_args.args[2] is True, "put back: RabbitMQ, past its delivery-limit, dead-letters it"
    (failure,) = quorum_say_hello.backend.mark_as_failure.call_args_list
    task_id, error = failure.args
    assert task_id == "7e57ab1e-0000-4000-8000-000000000005"
    assert isinstance(error, WorkerLostError)
    where = "RabbitMQ dead-letters its message to hello_queue.dlq"
    assert str(error) == f"its pool process died on each of 5 deliveries ({LOST}); {where}"
    (line,) = [r.getMessage() for r in caplog.records if r.name == "worker.broker_dead_letters"]
    assert line == f"say_hello[7e57ab1e-0000-4000-8000-000000000005]: {error}"


def test_where_celery_counts_the_request_leaves_a_lost_pool_process_to_celery(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # On a classic hello_queue Celery sends a retry (task_retry_on_worker_lost); were its publish
    # to fail, Celery would put the message back, and nothing here would count it.
    monkeypatch.setenv("HELLO_QUEUE_TYPE", "classic")
    app = Celery("worker", set_as_current=False, config_source=consumer.worker_settings())
    task = app.task(name="say_hello", bind=True, max_retries=4, Request=BrokerCountedRequest)(say_hello.run)
    task.backend = Mock()
    request, on_reject = requeued_request(task, 0, False, None)
    request._retry_worker_lost = Mock(return_value=False)  # the retry's publish failed
    with caplog.at_level(logging.ERROR, logger="worker.broker_dead_letters"):
        lose(request)
    assert on_reject.call_args.args[2] is True
    assert not [r for r in caplog.records if r.name == "worker.broker_dead_letters"]


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_a_retry_sent_by_the_worker_goes_to_hello_queue(queue_type: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELLO_QUEUE_TYPE", queue_type)
    app = Celery(set_as_current=False, config_source=consumer.worker_settings())
    # What Task.signature_from_request makes of the delivery of a message of hello_queue:
    # on a classic one, published to the default exchange, the queue by name; on a quorum
    # one, published to its topic exchange, that exchange and routing key.
    delivered = {"queue": "hello_queue"} if queue_type == "classic" else {"exchange": "hello_queue"}
    routed = app.amqp.router.route({**delivered, "routing_key": "hello_queue"}, "say_hello")
    queue = routed["queue"]
    assert queue.name == "hello_queue"
    # Celery's native delayed delivery takes a countdown through RabbitMQ only when the
    # route's queue has a topic exchange (celery/app/base.py, send_task).
    assert queue.exchange.type == ("topic" if queue_type == "quorum" else "direct")
