"""First figures of the demo on this machine: POST /hello latency while the worker is
busy, and a pile-up of 1,000 tasks and its drain. A benchmark: it prints, it asserts
no timing. Run with `make bench`; it needs the same RabbitMQ as `make test`.

It reuses the test suite's parts: the stack started with `make run`, in a vhost of
its own (tests/support/).
"""

import statistics
import time

import requests

from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE as QUEUE
from tests.support.rabbitmq import Depth, VHost
from tests.support.stack import Stack, free_port, supervisorctl

LATENCY_SAMPLES = 100
PILE = 1_000


def main() -> None:
    """Measure and print; every figure is in milliseconds or seconds, as labelled."""
    vhost = VHost("hello-queue-bench")
    vhost.create()
    stack = Stack("bench", {"WEB_PORT": str(free_port()), "CELERY_BROKER_URL": vhost.broker_url})
    try:
        stack.start(("web", "worker_hello"))
        vhost.wait_for_consumers(1)
        http = requests.Session()

        # Busy: both pool processes run a 10 s task, two more wait.
        for _ in range(4):
            http.post(stack.web_url + "/hello", json={"duration": 10}, timeout=5)
        stack.wait_for_lines(r"Task say_hello\[.*\] received", count=2)
        latencies = []
        for number in range(LATENCY_SAMPLES):
            started = time.perf_counter()
            answer = http.post(stack.web_url + "/hello", json={"name": f"n{number}", "duration": 0}, timeout=5)
            latencies.append((time.perf_counter() - started) * 1000)
            answer.raise_for_status()
        latencies.sort()
        print(
            f"POST /hello while the worker is busy (n={LATENCY_SAMPLES}): median {statistics.median(latencies):.2f} ms,"
            f" p90 {latencies[int(0.9 * LATENCY_SAMPLES) - 1]:.2f} ms, max {latencies[-1]:.2f} ms"
        )

        supervisorctl("stop", "worker_hello")  # a warm shutdown: waits for the two running tasks
        vhost.purge(QUEUE)
        started = time.perf_counter()
        task_ids = [
            http.post(stack.web_url + "/hello", json={"name": f"p{n}", "duration": 0}, timeout=5).json()["task_id"]
            for n in range(PILE)
        ]
        published = time.perf_counter() - started
        wait_until(lambda: vhost.depth(QUEUE) == Depth(PILE, 0), 10, f"{PILE} ready")
        print(f"pile-up: {PILE} POSTs in {published:.2f} s; passive declare: {vhost.depth(QUEUE)}")
        started = time.perf_counter()
        management = wait_until(
            lambda: (d := vhost.management_depth(QUEUE)) and d.ready == PILE and d, 30, "the management API"
        )
        print(f"management API shows {management} after {time.perf_counter() - started:.1f} s")

        before = len(stack.lines)
        started = time.perf_counter()
        supervisorctl("start", "worker_hello")
        running = time.perf_counter() - started
        wait_until(lambda: vhost.depth(QUEUE) == Depth(0, 1), 120, "the drain", interval=0.01)
        drained = time.perf_counter() - started
        pattern = r"Task say_hello\[([0-9a-f-]+)\] succeeded"
        already = sum("succeeded" in line for line in stack.lines[:before])
        done = {m[1] for m in stack.wait_for_lines(pattern, count=already + PILE, timeout=60)}
        print(
            f"drain: supervisorctl start returned after {running:.2f} s; hello_queue empty {drained:.2f} s after"
            f" the start command; {len(done & set(task_ids))} of {PILE} piled-up tasks succeeded"
        )
    finally:
        leftovers = stack.stop() if stack.process else []
        vhost.delete()
        if leftovers:
            stack.kill()


if __name__ == "__main__":
    main()
