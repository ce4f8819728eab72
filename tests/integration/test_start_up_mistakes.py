"""A learner's start-up mistakes each get one line from `make run`, and nothing half-started
(TROUBLESHOOTING.md, "When `make run` refuses to start"; scripts/preflight.py).

Each is made for real: another program listening on the port, a second `make run`
beside a running one, a SIGKILL to supervisord, a Python whose venv lacks ensurepip, a
`.env` whose user the RabbitMQ on its port does not know.
They start `make run` in this checkout, so they run once the shared stack has
stopped (`checkout_free`).
"""

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from scripts import preflight
from tests.support import demo_doc
from tests.support.checkout import REPOSITORY, copy_working_tree
from tests.support.poll import wait_until
from tests.support.rabbitmq import AMQP_PORT, VHost
from tests.support.stack import CHECKOUT, Stack, free_port, learner_env, page_answers, start_demo
from tests.support.timing import CONSEQUENCE, FOLLOWS, SHORT_COMMAND

PROGRAMS = ("web", "worker_hello", "flower")


def make_run(env: dict[str, str], cwd: Path = CHECKOUT) -> list[str]:
    """`make run` in `cwd` with a second terminal's environment plus `env`, expected to refuse.

    Returns:
        The lines it printed, stdout and stderr together.

    Raises:
        AssertionError: it exited 0, or started supervisord.
    """
    result = subprocess.run(
        ["make", "--no-print-directory", "run"],
        cwd=cwd,
        env={**learner_env(), **env},
        capture_output=True,
        text=True,
        timeout=2 * SHORT_COMMAND,
    )
    printed = (result.stdout + result.stderr).splitlines()
    assert result.returncode != 0, "make run should have refused:\n" + "\n".join(printed)
    assert not [line for line in printed if "supervisord started" in line], "\n".join(printed)
    return printed


def documented(key: str, *replacements: tuple[str, str]) -> list[str]:
    """The output TROUBLESHOOTING.md's block `key` shows for its one command, with each
    (documented, actual) pair of `replacements` applied: this run's port instead of 8000, ..."""
    (command,) = demo_doc.commands(key, doc=demo_doc.TROUBLESHOOTING)
    assert command.command == "make run", f"TROUBLESHOOTING.md {key} should show `make run`, not {command.command!r}"
    lines = command.expected
    for old, new in replacements:
        lines = [line.replace(old, new) for line in lines]
    return lines


