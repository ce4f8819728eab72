"""A message whose task lost its pool process on every delivery ends in hello_queue.dlq.

With task_retry_on_worker_lost (worker/celery_app.py), Celery sends such a task
again, with retries + 1, until its max_retries are spent; then it stores FAILURE
(WorkerLostError) and acks the message. The message would be gone, and with it
what the producer asked for. This handler keeps a copy of it in a dead-letter
queue, `hello_queue.dlq`, where RabbitMQ's UI shows it (Queues → hello_queue.dlq
→ Get messages), with a header that says why, until someone looks: moved back to
hello_queue once the cause is fixed (TROUBLESHOOTING.md), it runs again.

Why not RabbitMQ's own dead-lettering (a queue's x-dead-letter-exchange, or a
quorum queue's x-delivery-limit)? Both are arguments of hello_queue itself, and
RabbitMQ refuses to declare an existing queue with other arguments
(PRECONDITION_FAILED): every producer and worker, of every version and every
`Step N:` of this history, would have to declare hello_queue alike, and the
hello_queue that a learner's RabbitMQ already holds would have to be deleted first.
In the cluster, whose hello_queue is a new quorum queue, RabbitMQ does count, through a
policy rather than arguments (worker/deliveries.py, worker/broker_dead_letters.py), and
this handler is not called: Celery stores no FAILURE for a message it puts back.
"""

from typing import Any

from celery import Celery, Task
from celery.exceptions import WorkerLostError
from celery.signals import task_failure
from celery.utils.log import get_logger
from kombu import Queue

logger = get_logger(__name__)

DEAD_LETTER_QUEUE = "hello_queue.dlq"
# The header that says why the copy is there: what RabbitMQ's UI shows beside it.
REASON_HEADER = "x-dead-letter-reason"


def dead_letter_queue(app: Celery) -> Queue:
    """hello_queue.dlq as Celery declares a queue that a task is sent to and no route names
    (Queues.new_missing): of hello_queue's type (task_create_missing_queue_type), bound to an
    exchange of its name. Whoever declares it first must declare it so: RabbitMQ refuses a
    queue, or an exchange, declared again with other arguments (PRECONDITION_FAILED).

    Args:
        app: the worker's Celery object.

    Returns:
        The queue, not yet bound to a channel.
    """
    return app.amqp.queues.new_missing(DEAD_LETTER_QUEUE)


# task_failure is sent in the worker's main process for a lost pool process, once
# Celery has stored FAILURE and acked the message (celery/worker/request.py,
# Request.on_failure): only when no retry was left, for a retried one gets RETRY.
@task_failure.connect
def dead_letter(sender: Task, exception: BaseException, **_: Any) -> None:
    """Publish a copy of the lost task's message to hello_queue.dlq, and store why it failed.

    The copy is the task's own message as Celery would send it again (same task
    id, name and arguments, `retries` back to 0, so that, moved back to hello_queue,
    it gets its deliveries anew), with a REASON_HEADER. The FAILURE stored for
    the task then says where the message went, for the page to show.

    Args:
        sender: the task (say_hello); `sender.request` is the failed request's context.
        exception: why it failed; only a WorkerLostError (the pool process died)
            is dead-lettered: any other failure is a result, stored as it is.
    """
    if not isinstance(exception, WorkerLostError):
        return
    request = sender.request
    deliveries = request.retries + 1
    reason = f"its pool process died on each of {deliveries} deliveries ({exception})"
    queue = dead_letter_queue(sender.app)
    try:
        sender.signature_from_request(request, retries=0).apply_async(
            queue=queue, headers={REASON_HEADER: reason, "x-deliveries": deliveries}
        )
    except Exception as error:  # noqa: BLE001 - whatever failed, the FAILURE must say so
        logger.exception("Could not dead-letter %s[%s]: %r", sender.name, request.id, error)
        where = f"it could not be copied to {DEAD_LETTER_QUEUE} ({error})"
    else:
        where = f"its message is in {DEAD_LETTER_QUEUE}"
    # A WorkerLostError, which the web app's Celery knows (it imports nothing of the
    # worker's), with a message that says what happened and where the message went.
    # Celery stored its own FAILURE a moment ago: a page that asked in between shows that one.
    sender.backend.mark_as_failure(request.id, WorkerLostError(f"{reason}; {where}"), request=request)
    # Logged once the FAILURE above is stored: whoever waits for this line reads it.
    if where.startswith("its message"):
        logger.error("Dead-lettered %s[%s] to %s: %s", sender.name, request.id, DEAD_LETTER_QUEUE, reason)
