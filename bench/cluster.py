"""Section 7, What replication costs: hello_queue as a classic queue on one RabbitMQ node
against a quorum queue on three (DEMO.md step 10), per click and per drained task.

Both demos run in Docker at once, each a compose project in a copy of this working tree:
docker-compose.yml alone (one node, hello_queue classic; tests/support/compose.py), and with
docker-compose.cluster.yml (three nodes, HELLO_QUEUE_TYPE=quorum; tests/support/cluster.py).
Both run the same RabbitMQ image, so that what differs is the queue type and its
replication, not RabbitMQ's version. The cluster starts no worker container (`--scale
worker=0`): on both sides worker_hello, in the app container, is hello_queue's one consumer,
with the same prefetch. Like the web app, it connects to the first node, where hello_queue's
leader then is: a quorum queue's first leader is the node of the connection that declared it
(RabbitMQ docs, "Quorum Queues": Queue Leader Location, client-local).

Each run clicks the two demos in turn, click by click (latency.take_turns), then drains a
pile on each, the two drains in alternating order from run to run (classic first, then
quorum first, ...): whatever else the machine does in those minutes falls on both alike.
Without Docker or the pinned images, the section is skipped with one line saying why.
"""

import os
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
import requests
from celery import Celery

from bench.context import Bench
from bench.drain import WHOLE_PILE_LIMIT, drain_rate, pile_up, wait_for_ready
from bench.enqueue import celery_producer
from bench.latency import Events, percentile, take_turns
from bench.report import Comparison, Metric, Row, Section, number
from tests.support import docker_ready
from tests.support.cluster import cluster_project, consumers
from tests.support.compose import ComposeProject
from tests.support.poll import wait_until
from tests.support.timing import HTTP, STACK_START

CLICKS = 200  # per run and per demo: the p99 lies between the 2nd and the 3rd slowest
# Tasks per drain: a few seconds' worth on either side, so that a run stays under a minute.
PILE = int(os.environ.get("BENCH_CLUSTER_PILE", "2000"))
METRICS = [Metric("classic", "classic hello_queue, one node"), Metric("quorum", "quorum hello_queue, three nodes")]
COMPARISON = Comparison("quorum", "classic", "quorum ÷ classic")
ROWS = {
    ("answered", "p50"): "POST /hello → its 202 answer, p50 ms",
    ("answered", "p99"): "POST /hello → its 202 answer, p99 ms",
    ("task-started", "p50"): "POST /hello → task-started, p50 ms",
    ("task-started", "p99"): "POST /hello → task-started, p99 ms",
    ("drain", "rate"): f"drain of {PILE:,} tasks, tasks/s",
}
STARTED = ROWS["task-started", "p50"]
DRAIN = ROWS["drain", "rate"]


@dataclass
class Demo:
    """One of the two demos in Docker, and how the benchmark reaches it from this machine.

    Attributes:
        queue_type: hello_queue's type there, "classic" or "quorum" (HELLO_QUEUE_TYPE).
        project: its compose project, up.
    """

    queue_type: str
    project: ComposeProject

    @property
    def broker_url(self) -> str:
        """Its RabbitMQ (in the cluster, the first node: the one published on this machine)."""
        env, port = self.project.env, self.project.ports["RABBITMQ_PORT"]
        return f"amqp://{env['RABBITMQ_DEFAULT_USER']}:{env['RABBITMQ_DEFAULT_PASS']}@127.0.0.1:{port}//"

    def management(self, path: str) -> dict:
        """GET `path` of its RabbitMQ's management API (the first node's), as JSON.

        Raises:
            requests.HTTPError: it answered an error.
        """
        env, port = self.project.env, self.project.ports["RABBITMQ_MANAGEMENT_PORT"]
        auth = (env["RABBITMQ_DEFAULT_USER"], env["RABBITMQ_DEFAULT_PASS"])
        answer = requests.get(f"http://127.0.0.1:{port}/api{path}", auth=auth, timeout=HTTP)
        answer.raise_for_status()
        return answer.json()

    def events(self) -> Events:
        """Its workers' task events (a receiver, to be entered). Events, not remote control:
        the cluster's workers run without it (worker/remote_control.py) and send task
        events by themselves (worker_send_task_events)."""
        return Events(Celery(f"bench-{self.queue_type}", broker=self.broker_url))

    def drain(self, count: int) -> float:
        """Pile up `count` tasks of duration 0 while worker_hello is stopped, then start it
        (`supervisorctl`, in the app container, as DEMO.md step 3 does) and time the drain.

        Returns:
            tasks/s between the first and the last task done (`drain.drain_rate`): the
            worker's start-up is not in it.

        Raises:
            AssertionError: the pile did not arrive, or was not drained, within
                WHOLE_PILE_LIMIT seconds.
        """
        # No publisher confirms: the pile is not what is measured. Instead, wait until
        # RabbitMQ counts it all Ready: the consumer starts after the pile-up.
        producer = celery_producer(self.broker_url, confirm=False, queue_type=self.queue_type)
        self.project.compose("exec", "app", "supervisorctl", "stop", "worker_hello")
        task_ids = pile_up(producer, count)
        wait_for_ready(self.broker_url, count, WHOLE_PILE_LIMIT)
        self.project.compose("exec", "app", "supervisorctl", "start", "worker_hello")
        # The results as bytes, as drain_rate reads them (ComposeProject.redis() decodes).
        results = redis.Redis(host="127.0.0.1", port=self.project.ports["REDIS_PORT"])
        try:
            return drain_rate(task_ids, WHOLE_PILE_LIMIT, results)
        finally:
            results.close()


