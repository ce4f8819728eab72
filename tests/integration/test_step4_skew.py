"""Step 4: the task's signature changed; messages from the other version fail, in both directions.

Since step 5 the real worker tolerates both, so these failures are reproduced
with the strict workers of steps 3 and 4 (tests/skew/), each consuming
hello_queue in a vhost of its own, fed by the producer of the other step.
"""

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from app import create_app
from tests.skew import step3_producer
from tests.support import demo_doc
from tests.support.checkout import REPOSITORY
from tests.support.rabbitmq import HELLO_QUEUE, Depth, VHost
from tests.support.stack import CHECKOUT, LoggedProcess
from tests.support.timing import LOG_LINE


@contextmanager
def worker_of_step(step: int) -> Iterator[tuple[LoggedProcess, VHost]]:
    """Run the worker of step `step` on hello_queue, in a new vhost of its own.

    Yields:
        The running worker (`celery --app tests.skew.stepN_worker worker`), and its vhost.
    """
    vhost = VHost()
    vhost.create()
    old = LoggedProcess(
        f"step{step}-worker",
        [
            str(CHECKOUT / ".venv/bin/celery"),
            *("--app", f"tests.skew.step{step}_worker", "worker", "--queues", HELLO_QUEUE),
            *("--hostname", f"step{step}_worker@%h", "--concurrency", "1", "--loglevel", "INFO"),
            # Alone in its vhost: nobody to mingle or gossip with (as supervisord.conf's worker).
            *("--without-mingle", "--without-gossip"),
        ],
        {"CELERY_BROKER_URL": vhost.broker_url},
    )
    try:
        old.launch()
        vhost.wait_for_consumers(1)
        yield old, vhost
        if old.process.poll() is None:
            assert not old.stop(), f"the step {step} worker left processes behind"
    except BaseException:
        old.kill()
        raise
    finally:
        vhost.delete()


def test_demo_step4_old_messages_fail_on_the_new_worker() -> None:
    with worker_of_step(4) as (step4, vhost):
        task_id = step3_producer.send_say_hello(vhost.broker_url, name="Ada", duration=0)
        step4.wait_for_lines(rf"say_hello\[{task_id}\] raised unexpected", timeout=LOG_LINE)
        expected = demo_doc.block("step4-missing-argument").splitlines()
        demo_doc.assert_lines_match(step4.task_lines(task_id), expected, "DEMO.md step4-missing-argument")
        # Failed and acknowledged: once the worker is gone, no unacknowledged
        # message returns to Ready; it is not redelivered again and again.
        assert not step4.stop(), "the step 4 worker left processes behind"
        assert vhost.depth(HELLO_QUEUE) == Depth(ready=0, consumers=0)


def post_hello_from_today(vhost: VHost) -> str:
    """Today's web app, as the producer: its real POST /hello, through Flask's test client.

    Returns:
        The task id.
    """
    answer = create_app({"broker_url": vhost.broker_url}).test_client().post("/hello", json={"name": "Ada"})
    assert answer.status_code == 202, answer.json
    return answer.json["task_id"]


def test_demo_step4_new_messages_fail_on_the_old_worker() -> None:
    with worker_of_step(3) as (step3, vhost):
        task_id = post_hello_from_today(vhost)
        step3.wait_for_lines(rf"say_hello\[{task_id}\] raised unexpected", timeout=LOG_LINE)
        expected = demo_doc.block("step4-unexpected-argument").splitlines()
        demo_doc.assert_lines_match(step3.task_lines(task_id), expected, "DEMO.md step4-unexpected-argument")


def test_todays_messages_fail_on_the_step4_worker_too() -> None:
    """DEMO.md step 6: the page sends fail_times with every task, which a step 4 worker does not know."""
    with worker_of_step(4) as (step4, vhost):
        task_id = post_hello_from_today(vhost)
        (failure,) = step4.wait_for_lines(rf"say_hello\[{task_id}\] raised unexpected: (.*)$", timeout=LOG_LINE)
        assert failure[1] == "TypeError(\"say_hello() got an unexpected keyword argument 'fail_times'\")"


@pytest.mark.parametrize("step", [3, 4])
def test_the_skew_workers_have_the_signature_of_their_step(step: int) -> None:
    """tests/skew/stepN_worker.py must have the signature that the `Step N:` commit's worker had."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPOSITORY, capture_output=True, text=True, check=True).stdout.strip()

    if git("rev-parse", "--is-shallow-repository") == "true":
        pytest.skip("a shallow clone lacks the Step commits; clone the whole history")

    commit = git("rev-parse", f":/^Step {step}:")  # as DEMO.md names it
    at_step = git("show", f"{commit}:worker/tasks.py")
    signature = re.compile(r"^def say_hello\(.*$", re.M)
    skew = (REPOSITORY / f"tests/skew/step{step}_worker.py").read_text()
    assert signature.search(at_step)[0] == signature.search(skew)[0]
