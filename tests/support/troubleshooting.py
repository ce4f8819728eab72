"""Running TROUBLESHOOTING.md's claims on the shared stack: each documented command as
written, each log block looked for in the log (tests/integration/test_troubleshooting*.py)."""

import json

from tests.support import demo_doc
from tests.support.poll import wait_until
from tests.support.stack import Stack
from tests.support.timing import LOG_LINE

DOC = demo_doc.TROUBLESHOOTING


def run(stack: Stack, command: demo_doc.Command, key: str, task_id: str | None = None) -> list[str]:
    """Run one documented command and assert that it prints the documented lines.

    Args:
        command: a `$ ` line of the claim `key` and its expected output.
        task_id: put in for `<task-id>`, in the command and in its expected output
            alike, so that the answer must be about that very task.

    Returns:
        The lines it printed.

    Raises:
        AssertionError: it exited non-zero, or printed something else.
    """
    text, expected = command.command, command.expected
    if task_id is not None:
        text = text.replace("<task-id>", task_id)
        expected = [line.replace("<task-id>", task_id) for line in expected]
    if " inspect " in text:
        printed = wait_until(lambda: answered(stack, text), LOG_LINE, f"a worker to answer {text!r}", interval=0.5)
    else:
        printed = stack.run_demo_command(text)
    demo_doc.assert_lines_match(printed, expected, f"TROUBLESHOOTING.md {key}")
    return printed


def answered(stack: Stack, command: str) -> list[str] | None:
    """Run a `celery inspect` command; the lines it printed, or None if no worker replied.

    `celery inspect` broadcasts its question and waits 1 s (its --timeout) for answers,
    then says "No nodes replied within time constraint": a worker that is busy starting,
    on a busy machine, answers late. The learner runs the command again; so does this.
    """
    try:
        return stack.run_demo_command(command)
    except AssertionError as error:
        if "No nodes replied" in str(error):
            return None
        raise


def run_claim(stack: Stack, key: str, task_id: str | None = None) -> list[str]:
    """`run` the one command of the console block `key`; return what it printed."""
    (command,) = demo_doc.commands(key, DOC)
    return run(stack, command, key, task_id)


def log_shows(log: list[str], key: str, task_id: str | None = None) -> None:
    """Assert that the log lines of the text block `key` appear in `log`, in order,
    `<task-id>` being `task_id` when given (`demo_doc.assert_lines_appear_in_order`)."""
    expected = demo_doc.block(key, DOC).splitlines()
    if task_id is not None:
        expected = [line.replace("<task-id>", task_id) for line in expected]
    demo_doc.assert_lines_appear_in_order(log, expected, f"TROUBLESHOOTING.md {key}")


def documented_post(stack: Stack, key: str) -> str:
    """`run` the documented `curl ... /hello` of the block `key`, and return the task id it printed."""
    (printed,) = run_claim(stack, key)
    return json.loads(printed)["task_id"]
