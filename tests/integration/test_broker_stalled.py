"""A RabbitMQ that stops reading: it neither confirms a publish nor refuses it, nor says that
it is blocked (as it does during a resource alarm: tests/integration/test_resource_alarm.py).
Issue 18 promises the same bound for it:

a. a click is answered 503 within 3 s, never a gunicorn WORKER TIMEOUT: "did not confirm"
   (with its task id and `"will_run": false`) on the connection the app had open, then
   "unreachable" on each new connection, whose AMQP handshake gets no answer;
b. a task answered 503 never runs once RabbitMQ reads again: the worker drops it
   (REVOKED), or it never arrives (404); a click without a task id queued nothing;
c. `GET /status`, which the page's panel asks every second, answers within the same
   bound, with 503 and why; and a click from the page, which gunicorn's one worker
   serves after the panel's question, is still answered within 3 s;
d. once RabbitMQ reads again, the app recovers without a restart: hello_queue drains,
   the next click 202 and SUCCESS, the same gunicorn worker process.

The node is frozen with `docker pause` (tests/support/own_rabbitmq.py: TCP stays up,
the kernel still takes the bytes, RabbitMQ reads none), so this module runs `make run`
against a RabbitMQ of its own, in a container, and is skipped without Docker or the
pinned image (and fails on CI, which has both), as test_resource_alarm.py is.
"""

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psutil
import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from tests.integration.conftest import PROGRAMS
from tests.support.alarm_clicks import Click, click, dropped_or_never_delivered
from tests.support.checkout import ARTIFACTS
from tests.support.own_broker_demo import demo_on, own_broker
from tests.support.own_rabbitmq import OwnRabbitMQ, missing_reason
from tests.support.poll import wait_for
from tests.support.reliability import Row, record
from tests.support.results import wait_for_success
from tests.support.stack import Stack, post_hello
from tests.support.timing import CLICK_ANSWER, CONSEQUENCE, FOLLOWS, HTTP_SLOW, TASK

# What each test measured (answers, their times, what ran afterwards), for a human.
NOTES = ARTIFACTS / "broker-stalled.txt"
# Clicks during the freeze: the first on the connection the app has open, the others
# each on a new one (gunicorn runs one sync worker, supervisord.conf; its connection pool
# hands out the one connection it has, which the first click drops: app/publish.py).
CLICKS = 4
# How the answers begin (app/publish.py `NotQueued`, app/errors.py `broker_unreachable`).
NOT_CONFIRMED = "RabbitMQ did not confirm the message within 1 s"
UNREACHABLE = "the broker is unreachable, nothing was queued"

# Docker and the pinned image, checked as the module is collected (test_resource_alarm.py: why).
MISSING = missing_reason()
if MISSING and os.environ.get("CI") != "true":
    pytest.skip(MISSING, allow_module_level=True)


