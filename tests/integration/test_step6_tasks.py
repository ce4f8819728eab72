"""Step 6: follow a task through `GET /tasks/<id>`, and the queue through `GET /status`.

The states come from the worker through Redis (the result backend); the queue's
counts from RabbitMQ; the programs' states from supervisord. Each is checked here
against the real thing.
"""

import re
import socket
import uuid
from collections.abc import Callable
from datetime import datetime

import pytest
import redis
import requests

from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE, Depth, VHost
from tests.support.results import REDIS_URL, PublishedStates
from tests.support.stack import Stack, post_hello, supervisorctl

PILE = 50
# Seconds the tasks of the unacked test run: longer than the management API's worst lag.
UNACKED_DURATION = 15


def get_json(url: str, status: int = 200) -> dict:
    """GET `url`, check its HTTP status, and return its JSON body."""
    answer = requests.get(url, timeout=5)
    assert answer.status_code == status, f"GET {url} answered {answer.status_code}: {answer.text}"
    return answer.json()


def follow(stack: Stack, task_id: str, timeout: float = 30) -> list[dict]:
    """Poll `GET /tasks/<task_id>` every 20 ms until the task ends.

    A poll samples: a state that lasts a second (STARTED, PROGRESS, RETRY) is missed
    if a poll stalls that long. Only a state that stays is sure to be seen (PENDING
    while no worker runs, the end); `PublishedStates` sees every one.

    Returns:
        Each body that differs from the one before it, in the order seen; the last
        is SUCCESS or FAILURE.
    """
    seen: list[dict] = []

    def ended() -> bool:
        answer = get_json(f"{stack.web_url}/tasks/{task_id}")
        if not seen or answer != seen[-1]:
            seen.append(answer)
        return answer["state"] in ("SUCCESS", "FAILURE")

    try:
        wait_until(ended, timeout, f"task {task_id} to end", interval=0.02)
    except AssertionError as error:
        raise AssertionError(f"{error}\nbodies seen: {seen}") from None
    return seen


def assert_seen_in_order(seen: list[dict], expected: list[dict]) -> None:
    """Assert that the bodies `seen` by `follow` are some of the `expected` ones, in their order:
    a poll may miss some, but must show no other and none out of order."""
    remaining = iter(expected)
    assert all(body in remaining for body in seen), f"bodies seen: {seen}\nexpected, in this order: {expected}"


def body(task_id: str, state: str, retries: int | None = 0, **fields: object) -> dict:
    """The body `GET /tasks/<task_id>` answers in `state`: `progress`, `result` and `error` None unless given."""
    empty = {"progress": None, "result": None, "error": None}
    return {"id": task_id, "state": state, **empty, "retries": retries, **fields}


def status_when(stack: Stack, reached: Callable[[dict], bool], what: str, timeout: float = 10) -> dict:
    """Poll `GET /status` until `reached(body)` holds; return that body.

    Raises:
        AssertionError: not reached within `timeout` seconds; the bodies seen are in the message.
    """
    seen: list[dict] = []

    def body_if_reached() -> dict | None:
        body = get_json(stack.web_url + "/status")
        if not seen or body != seen[-1]:
            seen.append(body)
        return body if reached(body) else None

    try:
        return wait_until(body_if_reached, timeout, what)
    except AssertionError as error:
        raise AssertionError(f"{error}\nbodies seen: {seen}") from None


def restart_worker(stack: Stack, vhost: VHost) -> None:
    """Leave worker_hello running and consuming, as the next test expects, whatever happened."""
    stack.ensure_running("worker_hello")
    vhost.wait_for_consumers(1)


def test_a_task_goes_pending_started_progress_success(stack: Stack, vhost: VHost) -> None:
    """A 3 s task is PENDING while no worker consumes, then STARTED, PROGRESS at 1 s and 2 s,
    and SUCCESS with its greeting and what the worker knew of the message."""
    # With the worker stopped, PENDING lasts as long as we like: no race with a fast worker.
    assert supervisorctl("stop", "worker_hello").returncode == 0
    try:
        vhost.wait_for_consumers(0)
        with PublishedStates() as published:
            task_id = post_hello(stack.web_url, name="Ada", duration=3)
            pending = get_json(f"{stack.web_url}/tasks/{task_id}")
            assert pending == body(task_id, "PENDING", retries=None)  # the backend holds nothing for it yet
            # Follow the task from the moment the worker starts: `supervisorctl start`
            # returns only after startsecs (1 s), by which time the task may have begun.
            stack.rpc().supervisor.startProcess("worker_hello", False)  # wait=False
            seen = follow(stack, task_id)
            stored = published.until_ended(task_id)
    finally:
        restart_worker(stack, vhost)

    # Every state the worker stored, in order: one progress report a second, none at
    # the end, where SUCCESS follows at once. (PENDING is never stored: it is what
    # Celery answers while nothing is.)
    assert [meta["status"] for meta in stored] == ["STARTED", "PROGRESS", "PROGRESS", "SUCCESS"]
    progress = [meta["result"] for meta in stored if meta["status"] == "PROGRESS"]
    assert progress == [{"current": 1.0, "total": 3.0}, {"current": 2.0, "total": 3.0}]
    # --hostname worker_hello@%%h in supervisord.conf: Celery's %h is socket.gethostname().
    success = body(
        task_id,
        "SUCCESS",
        result={
            "greeting": "Hello, Ada!",
            "duration": 3.0,
            "task_id": task_id,
            "retries": 0,
            "hostname": f"worker_hello@{socket.gethostname()}",
            "routing_key": "hello_queue",
        },
    )
    # What GET /tasks/<id> answered on the way: those states, in that order, as the page shows them.
    expected = [
        pending,
        body(task_id, "STARTED"),
        body(task_id, "PROGRESS", progress={"current": 1.0, "total": 3.0}),
        body(task_id, "PROGRESS", progress={"current": 2.0, "total": 3.0}),
        success,
    ]
    assert_seen_in_order(seen, expected)
    assert seen[-1] == success


