"""The page and the two routes its buttons call."""

import time

from flask import Blueprint, current_app, render_template, request

from app.celery_app import HELLO_QUEUE
from app.hello_request import parse_hello_request

bp = Blueprint("hello", __name__)


@bp.get("/")
def index() -> str:
    """The page with the buttons."""
    return render_template("index.html")


@bp.post("/hello")
def hello() -> tuple[dict, int]:
    """Hand the slow work to a Celery worker and answer at once.

    Returns:
        202 Accepted with `{"task_id": str, "queue": "hello_queue"}`: the message
        is in RabbitMQ; a worker will run it when it can.

    Raises:
        kombu.exceptions.OperationalError: the broker is unreachable (answered
            as HTTP 503 by `app.errors`).
    """
    hello_request = parse_hello_request(request)
    celery = current_app.extensions["celery"]
    # send_task publishes by name: the web app does not import the worker's code.
    result = celery.send_task("say_hello", kwargs=hello_request.model_dump())
    return {"task_id": result.id, "queue": HELLO_QUEUE}, 202


@bp.post("/hello/blocking")
def hello_blocking() -> dict:
    """Step 1's way, kept for contrast: do the slow work inside the request.

    The browser spins for `duration` seconds, and meanwhile this web process
    (one gunicorn sync worker) answers nobody else.

    Returns:
        200 with `{"greeting": str, "duration": seconds}` once the work is done.
    """
    hello_request = parse_hello_request(request)
    time.sleep(hello_request.duration)  # the slow work: an e-mail, a report, an API call
    return {"greeting": f"{hello_request.greeting}, {hello_request.name}!", "duration": hello_request.duration}
