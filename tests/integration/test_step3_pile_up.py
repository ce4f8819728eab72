"""Step 3: with worker_hello stopped, messages pile up in hello_queue; started again, it drains them.

That stopping it does not cut a running task short (supervisord.conf sends
SIGTERM to Celery's main process only, a warm shutdown) is test_reliability.py's
warm stop; test_stopasgroup.py shows what Celery's own sample config would do instead.
"""

from tests.support import demo_doc
from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE, Depth, VHost
from tests.support.stack import Stack, post_hello

# The first two clicks ask for long tasks, the other three for short ones. RabbitMQ
# delivers a queue's messages in order, so the two the worker reserves on start (one
# per pool process) are the long ones, and the other three stay Ready while those
# run: the count of 3 Ready holds for 10 s, not for as long as a short task runs
# (a test stalled 2 s by a busy machine saw 2 or 1).
DURATIONS = (10, 10, 1, 1, 1)
PILE = len(DURATIONS)


def test_demo_step3_pile_up_and_drain(stack: Stack, vhost: VHost) -> None:
    (stop,) = demo_doc.commands("step3-stop")
    demo_doc.assert_lines_match(stack.run_demo_command(stop.command), stop.expected, "DEMO.md step3-stop")
    assert stack.state("worker_hello") == "STOPPED"
    vhost.wait_for_consumers(0)

    task_ids = [
        post_hello(stack.web_url, name=f"learner {number}", duration=duration)
        for number, duration in enumerate(DURATIONS)
    ]
    assert len(set(task_ids)) == PILE

    # Exact counts by passive declare: all of them Ready, nobody consuming.
    wait_until(lambda: vhost.depth(HELLO_QUEUE) == Depth(ready=PILE, consumers=0), 10, f"{PILE} ready, 0 consumers")
    # The management UI shows the same once its statistics refresh (every 5 s).
    wait_until(
        lambda: vhost.management_depth(HELLO_QUEUE) == Depth(ready=PILE, consumers=0, unacked=0),
        20,
        f"the management API to show {PILE} ready, 0 unacked, 0 consumers",
    )
    (queue,) = demo_doc.commands("step3-queue-piled")
    demo_doc.assert_lines_match(stack.run_demo_command(queue.command), queue.expected, "DEMO.md step3-queue-piled")
    assert not [line for line in stack.lines if any(f"say_hello[{task_id}]" in line for task_id in task_ids)]

    (start,) = demo_doc.commands("step3-start")
    restart = len(stack.lines)
    demo_doc.assert_lines_match(stack.run_demo_command(start.command), start.expected, "DEMO.md step3-start")
    # Prefetch: the worker reserves one message per pool process; the rest stay Ready.
    (banner,) = stack.wait_for_lines(r"concurrency: (\d+) \(prefork\)", timeout=10, since=restart)
    pool = int(banner[1])
    assert pool == 2, f"DEMO.md says 2 pool processes (WORKER_CONCURRENCY), the worker has {pool}"
    assert pool < PILE, f"the pile ({PILE}) must outnumber the pool processes ({pool}) for this check"
    received = stack.wait_for_lines(r"Task say_hello\[([0-9a-f-]+)\] received", count=pool, timeout=30, since=restart)
    assert [match[1] for match in received] == task_ids[:pool], "RabbitMQ delivers the oldest messages first"
    assert vhost.depth(HELLO_QUEUE) == Depth(ready=PILE - pool, consumers=1)
    succeeded = stack.wait_for_lines(r"Task say_hello\[([0-9a-f-]+)\] succeeded", count=PILE, timeout=30, since=restart)
    assert sorted(match[1] for match in succeeded) == sorted(task_ids), "each piled-up task must succeed once"
    wait_until(lambda: vhost.depth(HELLO_QUEUE) == Depth(ready=0, consumers=1), 10, "hello_queue drained, 1 consumer")
    (queue,) = demo_doc.commands("step3-queue-drained")
    demo_doc.assert_lines_match(stack.run_demo_command(queue.command), queue.expected, "DEMO.md step3-queue-drained")
