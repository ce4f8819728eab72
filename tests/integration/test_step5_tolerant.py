"""Step 5: defaults and **kwargs let the worker run messages of older and newer producers."""

import json

from tests.skew import step3_producer
from tests.support import demo_doc
from tests.support.rabbitmq import HELLO_QUEUE, VHost
from tests.support.stack import Stack
from tests.support.timing import LOG_LINE

CELERY_HEADERS = {"task": "say_hello"}


def test_a_message_of_the_step3_producer_runs_with_the_default_greeting(stack: Stack, vhost: VHost) -> None:
    task_id = step3_producer.send_say_hello(vhost.broker_url, name="Ada", duration=0)
    stack.wait_for_lines(rf"Task say_hello\[{task_id}\] succeeded", timeout=LOG_LINE)
    assert any(line.endswith(f"Hello, Ada! (task id {task_id})") for line in stack.task_lines(task_id))


def test_demo_step5_a_message_with_an_unknown_argument_is_published_by_hand_and_runs(
    stack: Stack, vhost: VHost
) -> None:
    (command,) = demo_doc.commands("step5-publish")
    publish = vhost.on_management_api(command.command)
    demo_doc.assert_lines_match(stack.run_demo_command(publish), command.expected, "DEMO.md step5-publish")
    stack.wait_for_lines(r"Task say_hello\[by-hand-1\] succeeded", timeout=LOG_LINE)
    expected = demo_doc.block("step5-worker-log").splitlines()
    demo_doc.assert_lines_match(stack.task_lines("by-hand-1"), expected, "DEMO.md step5-worker-log")


def test_positional_arguments_and_missing_arguments_run_too(stack: Stack, vhost: VHost) -> None:
    bodies = {
        "positional": [["Linus", 0], {}, {}],
        "missing": [[], {"duration": 0}, {}],
    }
    for task_id, body in bodies.items():
        assert vhost.publish(HELLO_QUEUE, json.dumps(body), {**CELERY_HEADERS, "id": task_id})
    stack.wait_for_lines(r"Task say_hello\[positional\] succeeded", timeout=LOG_LINE)
    stack.wait_for_lines(r"Task say_hello\[missing\] succeeded", timeout=LOG_LINE)
    assert any(line.endswith("Hello, Linus! (task id positional)") for line in stack.task_lines("positional"))
    assert any(line.endswith("Hello, world! (task id missing)") for line in stack.task_lines("missing"))


def test_too_many_positional_arguments_fail_with_a_log_line_naming_the_task(stack: Stack, vhost: VHost) -> None:
    body = [["Linus", 0, "Hi", 0, "surplus"], {}, {}]
    assert vhost.publish(HELLO_QUEUE, json.dumps(body), {**CELERY_HEADERS, "id": "too-many"})
    (failure,) = stack.wait_for_lines(r"Task say_hello\[too-many\] raised unexpected: (.*)$", timeout=LOG_LINE)
    assert failure[1] == "TypeError('say_hello() takes from 1 to 5 positional arguments but 6 were given')"
    # The worker goes on: the next message runs.
    assert vhost.publish(HELLO_QUEUE, json.dumps([[], {"duration": 0}, {}]), {**CELERY_HEADERS, "id": "after"})
    stack.wait_for_lines(r"Task say_hello\[after\] succeeded", timeout=LOG_LINE)
