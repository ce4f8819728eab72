"""What Celery's own sample config would do: `stopasgroup=true` cuts the running task short.

Celery's extra/supervisord/celeryd.conf sets `stopasgroup=true`, which sends
SIGTERM to the pool processes as well as to Celery's main process. This runs a
copy of supervisord.conf with that one line added. It has a module of its own:
two workers named worker_hello@<host> cannot share a vhost (each holds an
exclusive `worker_hello@<host>.celery.pidbox` queue), so no other stack may run
(`checkout_free`).
"""

import os
import secrets
from pathlib import Path

from tests.support import demo_doc
from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE, Depth, VHost
from tests.support.stack import ROOT, LoggedProcess, free_port, page_answers, start_task, supervisorctl


def test_demo_step3_with_stopasgroup_the_running_task_is_cut_short(
    tmp_path: Path, vhost: VHost, checkout_free: None
) -> None:
    config = (ROOT / "supervisord.conf").read_text()
    config = config.replace("directory=%(here)s", f"directory={ROOT}")  # the code stays where it is
    head, worker = config.split("[program:worker_hello]")
    worker, *rest = worker.split("\n[")  # worker_hello's section only, not the ones after it
    worker = worker.replace("killasgroup=true", "killasgroup=true\nstopasgroup=true")
    config = "\n[".join([head + "[program:worker_hello]" + worker, *rest])
    assert config.count("\nstopasgroup=true\n") == 1
    (tmp_path / ".run").mkdir()
    (tmp_path / "supervisord.conf").write_text(config)
    port = free_port()
    env = {
        "PATH": f"{ROOT / '.venv/bin'}:{os.environ['PATH']}",
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "WORKER_CONCURRENCY": "2",
        "EXTRA_WORKERS": "0",  # what `make run` computes from WORKERS=1
        "CELERY_BROKER_URL": vhost.broker_url,
        # Flower runs too (without them supervisord would not read its config).
        "FLOWER_PORT": str(free_port()),
        "FLOWER_BASIC_AUTH": f"flower:{secrets.token_urlsafe(16)}",
    }
    supervisord = LoggedProcess(
        "stopasgroup", [str(ROOT / ".venv/bin/supervisord"), "-c", str(tmp_path / "supervisord.conf")], env
    )
    try:
        supervisord.launch()
        vhost.wait_for_consumers(1)
        wait_until(lambda: page_answers(f"http://127.0.0.1:{port}"), 30, "the web app to answer")
        task_id, started = start_task(f"http://127.0.0.1:{port}", supervisord, duration=3)

        control = ("-c", str(tmp_path / "supervisord.conf"))
        assert supervisorctl(*control, "stop", "worker_hello").stdout.strip() == "worker_hello: stopped"
        supervisord.wait_for_lines(r"stopped: worker_hello \(exit status 0\)", timeout=5)
        assert not [line for line in supervisord.task_lines(task_id) if "succeeded" in line]
        expected = demo_doc.block("step3-stopasgroup-log").splitlines()
        demo_doc.assert_lines_appear_in_order(supervisord.lines[started:], expected, "DEMO.md step3-stopasgroup-log")
        # acks_late kept the message unacked, and retry_on_worker_lost sends the task again...
        wait_until(lambda: vhost.depth(HELLO_QUEUE) == Depth(ready=1, consumers=0), 10, "the message back in Ready")
        # ...and it runs again, from the start, when a worker comes back.
        assert supervisorctl(*control, "start", "worker_hello").stdout.strip() == "worker_hello: started"
        supervisord.wait_for_lines(rf"Task say_hello\[{task_id}\] succeeded", timeout=30)
        greetings = [line for line in supervisord.task_lines(task_id) if line.endswith(f"(task id {task_id})")]
        assert len(greetings) == 2, "the task should have started twice"
        assert not supervisord.stop(), "supervisord left processes behind"
    except BaseException:
        supervisord.kill()
        raise
