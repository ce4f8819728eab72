"""Step 10's cluster with Docker: `docker compose -f docker-compose.yml -f docker-compose.cluster.yml up`
starts three RabbitMQ nodes that form one cluster by themselves, hello_queue is a quorum queue
with a member on each, clicks run, and the clients' connections are spread over the nodes.
(The first node lost: test_docker_first_node_lost.py.)

The cluster of this folder (conftest.py), fresh: this module runs first. What RabbitMQ says
is asked with its own tools (`rabbitmqctl ... --formatter json`) and its management API
(connections and the node each is on).
"""

from tests.support.cluster import FIRST_NODE, NODES, address, connections, rabbitmqctl
from tests.support.compose import ComposeProject
from tests.support.poll import wait_until
from tests.support.stack import post_hello, post_hellos
from tests.support.timing import DRAIN, MANAGEMENT_API

CLICKS = 5


def test_three_nodes_form_one_cluster_at_start(cluster: ComposeProject) -> None:
    # Asked of the third node: every node sees the same cluster.
    status = rabbitmqctl(cluster, "rabbitmq3", "cluster_status")
    assert sorted(status["running_nodes"]) == NODES
    assert sorted(status["disk_nodes"]) == NODES


def test_hello_queue_is_a_quorum_queue_with_a_member_on_each_node(cluster: ComposeProject) -> None:
    queues = rabbitmqctl(cluster, "rabbitmq", "list_queues", "name", "type", "members", "leader")
    (hello_queue,) = [queue for queue in queues if queue["name"] == "hello_queue"]
    assert hello_queue["type"] == "quorum"
    assert sorted(hello_queue["members"]) == NODES
    assert hello_queue["leader"] in NODES


def test_clicks_are_answered_202_and_succeed(cluster: ComposeProject) -> None:
    task_ids = post_hellos(cluster.web_url, CLICKS, duration=1)
    wait_until(lambda: cluster.all_succeeded(task_ids), DRAIN, f"all {CLICKS} tasks SUCCESS on GET /tasks/<id>")


def test_the_clients_connections_are_spread_over_the_nodes(cluster: ComposeProject) -> None:
    # The web app connects at its first click (the test before, or this one).
    post_hello(cluster.web_url, name="Ada", duration=1)
    hosts = {service: address(cluster, service) for service in FIRST_NODE}

    def nodes_by_client() -> dict[str, set[str]] | None:
        found = {
            service: {c["node"] for c in connections(cluster) if c["peer_host"] == host}
            for service, host in hosts.items()
        }
        return found if all(found.values()) else None

    found = wait_until(nodes_by_client, MANAGEMENT_API, "connections of the app and of the worker container")
    # Each client's connections are on the first node of its list: two nodes in all.
    assert found == {service: {node} for service, node in FIRST_NODE.items()}
