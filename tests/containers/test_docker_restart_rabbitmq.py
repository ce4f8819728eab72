"""RELIABILITY.md row 8a: `docker compose restart rabbitmq` with 100 messages waiting loses none.

hello_queue is durable and its messages persistent (Celery's defaults), so RabbitMQ
keeps them on disk, in its container's volume, which a restart keeps. The app
container is not restarted: its web app and its worker reconnect by themselves.
"""

import re
import time

from tests.support.compose import ComposeProject
from tests.support.poll import wait_until
from tests.support.reliability import Row, record
from tests.support.stack import post_hello, post_hellos
from tests.support.timing import DOCKER_COMMAND, DRAIN, SERVICE, STACK_START, TASK
from worker.completions import completions_key

PILE = 100


def supervisord_pids(stack: ComposeProject) -> dict[str, str]:
    """supervisord's RUNNING programs in the app container → their pids (`supervisorctl status`)."""
    status = stack.run(["docker", "compose", "exec", "app", "supervisorctl", "status"]).stdout
    return dict(re.findall(r"^(\S+)\s+RUNNING\s+pid (\d+),", status, re.M))


def restart_rabbitmq(stack: ComposeProject) -> float:
    """`docker compose restart rabbitmq`, and wait until it answers again; the seconds that took."""
    began = time.monotonic()
    stack.compose("restart", "rabbitmq", timeout=DOCKER_COMMAND + STACK_START)
    wait_until(stack.hello_queue, 2 * STACK_START, "RabbitMQ to list hello_queue again", interval=0.5)
    return time.monotonic() - began


def test_a_rabbitmq_restart_loses_no_waiting_message(stack: ComposeProject) -> None:
    app_started = stack.started_at("app")
    stack.compose("exec", "app", "supervisorctl", "stop", "worker_hello")
    task_ids = post_hellos(stack.web_url, PILE, duration=0)
    wait_until(lambda: stack.hello_queue() == (PILE, 0, 0), SERVICE, f"{PILE} Ready, 0 consumers")
    before = supervisord_pids(stack)

    took = restart_rabbitmq(stack)
    after_restart = stack.hello_queue()
    assert after_restart == (PILE, 0, 0), f"after the restart hello_queue has {after_restart}"
    # The web app's connection died with the broker: its next POST reconnects
    # (app/publish.py tries a broken connection once more, afresh).
    began = time.monotonic()
    task_ids.append(post_hello(stack.web_url, name="after the restart", duration=0))
    post_after = time.monotonic() - began

    stack.compose("exec", "app", "supervisorctl", "start", "worker_hello")
    wait_until(lambda: stack.all_succeeded(task_ids), 2 * DRAIN, f"the {PILE + 1} tasks to succeed", interval=0.5)
    completions = stack.redis().mget([completions_key(task_id) for task_id in task_ids])
    assert completions == ["1"] * (PILE + 1), f"completions other than 1: {set(completions)}"

    # The worker, too, reconnects on its own: a second restart while it runs.
    wait_until(lambda: stack.hello_queue() == (0, 0, 1), SERVICE, "worker_hello consuming an empty hello_queue")
    worker_pid = supervisord_pids(stack)["worker_hello"]
    restart_rabbitmq(stack)
    wait_until(lambda: stack.hello_queue() == (0, 0, 1), STACK_START, "worker_hello consuming again after the restart")
    last = post_hello(stack.web_url, name="after the second restart", duration=0)
    wait_until(lambda: stack.all_succeeded([last]), TASK, "the next task to succeed")
    pids = supervisord_pids(stack)
    assert pids["worker_hello"] == worker_pid, "supervisord restarted worker_hello: it did not reconnect by itself"
    assert {name: pids[name] for name in ("web", "flower")} == {name: before[name] for name in ("web", "flower")}
    assert stack.started_at("app") == app_started, "the app container was restarted"

    record(
        Row(
            key="8a",
            scenario="RabbitMQ restarted (Docker)",
            action="`docker compose restart rabbitmq` with 100 tasks waiting (worker_hello stopped), then start it",
            outcome="every message is still Ready after the restart and runs once; the web app and the worker "
            "reconnect without a restart of the app container",
            setting="durable hello_queue, persistent messages (delivery_mode 2) in the rabbitmq container's volume; "
            "a second attempt on a fresh connection (producer, app/publish.py), `broker_connection_retry` (worker)",
            counts=f"{PILE} Ready before and after a restart of {took:.0f} s (until rabbitmqctl answers); "
            f"the next POST 202 in {post_after:.1f} s; {PILE + 1} succeeded once, 0 twice; a second restart with "
            "worker_hello running: it consumes again, same pid; web and flower pids, app's start time unchanged",
        )
    )
