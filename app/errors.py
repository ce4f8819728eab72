"""Every error the web app answers is JSON, so `curl` users and the page read it alike."""

from flask import Flask
from kombu.exceptions import OperationalError
from redis import RedisError
from redis.exceptions import OutOfMemoryError
from werkzeug.exceptions import HTTPException

from app.publish import NotQueued


class InvalidInput(Exception):
    """A request field the app cannot accept; answered as HTTP 400.

    Args:
        field: the name of the offending field (`"name"`, `"duration"`, or `"body"`
            when the body as a whole is unreadable).
        message: what is wrong, in words a user can act on.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def register(app: Flask) -> None:
    """Install the JSON error handlers on `app`."""

    @app.errorhandler(InvalidInput)
    def invalid_input(error: InvalidInput):
        return {"error": error.message, "field": error.field}, 400

    @app.errorhandler(OperationalError)
    def broker_unreachable(error: OperationalError):
        # No connection to RabbitMQ could be opened (app/publish.py): nothing was
        # queued, so the client must know, and may try again later.
        return {"error": f"the broker is unreachable, nothing was queued: {error}"}, 503

    @app.errorhandler(NotQueued)
    def not_queued(error: NotQueued):
        # The message may have reached RabbitMQ's socket but was not confirmed: the
        # answer carries the task id, says whether it can still run (app/publish.py), and
        # why: a resource alarm, or a quorum hello_queue without its majority (app/majority.py).
        return {
            "error": error.reason,
            "alarm": error.alarm,
            "quorum": error.quorum,
            "task_id": error.task_id,
            "will_run": error.will_run,
        }, 503

    @app.errorhandler(OutOfMemoryError)
    def result_backend_full(error: OutOfMemoryError):
        # Redis at its maxmemory with the noeviction policy refuses every write
        # (Redis docs, "Key eviction"): the task id could not be noted, and nothing
        # was queued.
        return {"error": f"the result backend (Redis) is full, nothing was queued: {error}"}, 503

    @app.errorhandler(RedisError)
    def result_backend_unreachable(error: RedisError):
        # POST /hello notes each task id in Redis before it sends the message,
        # so a failure here also means that nothing was queued.
        return {"error": f"the result backend (Redis) is unreachable: {error}"}, 503

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        # Werkzeug's own errors (404, 405, 413, 415, ...) come as HTML by
        # default. Their other headers are kept: a 405 must say which methods
        # the URL allows (`Allow`, RFC 9110 section 15.5.6), as in Flask's docs
        # ("Handling Application Errors": generic exception handlers).
        headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
        return {"error": error.description}, error.code, headers
