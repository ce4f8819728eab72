"""Flower's Celery object: an observer, neither producer nor consumer.

supervisord's `[program:flower]` starts Flower with
`celery --app monitor.celery_app flower`. Flower sends no task and runs none:
it reads the events the worker sends (worker_send_task_events,
worker/celery_app.py), asks the workers what they run (`celery inspect`, over
the broker), and asks RabbitMQ's management API for queue lengths. So it needs
the broker's URL and none of the task code.
"""

import os

from celery import Celery

HELLO_QUEUE = "hello_queue"


def monitor_settings() -> dict:
    """Flower's Celery settings, from the environment.

    Returns:
        A dict of Celery setting names to values (Celery docs, "Configuration
        and defaults"). `CELERY_BROKER_URL` defaults to a local RabbitMQ, as the
        web app's and the worker's do.
    """
    return {
        "broker_url": os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@localhost:5672//"),
        # JSON only, as everywhere in this demo: the events and the workers'
        # replies that Flower reads are JSON (Celery docs, "Security: Serializers").
        "accept_content": ["json"],
        "task_serializer": "json",
        "result_serializer": "json",
        # This object sends no task, so Celery never uses this setting here; Flower
        # does. Its Broker page shows the length of the queues that the workers say
        # they consume (`celery inspect active_queues`), and, until a worker has
        # answered (right after `make run`, when Flower starts before the worker
        # is ready), the length of task_default_queue: hello_queue, not `celery`.
        "task_default_queue": HELLO_QUEUE,
        # How RabbitMQ's UI names Flower's connections (Connections tab), as the
        # web app's are named "web" and each worker's after its node name
        # (worker/connection_name.py).
        "broker_transport_options": {"client_properties": {"connection_name": "flower"}},
    }


celery = Celery("monitor")
celery.conf.update(monitor_settings())
