"""Step 10's cluster with Docker, its queues: a poison message counted and dead-lettered by
RabbitMQ itself (RELIABILITY.md row 5f), and a retry's countdown through Celery's native
delayed delivery, also one that ends while a node is down.

- The poison: on the quorum hello_queue the worker puts the message back after each death
  of its pool process (worker/deliveries.py), RabbitMQ counts, and past the delivery-limit
  of docker-compose.cluster.yml's policy dead-letters it to hello_queue.dlq. Its headers
  are read through the management API's get-messages with ackmode ack_requeue_true, which
  leaves the message where it is and its x-delivery-count as it is (reject_requeue_true
  would count one more failed delivery: seen on RabbitMQ 4.3).
- The retries: a countdown on a quorum queue waits in RabbitMQ, in one of Celery's 28
  celery_delayed_* quorum queues (kombu's native_delayed_delivery: level N holds a message
  2**N s, then dead-letters it on), not in the worker's memory. The node that leads the
  queue holding the waiting retry is killed, and started again once the task has run.

The cluster of this folder (conftest.py), whole before each test. Times for the report go
to test-artifacts/cluster-queues.txt.
"""

import json
import re
import time
from datetime import UTC, datetime

import pytest
import requests

from tests.support import demo_doc
from tests.support.checkout import ARTIFACTS
from tests.support.cluster import NODES, connections, consumers, rabbitmqctl, service_of
from tests.support.compose import ComposeProject
from tests.support.poll import wait_until
from tests.support.reliability import Row, record
from tests.support.stack import post_hello
from tests.support.timing import DRAIN, HTTP, LOG_LINE, SERVICE, STACK_START, TASK
from tests.support.troubleshooting import run, run_claim
from worker.dead_letters import DEAD_LETTER_QUEUE
from worker.deliveries import DELIVERIES_WHEN_LOST

DOC = demo_doc.TROUBLESHOOTING
NOTES = ARTIFACTS / "cluster-queues.txt"
POISON = r"say_hello\[{task_id}\]: poison: killing my own pool process \(delivery (\d) of 5\)"
# Celery's log line for a pool process that died (billiard), and the worker's for a message
# put back for RabbitMQ to count (worker/broker_dead_letters.py).
DEATH = r"Process 'ForkPoolWorker-\d+' pid:\d+ exited with 'signal 9 \(SIGKILL\)'"
REQUEUED = r"say_hello\[{task_id}\]: its pool process died on delivery (\d) of 5 .*back in hello_queue"
# Celery's log time, "[2026-08-21 10:00:00,123: INFO/MainProcess] ...".
LOG_TIME = r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): "
# say_hello's countdowns with `fail_times` (worker/fault_injection.py): 1, 2, 4, 8 s.
COUNTDOWNS = [1, 2, 4, 8, 16]
# What the poison test counted, for RELIABILITY.md's row, which the move back completes.
POISON_COUNTS: dict[str, object] = {}
# The retry that waits while a node is down: the fourth, 8 s, long enough to kill a node.
RETRIES_BEFORE_KILL = 3


@pytest.fixture(scope="module", autouse=True)
def fresh_notes() -> None:
    """test-artifacts/cluster-queues.txt, emptied: this run's notes only."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    NOTES.write_text("")


def note(line: str) -> None:
    """Add `line` to test-artifacts/cluster-queues.txt."""
    with NOTES.open("a") as notes:
        notes.write(line + "\n")


def worker_log(cluster: ComposeProject, since: str = "") -> list[str]:
    """The log lines of both workers (worker_hello in app, the worker container), without
    Compose's prefix; each container's lines in order, the two one after the other. With
    `since` (a time, RFC 3339), only those Docker received since (`docker compose logs --since`)."""
    since_option = ["--since", since] if since else []
    return cluster.compose("logs", "--no-color", "--no-log-prefix", *since_option, "app", "worker").splitlines()


def matches(cluster: ComposeProject, pattern: str, since: str = "") -> list[re.Match]:
    """The matches of `pattern` in the workers' log lines (since `since`: `worker_log`)."""
    return [match for line in worker_log(cluster, since) if (match := re.search(pattern, line))]


def log_time(line: str) -> datetime:
    """The time Celery wrote at the start of a log `line`."""
    return datetime.strptime(re.match(LOG_TIME, line)[1], "%Y-%m-%d %H:%M:%S,%f")


