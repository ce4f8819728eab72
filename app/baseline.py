"""`POST /noop`, the benchmark's baseline (`make bench`, BENCHMARKS.md): a route that does nothing."""

from flask import Blueprint

bp = Blueprint("baseline", __name__)


@bp.post("/noop")
def noop() -> dict:
    """Answer at once, as cheaply as this app can.

    It goes through all that every route of this app goes through (gunicorn's
    sync worker, Flask's routing, the security headers of `app.security`, a JSON
    answer), and leaves out all that `POST /hello` adds: reading and validating
    the body, noting the task id in Redis, and publishing the message to RabbitMQ
    (with its publisher confirm). `POST /hello`'s requests/s over this route's is
    what the task's hand-off costs the web process.

    Returns:
        200 with `{"noop": true}`, whatever the request's body.
    """
    return {"noop": True}
