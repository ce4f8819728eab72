"""Poison messages: what the worker does with a message it cannot run (RELIABILITY.md rows 5a to 5d).

Each test publishes one kind by hand to hello_queue, as anyone with access to the
broker could, then checks that the worker logged it once, naming the task and
the reason, and did not take it back: a message rejected with requeue would be
delivered again and again. A requeued message goes back to its original place at
the head of the queue (RabbitMQ docs, "Negative Acknowledgements"), so once a
normal task published after the poison message was handled has succeeded, any
redelivery would have come and been logged before it: the count of the poison
message's log lines is final. hello_queue is then left with 0 messages Ready
(passive declare).
"""

import json
import pickle
import re
import uuid
from pathlib import Path

import requests
from kombu import Connection

from tests.support.rabbitmq import HELLO_QUEUE, VHost
from tests.support.reliability import Row, record
from tests.support.stack import Stack, post_hello
from tests.support.timing import HTTP, LOG_LINE


def publish(vhost: VHost, body: bytes, content_type: str, task: str, task_id: str) -> None:
    """Publish one task message by hand to hello_queue, through the default exchange.

    The headers are the least a Celery protocol 2 message needs: the task name and
    its id (Celery docs, "Message Protocol"). With publisher confirms, the call
    returns once RabbitMQ has queued the message.
    """
    with Connection(vhost.broker_url, transport_options={"confirm_publish": True}) as connection:
        connection.Producer().publish(
            body,
            exchange="",
            routing_key=HELLO_QUEUE,
            content_type=content_type,
            content_encoding="utf-8" if content_type == "application/json" else "binary",
            headers={"task": task, "id": task_id},
        )


def lines_after(stack: Stack, start: int, pattern: str) -> list[str]:
    """The worker's log lines matching the regex `pattern`, from index `start` on."""
    return [line for line in stack.lines[start:] if re.search(pattern, line)]


def next_task_succeeds(stack: Stack, vhost: VHost) -> None:
    """A normal task, sent through the web app after the poison, succeeds, and hello_queue is left empty."""
    task_id = post_hello(stack.web_url, name="Ada", duration=0)
    stack.wait_for_lines(rf"Task say_hello\[{task_id}\] succeeded", timeout=LOG_LINE)
    depth = vhost.depth(HELLO_QUEUE)
    assert depth is not None and depth.ready == 0, f"hello_queue still holds messages: {depth}"


def task_state(stack: Stack, task_id: str) -> dict:
    """The body of `GET /tasks/<task_id>`, which must answer 200."""
    answer = requests.get(f"{stack.web_url}/tasks/{task_id}", timeout=HTTP)
    assert answer.status_code == 200, f"GET /tasks/{task_id} answered {answer.status_code}: {answer.text}"
    return answer.json()


