"""worker/connection_name.py: each worker's connections named after its node name."""

from celery import Celery
from celery.signals import celeryd_init

from worker.celery_app import celery
from worker.connection_name import name_connections_after_the_worker


def test_the_node_name_becomes_the_connection_name_and_other_options_stay() -> None:
    app = Celery(set_as_current=False)
    app.conf.broker_transport_options = {"confirm_publish": True, "client_properties": {"product": "x"}}
    name_connections_after_the_worker(sender="worker@4f2a9c1e7b3d", conf=app.conf)
    assert app.conf.broker_transport_options == {
        "confirm_publish": True,
        "client_properties": {"product": "x", "connection_name": "worker@4f2a9c1e7b3d"},
    }


def test_the_worker_connects_it_to_celeryd_init() -> None:
    # What the worker does as it starts: import the modules of its Celery object's `include`.
    celery.loader.import_default_modules()
    assert any(receiver() is name_connections_after_the_worker for _, receiver in celeryd_init.receivers)
