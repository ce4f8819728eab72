"""Redis, the result backend, full: at its `maxmemory` with the `noeviction` policy it refuses
every write and answers reads (Redis docs, "Key eviction").

The contract, for a learner who meets it:

a. a click is answered within 3 s: 503, saying that Redis is full and nothing was queued;
   and nothing is (the web app notes the task id in Redis before it publishes);
b. a task answered 202 before Redis filled up runs all the same when a worker takes it,
   and each state it cannot store is one log line, no traceback (worker/redis_full.py);
c. once Redis has room again, a click is 202 and its task SUCCESS.

A full Redis refuses every user's writes, so the machine's shared Redis must never be
filled: this module runs `make run` with a Redis of its own (tests/support/own_redis.py).
"""

import re
import time
from collections.abc import Iterator

import pytest
import requests

from tests.integration.conftest import PROGRAMS
from tests.support import demo_doc, troubleshooting
from tests.support.own_redis import OwnRedis
from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE, Depth, VHost
from tests.support.reliability import Row, record
from tests.support.stack import Stack, post_hello, start_demo
from tests.support.timing import CLICK_ANSWER, DRAIN, FOLLOWS, HTTP, HTTP_SLOW, MANAGEMENT_API, TASK
from worker.completions import completions_key

# The web app's answer to a click while Redis is full (app/errors.py).
REFUSED = "the result backend (Redis) is full, nothing was queued"
# The states a task of 2 s stores: STARTED (task_track_started), one PROGRESS report a
# second in (worker/tasks.py), SUCCESS.
STATES = ["STARTED", "PROGRESS", "SUCCESS"]
NOT_STORED = re.compile(r"say_hello\[(?P<id>[0-9a-f-]{36})\]: its (?P<state>\w+) state was not stored: Redis is full")


@pytest.fixture(scope="module")
def own_redis() -> Iterator[OwnRedis]:
    """A Redis of this module's own, stopped and removed after its last test, also after a failure."""
    own = OwnRedis()
    try:
        own.start()
        yield own
    finally:
        own.stop()


@pytest.fixture(scope="module")
def full_stack(own_redis: OwnRedis, vhost: VHost, checkout_free: None) -> Iterator[Stack]:
    """`make run` in the run's vhost whose result backend is `own_redis`, worker_hello consuming."""
    demo = start_demo("redis-full", vhost, PROGRAMS, env={"CELERY_RESULT_BACKEND": own_redis.url})
    yield demo
    demo.stop_cleanly()


def timed_click(web_url: str, name: str) -> tuple[requests.Response, float]:
    """POST /hello for a task of 1 s, as the page's button does: the answer, and its seconds.

    Raises:
        AssertionError: no answer within HTTP_SLOW seconds (the contract: CLICK_ANSWER).
    """
    started = time.monotonic()
    try:
        answer = requests.post(web_url + "/hello", json={"name": name, "duration": 1}, timeout=HTTP_SLOW)
    except requests.Timeout:
        raise AssertionError(f"POST /hello gave no answer within {HTTP_SLOW} s") from None
    return answer, time.monotonic() - started


def task_state(web_url: str, task_id: str) -> str:
    """The state that `GET /tasks/<task_id>` answers, as the page shows it.

    Raises:
        AssertionError: it did not answer 200.
    """
    answer = requests.get(f"{web_url}/tasks/{task_id}", timeout=HTTP)
    assert answer.status_code == 200, f"GET /tasks/{task_id} answered {answer.status_code}: {answer.text}"
    return answer.json()["state"]