def note(line: str) -> None:
    """Add `line` to test-artifacts/broker-stalled.txt."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with NOTES.open("a") as notes:
        notes.write(line + "\n")


@pytest.fixture(scope="module")
def broker() -> Iterator[OwnRabbitMQ]:
    """A RabbitMQ of this module's own, removed after its last test, also after a failure
    (paused or not). Fails without Docker or the pinned image: only CI gets this far."""
    with own_broker(MISSING, note) as own:
        yield own


@pytest.fixture(scope="module")
def stalled_stack(broker: OwnRabbitMQ, checkout_free: None) -> Iterator[Stack]:
    """`make run` whose broker and management API are `broker`'s, worker_hello consuming.

    (`broker` first: on CI without Docker, each test fails before the shared stack is stopped.)
    """
    with demo_on(broker, "broker-stalled", PROGRAMS) as demo:
        yield demo


@pytest.fixture
def demo(stalled_stack: Stack, broker: OwnRabbitMQ) -> Iterator[Stack]:
    """The stack as each test finds it: RabbitMQ reading, hello_queue idle and consumed by
    worker_hello. Afterwards, also after a failure: RabbitMQ unpaused, and every message
    on its way arrived and consumed (`OwnRabbitMQ.wait_until_idle`)."""
    assert not broker.paused(), "an earlier test left the broker paused"
    broker.wait_until_idle()
    yield stalled_stack
    if broker.paused():
        broker.unpause()
    broker.wait_until_idle()


@dataclass
class StatusAnswer:
    """One `GET /status`: status code, JSON body, seconds."""

    status: int
    body: dict
    seconds: float

    def __str__(self) -> str:
        return f"{self.status} in {self.seconds:.2f} s: {self.body}"


def status(web_url: str) -> StatusAnswer:
    """`GET /status`, as the page's panel asks it every second, timed.

    The client gives up after HTTP_SLOW seconds: a panel that hangs fails the test at once.

    Raises:
        AssertionError: no answer within HTTP_SLOW seconds.
    """
    started = time.monotonic()
    try:
        answer = requests.get(web_url + "/status", timeout=HTTP_SLOW)
    except requests.Timeout:
        raise AssertionError(f"GET /status gave no answer within {HTTP_SLOW} s") from None
    return StatusAnswer(answer.status_code, answer.json(), time.monotonic() - started)


def status_during_the_freeze(web_url: str, what: str) -> StatusAnswer:
    """`GET /status` while RabbitMQ is paused: 503, saying it cannot read hello_queue, within
    CLICK_ANSWER seconds. The same bound as a click's: gunicorn's one sync worker serves
    both, and a panel that waited longer would hold the next click behind it.

    Args:
        what: which connection it finds (for the notes).

    Raises:
        AssertionError: it answered otherwise, or later.
    """
    answer = status(web_url)
    note(f"GET /status while RabbitMQ is paused, {what}: {answer}")
    assert answer.status == 503, f"GET /status while RabbitMQ is paused answered {answer}"
    assert "cannot read hello_queue's depth from the broker" in answer.body.get("error", ""), str(answer)
    assert answer.seconds < CLICK_ANSWER, f"GET /status took {answer.seconds:.2f} s, beyond {CLICK_ANSWER} s"
    return answer


def gunicorn_workers(demo: Stack) -> list[int]:
    """The process ids of gunicorn's workers: the children of supervisord's web program."""
    return sorted(child.pid for child in psutil.Process(demo.pid("web")).children())


def kept_its_worker(demo: Stack, workers: list[int], mark: int) -> None:
    """Check that gunicorn killed no worker since `mark` (its log's WORKER TIMEOUT, after 60 s
    without an answer: supervisord.conf's --timeout), and still runs `workers`.

    Raises:
        AssertionError: it did, or runs others.
    """
    timeouts = [line for line in demo.lines[mark:] if "WORKER TIMEOUT" in line]
    assert not timeouts, "gunicorn killed its worker:\n" + "\n".join(timeouts)
    assert gunicorn_workers(demo) == workers, f"gunicorn's workers changed: {workers} -> {gunicorn_workers(demo)}"


def refused_without_a_timeout(answers: list[Click]) -> list[str]:
    """Check the clicks made while RabbitMQ was paused: each answered 503 in JSON within
    CLICK_ANSWER seconds; the first "did not confirm", with a task id that will not run;
    each later one "unreachable", with no task id (nothing was published).

    Returns:
        The task ids of the answers that carry one.

    Raises:
        AssertionError: an answer is otherwise.
    """
    for answer in answers:
        assert answer.status == 503, f"POST /hello while RabbitMQ is paused answered {answer}"
        assert answer.seconds < CLICK_ANSWER, f"the 503 took {answer.seconds:.2f} s, beyond {CLICK_ANSWER} s"
        assert isinstance(answer.body, dict), f"the 503 is not JSON: {answer}"
    first, *later = answers
    # The connection the app had open takes the publish (its socket's buffer does), and
    # no confirm comes: app/publish.py's confirm_timeout.
    assert first.body["error"].startswith(NOT_CONFIRMED), f"the first click: {first}"
    assert first.body.get("will_run") is False and first.body.get("task_id"), f"the first click: {first}"
    # It dropped that connection; a new one connects (the kernel accepts it) and then
    # waits for connection.start: broker_connection_timeout ends the handshake.
    for answer in later:
        assert answer.body["error"].startswith(UNREACHABLE), f"a click on a new connection: {answer}"
        assert "task_id" not in answer.body, f"a click that queued nothing: {answer}"
    return [answer.body["task_id"] for answer in answers if "task_id" in answer.body]


def never_ran(demo: Stack, broker: OwnRabbitMQ, refused: list[str], mark: int) -> tuple[list[str], list[str], str]:
    """Once RabbitMQ reads again: check that none of the `refused` tasks (answered 503) ran
    (`alarm_clicks.dropped_or_never_delivered`), nor any other since `mark`, and that the
    next click does. The answers without a task id ("unreachable") published nothing: a
    task of theirs would be one that ran under an id nobody was told.

    Args:
        mark: where in `demo.lines` to look from (their count before the clicks).

    Returns:
        The ids of the refused tasks that reached the worker (dropped), of those that never
        arrived, and the id of the next click.

    Raises:
        AssertionError: a task ran that should not have, or the next click did not succeed.
    """
    # The sync point: every message written before the freeze's clicks gave up has
    # arrived (none is left unread in a socket's buffer) and been consumed.
    broker.wait_until_idle()
    # The next click's success is logged after all that: from here on, the log holds
    # every line about the refused tasks that it will ever hold.
    after = post_hello(demo.web_url, name="Grace", duration=1)
    wait_for_success([after], timeout=TASK)
    demo.wait_for_lines(rf"Task say_hello\[{after}\] succeeded", since=mark, timeout=FOLLOWS)
    dropped, never_delivered = dropped_or_never_delivered(demo.lines[mark:], demo.web_url, refused, "ts-6-dropped")
    succeeded = re.compile(r"Task say_hello\[(.+?)\] succeeded")
    ran = {match[1] for match in map(succeeded.search, demo.lines[mark:]) if match}
    assert ran == {after}, f"tasks that ran since the freeze: {ran}; only the click after it should have"
    return dropped, never_delivered, after


def test_clicks_while_rabbitmq_reads_nothing_are_answered_503_and_never_run(demo: Stack, broker: OwnRabbitMQ) -> None:
    # A click first, so that the app holds an open connection, as it does between clicks.
    first = post_hello(demo.web_url, name="Ada", duration=1)
    wait_for_success([first], timeout=TASK)
    demo.wait_for_lines(rf"Task say_hello\[{first}\] succeeded", timeout=FOLLOWS)
    workers = gunicorn_workers(demo)
    mark = len(demo.lines)
    broker.pause()
    try:
        answers = [click(demo.web_url, f"Ada{number}") for number in range(CLICKS)]
        for answer in answers:
            note(f"POST /hello while RabbitMQ is paused: {answer}")
        panel = status_during_the_freeze(demo.web_url, "after the clicks: a new connection")
    finally:
        broker.unpause()
    refused = refused_without_a_timeout(answers)
    dropped, never_delivered, _ = never_ran(demo, broker, refused, mark)
    kept_its_worker(demo, workers, mark)
    times = ", ".join(f"{answer.seconds:.2f}" for answer in answers)
    note(
        f"{len(answers)} clicks answered 503 while RabbitMQ was paused ({times} s); {len(refused)} with a task id: "
        f"{len(dropped)} reached the worker once unpaused and were dropped (REVOKED), {len(never_delivered)} never "
        f"arrived (404); 0 ran; the next click 202 and SUCCESS, the same gunicorn worker {workers}"
    )
    record(
        Row(
            key="9e",
            scenario="RabbitMQ stops reading",
            action="clicks while RabbitMQ reads nothing, neither confirming nor blocking (the test freezes a "
            "RabbitMQ of its own: `docker pause`), then it reads again (`docker unpause`)",
            outcome="each click is answered 503 within 3 s, never a gunicorn timeout: the first, on the open "
            'connection, "did not confirm" with its task id, which never runs (dropped: REVOKED, or never '
            'arrived); the next ones "unreachable", nothing queued; `GET /status` 503 within 3 s too; once '
            "RabbitMQ reads again, the next click 202 and SUCCESS, without a restart",
            setting="app/publish.py: a 1 s `confirm_timeout`, and a 1 s socket timeout on every other answer "
            "(`answer_within`), then `collect()`; `broker_connection_timeout=1` for a new connection's handshake "
            "(py-amqp) and for GET /status's questions (app/status.py); the task claimed as abandoned in Redis, "
            "which worker/abandoned.py honours",
            counts=f"{len(answers)} clicks: 503 in {times} s ({len(refused)} not confirmed, "
            f"{len(answers) - len(refused)} unreachable); `GET /status` 503 in {panel.seconds:.2f} s; afterwards "
            f"{len(dropped)} dropped, {len(never_delivered)} never arrived, 0 ran; next click SUCCESS; "
            "0 worker timeouts",
        )
    )


def test_the_status_panel_answers_while_rabbitmq_reads_nothing(demo: Stack, broker: OwnRabbitMQ) -> None:
    before = status(demo.web_url)
    assert before.status == 200, f"GET /status before the freeze: {before}"
    broker.pause()
    try:
        # The first finds the connection open that the last GET /status used; the second, a
        # new connection (the first dropped it), whose handshake gets no answer.
        status_during_the_freeze(demo.web_url, "on the connection it had open")
        status_during_the_freeze(demo.web_url, "on a new connection")
    finally:
        broker.unpause()
    unpaused = time.monotonic()
    after = wait_for(lambda: status(demo.web_url), lambda answer: answer.status == 200, CONSEQUENCE, "GET /status 200")
    note(f"GET /status 200 again {time.monotonic() - unpaused:.2f} s after docker unpause: {after}")


@pytest.fixture
def page(browser: Browser, demo: Stack) -> Iterator[Page]:
    """The demo's page, its panel answering (it asks GET /status every second)."""
    context = browser.new_context(base_url=demo.web_url)
    page = context.new_page()
    page.goto("/")
    expect(page.locator("#queue-consumers")).to_have_text("1", timeout=CONSEQUENCE * 1000)
    yield page
    context.close()


def test_clicks_on_the_page_while_rabbitmq_reads_nothing(page: Page, demo: Stack, broker: OwnRabbitMQ) -> None:
    # The page is the learner's view: its panel's GET /status every second and the clicks
    # share gunicorn's one worker, so a click may wait for the panel's question first.
    rows = page.locator("#tasks li")
    workers = gunicorn_workers(demo)
    mark = len(demo.lines)
    broker.pause()
    try:
        for number in range(CLICKS):
            page.get_by_label("Name").fill(f"Ada{number}")
            page.get_by_role("button", name="Say hello", exact=True).click()
            expect(rows.first).to_have_attribute("data-state", "REFUSED", timeout=HTTP_SLOW * 1000)
        expect(page.locator("#status-error")).to_contain_text(
            "GET /status answered 503: cannot read hello_queue's depth from the broker", timeout=FOLLOWS * 1000
        )
        page.screenshot(path=ARTIFACTS / "broker-stalled-page.png", full_page=True)
    finally:
        broker.unpause()
    # Each row says what the page measured: "POST /hello answered 503 in 1.53 s: <error>[ · task id <id>]".
    shown = re.compile(r"POST /hello answered 503 in ([\d.]+) s: (.*?)(?: · task id (\S+))?$")
    details = [rows.nth(index).locator(".detail").text_content() for index in range(CLICKS)]
    answers = [shown.fullmatch(detail) for detail in details]
    assert all(answers), f"rows: {details}"
    for detail, answer in zip(details, answers, strict=True):
        note(f"the page, while RabbitMQ is paused: {detail}")
        assert float(answer[1]) < CLICK_ANSWER, f"a click from the page took {answer[1]} s: {detail}"
        assert answer[2].startswith((NOT_CONFIRMED, UNREACHABLE)), f"a click from the page: {detail}"
    refused = [answer[3] for answer in answers if answer[3]]
    dropped, never_delivered, _ = never_ran(demo, broker, refused, mark)
    kept_its_worker(demo, workers, mark)
    expect(page.locator("#status-error")).to_be_hidden(timeout=CONSEQUENCE * 1000)
    note(
        f"{CLICKS} clicks from the page answered 503 while RabbitMQ was paused; {len(refused)} with a task id: "
        f"{len(dropped)} dropped, {len(never_delivered)} never arrived; the panel's error gone once unpaused"
    )
