"""What Celery's own sample config would do: `stopasgroup=true` cuts the running task short.

Celery's extra/supervisord/celeryd.conf sets `stopasgroup=true`, which sends
SIGTERM to the pool processes as well as to Celery's main process. This runs a
copy of supervisord.conf with that one line added. It has a module of its own:
two workers named worker_hello@<host> cannot share a vhost (each holds an
exclusive `worker_hello@<host>.celery.pidbox` queue), so no other stack may run
(`checkout_free`).
"""

from pathlib import Path

from tests.support import demo_doc
from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE, Depth, VHost
from tests.support.stack import (
    LoggedProcess,
    free_port,
    page_answers,
    start_task,
    supervisorctl,
    supervisord_command,
    supervisord_copy,
)
from tests.support.timing import CONSEQUENCE, FOLLOWS, LOG_LINE, PROGRAM_STATE


def test_demo_step3_with_stopasgroup_the_running_task_is_cut_short(
    tmp_path: Path, vhost: VHost, checkout_free: None
) -> None:
    config = supervisord_copy(tmp_path, "stopasgroup=true")
    port = free_port()
    command, env = supervisord_command(config)
    env.update({"WEB_PORT": str(port), "CELERY_BROKER_URL": vhost.broker_url, "FLOWER_PORT": str(free_port())})
    supervisord = LoggedProcess("stopasgroup", command, env)
    try:
        supervisord.launch()
        vhost.wait_for_consumers(1)
        wait_until(lambda: page_answers(f"http://127.0.0.1:{port}"), PROGRAM_STATE, "the web app to answer")
        task_id, started = start_task(f"http://127.0.0.1:{port}", supervisord, duration=3)

        control = ("-c", str(config))
        assert supervisorctl(*control, "stop", "worker_hello").stdout.strip() == "worker_hello: stopped"
        supervisord.wait_for_lines(r"stopped: worker_hello \(exit status 0\)", timeout=FOLLOWS)
        assert not [line for line in supervisord.task_lines(task_id) if "succeeded" in line]
        expected = demo_doc.block("step3-stopasgroup-log").splitlines()
        demo_doc.assert_lines_appear_in_order(supervisord.lines[started:], expected, "DEMO.md step3-stopasgroup-log")
        # acks_late kept the message unacked, and retry_on_worker_lost sends the task again...
        wait_until(
            lambda: vhost.depth(HELLO_QUEUE) == Depth(ready=1, consumers=0), CONSEQUENCE, "the message back in Ready"
        )
        # ...and it runs again, from the start, when a worker comes back.
        assert supervisorctl(*control, "start", "worker_hello").stdout.strip() == "worker_hello: started"
        supervisord.wait_for_lines(rf"Task say_hello\[{task_id}\] succeeded", timeout=LOG_LINE)
        greetings = [line for line in supervisord.task_lines(task_id) if line.endswith(f"(task id {task_id})")]
        assert len(greetings) == 2, "the task should have started twice"
        assert not supervisord.stop(), "supervisord left processes behind"
    except BaseException:
        supervisord.kill()
        raise
