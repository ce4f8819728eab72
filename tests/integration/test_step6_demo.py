"""DEMO.md step 6's terminal claims: GET /tasks/<id> and GET /status as curl prints them, and the retry log."""

import os
import signal

from tests.support import demo_doc
from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE, Depth, VHost
from tests.support.results import PublishedStates, states
from tests.support.stack import Stack, post_hello, supervisorctl


def run_for_task(stack: Stack, key: str, task_id: str) -> tuple[list[str], list[str]]:
    """Run the one command of block `key` for `task_id`: what it printed, and what DEMO.md shows."""
    (command,) = demo_doc.commands(key)
    return stack.run_demo_command(command.command.replace("<task-id>", task_id)), command.expected


def test_demo_step6_task_progress_then_success(stack: Stack) -> None:
    with PublishedStates() as published:
        task_id = post_hello(stack.web_url, name="Ada", duration=2)
        # STARTED's result is the pool process that runs the task (celery/app/trace.py).
        pool_process = published.until(task_id, "STARTED")[-1]["result"]["pid"]
        # The task stores PROGRESS (1.0 of 2.0 s) half-way through, and SUCCESS a second
        # later: curl, like any poll, could miss it. Freeze the pool process (SIGSTOP) as
        # soon as the worker publishes PROGRESS, so that the state holds while curl asks.
        published.until(task_id, "PROGRESS")
        os.kill(pool_process, signal.SIGSTOP)
        try:
            assert states([task_id]) == ["PROGRESS"], "the pool process was frozen too late: the task went on"
            output, expected = run_for_task(stack, "step6-task-progress", task_id)
        finally:
            os.kill(pool_process, signal.SIGCONT)
    demo_doc.assert_lines_match(output, expected, "DEMO.md step6-task-progress")
    stack.wait_for_lines(rf"Task say_hello\[{task_id}\] succeeded", timeout=30)
    output, expected = run_for_task(stack, "step6-task-success", task_id)
    demo_doc.assert_lines_match(output, expected, "DEMO.md step6-task-success")


def test_demo_step6_unknown_task(stack: Stack) -> None:
    (command,) = demo_doc.commands("step6-unknown-task")
    demo_doc.assert_lines_match(stack.run_demo_command(command.command), command.expected, "DEMO.md step6-unknown-task")


def test_demo_step6_retry_log(stack: Stack) -> None:
    task_id = post_hello(stack.web_url, name="Ada", duration=0, fail_times=2)
    stack.wait_for_lines(rf"Task say_hello\[{task_id}\] succeeded", timeout=30)
    expected = [line.replace("<task-id>", task_id) for line in demo_doc.block("step6-retry-log").splitlines()]
    demo_doc.assert_lines_appear_in_order(stack.task_lines(task_id), expected, "DEMO.md step6-retry-log")
    # "the log also shows `Task say_hello[...] received` three times for this task"
    received = [line for line in stack.task_lines(task_id) if line.endswith(f"Task say_hello[{task_id}] received")]
    assert len(received) == 3, received


def test_demo_step6_status_during_a_pile_up(stack: Stack, vhost: VHost) -> None:
    (command,) = demo_doc.commands("step6-status")
    try:
        assert supervisorctl("stop", "worker_hello").returncode == 0
        vhost.wait_for_consumers(0)
        task_ids = [post_hello(stack.web_url, name="Ada", duration=0) for _ in range(5)]
        assert vhost.depth(HELLO_QUEUE) == Depth(ready=5, consumers=0)

        def unacked_known() -> list[str] | None:
            # unacked is null when the management API takes over 1 s to answer (app/status.py):
            # ask again, as a learner would, until it is a number.
            output = stack.run_demo_command(command.command)
            return None if '"unacked":null' in "\n".join(output) else output

        output = wait_until(unacked_known, 30, "curl to show /status with unacked a number")
        demo_doc.assert_lines_match(output, command.expected, "DEMO.md step6-status")
    finally:
        stack.ensure_running("worker_hello")
    for task_id in task_ids:
        stack.wait_for_lines(rf"Task say_hello\[{task_id}\] succeeded", timeout=30)
