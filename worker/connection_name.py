"""Each worker names its RabbitMQ connections after itself, so that RabbitMQ's UI tells the
workers apart and shows which node each one is connected to (DEMO.md step 10).

An AMQP client may give its connection a name, the client property `connection_name`,
which RabbitMQ's UI shows under each connection's Name (Connections tab) and which
`rabbitmqctl list_connections client_properties` lists (RabbitMQ docs, "Connections":
client-provided connection name). One name for every worker would not do: worker_hello,
the extra workers of `make run WORKERS=3` and each container of the `worker` service would
all look alike. The worker's node name (`--hostname`, e.g. `worker_hello@4f2a9c1e7b3d` or
`worker@9d0e...`) is unique, and known only once the worker starts.

Celery sends `celeryd_init` first as a worker starts, before it connects, with the node
name as sender and the worker's configuration: the place for settings that differ from
worker to worker (Celery docs, "Signals": celeryd_init). Other clients of the worker's
Celery object (`celery inspect`, the Docker health check) connect unnamed.
"""

from typing import Any

from celery.signals import celeryd_init


@celeryd_init.connect
def name_connections_after_the_worker(sender: str, conf: Any, **kwargs: object) -> None:
    """Set `connection_name` to the worker's node name, before the worker connects.

    Args:
        sender: the worker's node name, `name@host` (celery worker `--hostname`).
        conf: the worker's Celery configuration; its broker_transport_options get
            client_properties.connection_name, the options already there kept.
    """
    options = dict(conf.broker_transport_options or {})
    options["client_properties"] = {**options.get("client_properties", {}), "connection_name": sender}
    conf.broker_transport_options = options
