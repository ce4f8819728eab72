"""A learner's first ten minutes, end to end, in a fresh clone: README's two commands, DEMO.md's
first steps as written (the page, a task, stop, pile-up, start, drain), then DEMO.md's `git`
commands to step 2, `make run` and a task there, and back to main.

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
from tests.support.checkout import ARTIFACTS, REPOSITORY
from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE, Depth, VHost, sweep_stale
from tests.support.stack import Stack, free_port, post_hello, start_demo
from tests.support.timing import DRAIN, LOG_LINE, MANAGEMENT_API, SERVICE, SETUP, SHORT_COMMAND

# A test that records a RELIABILITY.md row: README's `make test` is run on it alone
# (the whole suite would take minutes), since recording rows is what once changed a
# tracked file.
RECORDING_TEST = "tests/integration/test_poison_messages.py::test_a_body_that_is_not_json_is_logged_once_and_acked"
PILE = 5
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


def demo_steps_2_and_3(demo: Stack, vhost: VHost, started: float) -> float:
    """DEMO.md's steps 2 and 3 as written: a task, then stop, pile-up, start, drain.

    Returns:
        Seconds from `started` (the clone) to the pile-up shown by the management API.
    """
    (curl,) = demo_doc.commands("step2-curl")
    demo_doc.assert_lines_match(demo.run_demo_command(curl.command), curl.expected, "DEMO.md step2-curl")
    log = demo_doc.block("step2-worker-log").splitlines()
    demo.wait_for_lines(r"Task say_hello\[[0-9a-f-]+\] succeeded in", timeout=LOG_LINE)
    demo_doc.assert_lines_appear_in_order(demo.lines, log, "DEMO.md step2-worker-log")

    (stop,) = demo_doc.commands("step3-stop")
    demo_doc.assert_lines_match(demo.run_demo_command(stop.command), stop.expected, "DEMO.md step3-stop")
    for _ in range(PILE):
        demo.run_demo_command(curl.command)
    wait_until(
        lambda: vhost.management_depth(HELLO_QUEUE) == Depth(ready=PILE, consumers=0, unacked=0),
        2 * MANAGEMENT_API,
        f"the management API to show {PILE} Ready, 0 consumers",
    )
    pile_up = time.monotonic() - started
    (queue,) = demo_doc.commands("step3-queue-piled")
    demo_doc.assert_lines_match(demo.run_demo_command(queue.command), queue.expected, "DEMO.md step3-queue-piled")

    (start,) = demo_doc.commands("step3-start")
    demo_doc.assert_lines_match(demo.run_demo_command(start.command), start.expected, "DEMO.md step3-start")
    demo.wait_for_lines(r"Task say_hello\[[0-9a-f-]+\] succeeded", count=1 + PILE, timeout=DRAIN)
    wait_until(lambda: vhost.depth(HELLO_QUEUE) == Depth(ready=0, consumers=1), SERVICE, "hello_queue drained")
    return pile_up


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
            pile_up = demo_steps_2_and_3(demo, vhost, started)
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
        f"clone to first pile-up: {pile_up:.1f} s; whole path: {time.monotonic() - started:.1f} s\n"
    )