def test_tasks_accepted_before_redis_filled_up_run_and_clicks_meanwhile_get_503(
    full_stack: Stack, own_redis: OwnRedis, vhost: VHost
) -> None:
    demo = full_stack
    mark = len(demo.lines)
    queued = demo.pile_up(3, duration=2, depth=vhost.management_depth, timeout=MANAGEMENT_API)
    (click_block,) = demo_doc.commands("ts-7-click", doc=demo_doc.TROUBLESHOOTING)
    (memory_block,) = demo_doc.commands("ts-7-memory", doc=demo_doc.TROUBLESHOOTING)
    (fix_block,) = demo_doc.commands("ts-7-fix", doc=demo_doc.TROUBLESHOOTING)
    own_redis.fill()
    try:
        # The documented command that tells it, against this Redis instead of the default one.
        memory = demo.run_demo_command(memory_block.command.replace("redis-cli ", f"redis-cli -p {own_redis.port} "))
        demo_doc.assert_lines_match(memory, memory_block.expected, "TROUBLESHOOTING.md ts-7-memory")
        refused_in = []
        for number in range(3):
            answer, seconds = timed_click(demo.web_url, f"Refused{number}")
            assert answer.status_code == 503, (
                f"POST /hello with Redis full answered {answer.status_code}: {answer.text}"
            )
            assert seconds < CLICK_ANSWER, f"the 503 took {seconds:.2f} s, beyond the {CLICK_ANSWER} s bound"
            assert REFUSED in answer.json()["error"], answer.text
            refused_in.append(seconds)
        documented = demo.run_demo_command(click_block.command)
        demo_doc.assert_lines_match(documented, click_block.expected, "TROUBLESHOOTING.md ts-7-click")
        assert vhost.depth(HELLO_QUEUE) == Depth(ready=3, consumers=0), "a click answered 503 queued a message"
        # Nothing of the web app fails for reading: the page, its panel, a queued task's state.
        for path in ("/", "/status"):
            page = requests.get(demo.web_url + path, timeout=HTTP)
            assert page.status_code == 200, f"GET {path} with Redis full answered {page.status_code}: {page.text}"
        assert [task_state(demo.web_url, task_id) for task_id in queued] == ["PENDING"] * 3

        started = time.monotonic()
        demo.ensure_running("worker_hello")
        succeeded = demo.wait_for_lines(
            rf"Task say_hello\[({'|'.join(queued)})\] succeeded", count=3, since=mark, timeout=DRAIN
        )
        assert {match[1] for match in succeeded} == set(queued)
        ran_in = time.monotonic() - started
        wait_until(
            lambda: vhost.management_depth(HELLO_QUEUE) == Depth(ready=0, consumers=1, unacked=0),
            MANAGEMENT_API,
            "the management API to show hello_queue empty, nothing Unacked, worker_hello consuming",
            0.5,
        )
        drained_in = time.monotonic() - started
        assert own_redis.client.config_get("maxmemory")["maxmemory"] == "1", "Redis was not full all along"
        during = demo.lines[mark:]
        for number, task_id in enumerate(queued):
            lines = demo.task_lines(task_id)
            assert [line for line in lines if f"say_hello[{task_id}]: Hello, n{number}!" in line], lines
            unstored = [match["state"] for match in map(NOT_STORED.search, lines) if match]
            assert unstored == STATES, f"task {task_id}: not-stored lines for {unstored}, expected {STATES}"
            troubleshooting.log_shows(lines, "ts-7-log", task_id)
        assert [task_state(demo.web_url, task_id) for task_id in queued] == ["PENDING"] * 3
        assert not [line for line in during if "Traceback" in line], "a traceback in the log:\n" + "\n".join(during)

        fixed = demo.run_demo_command(fix_block.command.replace("redis-cli ", f"redis-cli -p {own_redis.port} "))
        demo_doc.assert_lines_match(fixed, fix_block.expected, "TROUBLESHOOTING.md ts-7-fix")
    finally:
        own_redis.lift()
    after = post_hello(demo.web_url, name="Grace", duration=0)
    wait_until(lambda: task_state(demo.web_url, after) == "SUCCESS", TASK, f"GET /tasks/{after} to answer SUCCESS")
    # Logged after its completion was counted (task_success): from here on the log holds
    # every greeting of this test. A click answered 503 never ran: no message was queued
    # for it (hello_queue held the 3 waiting tasks alone), so none can come later.
    demo.wait_for_lines(rf"Task say_hello\[{after}\] succeeded", since=mark, timeout=FOLLOWS)
    assert own_redis.client.get(completions_key(after)) == b"1", "Redis with room again did not count the completion"
    greetings = [line for line in demo.lines[mark:] if re.search(r"say_hello\[[0-9a-f-]{36}\]: Hello, ", line)]
    assert len(greetings) == 4, "\n".join(greetings)
    assert not [line for line in greetings if re.search(r"Hello, (Refused\d|Ada)!", line)], "\n".join(greetings)
    times = ", ".join(f"{seconds:.2f}" for seconds in refused_in)
    record(
        Row(
            key="9d",
            scenario="Redis full",
            action="3 tasks wait in hello_queue (worker_hello stopped); Redis reaches its maxmemory (the test sets "
            "`maxmemory 1` on a Redis of its own, policy noeviction); clicks; `supervisorctl start worker_hello`; "
            "then Redis gets room (`maxmemory 0`)",
            outcome="each click is answered 503 within 3 s, Redis is full, nothing queued; the waiting tasks run, "
            "each state they cannot store one log line, no traceback, the page shows them PENDING; "
            "once Redis has room, the next click 202 and SUCCESS",
            setting="worker/redis_full.py (Celery's `override_backends`): a state Redis refuses for want of memory "
            "is logged, the task goes on; the task id noted in Redis before the publish (app/routes.py)",
            counts=f"3 clicks: 503 in {times} s, 0 queued, 0 ran; 3 of 3 waiting tasks ran ({ran_in:.1f} s after the "
            f"start; hello_queue 0 in the management API after {drained_in:.1f} s), {len(STATES)} not-stored lines "
            "each, 0 tracebacks; next click SUCCESS",
        )
    )