@contextmanager
def single_node(folder: Path) -> Iterator[ComposeProject]:
    """The single-node compose project (docker-compose.yml: hello_queue classic) in `folder`,
    up until worker_hello consumes; `down -v` afterwards, also after a failure."""
    project = ComposeProject(folder)
    project.prepare()
    try:
        project.up()
        wait_until(lambda: consumers(project) == 1, STACK_START, "worker_hello consuming hello_queue")
        yield project
    finally:
        project.down()


def start_demos(bench: Bench, cleanup: ExitStack) -> dict[str, Demo]:
    """Both demos, up, each in a temporary folder of its own, removed (`down -v`, then the
    folder) when `cleanup` closes."""
    bench.log("cluster: starting the single-node demo (docker compose up)")
    classic = cleanup.enter_context(single_node(Path(cleanup.enter_context(tempfile.TemporaryDirectory()))))
    bench.log("cluster: starting the three-node cluster (docker compose -f ... -f docker-compose.cluster.yml up)")
    folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory()))
    quorum = cleanup.enter_context(cluster_project(folder, workers=0))
    return {"classic": Demo("classic", classic), "quorum": Demo("quorum", quorum)}


def measure(bench: Bench) -> Section:
    """Measure `bench.runs` runs, each CLICKS clicks on each demo in turn and a drain of PILE
    tasks on each; skipped (a section without rows) when Docker or the images are missing."""
    section = Section(
        title="7. What replication costs: classic on one node, quorum on three",
        intro=INTRO.format(clicks=CLICKS, pile=f"{PILE:,}"),
        metrics=METRICS,
        comparison=COMPARISON,
    )
    if reason := docker_ready.missing_reason():
        bench.log(f"cluster: skipped: {reason}")
        section.takeaway = f"Not measured in this run: {reason}"
        return section
    # The native demo of the other sections would idle on the same two cores meanwhile.
    bench.stop_stack()
    figures: dict[tuple[str, str], dict[str, list[float]]] = {key: {"classic": [], "quorum": []} for key in ROWS}
    with ExitStack() as cleanup:
        demos = start_demos(bench, cleanup)
        versions = {name: demo.management("/overview")["rabbitmq_version"] for name, demo in demos.items()}
        leader = demos["quorum"].management("/queues/%2F/hello_queue")["leader"]
        for run in range(bench.runs):
            bench.log(f"cluster run {run + 1}/{bench.runs}: {CLICKS} clicks on each demo, taking turns")
            with ExitStack() as listening:
                clicks = {
                    name: (demo.project.web_url, listening.enter_context(demo.events())) for name, demo in demos.items()
                }
                if run == 0:
                    take_turns(clicks, 10)  # untimed: connections opened, code loaded
                for (name, kind), delays in take_turns(clicks, CLICKS).items():
                    figures[kind, "p50"][name].append(statistics.median(delays))
                    figures[kind, "p99"][name].append(percentile(delays, 99))
            for name in list(demos) if run % 2 == 0 else list(demos)[::-1]:
                bench.log(f"cluster run {run + 1}/{bench.runs}: {name} hello_queue, a drain of {PILE:,} tasks")
                figures["drain", "rate"][name].append(demos[name].drain(PILE))
    section.intro += FACTS.format(versions=" and ".join(sorted(set(versions.values()))), leader=leader)
    section.rows = [Row(label, figures[key]) for key, label in ROWS.items()]
    section.takeaway = takeaway(section)
    section.costs = [cost(section)]
    return section


INTRO = """\
The same demo twice in Docker, side by side: `docker compose up` (one RabbitMQ node,
hello_queue a classic queue) and step 10's cluster (three nodes, hello_queue a quorum
queue with a member on each), without the cluster's worker containers, so that on both
sides worker_hello (2 pool processes, prefetch 1 per process) is the one consumer, and
it and the web app are connected to the first node. Per run, {clicks} clicks on each demo,
taking turns click by click: `POST /hello` with duration 0, the next once the worker
reports the task succeeded, timed as in section 4. Then on each, in alternating order, a
drain: {pile} tasks of duration 0 piled up while worker_hello is stopped, then worker_hello
started (`supervisorctl start`), timed as in section 3. Docker's port forwarding and the
containers add to every figure on both sides alike: compare the two columns with each
other, not with the sections above, which ran natively against another RabbitMQ."""
FACTS = """
Both sides ran RabbitMQ {versions}, from the same image (docker-compose.yml's); hello_queue's
leader was {leader}."""