@pytest.fixture
def listener() -> Iterator[psutil.Process]:
    """Another program listening on a free port of 127.0.0.1: Python's own http.server."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        process = psutil.Process(server.pid)
        wait_until(
            lambda: any(c.status == psutil.CONN_LISTEN for c in process.net_connections()),
            CONSEQUENCE,
            f"http.server to listen on {port}",
        )
        process.port = port  # type: ignore[attr-defined]
        yield process
    finally:
        server.kill()
        server.wait()


@pytest.mark.parametrize("variable", ["WEB_PORT", "FLOWER_PORT"])
def test_a_port_in_use_is_named_with_its_holder_and_a_way_out(
    variable: str, listener: psutil.Process, vhost: VHost, checkout_free: None
) -> None:
    port = listener.port  # type: ignore[attr-defined]
    env = {"WEB_PORT": str(free_port()), "FLOWER_PORT": str(free_port()), "CELERY_BROKER_URL": vhost.broker_url}
    env[variable] = str(port)
    printed = make_run(env)
    expected = documented(
        "ts-start-port-taken",
        ("Port 8000 (WEB_PORT)", f"Port {port} ({variable})"),
        ("python3 (pid <n>)", f"{listener.name()} (pid {listener.pid})"),
        ("`WEB_PORT=8080 make run`", f"`{variable}=<n> make run`"),
    )
    demo_doc.assert_lines_match(printed, expected, "TROUBLESHOOTING.md ts-start-port-taken")
    suggested = int(printed[0].rsplit("=", 1)[1].split()[0])
    assert suggested != port and suggested != int(env["WEB_PORT" if variable == "FLOWER_PORT" else "FLOWER_PORT"])


def test_a_second_make_run_says_the_demo_already_runs(vhost: VHost, checkout_free: None) -> None:
    demo = start_demo("already-running", vhost, PROGRAMS)
    try:
        supervisord = demo.rpc().supervisor.getPID()
        # Other ports than the running demo's: the socket is what the second one would clash on.
        printed = make_run({"WEB_PORT": str(free_port()), "FLOWER_PORT": str(free_port())})
        expected = documented("ts-start-already-running", ("supervisord pid <n>", f"supervisord pid {supervisord}"))
        demo_doc.assert_lines_match(printed, expected, "TROUBLESHOOTING.md ts-start-already-running")
        assert demo.rpc().supervisor.getPID() == supervisord, "the running demo must be left alone"
        assert page_answers(demo.web_url)
    finally:
        demo.stop_cleanly()


def test_leftovers_of_a_killed_supervisord_are_ended_before_a_new_start(vhost: VHost, checkout_free: None) -> None:
    ports = {"WEB_PORT": str(free_port()), "FLOWER_PORT": str(free_port())}
    first = start_demo("orphaned", vhost, PROGRAMS, ports)
    second: Stack | None = None
    try:
        supervisord = first.rpc().supervisor.getPID()
        children = psutil.Process(supervisord).children(recursive=True)
        assert len(children) >= 3, children
        os.kill(supervisord, signal.SIGKILL)
        first.process.wait(CONSEQUENCE)
        # The trap: the orphaned gunicorn still answers on the port.
        assert page_answers(first.web_url), "the orphaned web app should still answer"

        web = {child.pid for child in children if child.environ().get("SUPERVISOR_PROCESS_NAME") == "web"}

        second = start_demo("after-orphans", vhost, PROGRAMS, ports)
        (line,) = second.wait_for_lines("^Ended ", timeout=FOLLOWS)
        documented_line = demo_doc.block("ts-start-leftovers", doc=demo_doc.TROUBLESHOOTING)
        demo_doc.assert_lines_match([line.string], [documented_line], "TROUBLESHOOTING.md ts-start-leftovers")
        ended = {int(pid) for pid in line.string.split("pids ", 1)[1].split(")", 1)[0].split(", ")}
        assert web <= ended <= {child.pid for child in children}, f"{ended} of {children}"
        # "Gone" as `make run` itself counts it: a zombie has ended, and only init can reap
        # it, slowly here (psutil's is_running() is True for one).
        assert not [child for child in children if preflight.runs(child)], "every leftover must be gone"
        assert second.pid("web") not in ended
    finally:
        first.kill()
        if second:
            second.stop_cleanly()


def test_a_python_without_ensurepip_is_told_which_package_to_install(tmp_path: Path) -> None:
    """A folder with the Makefile and no .venv, and a python3 first on PATH whose ensurepip
    fails to import, as Debian's does without python3-venv."""
    for name in ("Makefile", "requirements.txt"):
        shutil.copy(CHECKOUT / name, tmp_path / name)
    shadow = tmp_path / "shadow" / "ensurepip"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'ensurepip'\")\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python3 = bin_dir / "python3"
    python3.write_text(f'#!/bin/sh\nPYTHONPATH={shadow.parent} exec {sys.executable} "$@"\n')
    python3.chmod(0o755)

    printed = make_run({"PATH": f"{bin_dir}:{os.environ['PATH']}"}, cwd=tmp_path)
    demo_doc.assert_lines_match(printed, documented("ts-start-no-venv"), "TROUBLESHOOTING.md ts-start-no-venv")
    assert not (tmp_path / ".venv").exists(), "no half-made .venv may be left behind"


def test_a_dotenv_user_that_your_own_rabbitmq_does_not_know_is_named_with_the_way_out() -> None:
    """A copy of the checkout with a `.env` (as `make .env` makes it) while the RabbitMQ on
    its port is the learner's own, here the tests' RabbitMQ, which has no such user."""
    with tempfile.TemporaryDirectory(prefix="hq-dotenv-") as folder:
        clone = Path(folder)
        copy_working_tree(clone)
        (clone / ".venv").symlink_to(REPOSITORY / ".venv")
        example = (clone / ".env.example").read_text()
        user = re.search(r"^RABBITMQ_DEFAULT_USER=(.+)$", example, re.M)
        assert user, ".env.example should name RabbitMQ's user"
        dotenv = example.replace("RABBITMQ_DEFAULT_PASS=\n", f"RABBITMQ_DEFAULT_PASS={secrets.token_urlsafe(16)}\n")
        (clone / ".env").write_text(dotenv + f"RABBITMQ_PORT={AMQP_PORT}\n")
        printed = make_run({"WEB_PORT": str(free_port()), "FLOWER_PORT": str(free_port())}, cwd=clone)
    expected = documented("ts-start-dotenv-refused", ("localhost:5672", f"localhost:{AMQP_PORT}"))
    assert f"user {user[1]} " in expected[0], f"TROUBLESHOOTING.md should show .env.example's user {user[1]}"
    demo_doc.assert_lines_match(printed, expected, "TROUBLESHOOTING.md ts-start-dotenv-refused")
