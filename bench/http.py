"""Section 1, HTTP: what handing a task to Celery costs the web process, in requests/s and latency.

wrk (a load generator; `make bench` installs Debian's package) POSTs the same
small JSON body over and over, with a fixed number of connections, to three
routes of the same gunicorn: `POST /noop` (the baseline: Flask, the security
headers and a JSON answer, nothing else), `POST /hello` (validate, note the
task id in Redis, publish to RabbitMQ and wait for its publisher confirm) and
`POST /hello/blocking` with duration 0 (validate, then answer: step 1's route
with no slow work).
"""

import json
import statistics
import subprocess
from pathlib import Path

from bench.context import Bench
from bench.report import Metric, Row, Section
from tests.support.rabbitmq import HELLO_QUEUE
from tests.support.stack import supervisorctl

SCRIPT = Path(__file__).with_name("post.lua")
# More connections than the one request at a time that gunicorn's sync worker
# serves: one always waits, so the worker never idles between two requests,
# and each request's latency includes its wait in that queue.
CONNECTIONS = 4
SECONDS = 3  # per run and route
BASELINE = "POST /noop"
ROUTES = {BASELINE: "/noop", "POST /hello": "/hello", "POST /hello/blocking (duration 0)": "/hello/blocking"}


def wrk(url: str, seconds: float) -> dict[str, float]:
    """Load `url` with wrk for `seconds`, and return its figures.

    Returns:
        `{"rps": requests per second, "p50": ms, "p99": ms}`.

    Raises:
        RuntimeError: wrk failed, or a request got an error or an HTTP status of 400 or more.
    """
    command = ["wrk", "--threads", "1", "--connections", str(CONNECTIONS), "--duration", f"{seconds}s"]
    result = subprocess.run([*command, "--script", str(SCRIPT), url], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr}")
    summary = json.loads(result.stdout.splitlines()[-1])  # post.lua's done() prints it last
    errors = {kind: summary[kind] for kind in ("connect", "read", "write", "status", "timeout") if summary[kind]}
    if errors:
        raise RuntimeError(f"wrk saw errors on {url}: {errors}\n{result.stdout}")
    return {
        "rps": summary["requests"] / (summary["duration_us"] / 1e6),
        "p50": summary["p50_us"] / 1000,
        "p99": summary["p99_us"] / 1000,
    }


def measure(bench: Bench) -> Section:
    """Measure each route `bench.runs` times, the routes taking turns (run 1 of each, then run 2 ...).

    worker_hello is stopped meanwhile, so that running the tasks does not take the
    CPUs from gunicorn: the messages wait in hello_queue, which is purged after.
    """
    stack = bench.stack()
    supervisorctl("stop", "worker_hello")
    runs: dict[str, dict[str, list[float]]] = {label: {"rps": [], "p50": [], "p99": []} for label in ROUTES}
    try:
        for path in ROUTES.values():  # a first, untimed second: connections opened, code loaded
            wrk(stack.web_url + path, 1)
        for run in range(bench.runs):
            for label, path in ROUTES.items():
                bench.log(f"HTTP run {run + 1}/{bench.runs}: {label}")
                for key, value in wrk(stack.web_url + path, SECONDS).items():
                    runs[label][key].append(value)
    finally:
        bench.vhost.purge(HELLO_QUEUE)
        stack.ensure_running("worker_hello")
        bench.vhost.wait_for_consumers(1)
    section = Section(
        title="1. HTTP: requests/s of one gunicorn worker",
        intro=(
            f'wrk POSTs `{{"name": "bench", "duration": 0}}` over {CONNECTIONS} connections for {SECONDS} s'
            " to each route of the demo's gunicorn (one sync worker, as `make run` starts it), while"
            " worker_hello is stopped (its messages wait in hello_queue). Latency includes the wait behind"
            f" the other {CONNECTIONS - 1} connections' requests."
        ),
        metrics=[Metric("rps", "requests/s"), Metric("p50", "p50 ms"), Metric("p99", "p99 ms")],
        rows=[Row(label, figures) for label, figures in runs.items()],
        baseline=BASELINE,
        ratio_of="rps",
    )
    hello = statistics.median(section.ratios("POST /hello"))
    blocking = statistics.median(section.ratios("POST /hello/blocking (duration 0)"))
    section.takeaway = (
        f"`POST /hello` serves {hello:.2f}× the requests of the no-op route: each request also validates its"
        " body, notes the task id in Redis, has Celery build and publish the message, and waits for RabbitMQ's"
        " publisher confirm, which RabbitMQ sends for a persistent message only once it has written it to disk."
        " Section 2 prices each step; the last section says why the demo keeps the confirm and the note."
        f" The blocking route with duration 0 serves {blocking:.2f}× the no-op route, so validating is cheap;"
        " with a real duration it serves 1/duration requests per second, and nobody else meanwhile."
    )
    return section
