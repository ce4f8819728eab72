"""TROUBLESHOOTING.md's cases 1 to 3, "why is my task stuck?", each broken and mended on the real stack.

Every console block of a case is run as written, from the repository root, in a
second terminal's environment (`Stack.run_demo_command`), and every log block is
looked for in the log: the symptom and the fix alike. The faults come from
commands alone, never from an edited file, so that a learner's `git checkout`
keeps working: a worker started by hand in place of worker_hello (cases 1 and 3)
or a message sent by name with `celery call` (case 2).

Each test leaves the shared stack as the `stack` fixture hands it out: worker_hello
RUNNING and idle, hello_queue empty, and no process of its own alive, also when it
fails (`worker_by_hand`, `stack.ensure_running`), and Flower knowing worker_hello
alone (`flower_forgets_the_workers_started_by_hand`). It queues and declares only in
the run's vhost (the stray worker of case 1 declares its queue `celery` there, and
the test deletes it).
The module takes 45 to 55 s once the stack runs (case 1 19 to 26 s, case 3 13 to
16 s, case 2 5 s, Flower's restart about 4 s): starting workers (about 3 s each,
four times), the UI's statistics (sampled every 5 s), and `celery inspect`, which
waits 1 s for the workers' replies.
"""

import contextlib
import json
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest
import requests
from kombu import Connection

from tests.support import demo_doc, results
from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE, Depth, VHost
from tests.support.stack import CHECKOUT, LoggedProcess, Stack, learner_env, supervisorctl
from tests.support.timing import (
    CONSEQUENCE,
    FLOWER,
    FOLLOWS,
    HTTP,
    LOG_LINE,
    PROGRAM_STATE,
    SHORT_COMMAND,
    STATISTICS_INTERVAL,
    TASK,
)
from tests.support.troubleshooting import DOC, documented_post, log_shows, run, run_claim

# How many clicks case 1 piles up: the number TROUBLESHOOTING.md shows (Ready 3).
CLICKS = 3
# The worker's log line once it consumes: "celery@<host> ready." (Celery's banner end).
READY = r"@\S+ ready\.$"


@pytest.fixture(scope="module", autouse=True)
def flower_forgets_the_workers_started_by_hand(stack: Stack) -> Iterator[None]:
    """After the module, restart Flower, so that the next module finds it knowing worker_hello alone.

    Flower lists every worker it ever heard from (their events), offline ones too, and
    keeps that list in memory only (DEMO.md step 8): without the restart, the workers
    started here by hand (`celery@<host>`) would stay on its Workers page.

    Raises:
        AssertionError: Flower did not list worker_hello alone, online, within 2 * FLOWER s
            (it restarts, then hears worker_hello's next heartbeat).
    """
    yield
    assert supervisorctl("restart", "flower").returncode == 0
    stack.wait_for_state("flower", "RUNNING")

    def workers() -> dict | None:
        try:
            answer = requests.get(f"{stack.flower_url}/api/workers?status=1", auth=stack.flower_auth(), timeout=HTTP)
        except requests.ConnectionError:  # Flower has not opened its port yet
            return None
        return answer.json() if answer.status_code == 200 else None

    def worker_hello_alone_online() -> bool:
        listed = workers() or {}
        return [(name.split("@")[0], online) for name, online in listed.items()] == [("worker_hello", True)]

    # worker_hello's next heartbeat (every 2 s) tells the new Flower about it.
    wait_until(worker_hello_alone_online, 2 * FLOWER, "Flower to list worker_hello alone, online", interval=0.5)


@contextlib.contextmanager
def worker_by_hand(key: str, vhost: VHost) -> Iterator[LoggedProcess]:
    """The worker that a learner starts in a second terminal: the one command of the `sh`
    block `key`, run from the repository root, on the run's vhost; yielded once it
    logs that it is ready. Whatever is left of it is killed on the way out.

    The command's leading `NAME=value` words are its environment, as a shell reads them.
    """
    (command,) = demo_doc.script(key, DOC)
    words = shlex.split(command)
    env = {"CELERY_BROKER_URL": vhost.broker_url}
    while "=" in words[0] and not words[0].startswith((".", "/")):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    worker = LoggedProcess(key, words, env)
    worker.launch()
    try:
        worker.wait_for_lines(READY, timeout=LOG_LINE)
        yield worker
    finally:
        worker.kill()  # after the test's own Ctrl-C, nothing is left to kill


