"""One cluster for every test of tests/containers/cluster/, handed to each test whole, whatever
the test before it killed, stopped or left half done. Starting a cluster takes half a minute to
a minute on a busy machine (three nodes, app, worker: tests/support/cluster.py), so the tests
share one, and what a test changes is put back before the next one runs.

Whole is what `docker compose up` left (`cluster_project`):

- the three nodes running in the cluster (the management API's nodes: those of
  `rabbitmqctl cluster_status`, each running or not);
- hello_queue with its three members online (`rabbitmqctl list_queues ... online`), nothing
  Ready or Unacked in it, and two consumers: worker_hello in the app container, and the
  worker container;
- the clients where `up` put them: the app container's (the web app, worker_hello) on the
  first node, rabbit@rabbitmq, whose ports are published here and whose management API the
  web app reads; the worker container's consumer on another node, so that losing a node
  other than the first (test_docker_cluster_node_loss.py), or the first
  (test_docker_first_node_lost.py), leaves one worker consuming. A client that loses its
  node connects to the next node of its list and stays there once the node is back
  (kombu's failover, docker-compose.cluster.yml's lists), so such a client is restarted,
  and connects to the first node of its list again.

What a test changes shows in a snapshot: a node killed or started, a worker stopped or
restarted (each container's start time and state, each supervisord program's pid). A test
that passed and left the snapshot as it was is trusted; any other is followed by
`hand_back`, so that one failure does not fail every test after it.
"""

from dataclasses import dataclass

import requests

from tests.support.cluster import NODES, address, connections, management_api, queue_on
from tests.support.compose import ComposeProject
from tests.support.poll import wait_for
from tests.support.stack import page_answers
from tests.support.timing import BROKER_CONTAINER

FIRST_NODE = "rabbit@rabbitmq"
RABBITMQ_SERVICES = [node.split("@", 1)[1] for node in NODES]
# A container's line in the snapshot: its compose service, state and start time.
CONTAINER_STATE = '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{.State.StartedAt}}'


@dataclass(frozen=True)
class Snapshot:
    """What tells one moment of the cluster from another: `containers` maps each compose
    service to its container's state and start time (`docker inspect`); `programs` holds
    supervisord's lines, name, state and pid (`supervisorctl status`, without the uptime)."""

    containers: dict[str, str]
    programs: tuple[str, ...]


def snapshot(project: ComposeProject) -> Snapshot:
    """The cluster's `Snapshot` now: two `docker` commands and one `supervisorctl`."""
    containers = project.compose("ps", "--all", "--quiet").split()
    inspected = project.run(["docker", "inspect", "--format", CONTAINER_STATE, *containers]).stdout
    status = project.run(["docker", "compose", "exec", "app", "supervisorctl", "status"]).stdout
    return Snapshot(
        containers=dict(line.split(" ", 1) for line in inspected.splitlines() if line),
        programs=tuple(line.split(",")[0] for line in status.splitlines()),
    )


def not_whole(project: ComposeProject) -> tuple[list[str], list[str]]:
    """What keeps the cluster from being whole now, in words, in two lists: the nodes (running,
    hello_queue's members online), and hello_queue's Ready, Unacked and consumers; both empty
    once it is whole. The nodes as the management API lists them (the cluster's members, as
    `rabbitmqctl cluster_status` does, each running or not); hello_queue as `rabbitmqctl
    list_queues` sees it, exact, where the management API's counts and members online lag
    by seconds. Both asked of the first node."""
    try:
        running = sorted(node["name"] for node in management_api(project, "nodes") if node["running"])
    except requests.RequestException as error:
        return [f"the first node's management API: {error}"], []
    nodes = [] if running == NODES else [f"running nodes {running}"]
    queue = queue_on(project, "rabbitmq")
    if queue is None:
        return [*nodes, "no hello_queue listed by rabbitmq"], []
    if sorted(queue["online"] or []) != NODES:
        nodes.append(f"hello_queue's members online: {queue['online']}")
    counts = (queue["messages_ready"], queue["messages_unacknowledged"], queue["consumers"])
    return nodes, [] if counts == (0, 0, 2) else [f"hello_queue's Ready, Unacked, consumers: {counts}, not (0, 0, 2)"]


def moved(project: ComposeProject) -> list[str]:
    """The clients off the node `up` put them on, from the management API: "web" (a connection
    of the web app's off the first node), "worker_hello" (its hello_queue consumer off it),
    "worker" (the worker container's consumer on it). A worker not consuming yet is not counted."""
    app, worker = address(project, "app"), address(project, "worker")
    web = {c["node"] for c in connections(project) if connection_name(c) == "web"}
    consumers = {
        consumer["channel_details"]["peer_host"]: consumer["channel_details"]["node"]
        for consumer in management_api(project, "consumers")
        if consumer["queue"]["name"] == "hello_queue"
    }
    wrong = ["web"] if web - {FIRST_NODE} else []
    wrong += ["worker_hello"] if consumers.get(app, FIRST_NODE) != FIRST_NODE else []
    return [*wrong, "worker"] if consumers.get(worker) == FIRST_NODE else wrong


