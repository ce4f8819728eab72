"""Step 7 with Docker: the container's health check is scripts/healthcheck.py, and a program
stuck in FATAL fails it.

Docker's own verdict on a failing program would take about two minutes
(--start-period=30s, then 3 failures 30 s apart: the Dockerfile), a third of this
run's budget. So the test checks that the command Docker runs (`docker inspect`:
Config.Healthcheck) is the script, that Docker's own last check of the healthy
app said what the script says, and runs that same command itself in a container
whose worker_hello cannot start.

That worker_hello exits at once (status 2), but Celery's command line takes about
a second to get that far, longer on a busy machine: within startsecs (1 s) each
failure counts as a failed start, and after 4 supervisord gives up, FATAL; past
it, supervisord saw it RUNNING and starts it again, in a loop (EXITED, BACKOFF).
The check fails in each of these states, so the test accepts the first.
"""

import json
import re
import subprocess

from tests.support.compose import ComposeProject
from tests.support.poll import wait_until
from tests.support.timing import SHORT_COMMAND, STACK_START

HEALTHY = "healthy: flower RUNNING, web RUNNING, worker_hello RUNNING, page answers"
# What the check prints about a worker_hello that cannot start (scripts/healthcheck.py).
FAILING = re.compile(r"unhealthy: worker_hello (FATAL|BACKOFF|EXITED) \(.*\)")


def healthcheck_command(stack: ComposeProject, container: str) -> list[str]:
    """The command Docker runs as `container`'s health check, without its "CMD" marker."""
    kind, *command = json.loads(stack.inspect(container, "{{json .Config.Healthcheck.Test}}"))
    assert kind == "CMD", f"a health check run as {kind}, not as the Dockerfile's exec form"
    return command


def test_docker_runs_the_healthcheck_script_and_found_the_app_healthy(stack: ComposeProject) -> None:
    app = stack.container("app")
    assert healthcheck_command(stack, app) == ["python", "/app/scripts/healthcheck.py"]
    stack.run_demo_block("docker-healthcheck")
    # The fixture waited for Docker's verdict `healthy`: its last check printed the same line.
    last = json.loads(stack.inspect(app, "{{json .State.Health.Log}}"))[-1]
    assert (last["ExitCode"], last["Output"].strip()) == (0, HEALTHY)


def test_a_program_that_cannot_start_fails_the_same_command(stack: ComposeProject) -> None:
    # A second container of the app's service, whose worker_hello cannot start:
    # supervisord.conf hands WORKER_CONCURRENCY to `celery worker --concurrency`, which
    # refuses it. `run` publishes no ports; --no-deps leaves RabbitMQ and Redis alone.
    name = f"{stack.name}-fatal"
    stack.compose("run", "--detach", "--no-deps", "--name", name, "-e", "WORKER_CONCURRENCY=not-a-number", "app")
    try:
        command = healthcheck_command(stack, name)
        assert command == healthcheck_command(stack, stack.container("app"))

        def failed_check() -> str | None:
            result = stack.run(["docker", "exec", name, *command])
            line = result.stdout.strip()
            return line if result.returncode == 1 and FAILING.fullmatch(line) else None

        failed = wait_until(failed_check, STACK_START, "the health check to fail on worker_hello", interval=0.5)
        logs = stack.run(["docker", "logs", name])
        log = logs.stdout + logs.stderr
        assert "Invalid value for '-c' / '--concurrency'" in log, f"worker_hello failed for another reason: {failed}"
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True, timeout=2 * SHORT_COMMAND)
