"""The container's health check (scripts/healthcheck.py, the Dockerfile's HEALTHCHECK), run
natively with `make healthcheck` against the real stack; and supervisord's socket, which it
talks to, is private.

(A program stuck in FATAL needs a stack of its own: test_healthcheck_fatal.py.)
"""

import os
import stat
import subprocess

from tests.support import demo_doc
from tests.support.stack import CHECKOUT, SOCKET, Stack, learner_env
from tests.support.timing import SHORT_COMMAND


def test_demo_step7_a_running_demo_is_healthy(stack: Stack) -> None:
    # A second terminal's `make healthcheck`, pointed at this stack's port.
    (command,) = demo_doc.commands("step7-healthcheck")
    result = subprocess.run(
        command.command,
        shell=True,
        cwd=CHECKOUT,
        env={**learner_env(), "WEB_PORT": stack.env["WEB_PORT"]},
        capture_output=True,
        text=True,
        timeout=2 * SHORT_COMMAND,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    demo_doc.assert_lines_match(result.stdout.splitlines(), command.expected, "DEMO.md step7-healthcheck")


def test_supervisords_socket_is_for_its_own_user_only(stack: Stack) -> None:
    # supervisord.conf's chmod=0700: whoever else may connect may stop every program.
    socket_stat = os.stat(SOCKET)
    assert stat.S_ISSOCK(socket_stat.st_mode)
    assert stat.S_IMODE(socket_stat.st_mode) == 0o700, oct(socket_stat.st_mode)
    assert socket_stat.st_uid == os.getuid()
