"""The web app's Celery object: a producer only.

It never runs a task, so it imports none: it sends messages by task *name* to a
queue. The task name, the queue and the arguments are the whole contract with
the worker (`worker/`), which may be deployed on another machine, at another time.
"""

import os

from celery import Celery
from flask import Flask

from app.publish import raise_blocked

HELLO_QUEUE = "hello_queue"
# Seconds that results stay in the result backend: the worker's result_expires
# (worker/celery_app.py), part of the contract between the two.
RESULT_EXPIRES = 3600


def producer_settings() -> dict:
    """The producer's Celery settings, from the environment.

    Returns:
        A dict of Celery setting names to values (Celery docs, "Configuration
        and defaults"). `CELERY_BROKER_URL` defaults to a local RabbitMQ.
    """
    return {
        # --- The essentials: the broker, the route, the result backend, the format.
        "broker_url": os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@localhost:5672//"),
        # Routing is the producer's: `say_hello` is published with routing key
        # hello_queue to the default exchange, which delivers it to the queue of that
        # name (in the cluster, to the topic exchange hello_queue: hello_queue_type
        # below). Celery declares that queue durable (kombu's Queue default) and publishes
        # persistent messages (delivery_mode 2, task_default_delivery_mode's default):
        # both survive a RabbitMQ restart.
        "task_routes": {"say_hello": {"queue": HELLO_QUEUE}},
        # hello_queue's type, as the worker declares it too (worker/celery_app.py):
        **hello_queue_type(os.environ.get("HELLO_QUEUE_TYPE", "classic")),
        # Where the worker stores each task's state and result, and `GET /tasks/<id>`
        # reads them. Redis, not `rpc://`, whose states go back to the sending
        # process only: this app's other processes would see PENDING forever.
        "result_backend": os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/0"),
        # Results live that long; this app remembers its task ids as long (app/issued_tasks.py).
        "result_expires": RESULT_EXPIRES,
        # JSON only: the worker accepts nothing else (a pickle could run code).
        "task_serializer": "json",
        "accept_content": ["json"],
        #
        # --- Hardening: a 202 means RabbitMQ has the message; no request hangs.
        # Publisher confirm (confirm_publish): send_task returns once RabbitMQ has
        # taken the message (it sends the publisher a basic.ack: not the worker's ack
        # of a delivery), and a message it refuses raises instead
        # of vanishing (kombu docs, "Transport: pyamqp"; RabbitMQ docs, "Publisher
        # Confirms"). One round trip per message. connection_name: how RabbitMQ's UI
        # names this app's connections (Connections tab).
        # on_blocked: py-amqp's callback for RabbitMQ's connection.blocked, sent to a
        # publisher during a resource alarm; it ends the publish at once (app/publish.py).
        "broker_transport_options": {
            "confirm_publish": True,
            "on_blocked": raise_blocked,
            "client_properties": {"connection_name": "web"},
        },
        # A broker that does not answer within 1 s is an error (the default is 4 s
        # per attempt): the TCP connect and each wait of a new connection's AMQP
        # handshake (py-amqp's Connection.connect), and GET /status's questions
        # (app/status.py). 1 s, not 2: gunicorn's one sync worker serves the page's
        # panel and the clicks in turn, so a click may first wait for a GET /status
        # that waits on RabbitMQ, then for RabbitMQ itself (1.5 s at most when it
        # reads nothing, app/publish.py): within 3 s together.
        "broker_connection_timeout": 1.0,
        # Redis too (2 s), whose default is to wait forever.
        "redis_socket_connect_timeout": 2.0,
        "redis_socket_timeout": 2.0,
        # Not task_send_sent_event (Flower would list tasks from their sending): one more
        # message, and confirm, per POST /hello.
    }


def hello_queue_type(queue_type: str) -> dict:
    """The Celery settings that declare hello_queue as a queue of `queue_type`.

    "classic" (the default: `make run`, the single-node compose, every step before
    the cluster): a queue on one node, as Celery declares a queue of task_routes
    unless told otherwise, bound to a direct exchange of its name; for a direct
    exchange Celery publishes to the default exchange instead.
    "quorum" (docker-compose.cluster.yml): a copy on each node of a RabbitMQ cluster,
    kept in step by Raft (RabbitMQ docs, "Quorum Queues"), bound to a topic exchange
    of its name, which Celery then publishes to: Celery's native delayed delivery (a
    countdown, a retry's delay, on a quorum queue) cannot reach a queue through a
    direct exchange (Celery docs, task_create_missing_queue_exchange_type).
    Producer and worker must agree: RabbitMQ refuses to declare a queue, or an
    exchange, that exists with another type (PRECONDITION_FAILED).

    Args:
        queue_type: HELLO_QUEUE_TYPE's value, "classic" or "quorum".

    Returns:
        task_create_missing_queue_type and task_create_missing_queue_exchange_type
        (Celery 5.6+, "Configuration and defaults"), for the queues of task_routes.

    Raises:
        ValueError: `queue_type` is neither.
    """
    if queue_type not in ("classic", "quorum"):
        raise ValueError(f"HELLO_QUEUE_TYPE must be classic or quorum, not {queue_type!r}")
    return {
        "task_create_missing_queue_type": queue_type,
        "task_create_missing_queue_exchange_type": "topic" if queue_type == "quorum" else None,
    }


def celery_init_app(app: Flask) -> Celery:
    """Create the producer Celery object and store it in `app.extensions["celery"]`.

    Args:
        app: the Flask app; its `CELERY` config (a dict of Celery settings) is applied.

    Returns:
        The Celery object, as in Flask's `examples/celery`.
    """
    celery = Celery(app.name)
    celery.config_from_object(app.config["CELERY"])
    app.extensions["celery"] = celery
    return celery
