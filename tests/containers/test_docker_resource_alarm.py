"""TROUBLESHOOTING.md case 6 with Docker: RabbitMQ's memory alarm in the compose stack, raised
and lifted with its commands as written, in the project's own rabbitmq service.

During the alarm RabbitMQ blocks every connection that publishes, and lets consumers
go on (RabbitMQ docs, "Memory and Disk Alarms"). With the demo in containers, as
natively (tests/integration/test_resource_alarm.py):

- `rabbitmq-diagnostics -q alarms` names the alarm;
- each click on the published web port is answered 503 within 3 s, naming the alarm
  and its node, `"will_run": false` (tests/support/alarm_clicks.py), and `GET /status`
  shows the alarm;
- tasks that waited in hello_queue (worker_hello stopped, as DEMO.md step 3 does with
  Docker) drain while the alarm is on, once worker_hello starts;
- once it is lifted, `GET /status` drops it, none of the refused tasks runs (the
  worker in the app container drops those whose message arrives), and the next click
  is 202, then SUCCESS.

The alarm is the shared compose stack's (one RabbitMQ per run of tests/containers/),
so the test lifts it also when it fails. (worker_hello, if a failure leaves it
stopped, is started again by the next module's `stack` fixture.)
"""

import json
import re
import time

from tests.support import demo_doc
from tests.support.alarm_clicks import click, dropped_or_never_delivered, refused_task, status
from tests.support.checkout import ARTIFACTS
from tests.support.compose import ComposeProject
from tests.support.own_rabbitmq import BLOCKED_STATES
from tests.support.poll import wait_for, wait_until
from tests.support.stack import post_hello, post_hellos
from tests.support.timing import CLICK_ANSWER, CONSEQUENCE, DRAIN, LOG_LINE, SERVICE, TASK

DOC = demo_doc.TROUBLESHOOTING
PILE = 3  # tasks that wait in hello_queue before the alarm
REFUSED = 3  # clicks during the alarm, besides the documented curl
NOTES = ARTIFACTS / "compose-resource-alarm.txt"


def lines_match(actual: list[str], expected: list[str]) -> bool:
    """Whether `actual` are the documented `expected` lines (`demo_doc.assert_lines_match`)."""
    try:
        demo_doc.assert_lines_match(actual, expected, "")
    except AssertionError:
        return False
    return True


def documented_once_settled(stack: ComposeProject, key: str) -> list[str]:
    """Run the one `rabbitmq-diagnostics` command of the TROUBLESHOOTING.md block `key` until it
    prints the documented lines, and return them. Polled, not run once: RabbitMQ's
    memory monitor tells its alarm handler with `gen_event:notify` (rabbit_alarm.erl),
    which does not wait, so the alarm may be set or cleared a moment after rabbitmqctl returned.

    Raises:
        AssertionError: it printed other lines for CONSEQUENCE seconds.
    """
    (command,) = [command for command in demo_doc.commands(key, doc=DOC) if "rabbitmq-diagnostics" in command.command]
    return wait_for(
        lambda: stack.run_demo_command(command.command),
        lambda printed: lines_match(printed, command.expected),
        CONSEQUENCE,
        f"{command.command!r} to print what TROUBLESHOOTING.md {key} shows",
    )


def blocked_connections(stack: ComposeProject) -> int:
    """How many client connections the alarm blocks this instant (`rabbitmqctl list_connections`)."""
    listed = stack.compose("exec", "rabbitmq", "rabbitmqctl", "-q", "list_connections", "--formatter", "json", "state")
    return sum(row["state"] in BLOCKED_STATES for row in json.loads(listed))


def app_log(stack: ComposeProject) -> list[str]:
    """The app container's log lines (supervisord's programs, worker_hello's among them), as
    `docker compose logs app` shows them, without Compose's `app-1  | ` prefix."""
    return stack.compose("logs", "--no-color", "--no-log-prefix", "app").splitlines()


def refused_clicks(stack: ComposeProject, node: str) -> tuple[list[str], list[float]]:
    """During the memory alarm of `node`: TROUBLESHOOTING.md's `curl` (ts-6-click) as written,
    then REFUSED clicks, each the contract's 503 within CLICK_ANSWER seconds.

    Returns:
        The refused tasks' ids, and the seconds each answer took (the curl's first).
    """
    (curl,) = demo_doc.commands("ts-6-click", doc=DOC)
    started = time.monotonic()
    printed = stack.run_demo_command(curl.command)
    seconds = [time.monotonic() - started]
    demo_doc.assert_lines_match(printed, curl.expected, "TROUBLESHOOTING.md ts-6-click")
    assert seconds[0] < CLICK_ANSWER, f"curl's 503 took {seconds[0]:.2f} s, beyond the {CLICK_ANSWER} s bound"
    by_curl = json.loads(printed[0])
    assert by_curl["alarm"]["node"] == node, f"curl's answer names another node: {printed[0]}"
    clicks = [click(stack.web_url, f"Ada{number}") for number in range(REFUSED)]
    refused = [by_curl["task_id"], *(refused_task(answer, "memory", node) for answer in clicks)]
    assert len(set(refused)) == len(refused), f"task ids must be unique: {refused}"
    return refused, seconds + [answer.seconds for answer in clicks]