def log_time(line: str) -> float:
    """When the worker logged `line`, in seconds (its own clock): Celery's log lines start
    with `[2026-01-31 12:00:00,123: INFO/...]`."""
    stamp = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}):", line)
    assert stamp, f"no time at the start of {line!r}"
    return datetime.strptime(stamp[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def test_fail_times_2_retries_twice_then_succeeds(stack: Stack) -> None:
    """With fail_times 2 the first two attempts are stored as RETRY, with their error and
    the retries so far (0, then 1), and the third attempt succeeds with retries 2."""
    with PublishedStates() as published:
        task_id = post_hello(stack.web_url, name="Ada", duration=0, fail_times=2)
        seen = follow(stack, task_id)
        stored = published.until_ended(task_id)
    # Each attempt stores STARTED (task_track_started); each failed one, RETRY with its error.
    assert [(meta["status"], meta["retries"]) for meta in stored] == [
        ("STARTED", 0),
        ("RETRY", 0),
        ("STARTED", 1),
        ("RETRY", 1),
        ("STARTED", 2),
        ("SUCCESS", 2),
    ]
    # The JSON result serializer stores an exception as its type's name and its args.
    retries = [meta["result"] for meta in stored if meta["status"] == "RETRY"]
    errors = [(error["exc_type"], error["exc_message"]) for error in retries]
    assert errors == [
        ("TransientError", ["attempt 1 of 3 fails on purpose"]),
        ("TransientError", ["attempt 2 of 3 fails on purpose"]),
    ]

    # The countdown doubles (1 s, 2 s), by the worker's own clock: each retry is logged
    # once its copy is sent, with an ETA of countdown seconds from a moment before; the
    # next attempt starts after that ETA. The bounds leave 0.5 s for the moment between,
    # and still tell a doubling countdown from a constant one.
    lines = stack.task_lines(task_id)
    first_retry, second_retry = (log_time(line) for line in lines if "] retry: Retry in" in line)
    (third_attempt,) = (log_time(line) for line in lines if line.endswith(f"Hello, Ada! (task id {task_id})"))
    assert second_retry - first_retry >= 0.5, "the 2nd attempt ran before its 1 s countdown"
    assert third_attempt - second_retry >= 1.5, "the 3rd attempt ran before its 2 s countdown"

    # What GET /tasks/<id> answered on the way, as the page shows it: the error as
    # "ExceptionType: message", the retries so far.
    error = "TransientError: attempt {} of 3 fails on purpose"
    final = seen[-1]
    expected = [
        body(task_id, "PENDING", retries=None),
        body(task_id, "STARTED", retries=0),
        body(task_id, "RETRY", retries=0, error=error.format(1)),
        body(task_id, "STARTED", retries=1),
        body(task_id, "RETRY", retries=1, error=error.format(2)),
        body(task_id, "STARTED", retries=2),
        final,
    ]
    assert_seen_in_order(seen, expected)
    assert (final["state"], final["retries"], final["error"]) == ("SUCCESS", 2, None), f"bodies seen: {seen}"
    assert final["result"]["retries"] == 2
    assert final["result"]["greeting"] == "Hello, Ada!"


def test_a_task_id_never_issued_is_404(stack: Stack) -> None:
    """Celery would answer PENDING for any id; the app answers 404 for an id it never sent."""
    never_issued = str(uuid.uuid4())
    body = get_json(f"{stack.web_url}/tasks/{never_issued}", status=404)
    assert list(body) == ["error"]
    assert never_issued in body["error"]


@pytest.mark.parametrize(
    "task_id",
    ["nope", str(uuid.uuid4()).upper(), uuid.uuid4().hex],
    ids=["not-a-uuid", "uppercase", "no-hyphens"],
)
def test_a_malformed_task_id_is_400_naming_the_field(stack: Stack, task_id: str) -> None:
    """Only the form Celery issues (a lowercase UUID with hyphens) is a task id; anything else is 400."""
    body = get_json(f"{stack.web_url}/tasks/{task_id}", status=400)
    assert body["field"] == "task_id"
    assert isinstance(body["error"], str) and body["error"]


def test_status_shows_a_pile_up_of_50_and_its_drain(stack: Stack, vhost: VHost) -> None:
    """/status gives the exact Ready and consumer counts that RabbitMQ gives (passive declare),
    and supervisord's program states, while 50 tasks pile up and after they drain."""
    assert supervisorctl("stop", "worker_hello").returncode == 0
    try:
        vhost.wait_for_consumers(0)
        task_ids = [post_hello(stack.web_url, name=f"learner {number}", duration=0) for number in range(PILE)]
        # Publisher confirms: each 202 came after RabbitMQ took the message.
        exact = vhost.depth(HELLO_QUEUE)
        assert exact == Depth(ready=PILE, consumers=0)
        # Asked once: a count that lagged (the management API's) would fail here.
        piled = get_json(stack.web_url + "/status")
        assert (piled["queue"]["ready"], piled["queue"]["consumers"]) == (exact.ready, exact.consumers)
        assert piled["queue"]["name"] == "hello_queue"
        # unacked comes from the management API, refreshed every 5 s: it may lag, or be unknown.
        assert piled["queue"]["unacked"] is None or isinstance(piled["queue"]["unacked"], int)
        assert piled["programs"]["worker_hello"] == "STOPPED"
        assert piled["programs"]["web"] == "RUNNING"

        assert supervisorctl("start", "worker_hello").returncode == 0
        wait_until(lambda: vhost.depth(HELLO_QUEUE) == Depth(ready=0, consumers=1), 30, "hello_queue drained")
        drained = get_json(stack.web_url + "/status")
        assert drained["queue"]["name"] == "hello_queue"
        assert (drained["queue"]["ready"], drained["queue"]["consumers"]) == (0, 1)
        assert drained["programs"]["worker_hello"] == "RUNNING"
    finally:
        restart_worker(stack, vhost)

    def unfinished() -> list[str]:
        states = {task_id: get_json(f"{stack.web_url}/tasks/{task_id}")["state"] for task_id in task_ids}
        return [task_id for task_id, state in states.items() if state != "SUCCESS"]

    wait_until(lambda: not unfinished(), 60, f"all {PILE} tasks to reach SUCCESS")
    # Ready 0 does not mean done: the last messages are delivered, unacked until their tasks end.
    status_when(stack, lambda body: body["queue"]["unacked"] == 0, "/status to show 0 unacked", timeout=15)


def test_status_is_read_only(stack: Stack) -> None:
    """GET /status reports the programs' states as supervisord does, and restarts or stops none of them."""

    def programs() -> dict[str, tuple[str, int]]:
        return {info["name"]: (info["statename"], info["pid"]) for info in stack.rpc().supervisor.getAllProcessInfo()}

    before = programs()
    bodies = [get_json(stack.web_url + "/status") for _ in range(5)]
    assert programs() == before, "a GET /status changed a program's state or pid"
    assert all(body["programs"] == {name: state for name, (state, _) in before.items()} for body in bodies)


def test_status_shows_the_unacked_messages_of_running_tasks(stack: Stack, vhost: VHost) -> None:
    """Two tasks run, one per pool process: /status shows 0 ready and, from the management
    API's statistics, 2 unacked."""
    # The management API's counts lag: each queue sends its statistics every 5 s
    # (collect_statistics_interval), and the management database takes them in a
    # moment later: 2 unacked may show 10 s after the tasks start; meanwhile /status
    # may also answer null (the API took over 1 s). The tasks outlast that lag, and the
    # wait ends when they may end, and with them their messages' unacked state.
    task_ids = [post_hello(stack.web_url, name="Ada", duration=UNACKED_DURATION) for _ in range(2)]
    running = status_when(
        stack,
        lambda body: body["queue"]["unacked"] == 2,
        f"/status to show 2 unacked while the two {UNACKED_DURATION} s tasks run",
        timeout=UNACKED_DURATION,
    )
    assert (running["queue"]["ready"], running["queue"]["consumers"]) == (0, 1)
    for task_id in task_ids:
        stack.wait_for_lines(rf"Task say_hello\[{task_id}\] succeeded", timeout=UNACKED_DURATION + 15)


def test_results_and_issued_ids_expire_after_an_hour(stack: Stack) -> None:
    """DEMO.md: "each result expires after an hour"; the app forgets the id as long after."""
    task_id = post_hello(stack.web_url, name="Ada", duration=0)
    stack.wait_for_lines(rf"Task say_hello\[{task_id}\] succeeded", timeout=30)
    backend = redis.Redis.from_url(REDIS_URL)
    for key in (f"celery-task-meta-{task_id}", f"hello-queue:issued:{task_id}"):
        assert 3500 < backend.ttl(key) <= 3600, f"{key} expires in {backend.ttl(key)} s"
