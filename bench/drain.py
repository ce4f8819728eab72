"""Drain: how fast a worker empties a pile-up of `say_hello(duration=0)` tasks, and which knob matters.

Each run piles up tasks in hello_queue while nothing consumes it, then lets one
worker consume it, and reads from the result backend when each task was done
(`date_done`, stored with SUCCESS). A run's figure is tasks per second between
the first and the last task done: the worker's start-up is not in it (section 5
measures that). Tasks of duration 0 do no work: what is measured is what every
task costs the worker, the broker and the result backend.

Rows:
- Celery's defaults (the baseline): a bare Celery app with the same result
  backend and the same 2 pool processes, and nothing else set: prefetch
  multiplier 4, acks on receipt, only the final state stored, a no-op task.
- The demo's own worker: `worker_hello` as `make run` runs it (supervisord,
  INFO logs, task events), restarted with `supervisorctl` for each run.
- The table: the demo's worker settings (`worker.celery_app`) with the pool,
  `worker_prefetch_multiplier` and `task_acks_late` varied, started directly
  (`celery worker`, WARNING logs).
"""

import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import redis
from celery import Celery
from kombu import Connection

from bench.context import Bench
from bench.enqueue import celery_producer
from bench.report import Metric, Row, Section, number
from tests.support.checkout import CHECKOUT
from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE, VHost
from tests.support.results import REDIS_URL
from tests.support.stack import supervisorctl
from worker.completions import completions_key

CELERY = str(CHECKOUT / ".venv" / "bin" / "celery")
# Tasks per run: the demo's worker and the baseline drain 10,000 (the issue's
# pile); each of the table's 18 cells drains fewer, three times, so that `make
# bench` stays within 10 minutes. Rates per task do not depend on the pile's size
# once it is a few seconds' worth.
PILE = int(os.environ.get("BENCH_PILE", "10000"))
TABLE_PILE = int(os.environ.get("BENCH_TABLE_PILE", "1000"))
# Seconds a table run may last: a slow set-up (the solo pool with prefetch 1) would
# take minutes for the whole pile; its rate is then taken over the tasks done so
# far. The demo's worker and the baselines always drain their whole pile.
RUN_LIMIT = float(os.environ.get("BENCH_RUN_LIMIT", "5"))
WHOLE_PILE_LIMIT = 120
POOLS = ("prefork", "threads", "solo")
PREFETCH_MULTIPLIERS = (1, 4, 64)
# The demo's WORKER_CONCURRENCY (Makefile); the solo pool has one by definition.
CONCURRENCY = "2"
KWARGS = {"name": "bench", "duration": 0}
# Not a queue of the demo: the table's workers start consuming this idle one, and
# are told to consume hello_queue only once the pile is there (remote control's
# add_consumer, Celery docs "Workers Guide: Queues").
PARKING_QUEUE = "bench_parking"

_redis = redis.Redis.from_url(REDIS_URL)


@dataclass
class Cell:
    """One worker set-up of the table: its pool, prefetch multiplier and acks_late."""

    pool: str
    prefetch_multiplier: int
    acks_late: bool

    def command(self, node: str) -> list[str]:
        """The `celery worker` command line for this set-up, under the node name `node`."""
        concurrency = ["--concurrency", CONCURRENCY] if self.pool != "solo" else []
        return [
            *(CELERY, "--app", "bench.drain_worker", "worker", "--queues", PARKING_QUEUE, "--hostname", node),
            *("--pool", self.pool, *concurrency, "--prefetch-multiplier", str(self.prefetch_multiplier)),
            *("--without-mingle", "--without-gossip", "--loglevel", "WARNING"),
        ]


def pile_up(app: Celery, count: int) -> list[str]:
    """Publish `count` say_hello(duration=0) messages to hello_queue, the very messages
    `send_task` publishes (Celery's message protocol 2), faster than `send_task` would.

    Returns:
        The task ids, in publishing order.
    """
    queue = app.amqp.router.route({}, "say_hello")["queue"]
    task_ids = [str(uuid.uuid4()) for _ in range(count)]
    with app.producer_or_acquire() as publisher:
        for number, task_id in enumerate(task_ids):
            message = app.amqp.as_task_v2(task_id, "say_hello", kwargs=KWARGS)
            publisher.publish(
                message.body,
                exchange=queue.exchange,
                routing_key=queue.routing_key,
                declare=[queue] if number == 0 else None,
                serializer="json",
                headers=message.headers,
                delivery_mode="persistent",
                **message.properties,
            )
    return task_ids


