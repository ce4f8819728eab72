"""Who counts the deliveries of a message whose pool process dies every time (a poison
message: DEMO.md step 9, TROUBLESHOOTING.md case 5): Celery, on a classic hello_queue;
RabbitMQ, on a quorum one (the cluster, HELLO_QUEUE_TYPE=quorum). Either way the
message is delivered DELIVERIES_WHEN_LOST times, then ends in hello_queue.dlq.

Side by side, for a pool process that dies while it runs the task (task_acks_late: its
message is not acked yet when that happens):

- Classic hello_queue, Celery counts (task_retry_on_worker_lost): after a death, a new
  message, with retries + 1, 1 s later (default_retry_delay), and the old one acked. Past
  say_hello's max_retries (4): FAILURE, acked, and worker/dead_letters.py publishes a copy
  to hello_queue.dlq.
- Quorum hello_queue, RabbitMQ counts (task_reject_on_worker_lost alone): after a death,
  the same message back in hello_queue (basic.reject, requeue), delivered again at once,
  with a header, `x-delivery-count`, the deliveries that failed before. Past hello_queue's
  delivery-limit (4, a policy of docker-compose.cluster.yml): RabbitMQ dead-letters it to
  hello_queue.dlq, with an `x-death` header that says why; worker/broker_dead_letters.py
  stores FAILURE.

Why not Celery's retry on a quorum queue too? It publishes a new message each time, whose
delivery count starts at 0: RabbitMQ's limit would never be reached, and the count would be
Celery's. Why not RabbitMQ's count on a classic queue? Classic queues count nothing, and a
delivery limit is a quorum queue's feature (RabbitMQ docs, "Quorum Queues: Poison Message
Handling").
"""

from typing import Any

# Deliveries of a message whose pool process dies every time: the first and 4 more, whoever
# counts (say_hello's max_retries, hello_queue's delivery-limit in docker-compose.cluster.yml).
DELIVERIES_WHEN_LOST = 5
# The header with which RabbitMQ 4 tells a consumer of a quorum queue how many deliveries of
# this message failed before (returned with basic.reject or basic.nack, requeue): absent on the
# first delivery (RabbitMQ docs, "Quorum Queues: Poison Message Handling").
DELIVERY_COUNT_HEADER = "x-delivery-count"


def worker_lost_settings(queue_type: str) -> dict[str, bool]:
    """The Celery settings for a task whose pool process died, by who counts its deliveries.

    Both requeue the message when Celery cannot do otherwise: task_reject_on_worker_lost,
    with task_acks_late, puts it back in the queue instead of acking it as failed
    (celery/worker/request.py, Request.on_failure); on a classic queue this only happens
    when the retry's publish failed (broker gone), or once max_retries are spent.

    Args:
        queue_type: HELLO_QUEUE_TYPE's value, "classic" or "quorum" (app/celery_app.py,
            hello_queue_type, checks it).

    Returns:
        task_retry_on_worker_lost and task_reject_on_worker_lost (Celery docs,
        "Configuration and defaults").
    """
    return {
        "task_retry_on_worker_lost": queue_type != "quorum",
        "task_reject_on_worker_lost": True,
    }


def delivery_number(retries: int, delivery_info: dict[str, Any] | None, headers: dict[str, Any]) -> int:
    """Which delivery of a task's message this is, counting Celery's retries and RabbitMQ's
    failed deliveries alike: 1 for the first.

    The x-delivery-count header is read on a redelivery only: a message moved back from
    hello_queue.dlq by a shovel is a new message to hello_queue, delivered with
    redelivered false, whose count starts again, but which still carries the header it
    had when it was dead-lettered (seen on RabbitMQ 4.3).

    Args:
        retries: `request.retries`, Celery's count (0 for the first message).
        delivery_info: `request.delivery_info`, with AMQP's `redelivered` flag; None when the
            task runs without a message (called directly, eagerly).
        headers: the message's headers (`request` as a dict, or the Request's).

    Returns:
        retries + the failed deliveries RabbitMQ counted + 1.
    """
    redelivered = bool(delivery_info and delivery_info.get("redelivered"))
    failed = headers.get(DELIVERY_COUNT_HEADER) or 0 if redelivered else 0
    return retries + int(failed) + 1
