"""Step 1: the slow work runs inside the request, and the web process is stuck meanwhile.

From step 2 on, step 1's route lives at `POST /hello/blocking`, kept for contrast.
"""

import threading
import time

import psutil
import requests

from tests.support import demo_doc
from tests.support.poll import wait_until
from tests.support.stack import Stack
from tests.support.timing import FOLLOWS, HTTP, HTTP_SLOW


def test_the_page_has_the_button(stack: Stack) -> None:
    page = requests.get(stack.web_url + "/", timeout=HTTP)
    assert page.status_code == 200
    assert '<button type="submit">Say hello</button>' in page.text


def test_post_hello_answers_only_after_the_work(stack: Stack) -> None:
    started = time.monotonic()
    answer = requests.post(stack.web_url + "/hello/blocking", json={"name": "Ada", "duration": 1}, timeout=HTTP_SLOW)
    elapsed = time.monotonic() - started
    assert answer.status_code == 200
    assert answer.json() == {"greeting": "Hello, Ada!", "duration": 1.0}
    assert elapsed >= 1.0, f"the answer came after {elapsed:.2f} s, before the 1 s of work was done"


def test_the_web_process_serves_nobody_else_meanwhile(stack: Stack) -> None:
    def slow_click() -> None:
        requests.post(stack.web_url + "/hello/blocking", json={"duration": 2}, timeout=HTTP_SLOW)

    clicker = threading.Thread(target=slow_click)
    # The POST leaves after this instant, so its 2 s of work end at least 2 s after it.
    # (Not the POST's own end as the client notes it: the two answers come back within
    # a fraction of a millisecond, and which thread notes its time first is a race.)
    sent = time.monotonic()
    clicker.start()
    # Once the POST's connection is established it waits in the kernel's accept
    # queue, first in line: the GET below can only be accepted after it.
    wait_until(lambda: _connected_to(stack), FOLLOWS, "the POST's connection to gunicorn")
    page = requests.get(stack.web_url + "/", timeout=HTTP_SLOW)
    waited = time.monotonic() - sent
    clicker.join()
    assert page.status_code == 200
    assert waited >= 2.0, f"the page was served {waited:.3f} s after the POST left, while its 2 s of work ran"


def test_demo_step1_curl(stack: Stack) -> None:
    (command,) = demo_doc.commands("step1-curl")
    output = stack.run_demo_command(command.command)
    demo_doc.assert_lines_match(output, command.expected, "DEMO.md step1-curl")


def _connected_to(stack: Stack) -> bool:
    port = int(stack.env["WEB_PORT"])
    return any(
        c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
        for c in psutil.Process().net_connections(kind="tcp")
    )


def test_demo_step1_bad_input(stack: Stack) -> None:
    (command,) = demo_doc.commands("step1-bad-input")
    demo_doc.assert_lines_match(stack.run_demo_command(command.command), command.expected, "DEMO.md step1-bad-input")
