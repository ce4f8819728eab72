"""Step 10's cluster loses nodes (`docker compose kill`), and no task answered 202 is lost
(issue 19, items 4 and 5; RELIABILITY.md rows 10a to 10c).

1. The node that leads hello_queue, with 100 tasks waiting and no worker: a follower
   becomes the leader (Raft), the 100 are still Ready, and once the workers start each
   runs once; the killed node, started again, rejoins the cluster by itself.
2. The node of a worker's consumer, during a drain of 200: the worker reconnects to
   another node and goes on; the messages it held, unacked, are delivered again. Clicks
   made meanwhile are answered 202 within 3 s, and every task succeeds.
3. Two of three nodes: hello_queue, a quorum queue, has no majority and takes no message;
   each click is answered 503 within 3 s, naming the nodes left, and GET /status (the
   page's panel) says so too. Once the nodes are back, everything answered 202 runs, and
   nothing answered 503.

The cluster of this folder (conftest.py), whole before each test: three nodes, both
workers consuming, the app's clients on the first node, rabbit@rabbitmq, the worker
container's on another (tests/support/cluster_whole.py). Each test starts the nodes it
killed again, and checks that they rejoin. What RabbitMQ says is asked of a node still
running, with its own tools (`rabbitmqctl`), since only the first node's ports are
published here; the leader's election time comes from the new leader's log. Completions
are counted by the worker itself, per task id, in Redis (worker/completions.py); starts
are the greeting lines in the workers' logs.
"""

import datetime
import re
import time
from collections import Counter

from tests.support.alarm_clicks import Click, click, dropped_or_never_delivered, status
from tests.support.cluster import (
    NODES,
    address,
    became_leader_at,
    management_api,
    queue_on,
    running_nodes,
    service_of,
    stopped_at,
)
from tests.support.compose import ComposeProject
from tests.support.poll import wait_for, wait_until
from tests.support.reliability import Row, record
from tests.support.stack import post_hellos
from tests.support.timing import (
    BROKER_CONTAINER,
    CLICK_ANSWER,
    CONSUMER_DISCONNECTED_TIMEOUT,
    DRAIN,
    MANAGEMENT_API,
    SERVICE,
)
from worker.completions import completions_key

PILE = 100  # tasks waiting when the leader is killed
DRAINED = 200  # tasks draining when a worker's node is killed
DRAINED_DURATION = 1  # seconds each: the killed connection holds running tasks, and work is left
# Of the 200, done when the node is killed (at least: posting them takes a while): both workers
# busy by then. The rest take about as long as RabbitMQ's wait for the lost consumer's messages.
KILLED_AFTER = 20
CLICKS = 5  # clicks during a node's loss
WAITING = 4  # tasks answered 202 before the majority is lost, of TASK_SECONDS each
TASK_SECONDS = 2
REFUSED = 3  # clicks while the majority is lost
RABBITMQ_SERVICES = [service_of(node) for node in NODES]
# What the workers log, in `docker compose logs app worker`: a task starting (say_hello's
# greeting, worker/tasks.py), a redelivered task acked without a run because its SUCCESS is
# stored (worker_deduplicate_successful_tasks: Celery's LOG_IGNORED, celery/app/trace.py),
# and a running task cancelled when its connection was lost
# (worker_cancel_long_running_tasks_on_connection_loss: celery/worker/consumer/consumer.py).
GREETING = re.compile(r"say_hello\[([0-9a-f-]{36})\]: Hello, ")
SKIPPED = re.compile(r"Task say_hello\[([0-9a-f-]{36})\] Task already completed successfully")
CANCELLED = re.compile(r"Task say_hello\[([0-9a-f-]{36})\] cannot be acknowledged after a connection loss")
# Celery's log time, "[2026-12-06 09:37:03,663: INFO/...", in the container's time zone, UTC.
CELERY_TIME = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): ")


def completions(project: ComposeProject, task_ids: list[str]) -> list[int]:
    """How many times each of `task_ids` ran to the end, in order (worker/completions.py)."""
    return [int(count or 0) for count in project.redis().mget([completions_key(task_id) for task_id in task_ids])]


def all_completed(project: ComposeProject, task_ids: list[str]) -> bool:
    return all(completions(project, task_ids))


def counted(pattern: re.Pattern, lines: list[str], task_ids: list[str]) -> Counter:
    """The lines that `pattern` finds, per task id of `task_ids`."""
    wanted = set(task_ids)
    return Counter(match[1] for line in lines if (match := pattern.search(line)) and match[1] in wanted)


def workers_log(project: ComposeProject) -> list[str]:
    """Both workers' lines so far, as they wrote them (no `app-1  | ` prefix): worker_hello's in
    the app container, the worker container's."""
    return project.run(
        ["docker", "compose", "logs", "--no-color", "--no-log-prefix", "app", "worker"]
    ).stdout.splitlines()


