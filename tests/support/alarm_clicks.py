"""Clicks during a RabbitMQ resource alarm, and what became of them: the contract of
issue 18 that both the native test (tests/integration/test_resource_alarm.py) and the
container one (tests/containers/test_docker_resource_alarm.py) check.

a. a click is answered within CLICK_ANSWER seconds: 503, naming the alarm and its
   node, with the task id and `"will_run": false` (app/publish.py);
b. once the alarm is over, none of those tasks runs: a message that reaches the
   worker is dropped and stored REVOKED (worker/abandoned.py), one that never
   reached RabbitMQ is unknown to the web app (404).

tests/integration/test_broker_stalled.py times its clicks, and checks b, the same way
for a RabbitMQ that reads nothing (`docker pause`).
"""

import re
import time
import uuid
from dataclasses import dataclass

import requests

from tests.support import demo_doc
from tests.support.poll import wait_for
from tests.support.timing import CLICK_ANSWER, CONSEQUENCE, HTTP, HTTP_SLOW


@dataclass
class Click:
    """One `POST /hello` and its answer: status code, JSON body (None if not JSON), seconds."""

    status: int
    body: dict | None
    text: str
    seconds: float

    def __str__(self) -> str:
        return f"{self.status} in {self.seconds:.2f} s: {self.text.strip()}"


def click(web_url: str, name: str) -> Click:
    """POST /hello for a task of 1 s, as the page's button does, and time the answer.

    The client gives up after HTTP_SLOW seconds, not gunicorn's 60: a click that hangs
    fails the test at once (the contract: an answer within CLICK_ANSWER seconds).

    Raises:
        AssertionError: no answer within HTTP_SLOW seconds.
    """
    started = time.monotonic()
    try:
        answer = requests.post(web_url + "/hello", json={"name": name, "duration": 1}, timeout=HTTP_SLOW)
    except requests.Timeout:
        raise AssertionError(
            f"POST /hello gave no answer within {HTTP_SLOW} s (the contract: an answer within {CLICK_ANSWER} s)"
        ) from None
    seconds = time.monotonic() - started
    try:
        body = answer.json()
    except ValueError:
        body = None
    return Click(answer.status_code, body, answer.text, seconds)


def refused_task(answer: Click, resource: str, node: str) -> str:
    """Check that `answer` is the contract's 503 for an alarm of `resource` on `node`, and return its task id.

    Raises:
        AssertionError: it is not.
    """
    assert answer.status == 503, f"POST /hello during a {resource} alarm answered {answer}"
    assert answer.seconds < CLICK_ANSWER, f"the 503 took {answer.seconds:.2f} s, beyond the {CLICK_ANSWER} s bound"
    body = answer.body
    assert isinstance(body, dict), f"the 503 is not JSON: {answer}"
    assert isinstance(body.get("error"), str) and resource in body["error"], f"its error names no {resource}: {answer}"
    alarm = body.get("alarm")
    assert isinstance(alarm, dict), f"its alarm is not an object: {answer}"
    assert (alarm.get("resource"), alarm.get("node")) == (resource, node), (
        f"not the {resource} alarm of {node}: {answer}"
    )
    task_id = body.get("task_id")
    assert isinstance(task_id, str) and str(uuid.UUID(task_id)) == task_id, f"its task_id is no UUID: {answer}"
    assert body.get("will_run") is False, f'its "will_run" is not false: {answer}'
    return task_id


def task_answer(web_url: str, task_id: str) -> tuple[int, str | None]:
    """`GET /tasks/<task_id>`: its status code, and the task's state when it is 200."""
    answer = requests.get(f"{web_url}/tasks/{task_id}", timeout=HTTP)
    return answer.status_code, answer.json().get("state") if answer.status_code == 200 else None


def status(web_url: str) -> dict:
    """`GET /status`'s body.

    Raises:
        AssertionError: it did not answer 200.
    """
    answer = requests.get(web_url + "/status", timeout=HTTP)
    assert answer.status_code == 200, f"GET /status answered {answer.status_code}: {answer.text}"
    return answer.json()


def dropped_or_never_delivered(
    log: list[str], web_url: str, refused: list[str], documented: str
) -> tuple[list[str], list[str]]:
    """Check that none of the `refused` tasks (answered 503) ran, and sort them by what became of them.

    Args:
        log: the worker's log lines, once it holds every line about these tasks it ever
            will (the caller waits for a later task's success first).
        web_url: the web app, whose GET /tasks/<id> is asked about each task.
        refused: the tasks' ids.
        documented: the key of TROUBLESHOOTING.md's block that shows the worker's line
            for a dropped task ("ts-6-dropped"; named by the caller, a test module, which
            tests/test_demo_doc.py looks for).

    Returns:
        The ids of those whose message reached the worker, which dropped it (with the
        documented line; GET /tasks/<id> reads REVOKED), and of those whose message never
        arrived (GET /tasks/<id> answers 404).

    Raises:
        AssertionError: one ran, or reached the worker and was not dropped, or reads otherwise.
    """
    (documented_drop,) = demo_doc.block(documented, doc=demo_doc.TROUBLESHOOTING).splitlines()
    dropped, never_delivered = [], []
    for task_id in refused:
        lines = [line for line in log if f"say_hello[{task_id}]" in line]
        ran = [line for line in lines if re.search(rf"say_hello\[{task_id}\](: Hello, | succeeded)", line)]
        assert not ran, f"task {task_id}, answered 503, ran:\n" + "\n".join(ran)
        drop = rf"say_hello\[{task_id}\]: dropped: its POST /hello was answered 503, so it does not run"
        if lines:  # its message reached the worker: dropped, and stored as REVOKED
            assert any(re.search(drop, line) for line in lines), (
                f"task {task_id} reached the worker, not dropped:\n" + ("\n".join(lines))
            )
            demo_doc.assert_lines_appear_in_order(
                [line for line in lines if "dropped" in line], [documented_drop], f"TROUBLESHOOTING.md {documented}"
            )
            wait_for(
                lambda task_id=task_id: task_answer(web_url, task_id),
                lambda answer: answer == (200, "REVOKED"),
                CONSEQUENCE,
                f"GET /tasks/{task_id} to answer 200 REVOKED",
            )
            dropped.append(task_id)
        else:  # its message never arrived: the app forgot the id
            assert task_answer(web_url, task_id)[0] == 404, f"GET /tasks/{task_id} of a task never delivered"
            never_delivered.append(task_id)
    return dropped, never_delivered