def queues(cluster: ComposeProject, node: str = "rabbitmq") -> dict[str, dict]:
    """Every queue, by name, as `node` lists it: type, messages (Ready, Unacked and dead
    letters not yet delivered), leader, members, the policy that applies."""
    listed = rabbitmqctl(cluster, node, "list_queues", "name", "type", "messages", "leader", "members", "policy")
    return {queue["name"]: queue for queue in listed}


def management_api(cluster: ComposeProject, path: str, **body: object) -> requests.Response:
    """The first node's management API (published on this machine), as the cluster's user:
    GET `path`, or POST `body` to it as JSON."""
    url = f"http://127.0.0.1:{cluster.ports['RABBITMQ_MANAGEMENT_PORT']}/api/{path}"
    auth = (cluster.env["RABBITMQ_DEFAULT_USER"], cluster.env["RABBITMQ_DEFAULT_PASS"])
    if body:
        return requests.post(url, auth=auth, json=body, timeout=HTTP)
    return requests.get(url, auth=auth, timeout=HTTP)


def on_cluster_api(cluster: ComposeProject, command: str) -> str:
    """A documented `curl` of the management API at localhost:15672 as guest, aimed at the
    cluster's first node, as its user (a learner's `.env` user)."""
    user = f"{cluster.env['RABBITMQ_DEFAULT_USER']}:{cluster.env['RABBITMQ_DEFAULT_PASS']}"
    command = command.replace("localhost:15672", f"127.0.0.1:{cluster.ports['RABBITMQ_MANAGEMENT_PORT']}")
    return command.replace("-u guest:guest", f"-u {user}")


def dead_letters(cluster: ComposeProject) -> list[dict]:
    """The messages in hello_queue.dlq, read through the management API as RabbitMQ's UI
    does (Queues → hello_queue.dlq → Get messages), left there (ack_requeue_true)."""
    answer = management_api(
        cluster, f"queues/%2F/{DEAD_LETTER_QUEUE}/get", count=10, ackmode="ack_requeue_true", encoding="auto"
    )
    answer.raise_for_status()
    return answer.json()


def test_hello_queue_has_the_dead_letter_policy_and_hello_queue_dlq_exists_before_any_dead_letter(
    cluster: ComposeProject,
) -> None:
    run_claim(cluster, "ts-5-cluster-policy")
    listed = queues(cluster)
    assert listed["hello_queue"]["policy"] == "hello_queue-dead-letters"
    # Declared by the workers as they started (worker/broker_dead_letters.py), empty, with a
    # member on each node; the policy's pattern leaves it alone.
    dlq = listed[DEAD_LETTER_QUEUE]
    assert (dlq["type"], dlq["messages"], sorted(dlq["members"]), dlq["policy"]) == ("quorum", 0, NODES, "")


