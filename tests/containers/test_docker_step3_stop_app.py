"""Step 3 with Docker: `docker compose stop app` while a 10 s task runs lets the task finish.

Docker sends SIGTERM to supervisord (the container's PID 1), which stops each
program as `supervisorctl stop` would: SIGTERM to Celery's main process, a warm
shutdown. Docker waits `stop_grace_period` (75 s) before it would kill.
"""

import json
import time

from tests.support import demo_doc
from tests.support.compose import ComposeProject
from tests.support.poll import wait_until
from tests.support.stack import post_hello
from tests.support.timing import CONSEQUENCE, SHORT_COMMAND, STACK_START, STOP_GRACE_PERIOD
from worker.completions import completions_key

DURATION = 10  # seconds: DEMO.md's "a 10-second task"


def test_docker_compose_stop_app_lets_the_running_task_finish(stack: ComposeProject) -> None:
    stop, start = demo_doc.script("docker-stop-app")
    task_id = post_hello(stack.web_url, name="Ada", duration=DURATION)
    wait_until(lambda: stack.task(task_id)[1]["state"] == "PROGRESS", 2 * CONSEQUENCE, "the task to run (PROGRESS)")

    began = time.monotonic()
    stack.run_demo_command(stop, timeout=STOP_GRACE_PERIOD + SHORT_COMMAND)
    took = time.monotonic() - began
    app = stack.compose("ps", "--all", "--quiet", "app").strip()
    assert stack.inspect(app, "{{.State.Status}} {{.State.ExitCode}}") == "exited 0", "supervisord did not stop cleanly"
    assert took < STOP_GRACE_PERIOD, (
        f"the stop took {took:.1f} s: Docker's SIGKILL after stop_grace_period, not a warm shutdown"
    )
    # The task ran to its end before the worker exited: stored SUCCESS, counted once.
    backend = stack.redis()
    assert json.loads(backend.get(f"celery-task-meta-{task_id}"))["status"] == "SUCCESS"
    assert backend.get(completions_key(task_id)) == "1"
    log = stack.logs("app")
    assert "worker: Warm shutdown (MainProcess)" in log
    assert f"Task say_hello[{task_id}] succeeded in {DURATION}." in log

    stack.run_demo_command(start)
    wait_until(
        lambda: stack.hello_queue() == (0, 0, 1), STACK_START, "worker_hello consuming an empty hello_queue again"
    )
    # Not run again: no message came back to the queue, and the log shows it received once.
    assert stack.logs("app").count(f"Task say_hello[{task_id}] received") == 1
    # Step 7's way to count them, as DEMO.md writes it, for this task.
    (count,) = demo_doc.commands("docker-completions")
    printed = stack.run_demo_command(count.command.replace("<task-id>", task_id))
    demo_doc.assert_lines_match(printed, count.expected, "DEMO.md docker-completions")
    status, body = stack.task(task_id)
    assert (status, body["state"]) == (200, "SUCCESS")
