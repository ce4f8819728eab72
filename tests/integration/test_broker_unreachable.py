"""No broker, no hang: POST /hello answers 503 quickly, and `make run` refuses to start."""

import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from app import create_app
from tests.support import demo_doc
from tests.support.stack import ROOT, free_port, learner_env


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


@pytest.mark.parametrize("broker", ["refused", "silent"])
def test_post_hello_answers_503_in_json_within_3_s(broker: str, request: pytest.FixtureRequest) -> None:
    url = (
        f"amqp://guest:guest@127.0.0.1:{free_port()}//"
        if broker == "refused"
        else request.getfixturevalue("silent_broker")
    )
    client = create_app({"broker_url": url}).test_client()
    started = time.monotonic()
    answer = client.post("/hello", json={"name": "Ada", "duration": 1})
    elapsed = time.monotonic() - started
    assert answer.status_code == 503
    assert "broker is unreachable" in answer.json["error"]
    assert elapsed < 3.0, f"the 503 took {elapsed:.2f} s"


def test_demo_make_run_without_rabbitmq_says_so_within_5_s() -> None:
    (command,) = demo_doc.commands("step2-no-broker")
    port = free_port()
    env = {**learner_env(), "CELERY_BROKER_URL": f"amqp://guest:guest@localhost:{port}//"}
    started = time.monotonic()
    result = subprocess.run(command.command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert elapsed < 5.0, f"make run took {elapsed:.2f} s to give up"
    expected = [line.replace("localhost:5672", f"localhost:{port}") for line in command.expected]
    printed = (result.stdout + result.stderr).splitlines()
    demo_doc.assert_lines_match(printed, expected, "DEMO.md step2-no-broker")
