"""Step 4: the task's signature changed; messages from the other version fail, in both directions."""

import re
import subprocess

import requests

from tests.integration.conftest import HELLO_QUEUE, wait_for_consumers
from tests.skew import step3_producer
from tests.support import demo_doc
from tests.support.rabbitmq import VHost
from tests.support.stack import ROOT, LoggedProcess, Stack, supervisorctl


def lines_about(process: LoggedProcess, task_id: str) -> list[str]:
    """A worker's log lines that name one task, in order."""
    return [line for line in process.lines if f"say_hello[{task_id}]" in line]


def test_demo_step4_old_messages_fail_on_the_new_worker(stack: Stack, vhost: VHost) -> None:
    task_id = step3_producer.send_say_hello(vhost.broker_url, name="Ada", duration=0)
    stack.wait_for_lines(rf"say_hello\[{task_id}\] raised unexpected", timeout=30)
    expected = demo_doc.block("step4-missing-argument").splitlines()
    demo_doc.assert_lines_match(lines_about(stack, task_id), expected, "DEMO.md step4-missing-argument")
    # Failed, acknowledged, gone: not redelivered again and again.
    assert vhost.depth(HELLO_QUEUE).ready == 0


def test_demo_step4_new_messages_fail_on_the_old_worker(stack: Stack, vhost: VHost) -> None:
    assert supervisorctl("stop", "worker_hello").returncode == 0
    old = LoggedProcess(
        "step3-worker",
        [
            str(ROOT / ".venv/bin/celery"),
            "--app",
            "tests.skew.step3_worker",
            "worker",
            "--queues",
            HELLO_QUEUE,
            "--hostname",
            "step3_worker@%h",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
        ],
        {"CELERY_BROKER_URL": vhost.broker_url},
    )
    try:
        old.launch()
        wait_for_consumers(vhost, 1)
        answer = requests.post(stack.web_url + "/hello", json={"name": "Ada", "duration": 0}, timeout=5)
        task_id = answer.json()["task_id"]
        old.wait_for_lines(rf"say_hello\[{task_id}\] raised unexpected", timeout=30)
        expected = demo_doc.block("step4-unexpected-argument").splitlines()
        demo_doc.assert_lines_match(lines_about(old, task_id), expected, "DEMO.md step4-unexpected-argument")
        assert not old.stop(), "the step 3 worker left processes behind"
    finally:
        old.kill()
        assert supervisorctl("start", "worker_hello").returncode == 0


def test_the_step3_worker_of_the_tests_is_step_3s_worker() -> None:
    """tests/skew/step3_worker.py must have the signature that the `Step 3:` commit's worker had."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    step3 = git("rev-parse", ":/^Step 3:")  # as DEMO.md names it
    at_step3 = git("show", f"{step3}:worker/tasks.py")
    signature = re.compile(r"^def say_hello\(.*$", re.M)
    skew = (ROOT / "tests/skew/step3_worker.py").read_text()
    assert signature.search(at_step3)[0] == signature.search(skew)[0]
