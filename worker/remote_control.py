"""No remote control in the cluster: the one queue of the worker's that lives on a single node
would stop the worker when that node is lost.

Remote control (`celery inspect`, `celery control`) reaches each worker through a queue of
its own, `<node name>.celery.pidbox`. Celery (5.7 here) declares it exclusive
(control_queue_exclusive, True by default): a classic queue on the node the worker is
connected to, which only that connection may use. When that node is lost, RabbitMQ 4 keeps
its exclusive queues until it is back, since a node it cannot reach may merely be cut off
by the network (rabbit_amqqueue.erl, `on_node_down`, RabbitMQ 4.3). The worker, reconnected
to another node, cannot declare its queue again: RESOURCE_LOCKED, "Unrecoverable error", and
it exits, although hello_queue, a quorum queue, is fine (seen in the cluster: the worker
container exited). Restarting it does not help until the node is back: its node name, and
so its queue's, stays the same.

The other ways out fall short. A remote-control queue that is neither durable nor exclusive
RabbitMQ 4.3 refuses (the deprecated feature transient_nonexcl_queues). A durable one is a
classic queue on one node too, "down" with it. Made a quorum queue (the nodes'
default_queue_type), it has fewer members when declared while a node is down, it warns of
another worker using it after a loss (the lost consumer still counts), and in a run of
tests/containers/cluster/test_docker_cluster_node_loss.py it expired (control_queue_expires, 10 s)
while the reconnected worker was still setting up: a second reconnection, and the worker
out for twice as long.

So in the cluster (HELLO_QUEUE_TYPE=quorum, docker-compose.cluster.yml) the workers run
without it (worker_enable_remote_control; Celery docs, "Configuration and defaults"):
no `celery inspect`, so the worker containers' health check is off there too, and Flower
knows the workers from their events only. RabbitMQ's UI shows each worker's connection and
its node (Connections), and the consumers of hello_queue (Queues).
"""


def remote_control_settings(queue_type: str) -> dict:
    """The worker's remote-control setting for hello_queue's `queue_type`.

    Args:
        queue_type: HELLO_QUEUE_TYPE, "classic" (one node) or "quorum" (the cluster).

    Returns:
        worker_enable_remote_control False for "quorum"; nothing for "classic", which keeps
        Celery's default (on).
    """
    return {"worker_enable_remote_control": False} if queue_type == "quorum" else {}
