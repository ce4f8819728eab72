"""The web app's Celery object: a producer only.

It never runs a task, so it imports none: it sends messages by task *name* to a
queue. The task name, the queue and the arguments are the whole contract with
the worker (`worker/`), which may be deployed on another machine, at another time.
"""

import os

from celery import Celery
from flask import Flask

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
        "broker_url": os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@localhost:5672//"),
        # Routing happens on the producer's side: `say_hello` messages are
        # published with routing key hello_queue to the default exchange, which
        # delivers them to the queue of that name (declared on first publish).
        "task_routes": {"say_hello": {"queue": HELLO_QUEUE}},
        # JSON only: the worker accepts nothing else (a pickle could run code).
        "task_serializer": "json",
        "accept_content": ["json"],
        # Give up on a broker that does not answer within 2 s, so that a
        # request never hangs (the default is 4 s per attempt). A refused
        # connection fails at once, and Celery's publish retries (3, 0.2 s apart)
        # stay well inside the 3 s a user will wait.
        "broker_connection_timeout": 2.0,
        # Publisher confirms: send_task returns only once RabbitMQ has taken
        # the message (basic.ack), so a 202 means "it is in the queue", and a
        # message RabbitMQ refuses raises instead of vanishing (kombu docs,
        # "Transport: pyamqp"; RabbitMQ docs, "Publisher Confirms"). The price
        # is one round trip per message.
        # connection_name: how RabbitMQ's UI names this app's connections
        # (Connections tab), so that you can tell them from the worker's.
        "broker_transport_options": {"confirm_publish": True, "client_properties": {"connection_name": "web"}},
        # Not task_send_sent_event: Flower (DEMO.md step 8) would list each task
        # from the moment it is sent, but every POST /hello would publish one more
        # message (a task-sent event) and, with publisher confirms, wait one more
        # round trip. The page shows a task PENDING anyway, and Flower's Broker
        # page how many wait in hello_queue.
        # Where the worker stores each task's state and result, and where
        # `GET /tasks/<id>` reads them. Redis, not `rpc://`: with rpc:// states
        # travel back as messages to the process that sent the task, so this
        # app's other processes would see PENDING forever.
        "result_backend": os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/0"),
        # As for the broker: a Redis that does not answer within 2 s is an
        # error, never a hung request (redis_socket_connect_timeout and
        # redis_socket_timeout; Celery's default is to wait forever).
        "redis_socket_connect_timeout": 2.0,
        "redis_socket_timeout": 2.0,
        # Seconds the worker's results live; this app remembers the ids it
        # issued for as long (app/issued_tasks.py).
        "result_expires": RESULT_EXPIRES,
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
