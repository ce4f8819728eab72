"""No broker or no Redis, no hang: POST /hello answers 503 quickly, and `make run` refuses to start.
One node of a cluster unreachable, no refusal: the click goes to the next node of CELERY_BROKER_URL."""

import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from flask import Flask

from app import create_app
from tests.support import demo_doc
from tests.support.rabbitmq import HELLO_QUEUE, Depth, VHost
from tests.support.stack import CHECKOUT, free_port, learner_env
from tests.support.timing import CLICK_ANSWER, SHORT_COMMAND


@pytest.fixture
def silent_broker() -> Iterator[str]:
    """A broker URL whose host accepts TCP connections and then never says a word.

    Worse than a refused connection: only a timeout can end the wait.
    """
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept_forever() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:  # the server socket was closed
                return

    threading.Thread(target=accept_forever, daemon=True).start()
    yield f"amqp://guest:guest@127.0.0.1:{server.getsockname()[1]}//"
    server.close()
    for connection in accepted:
        connection.close()


def assert_post_hello_answers_503(app: Flask, reason: str) -> None:
    """POST /hello to `app` must answer 503 in JSON, giving `reason`, within 3 s."""
    started = time.monotonic()
    answer = app.test_client().post("/hello", json={"name": "Ada", "duration": 1})
    elapsed = time.monotonic() - started
    assert answer.status_code == 503
    assert reason in answer.json["error"]
    assert elapsed < 3.0, f"the 503 took {elapsed:.2f} s"


@pytest.mark.parametrize("broker", ["refused", "silent"])
def test_post_hello_answers_503_in_json_within_3_s(broker: str, request: pytest.FixtureRequest) -> None:
    url = (
        f"amqp://guest:guest@127.0.0.1:{free_port()}//"
        if broker == "refused"
        else request.getfixturevalue("silent_broker")
    )
    assert_post_hello_answers_503(create_app({"broker_url": url}), "broker is unreachable")


def assert_make_run_refuses(key: str, env: dict[str, str], documented: str, actual: str) -> None:
    """Run DEMO.md block `key`'s `make run` with `env`: it must fail within 5 s, printing what
    the block shows, with the `documented` address replaced by the `actual` one.

    On free ports, not a learner's 8000 and 5555, where another program may listen:
    `make run` would name it too (scripts/preflight.py).
    """
    (command,) = demo_doc.commands(key)
    env = {"WEB_PORT": str(free_port()), "FLOWER_PORT": str(free_port()), **env}
    started = time.monotonic()
    result = subprocess.run(
        command.command,
        shell=True,
        cwd=CHECKOUT,
        env={**learner_env(), **env},
        capture_output=True,
        text=True,
        timeout=SHORT_COMMAND,
    )
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert elapsed < 5.0, f"make run took {elapsed:.2f} s to give up"
    expected = [line.replace(documented, actual) for line in command.expected]
    printed = (result.stdout + result.stderr).splitlines()
    demo_doc.assert_lines_match(printed, expected, f"DEMO.md {key}")


# Both in this checkout, where `make run` would first say that the shared stack already
# runs: so once it has stopped (`checkout_free`).
def test_demo_make_run_without_rabbitmq_says_so_within_5_s(checkout_free: None) -> None:
    port = free_port()
    env = {"CELERY_BROKER_URL": f"amqp://guest:guest@localhost:{port}//"}
    assert_make_run_refuses("step2-no-broker", env, "localhost:5672", f"localhost:{port}")


def test_post_hello_answers_503_in_json_within_3_s_without_redis(quiet_vhost: VHost) -> None:
    """The task id is noted in Redis before the message is sent: no Redis, nothing queued."""
    app = create_app({"broker_url": quiet_vhost.broker_url, "result_backend": f"redis://127.0.0.1:{free_port()}/0"})
    assert_post_hello_answers_503(app, "result backend (Redis) is unreachable")
    assert quiet_vhost.depth(HELLO_QUEUE) in (None, Depth(ready=0, consumers=0)), "nothing may be queued"


def test_demo_make_run_without_redis_says_so_within_5_s(vhost: VHost, checkout_free: None) -> None:
    port = free_port()
    env = {"CELERY_BROKER_URL": vhost.broker_url, "CELERY_RESULT_BACKEND": f"redis://localhost:{port}/0"}
    assert_make_run_refuses("step6-no-redis", env, "localhost:6379", f"localhost:{port}")


@pytest.mark.parametrize("first_node", ["refused", "silent"])
def test_post_hello_goes_to_the_next_node_when_the_first_does_not_answer(
    first_node: str, quiet_vhost: VHost, request: pytest.FixtureRequest
) -> None:
    """Celery's failover URLs, as docker-compose.cluster.yml gives them: the first node gone
    (refused) or cut off (silent, until broker_connection_timeout), the next one takes the
    click within the 3 s (app/failover.py), and its message is in hello_queue."""
    first = (
        f"amqp://guest:guest@127.0.0.1:{free_port()}//"
        if first_node == "refused"
        else request.getfixturevalue("silent_broker")
    )
    app = create_app({"broker_url": f"{first};{quiet_vhost.broker_url}"})
    # The module's vhost has no consumer: what earlier tests queued stays there.
    before = (quiet_vhost.depth(HELLO_QUEUE) or Depth(ready=0, consumers=0)).ready
    started = time.monotonic()
    answer = app.test_client().post("/hello", json={"name": "Ada", "duration": 1})
    elapsed = time.monotonic() - started
    assert answer.status_code == 202, answer.json
    assert elapsed < CLICK_ANSWER, f"the 202 took {elapsed:.2f} s"
    assert quiet_vhost.depth(HELLO_QUEUE) == Depth(ready=before + 1, consumers=0)
    # The page's panel reads the queue's depth through the same failover.
    status = app.test_client().get("/status")
    assert status.status_code == 200 and status.json["queue"]["ready"] == before + 1, status.json
