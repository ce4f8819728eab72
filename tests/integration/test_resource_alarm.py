"""RabbitMQ's resource alarms: when a node runs short of memory or disk, it blocks every
connection that publishes until the resource is back, and lets consumers go on
(RabbitMQ docs, "Memory and Disk Alarms").

The contract, for a learner who meets one:

a. a click is answered within 3 s: 503, saying which alarm, with the task id and
   `"will_run": false`;
b. a task answered 503 never runs, even if its message reaches hello_queue once the
   alarm is over: the worker drops it (REVOKED), or it never arrives (404);
c. the worker drains hello_queue during the alarm;
d. the page's panel (`GET /status`) shows the alarm, since when, and its end; an
   alarm that is over lends its start to no later one.

An alarm blocks every publisher of the node, so the machine's shared RabbitMQ must
never have one: this module runs `make run` against a RabbitMQ of its own, in a
container (tests/support/own_rabbitmq.py), and is skipped without Docker or the
pinned image (and fails on CI, which has both).
"""

import datetime
import os
import re
import time
from collections.abc import Iterator

import pytest

from app.alarms import CONTINUITY
from tests.integration.conftest import PROGRAMS
from tests.support import demo_doc
from tests.support.alarm_clicks import Click, click, dropped_or_never_delivered, refused_task, status
from tests.support.checkout import ARTIFACTS
from tests.support.own_broker_demo import demo_on, own_broker
from tests.support.own_rabbitmq import OwnRabbitMQ, missing_reason
from tests.support.poll import wait_for, wait_until
from tests.support.rabbitmq import HELLO_QUEUE, Depth
from tests.support.reliability import Row, record
from tests.support.results import wait_for_success
from tests.support.stack import Stack, post_hello
from tests.support.timing import CONSEQUENCE, DRAIN, FOLLOWS, SERVICE, TASK

# What each test measured (answers, their times, the alarms' latencies), for a human.
NOTES = ARTIFACTS / "resource-alarm.txt"

# Docker and the pinned image, checked as the module is collected: pytest folds a
# module's skip into one line, where a fixture's skip is reported at each test's line.
# On CI (CI=true), where .ci/run provides both, `broker` fails each test instead, as
# tests/containers/conftest.py does.
MISSING = missing_reason()
if MISSING and os.environ.get("CI") != "true":
    pytest.skip(MISSING, allow_module_level=True)


