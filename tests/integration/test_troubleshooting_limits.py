"""TROUBLESHOOTING.md's cases 4 and 5: a task past its soft time limit, and a poison message
that kills its pool process on every delivery, dead-lettered after 5 and moved back with a
shovel (RELIABILITY.md row 5e).

As for cases 1 to 3 (test_troubleshooting.py; tests/support/troubleshooting.py), every console
block is run as written and every log block looked for in the log, on the shared stack,
in the run's vhost: the management API's `localhost:15672` and vhost `%2F` become the
run's. A fixed task id of the document becomes a fresh one (the result backend's Redis
is shared by every run on the machine). The module takes about 60 s: two rounds of five
deaths of a pool process, each noticed by Celery a few seconds late.
"""

import json
import time
import uuid

import pytest
import requests

from tests.support import demo_doc
from tests.support.poll import wait_until
from tests.support.rabbitmq import MANAGEMENT_URL, PASSWORD, USER, VHost
from tests.support.reliability import Row, record
from tests.support.results import wait_for_success
from tests.support.stack import Stack, post_hello
from tests.support.timing import CONSEQUENCE, HTTP, LOG_LINE, SERVICE, TASK
from tests.support.troubleshooting import DOC, documented_post, log_shows, run

# The task id that TROUBLESHOOTING.md's case 4 publishes and asks after.
CASE4_ID = "7e57ab1e-0000-4000-8000-000000000004"
DEAD_LETTER_QUEUE = "hello_queue.dlq"
# How many times the poison message is delivered (say_hello's max_retries + 1).
DELIVERIES = 5
POISON = r"say_hello\[{task_id}\]: poison: killing my own pool process \(delivery (\d) of 5\)"


def on_run_vhost(command: demo_doc.Command, vhost: VHost) -> demo_doc.Command:
    """`command` aimed at this run's management API and vhost instead of localhost:15672 and `/`."""
    return demo_doc.Command(vhost.on_management_api(command.command), command.expected)


def test_case4_a_task_past_its_soft_time_limit_stops_and_fails(stack: Stack, vhost: VHost) -> None:
    task_id = str(uuid.uuid4())
    (publish,) = demo_doc.commands("ts-4-publish", DOC)
    publish = on_run_vhost(publish, vhost)
    run(stack, demo_doc.Command(publish.command.replace(CASE4_ID, task_id), publish.expected), "ts-4-publish")
    stack.wait_for_lines(rf"Task say_hello\[{task_id}\] raised unexpected", timeout=LOG_LINE)
    log_shows(stack.lines, "ts-4-log", task_id)
    (state,) = demo_doc.commands("ts-4-state", DOC)
    run(stack, demo_doc.Command(state.command.replace(CASE4_ID, task_id), state.expected), "ts-4-state", task_id)


def dead_letters(vhost: VHost) -> int | None:
    """Messages Ready in hello_queue.dlq (passive declare); None while it does not exist."""
    depth = vhost.depth(DEAD_LETTER_QUEUE)
    return depth.ready if depth else None


def test_case5_a_poison_message_is_delivered_5_times_then_dead_lettered_and_moved_back(
    stack: Stack, vhost: VHost
) -> None:
    # None of the run's other tests leaves a dead letter behind (the page's Poison test purges its own).
    assert not dead_letters(vhost), f"{DEAD_LETTER_QUEUE} should start empty"
    # DEMO.md's step 9 shows the same click and answer: this test runs both claims.
    assert demo_doc.block("step9-poison") == demo_doc.block("ts-5-post", DOC)
    assert demo_doc.block("step9-poison-state") == demo_doc.block("ts-5-state", DOC)
    clicked = time.monotonic()
    task_id = documented_post(stack, "ts-5-post")
    # Meanwhile, another click: the worker keeps consuming while its pool processes die.
    other = post_hello(stack.web_url, name="Grace", duration=1)
    poison = POISON.format(task_id=task_id)
    stack.wait_for_lines(rf"Dead-lettered say_hello\[{task_id}\] to hello_queue\.dlq", timeout=4 * LOG_LINE)
    (state,) = demo_doc.commands("ts-5-state", DOC)
    run(stack, state, "ts-5-state", task_id)
    to_final = time.monotonic() - clicked
    deliveries = [int(match[1]) for match in stack.wait_for_lines(poison, count=DELIVERIES)]
    assert deliveries == [1, 2, 3, 4, 5], f"deliveries seen: {deliveries}"
    deaths = stack.wait_for_lines(r"Process 'ForkPoolWorker-\d+' pid:\d+ exited with 'signal 9 \(SIGKILL\)'", 5)
    log_shows(stack.lines, "ts-5-log", task_id)
    wait_for_success([other], timeout=TASK)
    wait_until(lambda: dead_letters(vhost) == 1, CONSEQUENCE, f"1 message in {DEAD_LETTER_QUEUE}")

    (peek,) = demo_doc.commands("ts-5-dlq", DOC)
    run(stack, on_run_vhost(peek, vhost), "ts-5-dlq", task_id)
    assert dead_letters(vhost) == 1, "looking at the dead letter must leave it there"

    # Moved back: the same poison, 5 deliveries anew, and back in the dead-letter queue.
    shovels = requests.get(f"{MANAGEMENT_URL}/api/shovels", auth=(USER, PASSWORD), timeout=HTTP)
    if shovels.status_code != 200:
        pytest.fail(
            "RabbitMQ's shovel plugins are off: rabbitmq-plugins enable rabbitmq_shovel rabbitmq_shovel_management"
        )
    since = len(stack.lines)
    (move,) = demo_doc.commands("ts-5-move", DOC)
    run(stack, on_run_vhost(move, vhost), "ts-5-move")
    again = stack.wait_for_lines(rf"Dead-lettered say_hello\[{task_id}\]", timeout=4 * LOG_LINE, since=since)
    assert again, "moved back, the poison message should end in the dead-letter queue again"
    redelivered = [int(match[1]) for match in stack.wait_for_lines(poison, count=DELIVERIES, since=since)]
    assert redelivered == [1, 2, 3, 4, 5], f"deliveries after the move: {redelivered}"
    wait_until(lambda: dead_letters(vhost) == 1, 2 * SERVICE, f"the message back in {DEAD_LETTER_QUEUE}, alone")
    record(
        Row(
            key="5e",
            scenario="Poison: a task that kills its pool process every time",
            action='POST /hello with `"poison": true` (the page\'s Poison checkbox)',
            outcome="delivered 5 times, each killing its pool process, then FAILURE (WorkerLostError, saying where "
            "the message went) and a copy in hello_queue.dlq; the worker consumes on; moved back, it runs anew",
            setting="`task_retry_on_worker_lost` with say_hello's `max_retries=4`; worker/dead_letters.py",
            counts=f"{len(deliveries)} deliveries, {len(deaths)} pool processes killed, FAILURE {to_final:.0f} s "
            f"after the click, 1 in {DEAD_LETTER_QUEUE}; another task SUCCESS meanwhile; moved back: "
            f"{len(redelivered)} more deliveries, 1 in {DEAD_LETTER_QUEUE} again",
        )
    )
    # What the page shows at the end: the final state, not STARTED forever.
    assert json.loads(stack.run_demo_command(f"curl -s localhost:8000/tasks/{task_id}")[0])["state"] == "FAILURE"
