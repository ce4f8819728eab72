"""Step 10's cluster with Docker: `docker compose -f docker-compose.yml -f docker-compose.cluster.yml up`
starts three RabbitMQ nodes that form one cluster by themselves, hello_queue is a quorum queue
with a member on each, clicks run, and the clients' connections are spread over the nodes.

A compose project of its own, beside the shared one of tests/containers/: its `.env` made
by `make .env`, as a learner's (the Erlang cookie included), with free ports added. What
RabbitMQ says is asked with its own tools (`rabbitmqctl ... --formatter json`) and its
management API (connections and the node each is on).
"""

import json
import time
from collections.abc import Iterator

import pytest
import requests

from tests.support.checkout import copy_working_tree
from tests.support.compose import ComposeProject, read_dot_env
from tests.support.poll import wait_until
from tests.support.stack import ARTIFACTS, post_hello, post_hellos
from tests.support.timing import CLICK_ANSWER, DRAIN, HTTP, MANAGEMENT_API, SETUP, STACK_START

FILES = ("docker-compose.yml", "docker-compose.cluster.yml")
NODES = ["rabbit@rabbitmq", "rabbit@rabbitmq2", "rabbit@rabbitmq3"]
# Each client's first node: the first URL of its CELERY_BROKER_URL (docker-compose.cluster.yml).
FIRST_NODE = {"app": "rabbit@rabbitmq", "worker": "rabbit@rabbitmq2"}
PROGRAMS = {"flower": "RUNNING", "web": "RUNNING", "worker_hello": "RUNNING"}
CLICKS = 5


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeProject]:
    """The cluster's compose project in a fresh copy of this checkout, with one container of
    the `worker` service beside `app`, up until worker_hello and that worker consume
    hello_queue; afterwards `docker compose kill` and `down -v --remove-orphans`, also after a failure.

    test-artifacts/cluster-up.txt gets the times: `up` until it returns (the three nodes
    healthy, so the cluster formed, then app and worker started) and until both consume.
    """
    project = ComposeProject(tmp_path_factory.mktemp("cluster"), files=FILES)
    copy_working_tree(project.folder)
    made = project.run(["make", "--silent", ".env"])
    assert made.returncode == 0, made.stdout + made.stderr
    with (project.folder / ".env").open("a") as dotenv:
        dotenv.writelines(f"{name}={port}\n" for name, port in project.ports.items())
    project.env = read_dot_env(project.folder / ".env")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        started = time.monotonic()
        project.compose("up", "-d", "--build", "--quiet-pull", "--scale", "worker=1", timeout=SETUP)
        formed = time.monotonic() - started
        wait_until(lambda: project.programs() == PROGRAMS, STACK_START, f"supervisord's programs: {PROGRAMS}")
        wait_until(lambda: consumers(project) == 2, STACK_START, "worker_hello and the worker consuming hello_queue")
        ready = time.monotonic() - started
        (ARTIFACTS / "cluster-up.txt").write_text(
            f"docker compose up -d --build (three nodes healthy, app and worker started): {formed:.1f} s\n"
            f"until worker_hello and the worker consume hello_queue: {ready:.1f} s\n"
        )
        yield project
    finally:
        (ARTIFACTS / "cluster.log").write_text(project.logs())
        # Nothing of it is kept: killed first, so that `down` does not wait for warm
        # shutdowns (stop_grace_period) and for nodes that stop without a majority.
        project.run(["docker", "compose", "kill"])
        project.down()


def rabbitmqctl(project: ComposeProject, service: str, *args: str) -> object:
    """`docker compose exec SERVICE rabbitmqctl ARGS --formatter json`, parsed.

    Raises:
        AssertionError: it failed.
    """
    return json.loads(project.compose("exec", service, "rabbitmqctl", "-q", *args, "--formatter", "json"))


def consumers(project: ComposeProject) -> int | None:
    """hello_queue's consumers now; None while it does not exist or RabbitMQ does not answer."""
    counts = project.hello_queue()
    return counts[2] if counts else None


def connections(project: ComposeProject) -> list[dict]:
    """RabbitMQ's client connections, from the management API of the first node (published
    on this machine): each with the `node` it is on and the `peer_host` it comes from."""
    answer = requests.get(
        f"http://127.0.0.1:{project.ports['RABBITMQ_MANAGEMENT_PORT']}/api/connections",
        auth=(project.env["RABBITMQ_DEFAULT_USER"], project.env["RABBITMQ_DEFAULT_PASS"]),
        timeout=HTTP,
    )
    answer.raise_for_status()
    return answer.json()


def address(project: ComposeProject, service: str) -> str:
    """The IP address of `service`'s one container on the project's network."""
    return project.inspect(project.container(service), "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")


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


def test_a_click_while_the_first_node_is_down_goes_to_the_next(cluster: ComposeProject) -> None:
    # The web app's connections are on rabbitmq: killed, its container and name are gone
    # (`docker compose kill`, as in a crash), and app/failover.py tries rabbitmq2 next.
    # Last in this module: the node stays down until `down`.
    cluster.compose("kill", "rabbitmq")
    task_ids = []
    for number in range(3):
        started = time.monotonic()
        answer = requests.post(f"{cluster.web_url}/hello", json={"name": f"k{number}", "duration": 1}, timeout=HTTP)
        elapsed = time.monotonic() - started
        assert answer.status_code == 202, answer.text
        assert elapsed < CLICK_ANSWER, f"the answer took {elapsed:.2f} s"
        task_ids.append(answer.json()["task_id"])
    wait_until(lambda: cluster.all_succeeded(task_ids), DRAIN, "the clicks made with rabbitmq down to succeed")