class Canary:
    """An object whose unpickling creates the file `path`: proof that a pickle was deserialised.

    pickle calls what `__reduce__` returns (here `open(path, "w")`) to rebuild
    the object: any callable, `os.system` as well (Python docs, "pickle": "Never
    unpickle data that could have come from an untrusted source").
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return open, (str(self.path), "w")


def test_a_body_that_is_not_json_is_logged_once_and_acked(stack: Stack, vhost: VHost) -> None:
    start, task_id = len(stack.lines), str(uuid.uuid4())
    publish(vhost, b"{not json", "application/json", "say_hello", task_id)
    # Celery logs the headers (task name and id) and the decode error, then acks:
    # an undecodable body would not decode any better the next time. The headers in
    # any order: RabbitMQ 4 does not keep the order they were published in.
    stack.wait_for_lines(rf"Can't decode message body: DecodeError\((?=.*'task': 'say_hello')(?=.*'id': '{task_id}')")
    next_task_succeeds(stack, vhost)
    logged = lines_after(stack, start, task_id)
    assert len(logged) == 1, f"the message was logged {len(logged)} times: {logged}"
    record(
        Row(
            key="5a",
            scenario="Poison: a body that is not JSON",
            action="publish a say_hello message whose body is not JSON to hello_queue",
            outcome="logged CRITICAL with its task name, id and the decode error; acked and dropped; "
            "the worker consumes on",
            setting="Celery acks a message it cannot decode (Consumer.on_decode_error)",
            counts=f"1 published, {len(logged)} logged, {len(logged) - 1} redelivered, next task SUCCESS",
        )
    )


def test_a_pickle_is_never_unpickled_and_is_rejected(stack: Stack, vhost: VHost, tmp_path: Path) -> None:
    # The canary works: unpickling it here creates its file.
    pickle.loads(pickle.dumps(Canary(tmp_path / "control")))
    assert (tmp_path / "control").exists()
    canary = tmp_path / "canary"
    body = pickle.dumps([[Canary(canary)], {}, {}])  # protocol 2's (args, kwargs, embed)
    start, task_id = len(stack.lines), str(uuid.uuid4())
    publish(vhost, body, "application/x-python-serialize", "say_hello", task_id)
    stack.wait_for_lines(r"Received invalid task message: Refusing to deserialize untrusted content of type pickle")
    # worker/rejections.py names the message that Celery's own log does not.
    (rejected,) = stack.wait_for_lines(rf"Rejected say_hello\[{task_id}\] without requeue, dropped: (.*)$")
    assert rejected[1] == (
        "ContentDisallowed: Refusing to deserialize untrusted content of type pickle (application/x-python-serialize)"
    )
    next_task_succeeds(stack, vhost)
    assert not canary.exists(), "the worker unpickled the message"
    logged = lines_after(stack, start, task_id)
    assert len(logged) == 1, f"the message was logged {len(logged)} times: {logged}"
    record(
        Row(
            key="5b",
            scenario="Poison: a pickle",
            action="publish a say_hello message serialised with pickle, whose unpickling would create a file",
            outcome="refused unread (ContentDisallowed), logged with its task name and id, rejected without "
            "requeue; no file created; the worker consumes on",
            setting="accept_content=['json']",
            counts=f"1 published, {len(logged)} logged, {len(logged) - 1} redelivered, "
            f"{int(canary.exists())} files created, next task SUCCESS",
        )
    )


def test_an_unknown_task_is_logged_once_rejected_and_stored_as_failure(stack: Stack, vhost: VHost) -> None:
    start, task_id = len(stack.lines), str(uuid.uuid4())
    publish(vhost, json.dumps([[], {}, {}]).encode(), "application/json", "say_goodbye", task_id)
    stack.wait_for_lines(r"Received unregistered task of type 'say_goodbye'")
    # The same log record goes on with the message's headers, the id among them, in
    # any order (RabbitMQ 4 does not keep the order they were published in).
    stack.wait_for_lines(rf"^\{{(?=.*'task': 'say_goodbye')(?=.*'id': '{task_id}').*\}}$")
    next_task_succeeds(stack, vhost)
    logged = lines_after(stack, start, task_id)
    assert len(logged) == 1, f"the message was logged {len(logged)} times: {logged}"
    assert len(lines_after(stack, start, "Received unregistered task of type 'say_goodbye'")) == 1
    # Celery also stores FAILURE for the id, which the web app reads like any other.
    state = task_state(stack, task_id)
    assert (state["state"], state["error"]) == ("FAILURE", "NotRegistered: 'say_goodbye'")
    record(
        Row(
            key="5c",
            scenario="Poison: an unknown task",
            action="publish a message for a task named say_goodbye, which no worker has, to hello_queue",
            outcome="logged 'unregistered task' with its headers; rejected without requeue; FAILURE "
            "(NotRegistered) stored; the worker consumes on",
            setting="Celery rejects unregistered tasks (Consumer.on_unknown_task)",
            counts=f"1 published, {len(logged)} logged, {len(logged) - 1} redelivered, "
            f"GET /tasks {state['state']}, next task SUCCESS",
        )
    )


def test_wrong_argument_types_fail_once_naming_the_task_and_the_argument(stack: Stack, vhost: VHost) -> None:
    wrong = {
        "duration": ({"duration": "abc"}, "say_hello: duration must be a finite number of seconds, got 'abc'"),
        "boolean": ({"duration": True}, "say_hello: duration must be a finite number of seconds, got True"),
        "fail_times": ({"fail_times": "x"}, "say_hello: fail_times must be a whole number of attempts, got 'x'"),
    }
    start = len(stack.lines)
    task_ids = {case: str(uuid.uuid4()) for case in wrong}
    for case, (kwargs, _) in wrong.items():
        publish(vhost, json.dumps([[], kwargs, {}]).encode(), "application/json", "say_hello", task_ids[case])
    for case, (_, error) in wrong.items():
        (failure,) = stack.wait_for_lines(rf"Task say_hello\[{task_ids[case]}\] raised unexpected: (.*)$")
        assert failure[1] == f"TypeError({error!r})"
    next_task_succeeds(stack, vhost)
    # Per message: (times received, times failed, times retried). A retry or a
    # redelivery would show as a second "received".
    counts = {
        case: tuple(
            len(lines_after(stack, start, rf"Task say_hello\[{task_id}\] {event}"))
            for event in ("received", "raised unexpected", "retry")
        )
        for case, task_id in task_ids.items()
    }
    assert counts == dict.fromkeys(wrong, (1, 1, 0)), counts
    for case, (_, error) in wrong.items():
        state = task_state(stack, task_ids[case])
        assert (state["state"], state["error"], state["retries"]) == ("FAILURE", f"TypeError: {error}", 0)
    received, failed, retried = (sum(column) for column in zip(*counts.values(), strict=True))
    record(
        Row(
            key="5d",
            scenario="Poison: wrong argument types",
            action='publish say_hello with duration "abc", duration true, fail_times "x" to hello_queue',
            outcome="TypeError naming the task and the argument, logged; FAILURE stored, readable at GET /tasks; "
            "acked, not retried; the worker consumes on",
            setting="task_acks_late acks failed tasks too (task_acks_on_failure); say_hello checks its types",
            counts=f"{len(wrong)} published, {failed} failed, {retried} retried, {received - len(wrong)} redelivered, "
            "next task SUCCESS",
        )
    )