def connection_name(connection: dict) -> str | None:
    """The name a client gave its connection (`connection_name`: "web", "worker_hello", "flower")."""
    return connection.get("client_properties", {}).get("connection_name")


def start_nodes(project: ComposeProject) -> None:
    """`docker compose start` the nodes that are not running (killed by a test, and, the test
    having failed, left so)."""
    running = set(project.compose("ps", "--services", "--status", "running").split())
    nodes = [service for service in RABBITMQ_SERVICES if service not in running]
    if nodes:
        project.compose("start", *nodes)


def start_clients(project: ComposeProject) -> None:
    """Start the app container, the worker container and supervisord's programs where they
    are not running (stopped by a test, or by `hand_back`)."""
    running = set(project.compose("ps", "--services", "--status", "running").split())
    if "app" not in running:
        project.compose("start", "app")
    if "worker" not in running:
        # Not `start`, which starts the services it depends on too.
        project.compose("restart", "--no-deps", "worker")
    project.run(["docker", "compose", "exec", "app", "supervisorctl", "start", "all"])


def restart(project: ComposeProject, clients: list[str]) -> None:
    """Restart `clients` ("web", "worker_hello": supervisord's programs; "worker": the worker
    container), each of which then connects to the first node of its list."""
    programs = [client for client in clients if client != "worker"]
    if programs:
        project.compose("exec", "app", "supervisorctl", "restart", *programs)
    if "worker" in clients:
        # Killed first: a worker whose node was lost may still be setting up its connection
        # anew (Celery's delayed-delivery setup tries every node of its list, a lost one 4
        # times, and declares queues, which waits while the cluster has no majority), and
        # its warm shutdown waits for that, half a minute and more. A test that ended with
        # its tasks done leaves it none to lose. --no-deps: not the nodes it depends on too.
        project.compose("kill", "worker")
        project.compose("restart", "--no-deps", "worker")


def hand_back(project: ComposeProject, before: Snapshot) -> Snapshot:
    """Make the cluster whole again, and wait until it is: the nodes first, then the clients
    (started before the nodes are back, a client would connect to another node).

    Args:
        project: the cluster's compose project.
        before: its snapshot when it was last whole. If the first node's container stopped
            or started since, the app container's clients were connected to it, and are
            restarted.

    Returns:
        The snapshot of the whole cluster.

    Raises:
        AssertionError: not whole within BROKER_CONTAINER seconds (a node's boot and the
            clients' start); the message says what was still missing.
    """
    now = snapshot(project)
    start_nodes(project)
    restarted: list[str] = []
    if before.containers.get("rabbitmq") != now.containers.get("rabbitmq"):
        # The app container's clients were on the first node. Stopped while the nodes boot
        # (worker_hello may be setting up its connection anew, and stops only once that is
        # done: `restart`), started once they are back, they connect to the first node.
        restarted = ["web", "worker_hello"]
        project.run(["docker", "compose", "exec", "app", "supervisorctl", "stop", *restarted])
    clients_started: list[bool] = []

    def missing() -> list[str]:
        nodes, counts = not_whole(project)
        if nodes:
            return nodes
        if not clients_started:
            start_clients(project)
            clients_started.append(True)
        # A client seen on another node is restarted, once: a worker that reconnected when
        # its node was lost may only now consume again, and show where.
        wrong = moved(project)
        again = [client for client in wrong if client not in restarted]
        restart(project, again)
        restarted.extend(again)
        page = [] if page_answers(project.web_url) else ["the web app's page not answering"]
        return counts + [f"{client} connected off the first node" for client in wrong] + page

    wait_for(
        missing,
        lambda found: not found,
        BROKER_CONTAINER,
        "the cluster whole: three nodes running, hello_queue's members online, empty, both workers "
        "consuming it, the app's clients on the first node",
    )
    return snapshot(project)


class SharedCluster:
    """The one cluster of a test run, and the snapshot of it when it was last whole.

    Args:
        project: the cluster's compose project, up (`cluster_project`): whole.
    """

    def __init__(self, project: ComposeProject) -> None:
        self.project = project
        self.whole: Snapshot | None = snapshot(project)
        self.last_whole = self.whole

    def take(self) -> ComposeProject:
        """The cluster for the next test: handed back whole first if `hand_back` failed after
        the test before.

        Raises:
            AssertionError: `hand_back` failed again.
        """
        if self.whole is None:
            self.whole = self.last_whole = hand_back(self.project, self.last_whole)
        return self.project

    def give_back(self, failed: bool) -> None:
        """After a test: if it failed, or changed the snapshot, `hand_back`.

        Args:
            failed: whether the test failed.

        Raises:
            AssertionError: `hand_back` failed (the next `take` tries again).
        """
        if not failed and snapshot(self.project) == self.whole:
            return
        self.whole = None
        self.whole = self.last_whole = hand_back(self.project, self.last_whole)