def test_a_poison_message_is_dead_lettered_by_rabbitmq_after_5_deliveries(cluster: ComposeProject) -> None:
    clicked = time.monotonic()
    # The cluster served other tests before: the pool processes that died are counted from now.
    since = datetime.now(UTC).isoformat()
    (click,) = demo_doc.commands("ts-5-post", DOC)
    task_id = json.loads(cluster.run_demo_command(click.command)[0])["task_id"]
    # Meanwhile, another click: the workers keep consuming while their pool processes die.
    other = post_hello(cluster.web_url, name="Grace", duration=1)

    def failed() -> bool:
        return cluster.task(task_id)[1].get("state") == "FAILURE"

    wait_until(failed, 4 * LOG_LINE, "the poison task's FAILURE on GET /tasks/<id>")
    to_final = time.monotonic() - clicked
    run_claim(cluster, "ts-5-cluster-state", task_id)
    (letter,) = wait_until(lambda: dead_letters(cluster), SERVICE, f"the message in {DEAD_LETTER_QUEUE}")
    to_dead_letter = time.monotonic() - clicked
    run_claim(cluster, "ts-5-cluster-dlq", task_id)

    headers = letter["properties"]["headers"]
    # The message as the producer sent it, Celery's headers and all, with RabbitMQ's: four
    # deliveries put back (x-delivery-count) and the fifth too, so over the limit of 4.
    assert (headers["task"], headers["id"]) == ("say_hello", task_id)
    assert headers["x-delivery-count"] == DELIVERIES_WHEN_LOST
    (death,) = headers["x-death"]
    assert {key: death[key] for key in ("count", "reason", "queue", "exchange", "routing-keys")} == {
        "count": 1,
        "reason": "delivery_limit",
        "queue": "hello_queue",
        "exchange": "hello_queue",
        "routing-keys": ["hello_queue"],
    }
    assert (headers["x-first-death-reason"], headers["x-first-death-queue"]) == ("delivery_limit", "hello_queue")
    assert (letter["exchange"], letter["routing_key"]) == ("", DEAD_LETTER_QUEUE)

    lines = worker_log(cluster)
    for want in demo_doc.block("ts-5-cluster-log", DOC).replace("<task-id>", task_id).splitlines():
        assert any(demo_doc.line_pattern(want).fullmatch(line) for line in lines), f"no line like {want!r}"
    deliveries = sorted(int(match[1]) for match in matches(cluster, POISON.format(task_id=task_id)))
    assert deliveries == [1, 2, 3, 4, 5], f"deliveries seen in the workers' logs: {deliveries}"
    deaths = matches(cluster, DEATH, since)
    assert len(deaths) == DELIVERIES_WHEN_LOST, [match[0] for match in deaths]
    put_back = sorted(int(match[1]) for match in matches(cluster, REQUEUED.format(task_id=task_id)))
    assert put_back == [1, 2, 3, 4], f"deliveries put back: {put_back}"

    # The workers consume on: the other click, and one after it, succeed; hello_queue is empty.
    after = post_hello(cluster.web_url, name="Hopper", duration=1)
    wait_until(lambda: cluster.all_succeeded([other, after]), TASK, "the other clicks to succeed")
    assert consumers(cluster) == 2
    # rabbitmqctl's counts of a quorum queue follow a moment behind (its metrics).
    wait_until(
        lambda: [queues(cluster)[name]["messages"] for name in ("hello_queue", DEAD_LETTER_QUEUE)] == [0, 1],
        SERVICE,
        f"rabbitmqctl to count 0 messages in hello_queue and 1 in {DEAD_LETTER_QUEUE}",
        interval=1,
    )
    # Looking again changes nothing: the message stays, its count too.
    (again,) = dead_letters(cluster)
    assert again["properties"]["headers"]["x-delivery-count"] == DELIVERIES_WHEN_LOST

    note(
        f"poison: {len(deliveries)} deliveries, {len(deaths)} pool processes killed, {len(put_back)} put back; "
        f"FAILURE {to_final:.1f} s after the click, in {DEAD_LETTER_QUEUE} (seen) {to_dead_letter:.1f} s after; "
        f"headers x-delivery-count={headers['x-delivery-count']}, x-death={death}"
    )
    POISON_COUNTS.update(
        deliveries=len(deliveries),
        deaths=len(deaths),
        put_back=len(put_back),
        delivery_count=headers["x-delivery-count"],
        death=f"{death['reason']} × {death['count']}",
        to_final=to_final,
    )


