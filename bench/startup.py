"""Section 5, Start-up: from `make run` to a page that answers and a worker that consumes;
and a Celery worker's cold start, with and without mingle and gossip.

"Consumes" means that RabbitMQ counts a consumer on hello_queue: asked by an
AMQP passive `queue.declare` every few milliseconds, since the management API
refreshes its counts only every 5 s (RabbitMQ docs, "Management Plugin":
collect_statistics_interval).
"""

import statistics
import time
from collections.abc import Callable

from amqp.exceptions import NotFound
from kombu import Connection

from bench.context import Bench
from bench.report import Metric, Row, Section
from tests.support.checkout import CHECKOUT
from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE
from tests.support.stack import LoggedProcess, Stack, free_port, page_answers

POLL = 0.005  # seconds between two looks
# The demo's worker command (supervisord.conf's [program:worker_hello]) under another node
# name, less --without-mingle --without-gossip, which the rows vary.
WORKER = [str(CHECKOUT / ".venv" / "bin" / "celery"), "--app", "worker.celery_app", "worker", "--queues", HELLO_QUEUE]
WORKER += ["--hostname", "bench@%h", "--concurrency", "2", "--loglevel", "INFO"]
WITHOUT = ["--without-mingle", "--without-gossip"]
ROWS = {
    "page": "`make run` → the page answers",
    "consumes": "`make run` → worker_hello consumes",
    "demo": "`celery worker --without-mingle --without-gossip` (the demo's) → consumes",
    "default": "`celery worker` (mingle and gossip on: Celery's default) → consumes",
}


class Consumers:
    """How many consumers hello_queue has, asked over one AMQP connection (passive declare)."""

    def __init__(self, broker_url: str) -> None:
        self.connection = Connection(broker_url, connect_timeout=5)
        self.channel = self.connection.channel()

    def __call__(self) -> int:
        try:
            return self.channel.queue_declare(HELLO_QUEUE, passive=True)[2]
        except NotFound:  # no queue yet: nobody consumes; RabbitMQ closed the channel
            self.channel = self.connection.channel()
            return 0

    def close(self) -> None:
        self.connection.release()


def watch(checks: dict[str, Callable[[], bool]], started: float, timeout: float = 60) -> dict[str, float]:
    """Look at each of `checks` every POLL seconds until all are true.

    Returns:
        For each check, the seconds from `started` (time.monotonic()) to the first look that found it true.
    """
    reached: dict[str, float] = {}

    def all_reached() -> bool:
        for key, check in checks.items():
            if key not in reached and check():
                reached[key] = time.monotonic() - started
        return len(reached) == len(checks)

    wait_until(all_reached, timeout, f"{', '.join(checks)} to happen", interval=POLL)
    return reached


def stopped(process: LoggedProcess, consumers: Consumers) -> None:
    """Stop `process` and wait until its consumer is gone from hello_queue."""
    process.stop_or_kill()
    wait_until(lambda: consumers() == 0, 30, "no consumer on hello_queue")


def make_run(bench: Bench, consumers: Consumers) -> dict[str, float]:
    """Seconds from `make run` to the page answering and to worker_hello consuming."""
    stack = Stack("bench-startup", {"WEB_PORT": str(free_port()), "CELERY_BROKER_URL": bench.vhost.broker_url})
    started = time.monotonic()
    stack.launch()
    try:
        return watch({"page": lambda: page_answers(stack.web_url), "consumes": lambda: consumers() > 0}, started)
    finally:
        stopped(stack, consumers)


def worker(bench: Bench, consumers: Consumers, flags: list[str]) -> float:
    """Seconds from starting `celery ... worker FLAGS` to its consumer on hello_queue."""
    process = LoggedProcess("bench-worker", [*WORKER, *flags], {"CELERY_BROKER_URL": bench.vhost.broker_url})
    started = time.monotonic()
    process.launch()
    try:
        return watch({"consumes": lambda: consumers() > 0}, started)["consumes"]
    finally:
        stopped(process, consumers)


def measure(bench: Bench) -> Section:
    """Start the demo, then each worker, `bench.runs` times, taking turns; nothing else runs meanwhile."""
    bench.stop_stack()  # one supervisord per checkout
    consumers = Consumers(bench.vhost.broker_url)
    seconds: dict[str, list[float]] = {key: [] for key in ROWS}
    try:
        wait_until(lambda: consumers() == 0, 30, "no consumer on hello_queue")
        for run in range(bench.runs):
            bench.log(f"Start-up run {run + 1}/{bench.runs}: make run, then a worker without and with mingle")
            for key, value in make_run(bench, consumers).items():
                seconds[key].append(value)
            seconds["demo"].append(worker(bench, consumers, WITHOUT))
            seconds["default"].append(worker(bench, consumers, []))
    finally:
        consumers.close()
    section = Section(
        title="5. Start-up: seconds until it answers and consumes",
        intro=(
            "From starting the command (nothing running before it) to the first look that finds the page"
            " answering `GET /` or a consumer on hello_queue (an AMQP passive `queue.declare` every"
            f" {POLL * 1000:.0f} ms). The workers are started directly with `--concurrency 2`, as supervisord"
            " starts worker_hello."
        ),
        metrics=[Metric("s", "seconds")],
        rows=[Row(label, {"s": seconds[key]}) for key, label in ROWS.items()],
    )
    median = {key: statistics.median(values) for key, values in seconds.items()}
    section.takeaway = (
        f"`make run` serves the page after {median['page']:.1f} s, and about 1 s of that is supervisord's own: it"
        " starts its programs only after its first 1-s wait for events (supervisor 4.3.0; changed upstream by"
        " Supervisor pull request 1700, not yet released). A worker consumes"
        f" {median['demo']:.2f} s after it starts with the demo's `--without-mingle --without-gossip`, and"
        f" {median['default']:.2f} s with Celery's defaults: mingle waits a second for the other workers to"
        " answer (supervisord.conf says why the demo does without). Most of the rest is Python importing Celery and"
        " the demo's code, and forking the pool's processes."
    )
    return section
