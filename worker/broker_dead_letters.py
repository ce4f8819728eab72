"""In the cluster, RabbitMQ dead-letters a poison message itself; the worker's part in it.

On a quorum hello_queue a message whose pool process died goes back to hello_queue
(task_reject_on_worker_lost alone: worker/deliveries.py), and RabbitMQ counts its
deliveries: past hello_queue's delivery-limit, a policy of docker-compose.cluster.yml,
it dead-letters the message to hello_queue.dlq, with an `x-death` header that says why
(RabbitMQ docs, "Quorum Queues: Poison Message Handling"; "Dead Letter Exchanges").
Two things are left to the worker:

- hello_queue.dlq must exist before the first dead letter: RabbitMQ routes a dead letter
  as any message, and the policy's at-least-once dead-lettering keeps one it cannot route
  in hello_queue, to try again minutes later. The worker declares it as it starts, as
  worker/dead_letters.py would (`dead_letter_queue`).
- the task's state: Celery stores none when it puts a message back, so the page would show
  the last delivery's STARTED forever. Each lost delivery is one log line naming the task,
  and the last one that hello_queue's delivery-limit allows stores FAILURE, saying where
  the message goes, as worker/dead_letters.py does on a classic hello_queue.

On a classic hello_queue (task_retry_on_worker_lost) this module does nothing.
"""

from typing import Any

from billiard.einfo import ExceptionInfo
from celery.exceptions import WorkerLostError
from celery.signals import worker_ready
from celery.utils.log import get_logger
from celery.worker.consumer import Consumer
from celery.worker.request import Request

from worker.dead_letters import DEAD_LETTER_QUEUE, dead_letter_queue
from worker.deliveries import DELIVERIES_WHEN_LOST, delivery_number

logger = get_logger(__name__)


class BrokerCountedRequest(Request):
    """Celery's Request of a say_hello message (Celery docs, "Tasks: Requests and custom
    requests"), which also tells what happens to a message that Celery put back in
    hello_queue for RabbitMQ to count."""

    requeued = False

    def reject(self, requeue: bool = False) -> None:
        """Celery's basic.reject of the message, noting whether it went back to the queue."""
        self.requeued = requeue and not self.acknowledged
        super().reject(requeue=requeue)

    def on_failure(self, exc_info: ExceptionInfo, send_failed_event: bool = True, return_ok: bool = False) -> None:
        """Celery's handling of a failed task (celery/worker/request.py: for a lost pool
        process, with task_reject_on_worker_lost, basic.reject and requeue, and no state
        stored), then, if that put the message back, `note_requeued`."""
        super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)
        exception = getattr(exc_info.exception, "exc", exc_info.exception)  # ExceptionWithTraceback's
        # billiard reports a pool process that died (SIGKILL, a segfault) as WorkerLostError.
        if self.requeued and isinstance(exception, WorkerLostError) and not self.task.retry_on_worker_lost:
            self.note_requeued(exception)

    def note_requeued(self, exception: WorkerLostError) -> None:
        """Log that the message went back to hello_queue; on the last delivery that
        hello_queue's delivery-limit allows, store FAILURE (WorkerLostError) that says why
        and where the message goes, for GET /tasks/<id> and the page.

        Args:
            exception: Celery's WorkerLostError ("Worker exited prematurely: signal 9
                (SIGKILL) Job: 3.").
        """
        number = delivery_number(self.request_dict.get("retries") or 0, self.delivery_info, self.request_dict)
        if number < DELIVERIES_WHEN_LOST:
            logger.error(
                "%s[%s]: its pool process died on delivery %d of %d (%s); back in hello_queue, for RabbitMQ to "
                "deliver again",
                self.name,
                self.id,
                number,
                DELIVERIES_WHEN_LOST,
                exception,
            )
            return
        reason = f"its pool process died on each of {number} deliveries ({exception})"
        where = f"RabbitMQ dead-letters its message to {DEAD_LETTER_QUEUE}"
        self.task.backend.mark_as_failure(self.id, WorkerLostError(f"{reason}; {where}"), request=self._context)
        # Logged once the FAILURE above is stored: whoever waits for this line reads it.
        logger.error("%s[%s]: %s; %s", self.name, self.id, reason, where)


@worker_ready.connect
def declare_dead_letter_queue(sender: Consumer, **_: Any) -> None:
    """Declare hello_queue.dlq when the worker is ready, where RabbitMQ counts deliveries
    (task_retry_on_worker_lost off). Where Celery counts, worker/dead_letters.py declares
    it with its first dead letter, as in every step before the cluster.

    Args:
        sender: the worker's Consumer; `sender.app` its Celery object.
    """
    app = sender.app
    if app.conf.task_retry_on_worker_lost:
        return
    try:
        with app.connection_for_write() as connection:
            dead_letter_queue(app)(connection.default_channel).declare()
    except Exception as error:  # noqa: BLE001 - one line, and the worker consumes on
        logger.error(
            "Could not declare %s: %r; RabbitMQ keeps dead letters in hello_queue until it exists",
            DEAD_LETTER_QUEUE,
            error,
        )