def since(moment: datetime.datetime) -> float:
    """Seconds from `moment` (UTC) to now."""
    return (datetime.datetime.now(datetime.UTC) - moment).total_seconds()


def start_workers(project: ComposeProject) -> None:
    """Start worker_hello and the worker container again. `docker compose restart --no-deps`
    for the latter: `docker compose start worker` would start the services it depends on
    too, the killed node included."""
    project.compose("exec", "app", "supervisorctl", "start", "worker_hello")
    project.compose("restart", "--no-deps", "worker")


def start_nodes(project: ComposeProject, *services: str) -> float:
    """`docker compose start SERVICES` (nodes killed before), without waiting for them.

    Returns:
        When, as `time.monotonic()`.
    """
    started = time.monotonic()
    project.compose("start", *services)
    return started


def wait_rejoined(project: ComposeProject, services: list[str], started: float) -> float:
    """Wait until the first node lists all three nodes as running: `services`, started at
    `started` (`start_nodes`), back in the cluster.

    Returns:
        Seconds from their start until then.
    """
    wait_until(
        lambda: running_nodes(project, "rabbitmq") == NODES, BROKER_CONTAINER, f"{services} to rejoin the cluster"
    )
    return time.monotonic() - started


def rejoin(project: ComposeProject, *services: str) -> float:
    """`docker compose start SERVICES` (nodes killed before), and wait until the first node
    lists all three as running: the cluster whole again.

    Returns:
        Seconds from `docker compose start` until then.
    """
    return wait_rejoined(project, list(services), start_nodes(project, *services))


def consumer_node(project: ComposeProject, service: str) -> str | None:
    """The node that the hello_queue consumer of `service`'s container is connected to, from the
    management API (Consumers: each with its channel's connection, node and peer address)."""
    host = address(project, service)
    nodes = {
        consumer["channel_details"]["node"]
        for consumer in management_api(project, "consumers")
        if consumer["queue"]["name"] == "hello_queue" and consumer["channel_details"]["peer_host"] == host
    }
    return nodes.pop() if len(nodes) == 1 else None


