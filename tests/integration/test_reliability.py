"""What survives what: a pile-up at scale, a worker killed mid-task, a warm stop
(DEMO.md step 3's, with a 10 s task).

Each test counts, from Redis, how many times each of its tasks ran to the end
(`worker.completions`): "none lost" is every count at least 1, "none run twice"
is every count at most 1. Each writes its row of RELIABILITY.md when it passes.
"""

import signal
import time

import psutil

from scripts import preflight
from tests.support import demo_doc
from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE, Depth, VHost
from tests.support.reliability import Row, record
from tests.support.results import completions, states, wait_for_success
from tests.support.stack import Stack, active_tasks, post_hello, post_hellos, start_task, supervisorctl

PILE = 1000
# Seconds of the task killed mid-task: it must still run when the kill lands, after
# the test has found its pool process, which takes seconds on a busy machine.
KILLED_TASK = 10


def test_a_pile_up_of_1000_loses_none_and_runs_none_twice(stack: Stack, vhost: VHost) -> None:
    try:
        assert supervisorctl("stop", "worker_hello").returncode == 0
        vhost.wait_for_consumers(0)
        task_ids = post_hellos(stack.web_url, PILE, duration=0)
        # Publisher confirms: every 202 came after RabbitMQ took the message, so
        # the count is exact at once.
        assert vhost.depth(HELLO_QUEUE) == Depth(ready=PILE, consumers=0)
        assert states(task_ids) == ["PENDING"] * PILE, "no task may have run while the worker was stopped"

        started = time.monotonic()
        assert supervisorctl("start", "worker_hello").returncode == 0
        wait_for_success(task_ids)
        drained = time.monotonic() - started
    finally:
        stack.ensure_running("worker_hello")
    counts = completions(task_ids)
    assert counts == [1] * PILE, f"completed twice: {[t for t, c in zip(task_ids, counts, strict=True) if c > 1]}"
    assert vhost.depth(HELLO_QUEUE) == Depth(ready=0, consumers=1)
    record(
        Row(
            key="1",
            scenario="Pile-up at scale",
            action="`supervisorctl stop worker_hello`, 1,000 × `POST /hello`, `supervisorctl start worker_hello`",
            outcome="every message waits in hello_queue; each task runs once the worker is back",
            setting="durable hello_queue, persistent messages, publisher confirms (`confirm_publish`)",
            counts=f"{PILE:,} sent, {PILE:,} Ready while stopped, {counts.count(1):,} succeeded once, "
            f"{sum(c > 1 for c in counts)} twice; done {drained:.0f} s after start",
        )
    )


def test_a_pool_process_killed_mid_task_gives_the_task_to_another(stack: Stack, vhost: VHost) -> None:
    task_id, _ = start_task(stack.web_url, stack, duration=KILLED_TASK)
    # `celery inspect active` answers None while the worker's main process has not
    # replied within 2 s (busy), and [] while it has not yet handled its pool
    # process's word that the task started (the greeting, logged by the pool
    # process itself, can come first): ask until it names the task.
    (running,) = wait_until(
        lambda: active_tasks(vhost.broker_url), 30, f"worker_hello to list task {task_id} as active"
    )
    assert running["id"] == task_id
    pool_process = psutil.Process(running["worker_pid"])
    assert pool_process.parent().pid == stack.pid("worker_hello")
    pool_process.send_signal(signal.SIGKILL)

    # task_retry_on_worker_lost: instead of acking it as failed, the worker sends the
    # task again (retries + 1, after the task's default_retry_delay of 1 s) and acks
    # the old message; it receives the new one.
    stack.wait_for_lines(rf"pid:{pool_process.pid} exited with 'signal 9 \(SIGKILL\)'", timeout=10)
    stack.wait_for_lines(rf"say_hello\[{task_id}\]: Hello, Ada!", count=2, timeout=30)
    wait_for_success([task_id], timeout=30)
    (count,) = completions([task_id])
    runs = len(stack.wait_for_lines(rf"say_hello\[{task_id}\]: Hello, Ada!", count=2))
    assert (runs, count) == (2, 1), f"{runs} starts, {count} completions"
    record(
        Row(
            key="2a",
            scenario="Pool process killed mid-task",
            action=f"`kill -KILL <pid>` of the pool process that runs a {KILLED_TASK} s task",
            outcome="the worker sends the task again to hello_queue (a retry); it starts again and succeeds",
            setting="`task_acks_late` + `task_retry_on_worker_lost` (up to 4 retries, then step 9's dead letter)",
            counts=f"1 task, {runs} starts, {count} completion",
        )
    )


