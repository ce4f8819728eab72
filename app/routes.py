"""The page, `POST /hello` (slow work handed to a worker), `GET /tasks/<id>`, and step 1's `POST /hello/blocking`."""

import time
import uuid

from celery import states
from flask import Blueprint, abort, current_app, render_template, request

from app.celery_app import HELLO_QUEUE
from app.errors import InvalidInput
from app.hello_request import parse_hello_request
from app.issued_tasks import is_task_id
from app.publish import publish_hello
from app.task_state import TaskState, describe

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
        is in RabbitMQ; a worker will run it when it can. Follow it at
        `GET /tasks/<task_id>`.

    Raises:
        kombu.exceptions.OperationalError: the broker is unreachable (answered
            as HTTP 503 by `app.errors`).
        app.publish.NotQueued: RabbitMQ blocked the message (a resource alarm) or
            did not confirm it in time; the task will not run (503).
        redis.RedisError: the result backend is unreachable (503 too).
    """
    hello_request = parse_hello_request(request)
    celery = current_app.extensions["celery"]
    issued = current_app.extensions["issued_tasks"]
    # The id is noted first: if Redis fails here, nothing is queued and the answer
    # is 503. Noted after sending, a Redis failure would leave a task running whose
    # id nobody was told, and a click again would queue it twice.
    task_id = str(uuid.uuid4())
    issued.add(task_id)
    try:
        # send_task publishes by name: the web app does not import the worker's code.
        # publish_hello calls it with a bound, so that no click waits on RabbitMQ for
        # long, and a click answered 503 never runs (app/publish.py).
        publish_hello(celery, task_id, hello_request.model_dump())
    except Exception:
        issued.discard(task_id)  # not queued: the id stays unknown
        raise
    return {"task_id": task_id, "queue": HELLO_QUEUE}, 202


@bp.get("/tasks/<task_id>")
def task(task_id: str) -> TaskState:
    """A task's state, as the worker last stored it in the result backend.

    Returns:
        200 with `{"id", "state", "progress": {"current", "total"} | null,
        "result" | null, "error" | null, "retries" | null}` (`app.task_state`).

    Raises:
        InvalidInput: `task_id` is not a UUID (400).
        NotFound: the result backend holds nothing for `task_id`, and this app
            never issued it or has forgotten it (404). Celery itself would
            answer PENDING for any id (`app.issued_tasks`).
        redis.RedisError: the result backend is unreachable (503).
    """
    if not is_task_id(task_id):
        raise InvalidInput("task_id", "not a task id: expected a UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e")
    meta = current_app.extensions["celery"].backend.get_task_meta(task_id)
    # PENDING means "nothing stored": a task waiting in the queue, or no task at all.
    if meta["status"] == states.PENDING and not current_app.extensions["issued_tasks"].recall(task_id):
        abort(404, description=f"no task {task_id} was sent from here, or its result has expired")
    return describe(task_id, meta)


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
