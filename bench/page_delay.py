"""How late the page shows a task's new state: from the worker storing it to the row showing it.

The worker stores each state in Redis, which publishes it on the task's own
channel (`celery-task-meta-<id>`, Celery's Redis result backend). This script
listens on those channels and notes when each state arrives; the page, driven
in Chromium, notes when its row shows it. Both clocks are this machine's. The
page polls `GET /tasks/<id>` every 500 ms, so expect about 250 ms plus a request.
A benchmark: it prints, it asserts no timing. Run with `make bench`.
"""

import json
import os
import random
import statistics
import threading
import time

import redis
from playwright.sync_api import expect, sync_playwright

from tests.support.browser import RECORD_ROW_STATES, launch_chromium
from tests.support.rabbitmq import VHost
from tests.support.stack import Stack, free_port

TASKS = 20
DURATION = 2.5  # seconds: STARTED shows for 1 s, PROGRESS 1.0 and 2.0 for 1 s and 0.5 s
# The states that the worker stores; PENDING is the page's own, on the 202.
WORKER_STATES = ("STARTED", "PROGRESS", "SUCCESS")


def listen(stored: dict[tuple[str, str], float], stop: threading.Event) -> None:
    """Note in `stored` when each (task id, state) was first published by the result backend."""
    url = os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/0")
    pubsub = redis.Redis.from_url(url).pubsub(ignore_subscribe_messages=True)
    pubsub.psubscribe("celery-task-meta-*")
    while not stop.is_set():
        message = pubsub.get_message(timeout=0.1)
        if message:
            at = time.time()
            meta = json.loads(message["data"])
            stored.setdefault((meta["task_id"], meta["status"]), at)
    pubsub.close()


def main() -> None:
    """Click TASKS times at random moments, and print the delays in milliseconds."""
    vhost = VHost("hello-queue-bench")
    vhost.create()
    env = {"WEB_PORT": str(free_port()), "CELERY_BROKER_URL": vhost.broker_url, "WORKER_CONCURRENCY": "1"}
    stack = Stack("bench-page", env)
    stored: dict[tuple[str, str], float] = {}
    stop = threading.Event()
    listener = threading.Thread(target=listen, args=(stored, stop), daemon=True)
    listener.start()
    try:
        stack.start(("web", "worker_hello"))
        vhost.wait_for_consumers(1)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(base_url=stack.web_url)
            page.add_init_script(RECORD_ROW_STATES)
            page.goto("/")
            page.get_by_label("Duration (seconds)").fill(str(DURATION))
            # One pool process, and clicks at random moments while it works: each
            # task starts when the one before ends, at no fixed phase with its own
            # row's polling (clicked one at a time on an idle worker, a task would
            # start just after its click, always at the same point of the poll cycle).
            pacing = random.Random(6)
            for _ in range(TASKS):
                page.get_by_role("button", name="Say hello", exact=True).click()
                page.wait_for_timeout(pacing.uniform(0.5, 1.5) * DURATION * 1000)  # pacing, not synchronisation
            expect(page.locator('#tasks li[data-state="SUCCESS"]')).to_have_count(TASKS, timeout=TASKS * 5_000)
            shown = page.evaluate("window.rowStates")
            browser.close()
    finally:
        stop.set()
        listener.join()
        leftovers = stack.stop() if stack.process else []
        vhost.delete()
        if leftovers:
            stack.kill()

    first_shown: dict[tuple[str, str], float] = {}
    for record in shown:
        first_shown.setdefault((record["task"], record["state"]), record["at"] / 1000)
    delays = {state: [] for state in WORKER_STATES}
    for (task_id, state), at in first_shown.items():
        if state in delays and (task_id, state) in stored:
            delays[state].append((at - stored[task_id, state]) * 1000)
    every = sorted(delay for values in delays.values() for delay in values)
    print(f"page delay, worker's state change → row shows it ({TASKS} tasks of {DURATION} s, 1 pool process):")
    for state, values in [*delays.items(), ("all", every)]:
        if not values:
            print(f"  {state:8} never seen on the page")
            continue
        values.sort()
        print(
            f"  {state:8} n={len(values):3}  min {values[0]:6.0f} ms  median {statistics.median(values):6.0f} ms"
            f"  p90 {values[int(0.9 * len(values)) - 1]:6.0f} ms  max {values[-1]:6.0f} ms"
        )


if __name__ == "__main__":
    main()
