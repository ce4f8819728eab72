"""DEMO.md step 6's warning: with the `rpc://` result backend, only the sender ever sees a task's state.

The worker sends each state back as a message to the sender's own reply queue
(Celery docs, "Result backends: RPC"). A second Celery app, as a second web
process would have, asks for the same id and sees PENDING, forever.
"""

from collections.abc import Iterator

import pytest
from celery import Celery

from tests.support.rabbitmq import HELLO_QUEUE, VHost
from tests.support.stack import CHECKOUT, LoggedProcess
from tests.support.timing import TASK


@pytest.fixture
def rpc_vhost() -> Iterator[VHost]:
    """A vhost for this test alone: the worker below must not meet the stack's worker_hello."""
    vhost = VHost()
    vhost.create()
    yield vhost
    vhost.delete()


def producer(broker_url: str) -> Celery:
    celery = Celery("web_process", broker=broker_url, backend="rpc://")
    celery.conf.task_routes = {"say_hello": {"queue": HELLO_QUEUE}}
    return celery


def test_with_rpc_another_process_sees_pending_forever(rpc_vhost: VHost) -> None:
    worker = LoggedProcess(
        "rpc-worker",
        [str(CHECKOUT / ".venv/bin/celery"), "--app", "worker.celery_app", "worker", "--queues", HELLO_QUEUE]
        + ["--pool", "solo"],
        {"CELERY_BROKER_URL": rpc_vhost.broker_url, "CELERY_RESULT_BACKEND": "rpc://"},
    )
    sender, other = producer(rpc_vhost.broker_url), producer(rpc_vhost.broker_url)
    worker.launch()
    try:
        rpc_vhost.wait_for_consumers(1)
        sent = sender.send_task("say_hello", kwargs={"name": "Ada", "duration": 0})
        # The sender gets the result: it reads its own reply queue.
        assert sent.get(timeout=TASK)["greeting"] == "Hello, Ada!"
        # Another process asks for the same id, after the task has succeeded.
        assert other.AsyncResult(sent.id).state == "PENDING"
    finally:
        worker.stop()
        worker.kill()