def ctrl_c(worker: LoggedProcess) -> None:
    """Stop the hand-started worker as the learner does, with Ctrl-C (SIGINT to its process
    group: Celery's warm shutdown), and assert that it left nothing running."""
    assert worker.stop(signal.SIGINT, timeout=PROGRAM_STATE) == [], f"Ctrl-C left processes of {worker.name} behind"


def restart_worker_hello(stack: Stack, key: str, vhost: VHost) -> None:
    """Run the fix's `supervisorctl start worker_hello` (the first command of `key`) and wait
    until the worker consumes hello_queue and answers `celery inspect`."""
    start = demo_doc.commands(key, DOC)[0]
    since = len(stack.lines)
    run(stack, start, key)
    # supervisorctl says "started" after 1 s up (startsecs), before Celery is connected.
    stack.wait_for_lines(r"worker_hello" + READY, timeout=LOG_LINE, since=since)
    vhost.wait_for_consumers(1)


def no_worker_answers(stack: Stack, key: str) -> None:
    """Assert that the documented `celery inspect` of the block `key`, run while no worker runs,
    fails saying so (Celery's CLI exits with EX_UNAVAILABLE, 69, and says it on stderr)."""
    (command,) = demo_doc.commands(key, DOC)
    env = {**learner_env(), "CELERY_BROKER_URL": stack.env["CELERY_BROKER_URL"]}
    answer = subprocess.run(
        command.command, shell=True, cwd=CHECKOUT, env=env, capture_output=True, text=True, timeout=2 * SHORT_COMMAND
    )
    assert answer.returncode != 0, f"{command.command!r} found a worker: {answer.stdout}"
    assert "Error: No nodes replied within time constraint" in answer.stderr, answer.stderr


def flower_task_state(stack: Stack, task_id: str) -> str | None:
    """The task's state on Flower's Tasks page (its API); None while Flower has no such task."""
    answer = requests.get(f"{stack.flower_url}/api/task/info/{task_id}", auth=stack.flower_auth(), timeout=HTTP)
    return answer.json()["state"] if answer.status_code == 200 else None


def test_case1_a_worker_on_the_default_queue_leaves_hello_queue_piling_up(stack: Stack, vhost: VHost) -> None:
    began = time.monotonic()
    task_ids: list[str] = []
    try:
        run_claim(stack, "ts-1-stop")
        vhost.wait_for_consumers(0)
        with worker_by_hand("ts-1-worker", vhost) as worker:
            log_shows(worker.lines, "ts-1-banner")
            task_ids = [documented_post(stack, "ts-1-send") for _ in range(CLICKS)]
            # The symptom: answered, PENDING, and left in hello_queue by a worker that runs.
            for task_id in task_ids:
                run_claim(stack, "ts-1-pending", task_id)
            run_claim(stack, "ts-1-queue-piled")
            print(f"case 1: symptom after {time.monotonic() - began:.1f} s")
            run_claim(stack, "ts-1-active-queues")
            # The page's panel (GET /status), and the UI's Queues tab once it has sampled (every 5 s).
            panel = requests.get(f"{stack.web_url}/status", timeout=HTTP).json()["queue"]
            assert (panel["ready"], panel["consumers"]) == (CLICKS, 0), panel
            for queue, depth in ((HELLO_QUEUE, Depth(CLICKS, 0, 0)), ("celery", Depth(0, 1, 0))):
                shown = f"the UI to show {queue} {depth}"
                wait_until(lambda q=queue, d=depth: vhost.management_depth(q) == d, 4 * STATISTICS_INTERVAL, shown)
            assert not [line for line in worker.lines if "say_hello[" in line], "the stray worker ran a task"
            # Flower's Tasks page: none of them. (After the fix, all three: see below.)
            assert [flower_task_state(stack, task_id) for task_id in task_ids] == [None] * CLICKS
            ctrl_c(worker)
        # No worker at all now, as in DEMO.md step 3: the same command says so.
        no_worker_answers(stack, "ts-1-active-queues")

        fixed = time.monotonic()
        restart_worker_hello(stack, "ts-1-fix", vhost)
        _, active_queues, queue, task_state = demo_doc.commands("ts-1-fix", DOC)
        run(stack, active_queues, "ts-1-fix")
        results.wait_for_success(task_ids, timeout=TASK)
        print(f"case 1: the pile drained {time.monotonic() - fixed:.1f} s after the fix began")
        run(stack, queue, "ts-1-fix")
        for task_id in task_ids:
            run(stack, task_state, "ts-1-fix", task_id)
        for task_id in task_ids:
            wait_until(lambda t=task_id: flower_task_state(stack, t) == "SUCCESS", FLOWER, f"Flower to show {task_id}")
        # The stray worker's queue stays, empty and unconsumed, as TROUBLESHOOTING.md says.
        assert vhost.depth("celery") == Depth(ready=0, consumers=0)
    finally:
        stack.ensure_running("worker_hello")
        # Then it goes, as a learner would delete it in the UI: the vhost as the test found it.
        # (RabbitMQ deletes a queue that is not there without a word.)
        with Connection(vhost.broker_url, connect_timeout=HTTP) as connection:
            connection.default_channel.queue_delete("celery")


