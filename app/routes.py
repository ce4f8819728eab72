"""The page and the route its button calls."""

import time

from flask import Blueprint, render_template, request

from app.hello_request import parse_hello_request

bp = Blueprint("hello", __name__)


@bp.get("/")
def index() -> str:
    """The page with the button."""
    return render_template("index.html")


@bp.post("/hello")
def hello() -> dict:
    """Do the slow work inline, inside the request.

    This is the problem the tutorial sets out to solve: the browser spins for
    `duration` seconds, and while it does this web process (one gunicorn sync
    worker) answers nobody else.

    Returns:
        200 with `{"greeting": str, "duration": seconds}` once the work is done.
    """
    hello_request = parse_hello_request(request)
    time.sleep(hello_request.duration)  # the slow work: an e-mail, a report, an API call
    return {"greeting": f"Hello, {hello_request.name}!", "duration": hello_request.duration}