def drain_rate(task_ids: list[str], limit: float, results: redis.Redis = _redis) -> float:
    """Wait until every task of `task_ids` stored SUCCESS, or `limit` seconds, and return
    tasks/s between the first and the last `date_done` of those that succeeded by then;
    their results are then deleted (they are ours).

    Args:
        results: the result backend the worker stores in (a client that answers bytes):
            by default the machine's Redis, REDIS_URL.

    Raises:
        AssertionError: fewer than 2 tasks succeeded within `limit` seconds.
    """
    keys = [f"celery-task-meta-{task_id}" for task_id in task_ids]

    def all_done() -> bool:
        # EXISTS with many keys answers how many exist: one cheap call per poll.
        # A stored STARTED counts too, hence the check of SUCCESS afterwards.
        return results.exists(*keys) == len(keys) and all(_succeeded(value) for value in results.mget(keys))

    deadline = time.monotonic() + limit
    while not all_done() and time.monotonic() < deadline:
        time.sleep(0.05)  # the pause between two polls of the result backend
    done = sorted(_date_done(value) for value in results.mget(keys) if value and _succeeded(value))
    for start in range(0, len(keys), 1000):
        results.delete(*keys[start : start + 1000])
        results.delete(*(completions_key(task_id) for task_id in task_ids[start : start + 1000]))
    assert len(done) >= 2, f"{len(done)} of {len(keys)} tasks succeeded within {limit:g} s"
    return (len(done) - 1) / (done[-1] - done[0])


def queue_drain_rate(vhost: VHost, count: int, started: float) -> float:
    """tasks/s from `started` (Unix seconds) until hello_queue has no message Ready: for a
    worker that stores no results. Its tasks ack on arrival, so the last few delivered
    (its prefetch) still run then: a few milliseconds that this rate leaves out.

    Raises:
        AssertionError: still not empty after WHOLE_PILE_LIMIT seconds.
    """
    wait_for_ready(vhost.broker_url, 0, WHOLE_PILE_LIMIT)
    return count / (time.time() - started)


def wait_for_ready(broker_url: str, count: int, limit: float) -> None:
    """Wait until hello_queue on `broker_url` has `count` messages Ready, asking RabbitMQ
    every 5 ms with an AMQP passive `queue.declare`, whose answer counts them exactly (the
    management API's counts are up to 5 s old).

    Raises:
        AssertionError: not so after `limit` seconds.
    """
    with Connection(broker_url) as connection:
        channel = connection.default_channel

        def ready() -> int:
            return channel.queue_declare(HELLO_QUEUE, passive=True).message_count

        wait_until(lambda: ready() == count, limit, f"{count} messages Ready in hello_queue", interval=0.005)


def _succeeded(value: bytes) -> bool:
    return b'"status": "SUCCESS"' in value


def _date_done(value: bytes) -> float:
    """A stored result's `date_done`, in Unix seconds. (The results are JSON; only this one
    field is needed, and 10,000 json.loads would cost more than the drain they measure.)"""
    start = value.index(b'"date_done": "') + len(b'"date_done": "')
    return datetime.fromisoformat(value[start : value.index(b'"', start)].decode()).timestamp()


