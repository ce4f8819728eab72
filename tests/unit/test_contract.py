"""What the producer and the consumer must agree on, though neither imports the other."""

import pytest
from celery import Celery
from celery.utils.quorum_queues import detect_quorum_queues
from kombu import Queue

from app import celery_app as producer
from worker import celery_app as consumer


def test_the_app_remembers_task_ids_exactly_as_long_as_the_worker_keeps_results() -> None:
    assert producer.RESULT_EXPIRES == consumer.RESULT_EXPIRES == 3600


def declared(settings: dict) -> Queue:
    """hello_queue as a Celery app with `settings` declares it: a queue of task_routes for
    the producer, of `--queues hello_queue` for the worker (Celery's Queues.new_missing)."""
    return Celery(set_as_current=False, config_source=settings).amqp.queues[producer.HELLO_QUEUE]


def declaration(queue: Queue) -> tuple:
    """What RabbitMQ compares when a queue or exchange is declared again (PRECONDITION_FAILED
    if it differs): the queue's name, durability and arguments, its exchange's name, type and
    durability, and the binding's routing key."""
    exchange = queue.exchange
    return (
        queue.name,
        queue.durable,
        queue.queue_arguments or {},
        exchange.name,
        exchange.type,
        exchange.durable,
        queue.routing_key,
    )


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_the_producer_and_the_worker_declare_hello_queue_alike(
    queue_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELLO_QUEUE_TYPE", queue_type)
    assert declaration(declared(producer.producer_settings())) == declaration(declared(consumer.worker_settings()))


def test_hello_queue_is_classic_by_default_and_declared_as_before_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    # `make run` and the single-node compose set no HELLO_QUEUE_TYPE: hello_queue is declared
    # as Celery declared it for every earlier step, with no setting at all, so that the
    # classic hello_queue a learner's RabbitMQ holds is declared again without a complaint.
    monkeypatch.delenv("HELLO_QUEUE_TYPE", raising=False)
    before = declaration(declared({}))
    assert declaration(declared(producer.producer_settings())) == before
    assert declaration(declared(consumer.worker_settings())) == before
    assert before == ("hello_queue", True, {}, "hello_queue", "direct", True, "hello_queue")


def test_a_quorum_hello_queue_is_bound_to_a_topic_exchange_and_the_worker_knows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HELLO_QUEUE_TYPE", "quorum")
    queue = declared(consumer.worker_settings())
    assert queue.queue_arguments == {"x-queue-type": "quorum"}
    # A topic exchange: Celery's native delayed delivery routes countdowns through one.
    assert queue.exchange.type == "topic"
    # What turns on the worker's per-consumer prefetch and its native delayed delivery.
    worker = Celery(set_as_current=False, config_source=consumer.worker_settings())
    worker.amqp.queues.select([producer.HELLO_QUEUE])
    assert detect_quorum_queues(worker, "amqp") == (True, producer.HELLO_QUEUE)


def test_another_queue_type_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELLO_QUEUE_TYPE", "Quorum")
    # The web app refuses to start with it, rather than fail every click.
    with pytest.raises(ValueError, match="HELLO_QUEUE_TYPE must be classic or quorum, not 'Quorum'"):
        producer.producer_settings()
    # The worker's Celery refuses it as the worker declares hello_queue, at its start.
    with pytest.raises(ValueError, match="Invalid queue type 'Quorum'"):
        declared(consumer.worker_settings())