def test_moved_back_by_a_shovel_the_poison_message_gets_5_deliveries_anew(cluster: ComposeProject) -> None:
    (letter,) = dead_letters(cluster)
    task_id = letter["properties"]["headers"]["id"]
    # TROUBLESHOOTING.md case 5's move, as written, with the cluster's user instead of guest:
    # the shovel plugins on rabbitmq, the node whose UI (and API) is used.
    cluster.compose(
        "exec", "rabbitmq", "rabbitmq-plugins", "-q", "enable", "rabbitmq_shovel", "rabbitmq_shovel_management"
    )
    wait_until(lambda: management_api(cluster, "shovels").ok, SERVICE, "the shovel plugin's API", interval=0.5)
    (move,) = demo_doc.commands("ts-5-move", DOC)
    moved = time.monotonic()
    run(cluster, demo_doc.Command(on_cluster_api(cluster, move.command), move.expected), "ts-5-move")
    poison = POISON.format(task_id=task_id)
    wait_until(lambda: len(matches(cluster, poison)) == 2 * DELIVERIES_WHEN_LOST, 4 * LOG_LINE, "5 more deliveries")
    wait_until(lambda: cluster.task(task_id)[1].get("state") == "FAILURE", SERVICE, "FAILURE again")
    (again,) = wait_until(lambda: dead_letters(cluster), SERVICE, f"the message back in {DEAD_LETTER_QUEUE}")
    elapsed = time.monotonic() - moved
    deliveries = sorted(int(match[1]) for match in matches(cluster, poison))
    # Numbered from 1 again: the shovel's copy is a new message to hello_queue, whose count
    # starts at 0 (the worker reads x-delivery-count on a redelivery only: worker/deliveries.py).
    assert deliveries == sorted(2 * [1, 2, 3, 4, 5]), deliveries
    headers = again["properties"]["headers"]
    assert (headers["id"], headers["x-delivery-count"]) == (task_id, DELIVERIES_WHEN_LOST)
    (death,) = headers["x-death"]
    assert (death["reason"], death["queue"], death["exchange"]) == ("delivery_limit", "hello_queue", "")
    note(
        f"moved back by a shovel: {len(deliveries) // 2} deliveries anew, back in {DEAD_LETTER_QUEUE} "
        f"{elapsed:.1f} s after the move; x-delivery-count={headers['x-delivery-count']}, x-death={death}"
    )
    counts = POISON_COUNTS
    record(
        Row(
            key="5f",
            scenario="Poison in the cluster: counted by RabbitMQ",
            action='in the cluster (quorum hello_queue), POST /hello with `"poison": true`; then the shovel of '
            "TROUBLESHOOTING.md case 5",
            outcome="each death of its pool process puts the same message back in hello_queue; RabbitMQ counts "
            "(x-delivery-count) and after the fifth dead-letters it to hello_queue.dlq (x-death: delivery_limit); "
            "FAILURE stored by the worker on the last delivery; the workers consume on; moved back, it runs anew",
            setting="task_reject_on_worker_lost without task_retry_on_worker_lost (worker/deliveries.py); "
            "the policy hello_queue-dead-letters: delivery-limit 4, dead-letter-routing-key hello_queue.dlq, "
            "at-least-once (docker-compose.cluster.yml); worker/broker_dead_letters.py",
            counts=f"{counts['deliveries']} deliveries, {counts['deaths']} pool processes killed, "
            f"{counts['put_back']} put back; 1 in {DEAD_LETTER_QUEUE} with x-delivery-count "
            f"{counts['delivery_count']} and x-death {counts['death']}; FAILURE {counts['to_final']:.0f} s after "
            f"the click; 2 other clicks SUCCESS, 0 left in hello_queue; moved back: {len(deliveries) // 2} more "
            f"deliveries, 1 in {DEAD_LETTER_QUEUE} again",
        )
    )


def delayed_queues(cluster: ComposeProject) -> dict[str, dict]:
    """Celery's celery_delayed_* queues, by name (`queues`)."""
    return {name: queue for name, queue in queues(cluster).items() if name.startswith("celery_delayed_")}


def test_a_retry_with_a_countdown_waits_in_rabbitmq_and_runs(cluster: ComposeProject) -> None:
    # Declared by the workers as they started (Celery's DelayedDelivery bootstep), quorum
    # queues like hello_queue: levels 0 to 27.
    delayed = delayed_queues(cluster)
    assert sorted(delayed) == sorted(f"celery_delayed_{level}" for level in range(28))
    assert {queue["type"] for queue in delayed.values()} == {"quorum"}

    clicked = time.monotonic()
    task_id = post_hello(cluster.web_url, name="Ada", duration=1, fail_times=2)
    wait_until(lambda: cluster.all_succeeded([task_id]), TASK, "the task retried twice to succeed")
    elapsed = time.monotonic() - clicked
    assert cluster.task(task_id)[1]["result"]["retries"] == 2
    delays = retry_delays(cluster, task_id)
    assert len(delays) == 2, delays
    # The retries went through the delayed queues: Celery found hello_queue's topic exchange
    # (the worker's task_routes), and did not fall back to holding them in memory.
    assert not matches(cluster, "Direct exchanges are not supported with native delayed delivery")
    ran_after = ", ".join(f"{delay:.2f}" for delay in delays)
    note(f"retry: 2 countdowns (1 s, 2 s) ran after {ran_after} s; SUCCESS {elapsed:.1f} s after the click")


def retry_delays(cluster: ComposeProject, task_id: str) -> list[float]:
    """Seconds from each `retry: Retry in Ns` log line of `task_id` (logged just after the
    retry's message was sent) to the next `received` line (the worker got that message),
    as the workers logged them."""
    lines = worker_log(cluster)
    retried = sorted(log_time(line) for line in lines if re.search(rf"say_hello\[{task_id}\] retry: Retry in", line))
    started = sorted(log_time(line) for line in lines if re.search(rf"Task say_hello\[{task_id}\] received", line))
    # Each retry is received again as a new message: the first receipt is the click's.
    return [(start - retry).total_seconds() for retry, start in zip(retried, started[1:], strict=False)]