def takeaway(section: Section) -> str:
    """What the comparison says, with this run's medians (Markdown).

    Sources: RabbitMQ docs, "Consumer Acknowledgements and Publisher Confirms" (Ack Latency
    for Persistent Messages: confirmed once on disk); "Quorum Queues" (Use Cases: a publisher
    confirm once a quorum of nodes has the message; Global QoS; Performance Characteristics:
    designed to trade latency for throughput, higher prefetch);
    Ra's docs/internals/INTERNALS.md (Log Implementation: everything fsynced before it is
    acted on; Effects: the leader acts once it applies an entry); the RabbitMQ blog, "Quorum
    queues and why disks matter" (2020: acks are writes, persisted and replicated, as
    publishes are); kombu's pyamqp transport, `qos_semantics_matches_spec` (RabbitMQ 4:
    per-consumer prefetch, classic queues too).
    """

    def median(label: str, name: str) -> float:
        return section.median(label, name)

    def compared(label: str, unit: str) -> str:
        quorum, classic, ratio = median(label, "quorum"), median(label, "classic"), section.median_ratio(label)
        return f"{number(quorum)}{unit} against {number(classic)}{unit} ({number(ratio)}×)"

    answered, p99 = ROWS["answered", "p50"], ROWS["task-started", "p99"]
    alike = "about as late, " if abs(section.median_ratio(answered) - 1) < 0.15 else ""
    return (
        f"On the cluster's quorum hello_queue, a click's task starts after {compared(STARTED, ' ms')} on one"
        f" node's classic queue, and a pile drains at {compared(DRAIN, ' tasks/s')}: that is what replication"
        " costs here. A classic queue hands a message to an idle consumer at once, and confirms it to the"
        ' publisher once its node has written it to disk (RabbitMQ docs, "Consumer Acknowledgements and'
        ' Publisher Confirms"). A quorum queue is a Raft log: its leader hands the'
        " message to a consumer, and confirms it, only once a majority of its members (two of three) have"
        ' written it and fsynced it, and the entry is committed (RabbitMQ docs, "Quorum Queues": Use Cases;'
        f" Ra's internals docs: Log Implementation, Effects). So the 202, which waits for a disk write on both"
        f" sides, comes {alike}after {compared(answered, ' ms')}: the members write in parallel, and here the"
        " hop to the other nodes stays on this machine; but the task's start now waits for the majority too."
        " Each ack (the demo's `task_acks_late`) is a Raft command as well, written by a majority like a publish"
        ' (RabbitMQ blog, "Quorum queues and why disks matter"), and only once it is applied does the queue'
        " free the consumer's prefetch for the next message: with 2 messages in flight (one per pool process,"
        " the same on both sides, per consumer, since on RabbitMQ 4 Celery sets no global QoS, which quorum"
        " queues lack), the worker waits for that round between tasks. RabbitMQ designs quorum queues to trade"
        " latency for throughput, and recommends a higher prefetch for them, so that consumers are not starved"
        ' while acks flow through the system ("Quorum Queues": Performance Characteristics); the demo keeps'
        f" prefetch 1 per pool process (the last section says why). {tail(section.median_ratio(p99))} On three"
        " machines each node would write to its own disk and use its own cores, but every round of the"
        " majority would cross the network."
    )


def tail(ratio: float) -> str:
    """A sentence on the p99s, whose ratio `ratio` (quorum ÷ classic, task-started) the
    machine's other load moves more than the medians (Markdown)."""
    if ratio > 1.1:
        return (
            f"The p99 of the task's start spreads more ({number(ratio)}×), with three RabbitMQ nodes sharing"
            " this machine's cores."
        )
    return (
        f"The p99s of the task's start ({number(ratio)}×) followed the machine's other load more than the"
        " queue's type in this run."
    )


def cost(section: Section) -> str:
    """What the quorum hello_queue costs, and why the cluster keeps it (Markdown)."""
    return (
        "**A quorum hello_queue on three nodes** (docker-compose.cluster.yml, DEMO.md step 10):"
        f" a click's task starts {number(section.median_ratio(STARTED))}× as late as on one node's classic"
        f" queue, and a pile drains {number(section.median_ratio(DRAIN))}× as fast (section 7). Kept in the"
        " cluster because a message RabbitMQ has confirmed is then on the disks of a majority of the nodes: it"
        " survives the loss of any one node, and the queue goes on with a new leader (RELIABILITY.md, rows 10a"
        " to 10c)."
    )
