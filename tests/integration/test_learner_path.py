"""A learner's first ten minutes, end to end, in a fresh clone: README's `make test`, then its
quick start as written (`make run`, a task, stop, pile-up, start, drain; the machine's RabbitMQ
and Redis stand for the learner's own), then DEMO.md's `git` commands to step 2, `make run` and
a task there, and back to main.

One test, so that any trip on the way fails it: a tracked file that `make test` rewrote
(then `git checkout` refuses), a leftover that keeps a port, a step that does not start.
It clones what is committed (HEAD), as a learner would: uncommitted changes are not in it.
"""

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import demo_doc
from tests.support import quick_start as quick_start_steps
from tests.support.checkout import ARTIFACTS, REPOSITORY
from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE, Depth, VHost, sweep_stale
from tests.support.stack import Stack, free_port, post_hello, start_demo
from tests.support.timing import DRAIN, LOG_LINE, SERVICE, SETUP, SHORT_COMMAND

# A test that records a RELIABILITY.md row: README's `make test` is run on it alone
# (the whole suite would take minutes), since recording rows is what once changed a
# tracked file.
RECORDING_TEST = "tests/integration/test_poison_messages.py::test_a_body_that_is_not_json_is_logged_once_and_acked"
# Its own vhost: the suite's shared stack may be consuming hello_queue in the run's.
VHOST_PREFIX = "hello-queue-learner"


def run(command: str | list[str], clone: Path, env: dict[str, str] | None = None, unset: tuple[str, ...] = ()) -> str:
    """Run `command` (a shell line, or an argument list) in `clone`, as a learner's terminal would,
    with `env` added to this process's environment and the variables `unset` left out.

    Returns:
        What it printed on stdout.

    Raises:
        AssertionError: it exited non-zero (with all it printed).
    """
    result = subprocess.run(
        command,
        shell=isinstance(command, str),
        cwd=clone,
        env={**{k: v for k, v in os.environ.items() if k not in unset}, **(env or {})},
        capture_output=True,
        text=True,
        timeout=SETUP,
    )
    assert result.returncode == 0, f"{command!r} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result.stdout


def git_status(clone: Path) -> str:
    return run(["git", "status", "--porcelain"], clone)


def stop_with_ctrl_c(demo: Stack) -> None:
    """Ctrl-C in `make run`'s terminal: nothing may be left behind."""
    alive = demo.stop(signal.SIGINT)
    assert not alive, f"Ctrl-C left processes behind: {alive}"


def quick_start(demo: Stack, vhost: VHost, started: float) -> float:
    """README's quick start from `make run` on, as written: its start line, a click (DEMO.md
    step 2's curl and the worker's log), then stop, five clicks, count, start, drain, count.

    Returns:
        Seconds from `started` (the clone) to the fifth click of the pile-up.
    """
    # The machine's RabbitMQ and Redis are the learner's "own", so the block's first two
    # lines are skipped, as README says; the run's vhost comes from the environment.
    assert quick_start_steps.services() == ["make .env", "docker compose up -d --wait rabbitmq redis"]
    demo.wait_for_lines(r"^RabbitMQ: amqp://guest:\*\*@.*; from the environment\.$", timeout=LOG_LINE)
    (curl,) = demo_doc.commands("step2-curl")
    demo_doc.assert_lines_match(demo.run_demo_command(curl.command), curl.expected, "DEMO.md step2-curl")
    log = demo_doc.block("step2-worker-log").splitlines()
    demo.wait_for_lines(r"Task say_hello\[[0-9a-f-]+\] succeeded in", timeout=LOG_LINE)
    demo_doc.assert_lines_appear_in_order(demo.lines, log, "DEMO.md step2-worker-log")

    clicked_at: list[float] = []

    def click() -> str:
        task_id = post_hello(demo.web_url, name="Ada", duration=1)
        clicked_at.append(time.monotonic())
        return task_id

    def wait_for_drain(task_ids: list[str]) -> None:
        for task_id in task_ids:
            demo.wait_for_lines(rf"Task say_hello\[{task_id}\] succeeded", timeout=DRAIN)
        wait_until(lambda: vhost.depth(HELLO_QUEUE) == Depth(ready=0, consumers=1), SERVICE, "hello_queue drained")

    clicked = quick_start_steps.pile_up_and_drain(demo.run_demo_command, click, wait_for_drain)
    assert len(clicked) == quick_start_steps.CLICKS
    return clicked_at[-1] - started


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A new folder with a short path: the clone's .run/supervisor.sock must fit in the 108
    bytes of a unix socket's path (unix(7)), and pytest's `tmp_path` under pytest-xdist
    (/tmp/pytest-of-USER/pytest-N/popen-gwN/test_NAME0/) leaves too few."""
    with tempfile.TemporaryDirectory(prefix="hq-learner-") as folder:
        yield Path(folder)


def test_clone_to_first_pile_up_and_through_the_history(short_tmp: Path) -> None:
    started = time.monotonic()
    clone = short_tmp / "hello-queue"
    subprocess.run(["git", "clone", "-q", str(REPOSITORY), str(clone)], check=True, timeout=4 * SHORT_COMMAND)
    history, to_step_2, to_main = demo_doc.script("history")
    assert to_step_2 == "git checkout ':/^Step 2:'" and to_main == "git checkout main", demo_doc.script("history")

    # README's second command, on one test that records a RELIABILITY.md row.
    # In one process (TEST_PROCESSES=0), taken for a run of its own, not for a worker of
    # this one (PYTEST_XDIST_WORKER unset): its stack gets ports that no worker uses.
    nested = {"PYTEST_ADDOPTS": f"-q -p no:cacheprovider {RECORDING_TEST}", "TEST_PROCESSES": "0"}
    run("make test", clone, nested, unset=("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT"))
    assert (clone / "measured" / "reliability" / "5a.md").exists(), "the row should be kept under measured/"
    assert git_status(clone) == "", "make test must leave git status clean"

    sweep_stale(VHOST_PREFIX)
    vhost = VHost(VHOST_PREFIX)
    vhost.create()
    try:
        ports = {"WEB_PORT": str(free_port()), "FLOWER_PORT": str(free_port())}
        demo = start_demo("learner-main", vhost, ("web", "worker_hello", "flower"), ports, root=clone)
        try:
            pile_up = quick_start(demo, vhost, started)
        finally:
            stop_with_ctrl_c(demo)
        assert git_status(clone) == "", "make run and DEMO.md's commands must leave git status clean"

        steps = run(history, clone).splitlines()
        assert [line.split(" ", 1)[1].split(":")[0] for line in steps[:3]] == ["Step 1", "Step 2", "Step 3"], steps
        run(to_step_2, clone)
        assert run(["git", "log", "-1", "--format=%s"], clone).startswith("Step 2:")
        old = start_demo("learner-step2", vhost, ("web", "worker_hello"), ports, root=clone)
        try:
            task_id = post_hello(old.web_url, name="Ada", duration=1)
            old.wait_for_lines(rf"Task say_hello\[{task_id}\] succeeded", timeout=LOG_LINE)
        finally:
            stop_with_ctrl_c(old)
        run(to_main, clone)
        assert run(["git", "rev-parse", "HEAD"], clone) == run(["git", "rev-parse", "HEAD"], REPOSITORY)
        assert git_status(clone) == ""
    finally:
        vhost.delete()
    # Not a timed assertion: the figure goes into test-artifacts/ for a human to read.
    (ARTIFACTS / "learner-path.txt").write_text(
        f"clone to the quick start's fifth click: {pile_up:.1f} s; whole path: {time.monotonic() - started:.1f} s\n"
    )
