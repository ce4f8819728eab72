"""The web app's Celery object: a producer only.

It never runs a task, so it imports none: it sends messages by task *name* to a
queue. The task name, the queue and the arguments are the whole contract with
the worker (`worker/`), which may be deployed on another machine, at another time.
"""

import os

from celery import Celery
from flask import Flask

HELLO_QUEUE = "hello_queue"


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
        # No result backend yet: nobody reads a task's return value.
        "task_ignore_result": True,
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