def first_greeting_after(project: ComposeProject, service: str, moment: datetime.datetime) -> float | None:
    """Seconds from `moment` (UTC) to the first task that `service`'s worker started after it,
    by its log's own times; None if it started none."""
    for line in project.logs(service).splitlines():
        if GREETING.search(line) and (logged := CELERY_TIME.search(line)):
            at = datetime.datetime.strptime(logged[1], "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=datetime.UTC)
            if at > moment:
                return (at - moment).total_seconds()
    return None


def answered_202(answer: Click) -> str:
    """The task id of a click answered 202 within CLICK_ANSWER seconds.

    Raises:
        AssertionError: it was not.
    """
    assert answer.status == 202, f"POST /hello answered {answer}"
    assert answer.seconds < CLICK_ANSWER, f"the 202 took {answer.seconds:.2f} s, beyond the {CLICK_ANSWER} s bound"
    return answer.body["task_id"]


def seconds(clicks: list[Click]) -> str:
    return ", ".join(f"{answer.seconds:.2f}" for answer in clicks)


def test_the_leader_lost_with_100_tasks_waiting_loses_none(cluster: ComposeProject) -> None:
    cluster.compose("exec", "app", "supervisorctl", "stop", "worker_hello")
    cluster.compose("stop", "worker")
    task_ids = post_hellos(cluster.web_url, PILE, duration=0)
    before = wait_for(
        lambda: queue_on(cluster, "rabbitmq"),
        lambda queue: queue is not None and (queue["messages_ready"], queue["consumers"]) == (PILE, 0),
        SERVICE,
        f"{PILE} Ready in hello_queue, no consumer",
    )
    # Whichever node leads: Raft elected it when hello_queue was declared, and again after
    # every loss. `docker compose kill`: SIGKILL, as a crash; the container stays, stopped.
    leader = before["leader"]
    killed = service_of(leader)
    survivor = next(service for service in RABBITMQ_SERVICES if service != killed)
    cluster.compose("kill", killed)
    died = stopped_at(cluster, killed)
    after = wait_for(
        lambda: queue_on(cluster, survivor),
        lambda queue: queue is not None and queue["leader"] not in (leader, ""),
        SERVICE,
        f"{survivor} to name a leader of hello_queue other than {leader}",
    )
    seen = since(died)
    elected = became_leader_at(cluster, service_of(after["leader"]))
    assert elected is not None and elected > died, f"{after['leader']}'s log has no election after the kill"
    election = (elected - died).total_seconds()
    assert sorted(after["members"]) == NODES, f"hello_queue's members changed: {after['members']}"
    assert after["messages_ready"] == PILE, f"after the kill hello_queue has {after}"

    workers_started = time.monotonic()
    start_workers(cluster)
    # The node too, at once: it boots for seconds, so the drain starts without it all the
    # same, and its boot goes on meanwhile instead of after the drain.
    node_started = start_nodes(cluster, killed)
    wait_until(lambda: all_completed(cluster, task_ids), 2 * DRAIN, f"the {PILE} tasks to complete", interval=0.5)
    drained = time.monotonic() - workers_started
    assert cluster.all_succeeded(task_ids), "a task completed, but GET /tasks/<id> does not read SUCCESS"
    assert completions(cluster, task_ids) == [1] * PILE, "a task completed twice"
    starts = counted(GREETING, workers_log(cluster), task_ids)
    assert set(starts.values()) == {1} and len(starts) == PILE, (
        f"starts other than one each: {Counter(starts.values())}"
    )
    back = wait_rejoined(cluster, [killed], node_started)

    record(
        Row(
            key="10a",
            scenario="The leader of hello_queue lost (cluster)",
            action="worker_hello and the worker container stopped, 100 × `POST /hello`; "
            "`docker compose kill` the node that leads hello_queue; start the workers; "
            "`docker compose start` the node",
            outcome="a follower is elected leader, every message is still Ready, and each task runs once; "
            "the node rejoins the cluster by itself",
            setting="quorum hello_queue (HELLO_QUEUE_TYPE=quorum): a member on each node, kept in step by Raft; "
            "failover broker URLs (the workers connect to a node still running)",
            counts=f"{PILE} Ready before the kill and after it; {leader} killed, {after['leader']} leader "
            f"{election:.1f} s later (its log; rabbitmqctl on {survivor} saw it after {seen:.1f} s); "
            f"{PILE} succeeded once, 0 twice, {drained:.0f} s after the workers' start; "
            f"{killed} running in the cluster again {back:.0f} s after `docker compose start`",
        )
    )


def test_a_node_lost_during_a_drain_of_200_loses_none(cluster: ComposeProject) -> None:
    # The node of the worker container's consumer (not the first node, the one whose ports
    # are published, where the web app and worker_hello are): its connection dies, with
    # the messages delivered to it and not yet acked.
    node = wait_until(lambda: consumer_node(cluster, "worker"), MANAGEMENT_API, "the worker container's consumer")
    killed = service_of(node)
    assert killed != "rabbitmq", "the worker container consumes on the first node, whose ports the test reads"
    task_ids = post_hellos(cluster.web_url, DRAINED, duration=DRAINED_DURATION)
    wait_until(
        lambda: sum(map(bool, completions(cluster, task_ids))) >= KILLED_AFTER,
        DRAIN,
        f"{KILLED_AFTER} tasks of {DRAINED} done",
        interval=0.2,
    )
    cluster.compose("kill", killed)
    died = stopped_at(cluster, killed)
    done_at_kill = sum(map(bool, completions(cluster, task_ids)))
    clicks = [click(cluster.web_url, f"during the loss {number}") for number in range(CLICKS)]
    task_ids += [answered_202(answer) for answer in clicks]

    # The messages that the lost connection held stay with its consumer until RabbitMQ gives
    # up on its node (CONSUMER_DISCONNECTED_TIMEOUT), then go to the other consumers.
    wait_until(
        lambda: all_completed(cluster, task_ids),
        CONSUMER_DISCONNECTED_TIMEOUT + 2 * DRAIN,
        f"the {len(task_ids)} tasks to complete",
        interval=0.5,
    )
    drained = since(died)
    assert cluster.all_succeeded(task_ids), "a task completed, but GET /tasks/<id> does not read SUCCESS"
    # Its node is still down: a task it started since, it took from another node. (A worker
    # that stopped, or could not consume again, would start none before its node is back.)
    back = first_greeting_after(cluster, "worker", died)
    assert back is not None, "the worker container started no task after its node was lost"
    lines = workers_log(cluster)
    starts, skipped, cancelled = (counted(pattern, lines, task_ids) for pattern in (GREETING, SKIPPED, CANCELLED))
    twice = sum(count > 1 for count in completions(cluster, task_ids))
    started_twice = sum(count > 1 for count in starts.values())
    rejoined = rejoin(cluster, killed)

    record(
        Row(
            key="10b",
            scenario="A worker's node lost during a drain (cluster)",
            action=f"{DRAINED} × `POST /hello` of {DRAINED_DURATION:g} s, both workers running; "
            "`docker compose kill` the node of the worker container's consumer; clicks meanwhile; "
            "`docker compose start` the node",
            outcome="the worker reconnects to another node and goes on; the messages it had not acked come "
            "back once RabbitMQ gives up on the lost node (60 s) and run again (a running task is cancelled "
            "first; one that had succeeded is acked without a run); every click answered 202 within 3 s, "
            "every task succeeds",
            setting="`task_acks_late`; quorum queues' consumer_disconnected_timeout (60 s); "
            "`worker_cancel_long_running_tasks_on_connection_loss`, `worker_deduplicate_successful_tasks`; "
            "no remote control in the cluster (worker/remote_control.py)",
            counts=f"{node} killed after {done_at_kill} of {DRAINED} done; {CLICKS} clicks during the loss: "
            f"202 in {seconds(clicks)} s; {len(task_ids)} succeeded, {twice} completed twice; "
            f"{started_twice} started twice ({sum(cancelled.values())} cancelled on the lost connection), "
            f"{sum(skipped.values())} acked without a run; the worker container started tasks again "
            f"{back:.0f} s after the kill; the last done {drained:.0f} s after it; {killed} running in the "
            f"cluster again {rejoined:.0f} s after `docker compose start`",
        )
    )


def test_a_majority_lost_refuses_clicks_and_runs_every_task_answered_202(cluster: ComposeProject) -> None:
    accepted = post_hellos(cluster.web_url, WAITING, duration=TASK_SECONDS)
    # Two of three: the first node stays, where the web app connects first and whose
    # management API (published here, and the web app's) names the members online.
    lost = ["rabbitmq2", "rabbitmq3"]
    cluster.compose("kill", *lost)
    minority = {"members": NODES, "online": ["rabbit@rabbitmq"]}
    wait_for(
        lambda: status(cluster.web_url)["quorum"], lambda quorum: quorum == minority, SERVICE, "GET /status's quorum"
    )
    refused_clicks = [click(cluster.web_url, f"no majority {number}") for number in range(REFUSED)]
    refused = []
    for answer in refused_clicks:
        assert answer.status == 503, f"POST /hello without a majority answered {answer}"
        assert answer.seconds < CLICK_ANSWER, f"the 503 took {answer.seconds:.2f} s, beyond the {CLICK_ANSWER} s bound"
        assert answer.body["quorum"] == minority and answer.body["will_run"] is False, f"the 503: {answer}"
        assert "1 of its 3 members online (rabbit@rabbitmq)" in answer.body["error"], f"the 503: {answer}"
        refused.append(answer.body["task_id"])

    rejoined = rejoin(cluster, *lost)
    wait_for(lambda: status(cluster.web_url)["quorum"], lambda quorum: quorum is None, SERVICE, "the majority back")
    after = click(cluster.web_url, "majority back")
    accepted.append(answered_202(after))
    wait_until(
        lambda: all_completed(cluster, accepted),
        CONSUMER_DISCONNECTED_TIMEOUT + 2 * DRAIN,
        f"the {len(accepted)} tasks answered 202 to complete",
        interval=0.5,
    )
    assert cluster.all_succeeded(accepted), "a task completed, but GET /tasks/<id> does not read SUCCESS"
    wait_until(lambda: (queue_on(cluster, "rabbitmq") or {}).get("messages_ready") == 0, SERVICE, "hello_queue drained")
    lines = workers_log(cluster)
    dropped, never_delivered = dropped_or_never_delivered(lines, cluster.web_url, refused, "ts-6-dropped")
    assert not any(completions(cluster, refused)), "a task answered 503 completed"
    started_twice = sum(count > 1 for count in counted(GREETING, lines, accepted).values())

    record(
        Row(
            key="10c",
            scenario="A majority of the nodes lost (cluster)",
            action=f"{WAITING} × `POST /hello` of {TASK_SECONDS} s; `docker compose kill rabbitmq2 rabbitmq3`; "
            "clicks; `docker compose start rabbitmq2 rabbitmq3`; a click",
            outcome="hello_queue, a quorum queue, has no majority and takes no message: each click is answered "
            "503 within 3 s, naming the members online, and GET /status (the page) says so; none of those "
            "tasks runs later; once the nodes are back, every task answered 202 runs",
            setting="quorum hello_queue (Raft: a majority must write each message); app/publish.py's bounded "
            "publish (a 1 s `confirm_timeout`), the task claimed as abandoned (worker/abandoned.py); "
            "app/majority.py (management API: members, online)",
            counts=f"{REFUSED} clicks: 503 in {seconds(refused_clicks)} s; afterwards {len(dropped)} dropped, "
            f"{len(never_delivered)} never arrived, 0 ran; nodes running again {rejoined:.0f} s after "
            f"`docker compose start`; next click 202 in {after.seconds:.2f} s; {len(accepted)} answered 202 "
            f"succeeded ({started_twice} started twice)",
        )
    )
