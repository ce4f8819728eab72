"""The security headers and the request size cap (app/security.py), through Flask's test client.

No server and no RabbitMQ: the producer publishes to kombu's in-memory
transport. The two tests that get a 202 note its task id in the local Redis, and
forget it again.
"""

import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.security import MAX_CONTENT_LENGTH
from tests.support.security_headers import SECURITY_HEADERS

TEMPLATE = Path(__file__).resolve().parents[2] / "app" / "templates" / "index.html"


@pytest.fixture
def app() -> Flask:
    app = create_app({"broker_url": "memory://"})

    # A view that fails as a bug would, to see the 500 answer too.
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def forget(app: Flask, answer) -> None:
    """Drop the Redis note of the task a 202 `answer` issued."""
    app.extensions["issued_tasks"].discard(answer.json["task_id"])


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status"),
    [
        ("GET", "/", None, None, 200),
        ("GET", "/static/page.js", None, None, 200),
        ("GET", "/static/page.css", None, None, 200),
        ("POST", "/hello", '{"duration": -1}', "application/json", 400),
        ("GET", "/tasks/not-a-uuid", None, None, 400),
        ("GET", "/nowhere", None, None, 404),
        ("DELETE", "/hello", None, None, 405),
        ("POST", "/hello", "x" * (MAX_CONTENT_LENGTH + 1), "text/plain", 413),
        ("POST", "/hello/blocking", "name=Ada", "text/plain", 415),
        ("POST", "/noop", None, None, 200),
        ("GET", "/boom", None, None, 500),
    ],
)
def test_every_answer_carries_the_security_headers(
    client: FlaskClient, method: str, path: str, body: str | None, content_type: str | None, status: int
) -> None:
    """The page, its files, and the JSON errors alike: Talisman's after_request hook runs for all."""
    answer = client.open(path, method=method, data=body, content_type=content_type)
    assert answer.status_code == status
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, name
    if status >= 400:
        assert answer.mimetype == "application/json"
        assert answer.json["error"]


def test_plain_http_is_served_as_is_and_never_pinned_to_https(client: FlaskClient) -> None:
    """No redirect to https:// and no HSTS, even when a proxy claims the request came over HTTPS."""
    answer = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert answer.status_code == 200
    assert "Strict-Transport-Security" not in answer.headers
    assert client.get("/").status_code == 200  # not 302 to https://


def test_a_405_says_which_methods_the_url_allows(client: FlaskClient) -> None:
    """RFC 9110, section 15.5.6: a 405 carries `Allow`; the JSON error handler keeps it."""
    answer = client.put("/hello")
    assert answer.status_code == 405
    assert answer.mimetype == "application/json"
    assert set(answer.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}


class InlineCode(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would block: inline scripts, styles, handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style>")
        self.found += [f'{name}="" on <{tag}>' for name in names if name == "style" or name.startswith("on")]


def test_the_page_has_nothing_inline_that_its_csp_would_block() -> None:
    """script-src and style-src 'self' allow only page.js and page.css: the template must load nothing else."""
    parser = InlineCode()
    parser.feed(TEMPLATE.read_text())
    assert parser.found == []


def padded_json(size: int) -> bytes:
    """A valid `POST /hello` body of exactly `size` bytes: JSON allows any amount of whitespace."""
    body = json.dumps({"name": "Ada", "duration": 0}).encode()
    return body + b" " * (size - len(body))


@pytest.mark.parametrize("size", [MAX_CONTENT_LENGTH - 1, MAX_CONTENT_LENGTH])
def test_a_body_up_to_the_cap_is_accepted(app: Flask, client: FlaskClient, size: int) -> None:
    answer = client.post("/hello", data=padded_json(size), content_type="application/json")
    assert answer.status_code == 202, answer.json
    forget(app, answer)


@pytest.mark.parametrize("path", ["/hello", "/hello/blocking"])
@pytest.mark.parametrize("size", [MAX_CONTENT_LENGTH + 1, 64 * MAX_CONTENT_LENGTH])
def test_a_body_over_the_cap_is_answered_413_in_json(client: FlaskClient, path: str, size: int) -> None:
    """Werkzeug refuses it from its Content-Length alone, before anything parses it."""
    answer = client.post(path, data=padded_json(size), content_type="application/json")
    assert answer.status_code == 413
    assert answer.mimetype == "application/json"
    assert answer.json["error"]


def post_streamed(client: FlaskClient, body: bytes):
    """POST /hello as gunicorn hands over a chunked body: no Content-Length, `wsgi.input_terminated` set."""
    return client.post(
        "/hello",
        input_stream=io.BytesIO(body),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},  # so Werkzeug ignores the Content-Length the test client adds
        environ_overrides={"wsgi.input_terminated": True},
    )


@pytest.mark.parametrize("size", [MAX_CONTENT_LENGTH + 1, 64 * MAX_CONTENT_LENGTH])
def test_a_streamed_body_over_the_cap_is_answered_413_not_cut(client: FlaskClient, size: int) -> None:
    """Werkzeug alone would read its first 16 KiB, valid JSON here, and answer 202."""
    answer = post_streamed(client, padded_json(size))
    assert answer.status_code == 413
    assert answer.json["error"]


@pytest.mark.parametrize("size", [MAX_CONTENT_LENGTH - 1, MAX_CONTENT_LENGTH])
def test_a_streamed_body_up_to_the_cap_is_accepted(app: Flask, client: FlaskClient, size: int) -> None:
    answer = post_streamed(client, padded_json(size))
    assert answer.status_code == 202, answer.json
    forget(app, answer)


@pytest.mark.parametrize("body", [b"[" * 8_000 + b"]" * 8_000, b'{"":' * 3_000 + b"1" + b"}" * 3_000])
def test_json_nested_deeper_than_python_parses_is_a_400_not_a_500(client: FlaskClient, body: bytes) -> None:
    """Python's json module recurses once per level: 16 KiB of `[` is far past its recursion limit."""
    answer = client.post("/hello", data=body, content_type="application/json")
    assert (answer.status_code, answer.json["field"]) == (400, "body")
