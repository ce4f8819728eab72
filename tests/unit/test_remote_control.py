"""worker/remote_control.py: remote control on a single node (Celery's default), off in the
cluster. The real one: tests/containers/cluster/test_docker_cluster_node_loss.py (the worker goes on
after its node is lost)."""

import pytest
from celery import Celery

from worker import celery_app as consumer


@pytest.mark.parametrize(("queue_type", "remote_control"), [("classic", True), ("quorum", False)])
def test_the_workers_have_remote_control_except_in_the_cluster(
    queue_type: str, remote_control: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELLO_QUEUE_TYPE", queue_type)
    app = Celery(set_as_current=False, config_source=consumer.worker_settings())
    assert app.conf.worker_enable_remote_control is remote_control
    # Where it is on, its queue is Celery's: exclusive, on the node of the worker's connection.
    assert app.conf.control_queue_exclusive is True and app.conf.control_queue_durable is False