def test_a_countdown_that_ends_while_a_node_is_down_still_runs(cluster: ComposeProject) -> None:
    countdown = COUNTDOWNS[RETRIES_BEFORE_KILL]
    level = countdown.bit_length() - 1  # 8 s waits in celery_delayed_3
    delayed = f"celery_delayed_{level}"
    # The node to kill leads the queue where the retry will wait, and no client is connected
    # to it: not the first node, the app's, nor the worker container's (rabbitmq2 or rabbitmq3:
    # tests/support/cluster_whole.py). Leadership moved there first (rabbitmq-queues
    # transfer_leadership), whichever node held it. rabbitmqctl asks the first node.
    busy = {connection["node"] for connection in connections(cluster)}
    idle = [service_of(node) for node in NODES if node not in busy]
    assert idle, f"every node has a client connected: {sorted(busy)}"
    victim, survivor = idle[-1], "rabbitmq"
    if delayed_queues(cluster)[delayed]["leader"] != f"rabbit@{victim}":
        cluster.compose("exec", survivor, "rabbitmq-queues", "-q", "transfer_leadership", delayed, f"rabbit@{victim}")
    wait_until(
        lambda: delayed_queues(cluster)[delayed]["leader"] == f"rabbit@{victim}",
        SERVICE,
        f"rabbit@{victim} leading {delayed}",
        interval=1,
    )

    task_id = post_hello(cluster.web_url, name="Ada", duration=1, fail_times=RETRIES_BEFORE_KILL + 1)

    def waiting() -> bool:
        state = cluster.task(task_id)[1]
        return state.get("state") == "RETRY" and state.get("retries") == RETRIES_BEFORE_KILL

    wait_until(waiting, TASK, f"the task's RETRY with retries {RETRIES_BEFORE_KILL}: its {countdown} s countdown")
    seen = time.monotonic()
    # Not looked at first (`rabbitmq-queues peek` shows it there, but its Erlang VM takes
    # seconds to start on a busy machine): the log's `received` line below says where it waited.
    cluster.compose("kill", victim)
    killed = time.monotonic() - seen
    killed_at = datetime.now(UTC).replace(tzinfo=None)  # as the containers' logs tell time (UTC)
    # What this test is about: the node went down while the retry waited.
    assert killed < countdown, f"the kill took {killed:.1f} s, longer than the countdown"
    wait_until(lambda: cluster.all_succeeded([task_id]), DRAIN, "the task whose countdown ended with a node down")
    ran = time.monotonic() - seen
    assert cluster.task(task_id)[1]["result"]["retries"] == RETRIES_BEFORE_KILL + 1
    # The last retry's message reached a worker after the kill: it waited in RabbitMQ.
    received = max(log_time(match.string) for match in matches(cluster, rf"Task say_hello\[{task_id}\] received"))
    assert received > killed_at, (received, killed_at)
    delays = retry_delays(cluster, task_id)
    assert len(rabbitmqctl(cluster, survivor, "cluster_status")["running_nodes"]) == 2
    new_leader = delayed_queues(cluster)[delayed]["leader"]
    assert new_leader in NODES and new_leader != f"rabbit@{victim}"

    # Started again, the node rejoins: three running nodes, both workers consuming.
    restarted = time.monotonic()
    cluster.compose("start", victim)
    wait_until(
        lambda: sorted(rabbitmqctl(cluster, survivor, "cluster_status")["running_nodes"]) == NODES,
        STACK_START,
        f"rabbit@{victim} running in the cluster again",
    )
    rejoined = time.monotonic() - restarted
    assert consumers(cluster) == 2
    note(
        f"countdown {countdown} s in {delayed}, its leader rabbit@{victim} killed {killed:.1f} s into it "
        f"(new leader {new_leader}): SUCCESS {ran:.1f} s after the RETRY was seen; countdowns "
        f"{COUNTDOWNS[: len(delays)]} s ran after {', '.join(f'{d:.2f}' for d in delays)} s; "
        f"rabbit@{victim} running again {rejoined:.1f} s after its start"
    )
