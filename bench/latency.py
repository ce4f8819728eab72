"""Section 4, Latency: from a click's `POST /hello` to the task running, on an idle worker.

The worker says when it received and started each task through Celery's events
(`task-received`, `task-started`), stamped with its own clock: the same machine's
clock as this process's (Celery docs, "Monitoring and Management Guide":
real-time processing). The demo's worker sends no task events unless told to,
so this section turns them on (`celery control enable_events`), and off again
unless they were on already.
"""

import http.client
import json
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from celery import Celery

from bench.context import Bench
from bench.enqueue import celery_producer
from bench.report import Metric, Row, Section
from tests.support.poll import wait_until

POSTS = 200  # per run: its p99 lies between the 2nd and the 3rd slowest
BASELINE = "send_task from Python → task-started"
# What `click` times: a POST's 202 answer, and its task's start.
KINDS = ("answered", "task-started")
ROWS = {
    "send_task": BASELINE,
    "noop": "POST /noop → its answer (HTTP alone)",
    "answered": "POST /hello → its 202 answer",
    "task-received": "POST /hello → worker_hello received the message (task-received)",
    "task-started": "POST /hello → a pool process started the task (task-started)",
}


class Events:
    """Celery's event receiver in a thread: when each task was received, started and succeeded.

    Args:
        celery: a Celery object on the worker's broker.

    Attributes:
        seen: task id → event type → the worker's timestamp (Unix seconds).
    """

    def __init__(self, celery: Celery) -> None:
        self.celery = celery
        self.seen: dict[str, dict[str, float]] = {}
        self.heartbeats = 0
        handlers = {kind: self.note for kind in ("task-received", "task-started", "task-succeeded")}
        handlers["worker-heartbeat"] = self.count_heartbeat
        self.connection = celery.connection_for_read()
        self.receiver = celery.events.Receiver(self.connection, handlers=handlers)
        self.thread = threading.Thread(target=self.receiver.capture, kwargs={"wakeup": True}, daemon=True)

    def note(self, event: dict) -> None:
        self.seen.setdefault(event["uuid"], {})[event["type"]] = event["timestamp"]

    def count_heartbeat(self, event: dict) -> None:
        self.heartbeats += 1

    def wait_succeeded(self, task_id: str) -> dict[str, float]:
        """Wait for task `task_id`'s task-succeeded event, polling every millisecond.

        Returns:
            Its events so far: event type → the worker's timestamp (Unix seconds).

        Raises:
            AssertionError: no task-succeeded within 10 s.
        """

        def succeeded() -> dict[str, float] | None:
            seen = self.seen.get(task_id, {})
            return seen if "task-succeeded" in seen else None

        return wait_until(succeeded, 10, f"task {task_id} to succeed", interval=0.001)

    def __enter__(self) -> "Events":
        """Start receiving; return once the worker's events arrive.

        `wakeup=True`: once the receiver consumes, it asks every worker for a
        heartbeat event (Celery's `heartbeat` control command); the first one to
        arrive says that events flow.
        """
        self.thread.start()
        wait_until(lambda: self.heartbeats, 10, "a worker-heartbeat event")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.receiver.should_stop = True  # seen within a second (kombu's ConsumerMixin)
        self.thread.join(5)
        self.connection.release()