def shown_alarm(stack: ComposeProject) -> dict | None:
    """The alarm that `GET /status` (the page's panel) shows; None for none."""
    return status(stack.web_url).get("alarm")


def drain(stack: ComposeProject, piled: list[str]) -> float:
    """Start worker_hello (DEMO.md's docker-start) and wait until the `piled` tasks have
    succeeded and hello_queue is empty.

    Returns:
        Seconds from the start to drained.
    """
    started = time.monotonic()
    stack.run_demo_block("docker-start")
    wait_until(lambda: stack.all_succeeded(piled), DRAIN, f"the {len(piled)} waiting tasks to succeed", interval=0.5)
    wait_until(lambda: stack.hello_queue() == (0, 0, 1), SERVICE, "hello_queue drained, worker_hello consuming")
    return time.monotonic() - started


def test_a_memory_alarm_in_the_compose_stack(stack: ComposeProject) -> None:
    stack.run_demo_block("docker-stop")
    # Each 202 came once RabbitMQ confirmed the message: all of them wait in hello_queue,
    # and no consumer takes them (tests/containers/test_docker_step3_pile_up.py counts it).
    piled = post_hellos(stack.web_url, PILE, duration=1)

    lift, _ = demo_doc.commands("ts-6-docker-lift", doc=DOC)
    stack.run_demo_block("ts-6-docker-raise", doc=DOC)
    try:
        (on,) = documented_once_settled(stack, "ts-6-alarms")
        node = re.fullmatch(r"Memory alarm on node (\S+)", on)[1]
        # The page first, as a learner sees the alarm there before clicking: GET /status asks
        # the management API as a refused click does, within the same ALARMS_TIMEOUT
        # (app/alarms.py), so a click is not the first to wait for a busy management API.
        shown = wait_until(lambda: shown_alarm(stack), CONSEQUENCE, "GET /status to show the alarm")
        assert (shown["resource"], shown["node"]) == ("memory", node), f"GET /status's alarm: {shown}"
        refused, seconds = refused_clicks(stack, node)

        # RabbitMQ blocks publishers, not consumers: the waiting tasks drain during the alarm.
        drained_in = drain(stack, piled)
        assert shown_alarm(stack), "the alarm was over before the drain ended: this proves nothing"

        lifted = stack.run_demo_command(lift.command)
        demo_doc.assert_lines_match(lifted, lift.expected, "TROUBLESHOOTING.md ts-6-docker-lift")
    except BaseException:
        # The stack serves the modules after this one: never leave it blocked.
        stack.run(lift.command)
        raise
    documented_once_settled(stack, "ts-6-docker-lift")
    wait_for(
        lambda: status(stack.web_url),
        lambda body: "alarm" in body and body["alarm"] is None,
        CONSEQUENCE,
        'GET /status to show "alarm": null',
    )

    # The sync point: every message written during the alarm has been read by RabbitMQ
    # (no connection blocked) and consumed. A click after it runs, and its success is
    # logged after all that the worker will ever log about the refused tasks.
    wait_until(
        lambda: blocked_connections(stack) == 0 and stack.hello_queue() == (0, 0, 1),
        DRAIN,
        "no blocked connection, and hello_queue idle with worker_hello consuming",
        interval=0.5,
    )
    after = post_hello(stack.web_url, name="Grace", duration=1)
    wait_until(lambda: stack.all_succeeded([after]), TASK, "the click after the alarm to succeed", interval=0.5)
    wait_until(
        lambda: any(f"Task say_hello[{after}] succeeded" in line for line in app_log(stack)),
        LOG_LINE,
        "worker_hello to log the success of the click after the alarm",
        interval=0.5,
    )
    dropped, never_delivered = dropped_or_never_delivered(app_log(stack), stack.web_url, refused, "ts-6-dropped")

    times = ", ".join(f"{answer:.2f}" for answer in seconds)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    NOTES.write_text(
        f"{len(refused)} clicks (the first by curl) during the memory alarm of the compose rabbitmq ({node}): "
        f"503 in {times} s; {PILE} waiting tasks drained during it in {drained_in:.1f} s; after it "
        f"{len(dropped)} dropped, {len(never_delivered)} never arrived, 0 ran; the next click 202 and SUCCESS\n"
    )
