"""RELIABILITY.md row 8b: Redis, the result backend, restarted or killed under the demo.

Redis is not a bare cache here: the image runs redis-server with its built-in
default `save 3600 1 300 100 60 10000` and /data as its working directory, a
volume of its container. Stopping (SIGTERM, as `docker compose restart` does)
writes dump.rdb there, and starting loads it: a restart loses nothing. A crash
(`docker compose kill redis`: SIGKILL, no dump) loses what was written since the
last dump: the states of tasks that finished since, and the web app's note that
it issued them, so GET /tasks/<id> answers 404. The work itself is RabbitMQ's: a
task waiting in hello_queue through either runs afterwards, and new tasks run.
"""

import re

from tests.support.compose import ComposeProject
from tests.support.poll import wait_until
from tests.support.reliability import Row, record
from tests.support.stack import post_hello
from tests.support.timing import SERVICE, TASK
from worker.completions import completions_key


def run_one(stack: ComposeProject, name: str) -> str:
    """POST /hello and wait for its SUCCESS on GET /tasks/<id>; its task id."""
    task_id = post_hello(stack.web_url, name=name, duration=0)
    wait_until(lambda: stack.all_succeeded([task_id]), TASK, f"task {name!r} to succeed", interval=0.2)
    return task_id


def unsaved_changes(stack: ComposeProject) -> int:
    """How many writes Redis holds that no dump.rdb has yet (INFO persistence)."""
    info = stack.compose("exec", "redis", "redis-cli", "info", "persistence")
    return int(re.search(r"^rdb_changes_since_last_save:(\d+)", info, re.M)[1])


def test_a_redis_restart_keeps_the_states_and_a_crash_loses_the_unsaved_ones(stack: ComposeProject) -> None:
    before = run_one(stack, "before the restart")
    stack.compose("exec", "app", "supervisorctl", "stop", "worker_hello")
    waiting = post_hello(stack.web_url, name="waiting through the restart", duration=0)

    stack.compose("restart", "redis")
    wait_until(stack.redis_answers, SERVICE, "Redis to answer again", interval=0.2)
    # Kept: the earlier task's state, loaded from the dump Redis wrote as it stopped.
    assert stack.task(before)[1]["state"] == "SUCCESS"
    assert "DB loaded from disk" in stack.logs("redis")
    stack.compose("exec", "app", "supervisorctl", "start", "worker_hello")
    wait_until(lambda: stack.all_succeeded([waiting]), TASK, "the waiting task to succeed", interval=0.2)
    after = run_one(stack, "after the restart")

    # A crash: no dump as it dies, so what was written since the restart's dump is gone.
    assert unsaved_changes(stack) > 0, "a dump since the restart would keep the states this test expects lost"
    stack.compose("kill", "redis")
    stack.compose("start", "redis")
    wait_until(stack.redis_answers, SERVICE, "Redis to answer again", interval=0.2)
    status, body = stack.task(after)
    assert (status, body) == (404, {"error": f"no task {after} was sent from here, or its result has expired"})
    assert stack.redis().get(completions_key(after)) is None
    # The dump of the restart still holds what came before it.
    assert stack.task(before)[1]["state"] == "SUCCESS"
    # The web app and the worker reconnect to Redis by themselves: the next task runs, stored.
    next_one = run_one(stack, "after the crash")
    assert stack.redis().get(completions_key(next_one)) == "1"

    record(
        Row(
            key="8b",
            scenario="Redis restarted, or killed (Docker)",
            action="`docker compose restart redis`; later `docker compose kill redis` and `docker compose start redis`",
            outcome="a restart loses nothing (Redis dumps to its container's volume as it stops); a kill loses the "
            "states stored since the last dump: their GET /tasks/<id> answers 404. Queued and later tasks run",
            setting="redis-server's default `save` points and its /data volume; the messages are RabbitMQ's",
            counts="restart: earlier task still SUCCESS, task waiting in hello_queue SUCCESS after it; kill: task "
            "stored after the last dump 404, its completion count gone, next task SUCCESS",
        )
    )