def test_case2_a_task_name_no_worker_knows_is_stored_as_failure(stack: Stack, vhost: VHost) -> None:
    began, since = time.monotonic(), len(stack.lines)
    (task_id,) = run_claim(stack, "ts-2-call")
    # The symptom: the worker logs the unknown name, stores FAILURE, and drops the message.
    stack.wait_for_lines(r"Received unregistered task of type 'say_helo'", timeout=LOG_LINE, since=since)
    log_shows(stack.lines[since:], "ts-2-log")
    # The same log record goes on with the message's headers, its id among them, and a KeyError.
    assert any(f"'id': '{task_id}'" in line for line in stack.lines[since:]), "the log must name the message's id"
    stack.wait_for_lines(r"^KeyError: 'say_helo'$", timeout=FOLLOWS, since=since)
    wait_until(lambda: results.states([task_id]) == ["FAILURE"], CONSEQUENCE, "FAILURE stored")
    run_claim(stack, "ts-2-failure", task_id)
    print(f"case 2: symptom after {time.monotonic() - began:.1f} s")
    assert vhost.depth(HELLO_QUEUE) == Depth(ready=0, consumers=1), "rejected without requeue: not back in the queue"
    run_claim(stack, "ts-2-registered")

    call, task_state = demo_doc.commands("ts-2-fix", DOC)
    (fixed_id,) = run(stack, call, "ts-2-fix")
    results.wait_for_success([fixed_id], timeout=TASK)
    run(stack, task_state, "ts-2-fix", fixed_id)
    # The unknown name was logged once: rejected, never redelivered.
    assert len([line for line in stack.lines[since:] if "Received unregistered task" in line]) == 1


def test_case3_an_rpc_backend_leaves_the_page_pending_after_success(stack: Stack, vhost: VHost) -> None:
    began = time.monotonic()
    try:
        run_claim(stack, "ts-3-stop")
        vhost.wait_for_consumers(0)
        with worker_by_hand("ts-3-worker", vhost) as worker:
            vhost.wait_for_consumers(1)
            task_id = documented_post(stack, "ts-3-send")
            worker.wait_for_lines(rf"Task say_hello\[{task_id}\] succeeded", timeout=LOG_LINE)
            log_shows(worker.lines, "ts-3-log", task_id)
            # The symptom: succeeded, and PENDING; nothing stored where the web app reads.
            run_claim(stack, "ts-3-pending", task_id)
            print(f"case 3: symptom after {time.monotonic() - began:.1f} s")
            assert results.states([task_id]) == ["PENDING"]
            # Neither case 1 (the message was taken) nor case 2 (its name is known).
            assert vhost.depth(HELLO_QUEUE) == Depth(ready=0, consumers=1)
            assert not [line for line in worker.lines if "unregistered task" in line]
            wait_until(
                lambda: flower_task_state(stack, task_id) == "SUCCESS", FLOWER, "Flower to show the task SUCCESS"
            )
            run_claim(stack, "ts-3-conf")
            ctrl_c(worker)

        restart_worker_hello(stack, "ts-3-fix", vhost)
        _, conf, send, task_state = demo_doc.commands("ts-3-fix", DOC)
        run(stack, conf, "ts-3-fix")
        (printed,) = run(stack, send, "ts-3-fix")
        fixed_id = json.loads(printed)["task_id"]
        results.wait_for_success([fixed_id], timeout=TASK)
        run(stack, task_state, "ts-3-fix", fixed_id)
        # The first task's state is gone for good: still PENDING with the right backend.
        run_claim(stack, "ts-3-pending", task_id)
    finally:
        stack.ensure_running("worker_hello")
