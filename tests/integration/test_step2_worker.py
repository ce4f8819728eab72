"""Step 2: POST /hello hands the work to the worker through hello_queue and answers at once."""

import json
import time

import requests

from tests.support import demo_doc
from tests.support.stack import Stack
from tests.support.timing import HTTP_SLOW, LOG_LINE


def test_post_hello_answers_202_at_once_while_the_worker_takes_the_duration(stack: Stack) -> None:
    started = time.monotonic()
    answer = requests.post(stack.web_url + "/hello", json={"name": "Ada", "duration": 2}, timeout=HTTP_SLOW)
    answered_after = time.monotonic() - started
    assert answer.status_code == 202
    task_id = answer.json()["task_id"]
    assert answer.json() == {"task_id": task_id, "queue": "hello_queue"}
    (done,) = stack.wait_for_lines(rf"Task say_hello\[{task_id}\] succeeded in ([0-9.]+)s", timeout=LOG_LINE)
    worked = float(done[1])
    assert worked >= 2.0, f"the worker reports {worked} s for a 2 s task"
    assert answered_after < 1.0, f"POST /hello took {answered_after:.2f} s: the web process waited for the work"


def test_demo_step2_curl_and_worker_log(stack: Stack) -> None:
    (command,) = demo_doc.commands("step2-curl")
    output = stack.run_demo_command(command.command)
    demo_doc.assert_lines_match(output, command.expected, "DEMO.md step2-curl")
    task_id = json.loads(output[0])["task_id"]
    expected = demo_doc.block("step2-worker-log").splitlines()
    stack.wait_for_lines(rf"Task say_hello\[{task_id}\] succeeded", timeout=LOG_LINE)
    demo_doc.assert_lines_match(stack.task_lines(task_id), expected, "DEMO.md step2-worker-log")


def test_demo_step2_status(stack: Stack) -> None:
    (command,) = demo_doc.commands("step2-status")
    output = stack.run_demo_command(command.command)
    demo_doc.assert_lines_match(output, command.expected, "DEMO.md step2-status")