def test_the_whole_worker_killed_mid_task_is_restarted_and_the_task_runs_again(stack: Stack, vhost: VHost) -> None:
    task_id, _ = start_task(stack.web_url, stack, duration=5)
    before = stack.pid("worker_hello")
    tree = [psutil.Process(before), *psutil.Process(before).children(recursive=True)]
    mark = len(stack.lines)
    killed = time.monotonic()
    (kill,) = demo_doc.commands("step7-kill")
    demo_doc.assert_lines_match(stack.run_demo_command(kill.command), kill.expected, "DEMO.md step7-kill")

    # Its pool processes die with it: Celery's prefork pool asks Linux to SIGKILL
    # them when their parent dies (PR_SET_PDEATHSIG), so none finishes the task.
    # Dead as `make run` counts it (preflight.runs): orphaned, they stay zombies
    # until init reaps them, here every 2 s or so, and psutil.wait_procs would
    # wait for that (for a process not our child, it waits for the pid to vanish).
    alive = preflight.still_running(tree, timeout=5)
    assert not alive, f"outlived the worker: {alive}"
    stack.wait_for_lines(r"exited: worker_hello \(terminated by SIGKILL; not expected\)", timeout=10, since=mark)
    # autorestart=true: supervisord starts it again; RabbitMQ, seeing its
    # connection close, put the unacked message back in hello_queue.
    stack.wait_for_state("worker_hello", "RUNNING")
    restarted = time.monotonic() - killed
    assert stack.pid("worker_hello") != before
    wait_for_success([task_id], timeout=30)
    (count,) = completions([task_id])
    runs = len(stack.wait_for_lines(rf"say_hello\[{task_id}\]: Hello, Ada!", count=2))
    assert (runs, count) == (2, 1), f"{runs} starts, {count} completions"
    for key in ("step7-kill-log", "step7-rerun-log"):
        expected = [line.replace("<task-id>", task_id) for line in demo_doc.block(key).splitlines()]
        demo_doc.assert_lines_appear_in_order(stack.lines[mark:], expected, f"DEMO.md {key}")
    (get,) = demo_doc.commands("step7-completions")
    printed = stack.run_demo_command(get.command.replace("<task-id>", task_id))
    demo_doc.assert_lines_match(printed, get.expected, "DEMO.md step7-completions")
    record(
        Row(
            key="2b",
            scenario="Whole worker killed mid-task",
            action="`supervisorctl signal KILL worker_hello` during a 5 s task",
            outcome="RabbitMQ requeues the unacked message; the restarted worker runs the task again",
            setting="`task_acks_late`; prefork's PR_SET_PDEATHSIG; supervisord `autorestart`",
            counts=f"1 task, {len(tree)} processes killed, {runs} starts, {count} completion",
        )
    )
    record(
        Row(
            key="7a",
            scenario="A worker that crashes",
            action="`supervisorctl signal KILL worker_hello`",
            outcome="supervisord starts it again: RUNNING, consuming hello_queue",
            setting="supervisord `autorestart=true`",
            counts=f"1 crash, 1 restart, RUNNING again after {restarted:.1f} s",
        )
    )
    vhost.wait_for_consumers(1)


def test_a_warm_stop_lets_a_10_s_task_finish_and_the_queue_resumes_on_start(stack: Stack, vhost: VHost) -> None:
    task_id, started = start_task(stack.web_url, stack, duration=10)
    try:
        # supervisorctl stop returns once the program has exited: after the task.
        (stop,) = demo_doc.commands("step3-warm-stop")
        demo_doc.assert_lines_match(stack.run_demo_command(stop.command), stop.expected, "DEMO.md step3-warm-stop")
        (succeeded,) = stack.wait_for_lines(rf"Task say_hello\[{task_id}\] succeeded in ([0-9.]+)s", since=started)
        (stopped,) = stack.wait_for_lines(r"stopped: worker_hello \(exit status 0\)", timeout=5, since=started)
        assert stack.lines.index(succeeded.string) < stack.lines.index(stopped.string)
        assert float(succeeded[1]) >= 10
        log = [line.replace("<task-id>", task_id) for line in demo_doc.block("step3-warm-stop-log").splitlines()]
        demo_doc.assert_lines_appear_in_order(stack.lines[started:], log, "DEMO.md step3-warm-stop-log")
        assert vhost.depth(HELLO_QUEUE) == Depth(ready=0, consumers=0)

        waiting = post_hello(stack.web_url, name="Grace", duration=0)
        assert vhost.depth(HELLO_QUEUE) == Depth(ready=1, consumers=0)
    finally:
        stack.ensure_running("worker_hello")
    wait_for_success([task_id, waiting], timeout=30)
    counts = completions([task_id, waiting])
    assert counts == [1, 1]
    record(
        Row(
            key="3",
            scenario="Warm stop",
            action="`supervisorctl stop worker_hello` during a 10 s task; a click; `supervisorctl start worker_hello`",
            outcome="the running task finishes before the worker exits; the message sent meanwhile runs on start",
            setting="`stopsignal=TERM` (Celery's warm shutdown), `stopwaitsecs=60`, no `stopasgroup`",
            counts=f"task ran {float(succeeded[1]):.1f} s of 10, exit status 0, then 1 Ready → "
            f"{sum(counts)} completions of 2 tasks",
        )
    )