def note(line: str) -> None:
    """Add `line` to test-artifacts/resource-alarm.txt."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with NOTES.open("a") as notes:
        notes.write(line + "\n")


@pytest.fixture(scope="module")
def broker() -> Iterator[OwnRabbitMQ]:
    """A RabbitMQ of this module's own, removed after its last test, also after a failure.

    Fails without Docker or the pinned image: only on CI gets this far (`MISSING`).
    """
    with own_broker(MISSING, note) as own:
        yield own


@pytest.fixture(scope="module")
def alarm_stack(broker: OwnRabbitMQ, checkout_free: None) -> Iterator[Stack]:
    """`make run` whose broker and management API are `broker`'s, worker_hello consuming.

    (`broker` first: on CI without Docker, each test fails before the shared stack is stopped.)
    """
    with demo_on(broker, "resource-alarm", PROGRAMS) as demo:
        yield demo


@pytest.fixture
def demo(alarm_stack: Stack, broker: OwnRabbitMQ) -> Iterator[Stack]:
    """The stack as each test finds it: no alarm, hello_queue idle and consumed by worker_hello.
    Afterwards, also after a failure: every alarm cleared, worker_hello running, every
    message on its way arrived and consumed (`OwnRabbitMQ.wait_until_idle`)."""
    assert broker.alarms() == [], "an earlier test left an alarm on"
    broker.wait_until_idle()
    yield alarm_stack
    broker.clear_all_alarms()
    alarm_stack.ensure_running("worker_hello")
    broker.wait_until_idle()


def refused_clicks(demo: Stack, broker: OwnRabbitMQ, resource: str, count: int = 3) -> list[Click]:
    """Raise the alarm of `resource`, click `count` times, each answered by the contract's 503
    within CLICK_ANSWER seconds, then clear the alarm (also after a failure).

    Returns:
        The answers, in order.
    """
    raised = broker.raise_alarm(resource)
    answers, task_ids = [], []
    try:
        for number in range(count):
            answer = click(demo.web_url, f"Ada{number}")
            note(f"POST /hello during the {resource} alarm: {answer}")
            task_ids.append(refused_task(answer, resource, broker.node))
            answers.append(answer)
    finally:
        cleared = broker.clear_alarm(resource)
        note(f"{resource} alarm: the health check said on {raised:.2f} s after rabbitmqctl, off {cleared:.2f} s after")
    assert len(set(task_ids)) == count, f"task ids must be unique: {task_ids}"
    return answers


def test_troubleshootings_click_and_command_during_a_memory_alarm(demo: Stack, broker: OwnRabbitMQ) -> None:
    """TROUBLESHOOTING.md case 6: its `curl` and its one command, as written (against this
    test's RabbitMQ container instead of the compose service)."""
    (click_block,) = demo_doc.commands("ts-6-click", doc=demo_doc.TROUBLESHOOTING)
    (alarms_block,) = demo_doc.commands("ts-6-alarms", doc=demo_doc.TROUBLESHOOTING)
    compose_exec = "docker compose exec rabbitmq "
    assert alarms_block.command.startswith(compose_exec), alarms_block.command
    broker.raise_alarm("memory")
    try:
        answer = demo.run_demo_command(click_block.command)
        demo_doc.assert_lines_match(answer, click_block.expected, "TROUBLESHOOTING.md ts-6-click")
        on = demo.run_demo_command(f"docker exec {broker.name} " + alarms_block.command.removeprefix(compose_exec))
        demo_doc.assert_lines_match(on, alarms_block.expected, "TROUBLESHOOTING.md ts-6-alarms")
    finally:
        broker.clear_alarm("memory")
    off = demo.run_demo_command(f"docker exec {broker.name} " + alarms_block.command.removeprefix(compose_exec))
    assert [line for line in off if "reported no alarms" in line], f"after the alarm: {off}"


# How the test raises each alarm, for RELIABILITY.md (tests/support/own_rabbitmq.py).
RAISE = {"memory": "set_vm_memory_high_watermark 0", "disk": "set_disk_free_limit 100000GB"}


@pytest.mark.parametrize(("resource", "key"), [("memory", "9a"), ("disk", "9b")])
def test_a_click_answered_503_never_runs_once_the_alarm_is_over(
    demo: Stack, broker: OwnRabbitMQ, resource: str, key: str
) -> None:
    mark = len(demo.lines)
    answers = refused_clicks(demo, broker, resource)
    refused = [answer.body["task_id"] for answer in answers]
    # The sync point: every message published during the alarm has arrived (none is left
    # unread in a blocked connection) and been consumed.
    broker.wait_until_idle()
    # A click after the alarm runs. Its success is logged after everything the worker
    # logged before the queue was idle: from here on, the log holds every line about
    # the refused tasks that it will ever hold.
    after = post_hello(demo.web_url, name="Grace", duration=1)
    wait_for_success([after], timeout=TASK)
    demo.wait_for_lines(rf"Task say_hello\[{after}\] succeeded", since=mark, timeout=FOLLOWS)
    dropped, never_delivered = dropped_or_never_delivered(demo.lines[mark:], demo.web_url, refused, "ts-6-dropped")
    times = ", ".join(f"{answer.seconds:.2f}" for answer in answers)
    note(
        f"{len(refused)} clicks answered 503 during the {resource} alarm: {len(dropped)} reached the worker once it "
        f"was over and were dropped (REVOKED), {len(never_delivered)} never arrived (404); 0 ran; "
        "the next click 202 and SUCCESS"
    )
    record(
        Row(
            key=key,
            scenario=f"RabbitMQ's {resource} alarm",
            action=f"clicks while RabbitMQ's {resource} alarm is on (the test raises it on a RabbitMQ of its own: "
            f"`rabbitmqctl {RAISE[resource]}`), then the alarm ends",
            outcome="each click is answered 503 within 3 s, naming the alarm and its node; none of those tasks runs "
            "once the alarm is over (a message that arrives is dropped: REVOKED); the next click 202 and SUCCESS",
            setting="app/publish.py: py-amqp's `on_blocked`, a 1 s `confirm_timeout`, no repeat of an unconfirmed "
            "publish; the task claimed as abandoned in Redis, which worker/abandoned.py honours",
            counts=f"{len(refused)} clicks: 503 in {times} s; after the alarm {len(dropped)} dropped, "
            f"{len(never_delivered)} never arrived, 0 ran; next click SUCCESS",
        )
    )


def test_the_worker_drains_hello_queue_during_an_alarm(demo: Stack, broker: OwnRabbitMQ) -> None:
    mark = len(demo.lines)
    piled = demo.pile_up(5, duration=1, depth=broker.exact_depth, timeout=SERVICE)
    broker.raise_alarm("memory")
    try:
        started = time.monotonic()
        demo.ensure_running("worker_hello")
        success = re.compile(rf"Task say_hello\[({'|'.join(piled)})\] succeeded")

        def succeeded() -> set[str]:
            return {match[1] for match in map(success.search, demo.lines[mark:]) if match}

        wait_until(lambda: succeeded() == set(piled), DRAIN, "the worker to log the 5 tasks' success", 0.2)
        wait_for_success(piled, timeout=TASK)
        # Their acks too: consuming, a connection is never blocked.
        wait_until(
            lambda: broker.exact_depth(HELLO_QUEUE) == Depth(ready=0, consumers=1, unacked=0),
            CONSEQUENCE,
            "hello_queue empty, nothing Unacked",
            0.5,
        )
        drained_in = time.monotonic() - started
        assert broker.alarm_on("memory"), "the memory alarm ended during the drain: this proves nothing"
    finally:
        broker.clear_alarm("memory")
    note(f"5 tasks of 1 s piled up, then the memory alarm: worker_hello started and drained them in {drained_in:.1f} s")
    record(
        Row(
            key="9c",
            scenario="Consumers during an alarm",
            action="5 tasks wait in hello_queue (worker_hello stopped); RabbitMQ's memory alarm goes on; "
            "`supervisorctl start worker_hello`",
            outcome="the worker drains hello_queue while the alarm is on: RabbitMQ blocks publishers, not consumers, "
            "and the drain is what frees its memory",
            setting="RabbitMQ's resource alarms block only connections that publish",
            counts=f"5 of 5 SUCCESS in {drained_in:.1f} s, the alarm still on",
        )
    )


def shown_alarm(web_url: str, broker: OwnRabbitMQ) -> dict:
    """Raise the memory alarm, wait until `GET /status` shows it, check it is this alarm (its
    node, and a `since` within it), and clear the alarm (also after a failure).

    Returns:
        The alarm that `GET /status` showed.
    """
    before = datetime.datetime.now(datetime.UTC)
    broker.raise_alarm("memory")
    try:
        shown = wait_for(
            lambda: status(web_url), lambda body: body.get("alarm"), CONSEQUENCE, "GET /status to show an alarm"
        )
        seen = datetime.datetime.now(datetime.UTC)
    finally:
        broker.clear_alarm("memory")
    alarm = shown["alarm"]
    assert (alarm.get("resource"), alarm.get("node")) == ("memory", broker.node), f"GET /status: {shown}"
    since = datetime.datetime.fromisoformat(alarm["since"])
    assert since.tzinfo is not None, f"since has no UTC offset: {alarm['since']!r}"
    # `since` may be given to the second: up to 1 s before the alarm was seen.
    assert before - datetime.timedelta(seconds=1) <= since <= seen, (
        f"since {alarm['since']} is not within this alarm ({before.isoformat()} to {seen.isoformat()})"
    )
    return alarm


def test_the_status_panel_shows_the_alarm_and_its_end(demo: Stack, broker: OwnRabbitMQ) -> None:
    shown = status(demo.web_url)
    assert shown.get("alarm", "absent") is None, f'GET /status before the alarm, with no "alarm": null: {shown}'
    alarm = shown_alarm(demo.web_url, broker)
    cleared = time.monotonic()
    wait_for(
        lambda: status(demo.web_url),
        lambda body: "alarm" in body and body["alarm"] is None,
        CONSEQUENCE,
        'GET /status to show "alarm": null',
    )
    note(f'GET /status showed {alarm}; "alarm": null {time.monotonic() - cleared:.2f} s after the health check said so')


def test_an_alarm_over_lends_its_start_to_no_later_one(demo: Stack, broker: OwnRabbitMQ) -> None:
    # The web app sees a first alarm through a click, and nothing asks it after its
    # end (no page open: a learner with curl); then a second alarm, more than
    # CONTINUITY seconds after the first was last seen (app/alarms.py): a `since` left
    # from the first would then be 1 s or more too early for the second (`shown_alarm`).
    (first,) = refused_clicks(demo, broker, "memory", count=1)
    last_seen = time.monotonic()
    first_since = datetime.datetime.fromisoformat(first.body["alarm"]["since"])
    # A wait for the clock, not for a process: that much time without a sighting.
    wait_until(
        lambda: time.monotonic() > last_seen + CONTINUITY + 1,
        CONTINUITY + FOLLOWS,
        f"{CONTINUITY + 1:g} s without asking the web app about alarms",
    )
    alarm = shown_alarm(demo.web_url, broker)
    note(f"GET /status during a second memory alarm: {alarm}; the first one's since was {first_since.isoformat()}")
