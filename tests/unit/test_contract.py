"""What the producer and the consumer must agree on, though neither imports the other."""

from app import celery_app as producer
from worker import celery_app as consumer


def test_the_app_remembers_task_ids_exactly_as_long_as_the_worker_keeps_results() -> None:
    assert producer.RESULT_EXPIRES == consumer.RESULT_EXPIRES == 3600
