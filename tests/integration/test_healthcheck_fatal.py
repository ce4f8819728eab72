"""A program stuck in FATAL fails the container's health check: Docker marks the container unhealthy.

supervisord gives up on a program that exits within startsecs of its start
startretries + 1 times in a row (3 + 1, with 1, 2 and 3 s between attempts) and
leaves it in FATAL: nothing restarts it. (startsecs is 10 s in this test's copy of
supervisord.conf, 1 s in the demo's: see the test.) The demo's page still answers, so
without the health check nothing would tell the container apart from a healthy one.

Its own stack, not the shared one (`checkout_free`): this one's worker_hello never runs.
"""

import re
import subprocess
from datetime import datetime
from pathlib import Path

from tests.support.rabbitmq import VHost
from tests.support.reliability import Row, record
from tests.support.stack import CHECKOUT, Stack, free_port, learner_env, supervisord_command, supervisord_copy
from tests.support.timing import PROGRAM_STATE, SHORT_COMMAND

PYTHON = CHECKOUT / ".venv" / "bin" / "python"
# supervisord's own log lines start with a timestamp: "2024-05-01 12:00:00,123 INFO spawned: ...".
STAMPED = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ "


def stamp(match: re.Match) -> datetime:
    return datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f")


def test_a_program_stuck_in_fatal_fails_the_healthcheck(vhost: VHost, tmp_path: Path, checkout_free: None) -> None:
    # supervisord counts a start as failed only if the program exits within startsecs
    # (1 s here, supervisord's default). `celery worker` refuses a bad --concurrency
    # only once it has loaded the app: in about 0.5 s on an idle machine, in up to 4 s
    # on a busy one, which supervisord counts as a start and retries forever, never
    # FATAL. Celery's own extra/supervisord/celeryd.conf sets startsecs=10: with it,
    # in a copy of supervisord.conf, every one of these starts counts as failed.
    config = supervisord_copy(tmp_path, "startsecs=10")
    command, env = supervisord_command(config)
    env.update(
        {
            "WEB_PORT": str(free_port()),
            "FLOWER_PORT": str(free_port()),
            "CELERY_BROKER_URL": vhost.broker_url,
            # supervisord.conf passes it to `celery worker --concurrency`, which refuses
            # it and exits (status 2): a failed start.
            "WORKER_CONCURRENCY": "not-a-number",
        }
    )
    demo = Stack("healthcheck-fatal", env, command=command)
    try:
        demo.start(("web",))
        demo.wait_for_state("worker_hello", "FATAL", timeout=2 * PROGRAM_STATE)
        # Run as the Dockerfile's HEALTHCHECK runs it: the script itself, its status unchanged by make.
        result = subprocess.run(
            [str(PYTHON), "scripts/healthcheck.py"],
            cwd=CHECKOUT,
            env={**learner_env(), "WEB_PORT": env["WEB_PORT"]},
            capture_output=True,
            text=True,
            timeout=SHORT_COMMAND,
        )
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stdout == "unhealthy: worker_hello FATAL (Exited too quickly (process log may have details))\n"
        # FATAL for the reason this test gave it, not another.
        assert "Invalid value for '-c' / '--concurrency'" in demo.log()
        spawns = demo.wait_for_lines(STAMPED + r"spawned: 'worker_hello'", count=4)
        (gave_up,) = demo.wait_for_lines(STAMPED + r"gave up: worker_hello entered FATAL state")
    except BaseException:
        demo.kill()
        raise
    demo.stop_cleanly()
    fatal_after = (stamp(gave_up) - stamp(spawns[0])).total_seconds()
    record(
        Row(
            key="7b",
            scenario="A program stuck in FATAL",
            action="worker_hello cannot start (WORKER_CONCURRENCY=not-a-number)",
            outcome="the healthcheck fails: docker marks the container unhealthy",
            setting="startretries (startsecs=10 in the test) / HEALTHCHECK",
            counts=f"{len(spawns)} start attempts, FATAL after {fatal_after:.1f} s, healthcheck exit 1",
        )
    )