@contextmanager
def worker(command: list[str], env: dict[str, str], node: str, app: Celery) -> Iterator[None]:
    """Run a `celery worker` for the block; wait until it answers a ping first, and for
    its warm shutdown at the end.

    Raises:
        AssertionError: it did not answer within 30 s.
    """
    process = subprocess.Popen(
        command, cwd=CHECKOUT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(lambda: app.control.ping(destination=[node], timeout=0.5), 30, f"{node} to answer a ping")
        yield
    finally:
        process.terminate()
        process.wait(60)


def measure_cell(
    vhost: VHost, app: Celery, command_for, env: dict[str, str], count: int, runs: int, limit: float = RUN_LIMIT
) -> list[float]:
    """`runs` drains of `count` tasks by one worker, started once: tasks/s per run.

    Args:
        command_for: the worker's command line, given its node name.
        env: variables for the worker's environment, besides the vhost's broker URL.
        limit: seconds a run may last (`drain_rate`); None to time the queue's emptying
            instead (`queue_drain_rate`), for a worker that stores no results.
    """
    node = f"drain-{uuid.uuid4().hex[:8]}@localhost"
    rates = []
    with worker(command_for(node), {**env, "CELERY_BROKER_URL": vhost.broker_url}, node, app):
        for _ in range(runs):
            # What a run cut short by RUN_LIMIT left Ready (in our own vhost).
            vhost.purge(HELLO_QUEUE)
            task_ids = pile_up(app, count)
            started = time.time()
            app.control.add_consumer(HELLO_QUEUE, destination=[node], reply=True)
            rates.append(drain_rate(task_ids, limit) if limit else queue_drain_rate(vhost, count, started))
            app.control.cancel_consumer(HELLO_QUEUE, destination=[node], reply=True)
    vhost.purge(HELLO_QUEUE)
    return rates


def measure_demo(vhost: VHost, app: Celery, count: int, runs: int) -> list[float]:
    """`runs` drains of `count` tasks by the demo's own worker_hello: stopped while they
    pile up, started with `supervisorctl start`, as DEMO.md step 3 does."""
    rates = []
    for _ in range(runs):
        supervisorctl("stop", "worker_hello")
        vhost.purge(HELLO_QUEUE)
        task_ids = pile_up(app, count)
        supervisorctl("start", "worker_hello")
        rates.append(drain_rate(task_ids, WHOLE_PILE_LIMIT))
    return rates


TASKS_PER_S = Metric("tasks_per_s", "tasks/s")
BASELINE = "Celery's defaults (prefork, prefetch 4, acks on receipt)"
NO_RESULTS = "Celery's defaults, no result backend"
DEMO = "the demo's worker_hello (`make run`)"


def label(pool: str, multiplier: int, acks_late: bool) -> str:
    """A table row's label: the demo's settings but for these three."""
    return f"{pool}, prefetch ×{multiplier}, acks_late {'on' if acks_late else 'off'}"


def measure(bench: Bench) -> Section:
    """Every drain of this section, in the run's vhost, with the demo's stack running.

    The table's workers and the baseline consume hello_queue while worker_hello
    is stopped; worker_hello runs again at the end.
    """
    # No publisher confirms: the pile is not what is measured, and confirms would triple its time.
    app = celery_producer(bench.vhost.broker_url, confirm=False)
    bench.stack()
    section = Section(
        title="3. Drain",
        intro=INTRO.format(pile=f"{PILE:,}", table_pile=f"{TABLE_PILE:,}", limit=f"{RUN_LIMIT:g}"),
        metrics=[TASKS_PER_S],
        baseline=BASELINE,
        ratio_of=TASKS_PER_S.key,
    )
    bench.log(f"drain: the demo's worker_hello, {PILE:,} tasks")
    demo = measure_demo(bench.vhost, app, PILE, bench.runs)
    # The other rows measure a worker alone: Flower, which processes every task event,
    # would take CPU from it (the demo's row above has Flower running, as make run does).
    supervisorctl("stop", "worker_hello", "flower")
    try:
        bench.log(f"drain: Celery's defaults, {PILE:,} tasks")
        baseline = measure_cell(bench.vhost, app, _baseline_command, {}, PILE, bench.runs, WHOLE_PILE_LIMIT)
        bench.log(f"drain: Celery's defaults without a result backend, {PILE:,} tasks")
        no_results = {"CELERY_RESULT_BACKEND": "disabled"}
        bare = measure_cell(bench.vhost, app, _baseline_command, no_results, PILE, bench.runs, None)
        section.rows += [
            Row(BASELINE, {TASKS_PER_S.key: baseline}),
            Row(NO_RESULTS, {TASKS_PER_S.key: bare}),
            Row(DEMO, {TASKS_PER_S.key: demo}),
        ]
        for pool in POOLS:
            for multiplier in PREFETCH_MULTIPLIERS:
                for acks_late in (True, False):
                    cell = Cell(pool, multiplier, acks_late)
                    bench.log(f"drain: {label(pool, multiplier, acks_late)}, {TABLE_PILE:,} tasks")
                    env = {"BENCH_ACKS_LATE": "1" if acks_late else "0"}
                    rates = measure_cell(bench.vhost, app, cell.command, env, TABLE_PILE, bench.runs)
                    section.rows.append(Row(label(pool, multiplier, acks_late), {TASKS_PER_S.key: rates}))
    finally:
        supervisorctl("start", "worker_hello", "flower")
    section.takeaway = takeaway(section)
    section.costs = costs(section)
    return section


def _baseline_command(node: str) -> list[str]:
    return [
        *(CELERY, "--app", "bench.defaults_worker", "worker", "--queues", PARKING_QUEUE, "--hostname", node),
        *("--concurrency", CONCURRENCY, "--without-mingle", "--without-gossip", "--loglevel", "WARNING"),
    ]


INTRO = """\
Each run piles up `say_hello(duration=0)` tasks in hello_queue while nothing
consumes it, then lets one worker consume it. A run's figure is tasks per
second between the first and the last task done (`date_done`, stored with
SUCCESS in the result backend): the worker's start-up is not in it (section 5
has it). The tasks do no work, so this is what each task itself costs the
worker, RabbitMQ and Redis. The baseline is a bare Celery app
(`bench/defaults_worker.py`) with every setting at Celery's default but the
broker and the result backend: 2 pool processes, prefetch multiplier 4, each
message acked when it arrives, only the final state stored. The same without a
result backend stores nothing, so its runs are timed from the moment it starts
consuming until hello_queue is empty. The demo's
worker_hello runs as `make run` runs it, restarted with `supervisorctl` for
each run ({pile} tasks per run, as the baselines). The other rows are the demo's
worker settings (`worker/celery_app.py`: states STARTED and SUCCESS stored,
completions counted, arguments checked) with the pool, the prefetch multiplier
and `task_acks_late` varied, each worker started with `celery worker` (2 pool
processes but for solo, WARNING logs, Flower stopped; {table_pile} tasks per run,
so that the 18 fit in `make bench`'s minutes). A run of the table is cut after
{limit} s, and its rate taken over the tasks done by then."""


def takeaway(section: Section) -> str:
    """What the drain figures say, with this run's medians (Markdown)."""

    def rate(row_label: str) -> float:
        return section.median(row_label, TASKS_PER_S.key)

    demo, baseline, same = rate(DEMO), rate(BASELINE), rate(label("prefork", 1, True))
    bare = rate(NO_RESULTS)
    acks_cost = statistics.median(
        rate(label(pool, multiplier, False)) / rate(label(pool, multiplier, True))
        for pool in POOLS
        for multiplier in PREFETCH_MULTIPLIERS
    )
    fastest = max(section.rows[3:], key=lambda row: statistics.median(row.runs[TASKS_PER_S.key]))
    return (
        f"Storing results in Redis is the first cost: Celery's defaults drain {number(bare)} tasks/s without"
        f" a result backend, {number(baseline)} with one. "
        f"The demo's worker drains {number(demo)} tasks/s, {number(demo / baseline)}× Celery's defaults"
        f" ({number(baseline)}). Started directly (WARNING logs, no supervisord, Flower stopped), the same"
        f" settings drain {number(same)}: the difference is what `make run` adds, the three INFO lines per task"
        " that supervisord passes on (DEMO.md reads them) and Flower processing each task's events."
        " The pool and the prefetch multiplier matter less than those, with one exception: the solo pool at"
        f" prefetch ×1 ({number(rate(label('solo', 1, True)))} and {number(rate(label('solo', 1, False)))}"
        " tasks/s) runs each task inside the worker's event loop with one message in flight, and waits"
        " between two tasks (why that long, this benchmark does not tell). Across the table, acks_late off"
        f" drains {number(acks_cost)}× as fast as on (median over pools and prefetch multipliers); with the"
        f" demo's prefork at prefetch ×1, {number(rate(label('prefork', 1, False)))} against {number(same)}."
        f" The fastest set-up in this run: {fastest.label}."
        f" At {number(demo)} tasks/s a task costs the machine about {number(1000 / demo)} ms: a task that"
        " works for a tenth of a second or more hardly notices; only tiny tasks by the thousand do."
    )


def costs(section: Section) -> list[str]:
    """What the worker's safety settings cost in the drain, and why the demo keeps them (Markdown)."""

    def rate(row_label: str) -> float:
        return section.median(row_label, TASKS_PER_S.key)

    late, early = rate(label("prefork", 1, True)), rate(label("prefork", 1, False))
    wide = rate(label("prefork", 64, True))
    return [
        f"**`task_acks_late`** (worker/celery_app.py): prefork with prefetch ×1 drains {number(late)} tasks/s"
        f" with it, {number(early)} without (section 3). Kept because a message is then acked only once its"
        " task has finished: a worker killed mid-task leaves it in RabbitMQ, and another run of the task"
        " completes it (RELIABILITY.md, scenarios 2a and 2b).",
        f"**`worker_prefetch_multiplier=1`**: prefork with acks_late drains {number(late)} tasks/s at ×1,"
        f" {number(wide)} at ×64. Kept because the pile then stays Ready in RabbitMQ, where DEMO.md step 3"
        " shows it, and where whichever worker is free takes the next task (step 8's three workers).",
        "**States STARTED and SUCCESS stored in Redis, completions counted, arguments checked, INFO logs and"
        " task events**: the gap between Celery's defaults and the demo's worker in section 3. Kept because"
        " they are what the page, RELIABILITY.md, DEMO.md's log lines and Flower show.",
    ]