def post(web_url: str, path: str, body: dict) -> dict:
    """POST `body` as JSON to `web_url + path` and return the JSON answer.

    With the standard library's http.client, on a new connection each time (gunicorn's
    sync worker closes each after its answer): requests would add about a millisecond
    of its own to every figure.

    Raises:
        RuntimeError: the answer's status was 400 or above.
    """
    address = urlsplit(web_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        answer = connection.getresponse()
        data = answer.read()
    finally:
        connection.close()
    if answer.status >= 400:
        raise RuntimeError(f"POST {path} answered {answer.status}: {data[:300]!r}")
    return json.loads(data)


def percentile(values: list[float], share: int) -> float:
    """The `share`-th percentile of `values` (statistics.quantiles, exclusive method)."""
    return statistics.quantiles(values, n=100)[share - 1]


def one_run(web_url: str, producer: Celery, events: Events, count: int) -> dict[str, list[float]]:
    """`count` times: a `send_task` from here, a `POST /noop`, then a `POST /hello`; the tasks
    of duration 0, each sent once the previous one has succeeded.

    Returns:
        For each of ROWS' keys, the delays from just before each send or POST, in ms.
    """
    delays: dict[str, list[float]] = {key: [] for key in ROWS}
    for number in range(count):
        sent = time.time()
        task_id = producer.send_task("say_hello", kwargs={"name": f"latency {number}", "duration": 0}).id
        delays["send_task"].append((events.wait_succeeded(task_id)["task-started"] - sent) * 1000)

        sent = time.time()
        post(web_url, "/noop", {})
        delays["noop"].append((time.time() - sent) * 1000)

        sent = time.time()
        answer = post(web_url, "/hello", {"name": f"latency {number}", "duration": 0})
        answered = time.time()
        seen = events.wait_succeeded(answer["task_id"])
        delays["answered"].append((answered - sent) * 1000)
        for kind in ("task-received", "task-started"):
            delays[kind].append((seen[kind] - sent) * 1000)
    return delays


def click(web_url: str, events: Events, name: str) -> tuple[float, float]:
    """One click on the demo at `web_url` (`POST /hello`, duration 0), awaited until its task
    has succeeded (`events`: that demo's task events).

    Returns:
        The delays from just before the POST to its 202 answer and to task-started, in ms.
    """
    sent = time.time()
    answer = post(web_url, "/hello", {"name": name, "duration": 0})
    answered = time.time()
    seen = events.wait_succeeded(answer["task_id"])
    return (answered - sent) * 1000, (seen["task-started"] - sent) * 1000


def take_turns(demos: dict[str, tuple[str, Events]], count: int) -> dict[tuple[str, str], list[float]]:
    """`count` clicks on each of two demos, taking turns click by click (A, B, B, A, A, B, ...),
    so that whatever else the machine does in that minute falls on both alike, and neither
    always clicks right after the other.

    Args:
        demos: name → (the demo's web URL, its task events), two of them.

    Returns:
        For each (name, "answered") and (name, "task-started"), the delays in ms (`click`).
    """
    first, second = demos
    delays: dict[tuple[str, str], list[float]] = {(name, kind): [] for name in demos for kind in KINDS}
    for number in range(count):
        for name in (first, second) if number % 2 == 0 else (second, first):
            for kind, delay in zip(KINDS, click(*demos[name], f"{name} {number}"), strict=True):
                delays[name, kind].append(delay)
    return delays


@contextmanager
def task_events(broker_url: str) -> Iterator[Events]:
    """Celery's task events of the workers on `broker_url`, turned on for the while
    (`celery control enable_events`) and off again unless they were on already.

    Raises:
        AssertionError: no worker answered, or no worker-heartbeat event came.
    """
    celery = Celery("bench-latency", broker=broker_url)
    replies = celery.control.enable_events(reply=True, timeout=5, limit=1)
    assert replies, f"no worker on {broker_url} answered `enable_events`"
    were_on = any("already" in answer.get("ok", "") for reply in replies for answer in reply.values())
    try:
        with Events(celery) as events:
            yield events
    finally:
        if not were_on:
            celery.control.disable_events()


def measure(bench: Bench) -> Section:
    """Measure `bench.runs` runs of POSTS tasks each on the demo's idle worker."""
    stack = bench.stack()
    producer = celery_producer(bench.vhost.broker_url, confirm=True)  # the web app's settings
    figures: dict[str, dict[str, list[float]]] = {key: {"p50": [], "p99": []} for key in ROWS}
    with task_events(bench.vhost.broker_url) as events:
        one_run(stack.web_url, producer, events, 10)  # untimed: connections opened, code loaded
        for run in range(bench.runs):
            bench.log(f"Latency run {run + 1}/{bench.runs}: {POSTS} tasks sent, {POSTS} POSTs")
            for key, delays in one_run(stack.web_url, producer, events, POSTS).items():
                figures[key]["p50"].append(statistics.median(delays))
                figures[key]["p99"].append(percentile(delays, 99))
    section = Section(
        title="4. Latency: from POST /hello to the task running",
        intro=(
            f"{POSTS} clicks per run, one at a time: `POST /hello` with duration 0, the next once the worker"
            " reports the task succeeded, so that the worker is idle at each click. Before each click, the same"
            " task sent by `send_task` from the benchmark's own Python process with the web app's producer"
            " settings (no HTTP, no Redis note: the baseline), and a `POST /noop`. The delays run from just before"
            " the send or the POST to the answer, or to the worker's Celery events, stamped with the same"
            " machine's clock."
        ),
        metrics=[Metric("p50", "p50 ms"), Metric("p99", "p99 ms")],
        rows=[Row(label, figures[key]) for key, label in ROWS.items()],
        baseline=BASELINE,
        ratio_of="p50",
    )
    p50 = {key: section.median(label, "p50") for key, label in ROWS.items()}
    section.takeaway = (
        f"A click's task starts {p50['task-started']:.1f} ms after the click (median), one sent from Python"
        f" {p50['send_task']:.1f} ms after the send: the difference is the web app's part, before the message"
        f" leaves it (HTTP itself: {p50['noop']:.1f} ms; validation; the Redis note). The 202 comes"
        f" after {p50['answered']:.1f} ms, once the task has started: RabbitMQ hands the message to the worker at"
        " once, but confirms it to the web app only once it has written it to disk. On an idle machine each hop"
        " from one process to the next also waits for a sleeping process to wake up."
    )
    return section
