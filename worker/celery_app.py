"""The worker's Celery object: a consumer only, which supervisord's `[program:worker_hello]`
starts with `celery --app worker.celery_app worker --queues hello_queue`. Routing is the
producer's business: the worker says which queue it consumes, and routes only the messages
it sends itself, a task's retries, as the producer does."""

import os

from celery import Celery

from worker.deliveries import worker_lost_settings
from worker.remote_control import remote_control_settings

# Seconds that results stay in the result backend. The web app forgets the task
# ids it issued after as long (app/celery_app.py): keep the two equal.
RESULT_EXPIRES = 3600


def worker_settings() -> dict:
    """The worker's Celery settings, from the environment.

    Returns:
        A dict of Celery setting names to values (Celery docs, "Configuration
        and defaults"). `CELERY_BROKER_URL` defaults to a local RabbitMQ.
    """
    queue_type = os.environ.get("HELLO_QUEUE_TYPE", "classic")
    return dict(
        # --- The essentials: where messages come from, where results go, in what format.
        broker_url=os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@localhost:5672//"),
        # hello_queue's type, HELLO_QUEUE_TYPE: classic, or quorum in the cluster, bound to a
        # topic exchange; declared exactly as the producer declares it (app/celery_app.py,
        # hello_queue_type, says why). Celery refuses another type when the worker starts.
        task_create_missing_queue_type=queue_type,
        task_create_missing_queue_exchange_type="topic" if queue_type == "quorum" else None,
        # A retry is a message the worker sends: to hello_queue, as the producer routes
        # say_hello. Celery then sees hello_queue's topic exchange, and a retry's countdown
        # on a quorum hello_queue waits in RabbitMQ (native delayed delivery, Celery's
        # celery_delayed_* queues); without a route it would look at Celery's default queue,
        # `celery`, on a direct exchange, and hold the retry in the worker's memory instead
        # (celery/app/base.py, send_task). On a classic hello_queue the retry goes where it went.
        task_routes={"say_hello": {"queue": "hello_queue"}},
        # Redis keeps each task's state and result, where the web app, another
        # process, reads them. Not `rpc://`: it sends states back to the one client
        # that sent the task; anyone else sees PENDING forever (Celery docs, "Result backends").
        result_backend=os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/0"),
        # With a Redis URL, a backend of ours in place of Celery's RedisBackend: when Redis is
        # full, a task still runs, and each state it could not store is one log line
        # (worker/redis_full.py). Other schemes (rpc://) keep Celery's own.
        override_backends={scheme: "worker.redis_full:RedisFullTolerantBackend" for scheme in ("redis", "rediss")},
        # Deserialise JSON only: a pickle message could run any code on this
        # machine (Celery docs, "Security: Serializers").
        accept_content=["json"],
        task_serializer="json",
        result_serializer="json",
        # Store STARTED when a pool process begins a task (task_track_started), and
        # with every state what `self.request` knows: worker, retries, queue
        # (result_extended). Redis deletes each result after RESULT_EXPIRES seconds.
        task_track_started=True,
        result_extended=True,
        result_expires=RESULT_EXPIRES,
        # Task events (task-received, -started, ...; Celery docs, "Monitoring and
        # Management Guide: Events"), as `celery worker -E`: Flower's task list
        # (DEMO.md step 8). About three messages per task to the celeryev exchange.
        worker_send_task_events=True,
        # No remote control (`celery inspect`) in the cluster: its queue, on one node, would
        # stop the worker when that node is lost (worker/remote_control.py).
        **remote_control_settings(queue_type),
        #
        # --- Hardening: no message lost when a worker dies, none run twice by mistake.
        # `--queues hello_queue` declares a durable queue and the producer publishes
        # persistent messages (kombu's and Celery's defaults): both survive a RabbitMQ restart.
        #
        # Late ack: send RabbitMQ's basic.ack only once the task has finished, so that
        # a worker that dies mid-task leaves its message in RabbitMQ, to be delivered
        # again (Celery docs, task_acks_late). The price: tasks must be safe to repeat.
        task_acks_late=True,
        # A pool process killed (SIGKILL, out of memory), on a classic hello_queue: send the
        # task again, as retry() would, with retries + 1, and ack the old message; once
        # max_retries are spent, FAILURE and ack, so a poison message does not loop forever
        # (task_retry_on_worker_lost; worker/dead_letters.py keeps a copy). Should that
        # retry's publish fail (broker gone), requeue instead (task_reject_on_worker_lost).
        # On a quorum hello_queue, requeue only: RabbitMQ counts the deliveries of the same
        # message, and dead-letters it past its delivery-limit (worker/deliveries.py).
        **worker_lost_settings(queue_type),
        # A redelivered message whose task already stored SUCCESS (the worker died
        # before its basic.ack reached RabbitMQ) is acked, not run again; one Redis
        # read per redelivered message (worker_deduplicate_successful_tasks).
        worker_deduplicate_successful_tasks=True,
        # Connection to RabbitMQ lost: the running tasks' messages are redelivered,
        # so cancel those tasks rather than let them complete twice (the default in Celery 6).
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # Prefetch: basic.qos(prefetch_count = 1 × --concurrency), one unacked message
        # per pool process; the rest stay Ready in RabbitMQ for whichever worker is
        # free (Celery docs, "Optimizing: Prefetch limits"; the default 4 hoards them).
        # On a quorum queue, which has no global QoS, Celery sets it per consumer
        # (worker_detect_quorum_queues), and a retry's delay goes through its
        # celery_delayed_* queues instead of the worker's memory (native delayed
        # delivery; Celery docs, "Using RabbitMQ": quorum queues).
        worker_prefetch_multiplier=1,
        # A worker started before RabbitMQ waits for it (Celery 5.3+ warns unless set).
        broker_connection_retry_on_startup=True,
        # The longest task is 30 s: SoftTimeLimitExceeded past 40 s, the pool process
        # killed past 45 s (Celery docs, "Workers Guide: Time Limits").
        task_soft_time_limit=40,
        task_time_limit=45,
    )


# The worker imports these modules at start. worker.completions, .rejections, .dead_letters
# and .connection_name hold no task: each connects a signal handler (Celery docs, "Signals");
# the last names the worker's connections in RabbitMQ's UI after its node name.
celery = Celery(
    "worker",
    include=[
        "worker.tasks",
        "worker.completions",
        "worker.rejections",
        "worker.dead_letters",
        "worker.connection_name",
    ],
)
# config_from_object, not conf.update: Celery reads override_backends from the configuration
# object only (celery/loaders/base.py). force=True reads it now: read lazily, it would wait
# for a setting other than the result backend's URL, which CELERY_RESULT_BACKEND answers
# without loading the configuration (celery.app.utils.Settings.result_backend).
celery.config_from_object(worker_settings(), force=True)
