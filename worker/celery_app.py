"""The worker's Celery object: a consumer only.

supervisord's `[program:worker_hello]` starts it with
`celery --app worker.celery_app worker --queues hello_queue`. It has no
`task_routes`: routing is the producer's business; the worker only says which
queue it consumes (`--queues`).
"""

import os

from celery import Celery

# Seconds that results stay in the result backend. The web app forgets the task
# ids it issued after as long (app/celery_app.py): keep the two equal.
RESULT_EXPIRES = 3600


def worker_settings() -> dict:
    """The worker's Celery settings, from the environment.

    Returns:
        A dict of Celery setting names to values (Celery docs, "Configuration
        and defaults"). `CELERY_BROKER_URL` defaults to a local RabbitMQ.
    """
    return dict(
        broker_url=os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@localhost:5672//"),
        # Deserialise JSON only. A pickle message could run any code on this
        # machine (Celery docs, "Security: Serializers").
        accept_content=["json"],
        task_serializer="json",
        result_serializer="json",
        # Ack a message when its task has finished, not when it arrives: a worker
        # that dies mid-task leaves the message in RabbitMQ, to be delivered again
        # (Celery docs, task_acks_late). The price: a task may run twice, so tasks
        # must be safe to repeat.
        task_acks_late=True,
        # ...and when a pool process is killed (SIGKILL, out of memory), run its task
        # again rather than ack it as failed: send it again as `retry()` would, with
        # retries + 1, and ack the old message (task_retry_on_worker_lost). Unlike
        # requeueing it (task_reject_on_worker_lost alone), this counts: once the
        # task's max_retries are spent, Celery stores FAILURE and acks, so a task
        # that kills its own process every time (a segfault, the out-of-memory
        # killer; the page's "poison") does not loop forever. worker/dead_letters.py
        # then keeps a copy of its message in hello_queue.dlq.
        task_retry_on_worker_lost=True,
        # Should sending that retry fail (the broker gone), requeue the message
        # instead of losing it (task_reject_on_worker_lost).
        task_reject_on_worker_lost=True,
        # A message delivered again (redelivered=True) whose task already stored
        # SUCCESS is acked without running the task a second time: that happens
        # when a worker dies after the task finished but before its ack reached
        # RabbitMQ (worker_deduplicate_successful_tasks, acks_late tasks only).
        # It costs one result backend read per redelivered message, no more.
        worker_deduplicate_successful_tasks=True,
        # When the connection to RabbitMQ is lost, the messages of the running
        # tasks go back to the queue (unacked), and RabbitMQ delivers them again.
        # Cancel those tasks at once rather than let them run on: otherwise the
        # redelivered copy runs too, and the task completes twice. (Celery 6
        # makes this the default; until then Celery warns on every connection loss.)
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # Reserve one message per pool process, no more: the rest stay Ready in
        # RabbitMQ, where you can see them, for whichever worker is free (Celery
        # docs, "Optimizing: Prefetch limits"; the default of 4 hoards them).
        worker_prefetch_multiplier=1,
        # Send task events (task-received, -started, -succeeded, ...: Celery docs,
        # "Monitoring and Management Guide: Events"), as `celery worker -E` does.
        # Flower builds its task list from them (DEMO.md step 8); without them it
        # sees the workers, not what they run. The price: about three more
        # messages per task, published to the celeryev exchange, which RabbitMQ
        # drops at once while no monitor listens.
        worker_send_task_events=True,
        # How RabbitMQ's UI names the worker's connections (Connections tab):
        # after the supervisord program, as the web app's are named "web".
        broker_transport_options={"client_properties": {"connection_name": "worker_hello"}},
        # Keep retrying the broker at start-up, so that a worker started before
        # RabbitMQ waits for it. Celery 5.3+ warns unless this is set explicitly.
        broker_connection_retry_on_startup=True,
        # The longest task is 30 s. Past 40 s it gets SoftTimeLimitExceeded; past
        # 45 s its pool process is killed (Celery docs, "Workers: Time limits").
        task_soft_time_limit=40,
        task_time_limit=45,
        # Redis keeps each task's state and result, where the web app, another
        # process, can read them (`GET /tasks/<id>`). Not `rpc://`: that backend
        # sends states back as messages to the one client that sent the task,
        # and anyone else sees PENDING forever (Celery docs, "Result backends").
        result_backend=os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/0"),
        # Store STARTED when a pool process begins a task; without it a task
        # goes from PENDING straight to its end (task_track_started).
        task_track_started=True,
        # Store, with every state, what `self.request` knows: the worker's name,
        # the retries so far, the queue (result_extended). The web app shows
        # the retries growing while a task is retried.
        result_extended=True,
        # Redis deletes each result an hour after it is stored (result_expires).
        result_expires=RESULT_EXPIRES,
    )


# The worker imports these modules at start. worker.completions,
# worker.rejections and worker.dead_letters hold no task: each connects a signal
# handler (Celery docs, "Signals"), and importing it is all it takes.
celery = Celery("worker", include=["worker.tasks", "worker.completions", "worker.rejections", "worker.dead_letters"])
celery.conf.update(worker_settings())
