"""DEMO.md step 10, run as written against the cluster: its blocks in order, each checked
against what it shows (tests/support/demo_doc.py), on the folder's one cluster, which the step's own
`step10-env` and `step10-up` blocks started (tests/support/cluster.py, conftest.py).

The figures (election time, counts of each kill) are measured by test_docker_cluster_node_loss.py;
this module proves that a learner who types the commands sees what DEMO.md says, and hands the
cluster back whole: three nodes running, both workers consuming, hello_queue empty.
"""

import re
import subprocess
from pathlib import Path

import requests

from tests.support import demo_doc
from tests.support.alarm_clicks import status
from tests.support.cluster import NODES, connections, queue_on, running_nodes
from tests.support.compose import ComposeProject
from tests.support.poll import wait_for, wait_until
from tests.support.timing import BROKER_CONTAINER, DRAIN, MANAGEMENT_API, SERVICE, SHORT_COMMAND

PILE = 100  # the clicks of the step10-pile-up block


def whole(cluster: ComposeProject) -> bool:
    """The three nodes running, hello_queue with nothing Ready and its two consumers
    (worker_hello, the worker container), as the first node sees them."""
    queue = queue_on(cluster, "rabbitmq")
    return (
        running_nodes(cluster, "rabbitmq") == NODES
        and queue is not None
        and (queue["messages_ready"], queue["consumers"]) == (0, 2)
    )


def run_script(cluster: ComposeProject, key: str) -> None:
    """Run each command of DEMO.md's block `key` as written (its trailing comments dropped)."""
    for command in demo_doc.script(key):
        cluster.run_demo_command(command, timeout=SHORT_COMMAND * 4)


def test_a_dot_env_made_before_step_10_gets_a_cookie_once(tmp_path: Path) -> None:
    # step10-env's second line, on a .env of step 9 (no cookie) and again on its result.
    (add_cookie,) = [line for line in demo_doc.script("step10-env") if "RABBITMQ_ERLANG_COOKIE" in line]
    dotenv = tmp_path / ".env"
    dotenv.write_text("RABBITMQ_DEFAULT_USER=hello\nRABBITMQ_DEFAULT_PASS=secret\n")
    for _ in range(2):
        subprocess.run(add_cookie, shell=True, cwd=tmp_path, check=True, timeout=SHORT_COMMAND)
        cookies = re.findall(r"^RABBITMQ_ERLANG_COOKIE=(.*)$", dotenv.read_text(), re.M)
        assert len(cookies) == 1 and re.fullmatch(r"[0-9a-f]{64}", cookies[0]), dotenv.read_text()


def test_three_nodes_one_cluster_and_a_quorum_hello_queue(cluster: ComposeProject) -> None:
    # The cluster was started by "step10-up" as written (cluster_project): with no --scale,
    # the overlay's `scale: 1` starts one worker container beside the app's worker_hello.
    assert demo_doc.script("step10-up")[-1] == "docker compose up -d --build"
    assert len(cluster.compose("ps", "--quiet", "worker").split()) == 1
    cluster.run_demo_block("step10-cluster")
    cluster.run_demo_block("step10-queue")
    cluster.run_demo_block("step10-delayed-queues")


def test_the_consumers_are_on_two_nodes_and_name_their_connections(cluster: ComposeProject) -> None:
    cluster.run_demo_block("step10-consumers")

    # What the UI's Connections tab shows: each worker's connections named after it, on its node.
    def named() -> dict[str, set[str]] | None:
        found: dict[str, set[str]] = {}
        for connection in connections(cluster):
            name = (connection.get("client_properties") or {}).get("connection_name", "")
            found.setdefault(name.split("@", 1)[0], set()).add(connection["node"])
        return found if {"worker_hello", "worker", "web"} <= found.keys() else None

    requests.post(f"{cluster.web_url}/hello", json={"name": "Ada", "duration": 0}, timeout=SERVICE)  # web connects
    found = wait_until(named, MANAGEMENT_API, "connections named worker_hello@..., worker@... and web")
    assert found["worker_hello"] == {"rabbit@rabbitmq"}, found
    assert found["worker"] == {"rabbit@rabbitmq2"}, found


def test_the_leader_killed_with_100_waiting_loses_none(cluster: ComposeProject) -> None:
    run_script(cluster, "step10-pile-up")
    wait_until(
        lambda: (queue_on(cluster, "rabbitmq") or {}).get("messages_ready") == PILE,
        MANAGEMENT_API,
        f"{PILE} Ready in hello_queue",
    )
    # step10-leader moves the leader to rabbitmq2, which RabbitMQ refuses when it leads already:
    # first away from it then, so that the block runs as a learner whose leader is elsewhere.
    if queue_on(cluster, "rabbitmq")["leader"] == "rabbit@rabbitmq2":
        cluster.compose("exec", "rabbitmq", "rabbitmq-queues", "-q", "transfer_leadership", "hello_queue", NODES[0])
        wait_until(
            lambda: (queue_on(cluster, "rabbitmq") or {}).get("leader") == NODES[0],
            MANAGEMENT_API,
            "the leader moved to rabbit@rabbitmq",
        )
    cluster.run_demo_block("step10-leader")

    run_script(cluster, "step10-kill-leader")
    wait_until(
        lambda: (queue_on(cluster, "rabbitmq") or {}).get("leader") in ("rabbit@rabbitmq", "rabbit@rabbitmq3"),
        MANAGEMENT_API,
        "rabbitmqctl on rabbitmq to name the new leader",
    )
    cluster.run_demo_block("step10-new-leader")

    run_script(cluster, "step10-recover")
    wait_until(lambda: whole(cluster), DRAIN + BROKER_CONTAINER, "the 100 drained, rabbitmq2 back, both consuming")
    assert queue_on(cluster, "rabbitmq")["messages_unacknowledged"] == 0


def test_a_majority_lost_answers_503_and_the_cluster_comes_back(cluster: ComposeProject) -> None:
    run_script(cluster, "step10-kill-majority")
    # The web app names the members online as RabbitMQ's management API lists them, which
    # notices the two gone a moment after the kill.
    minority = {"members": NODES, "online": NODES[:1]}
    wait_for(
        lambda: status(cluster.web_url)["quorum"], lambda quorum: quorum == minority, SERVICE, "GET /status's quorum"
    )
    cluster.run_demo_block("step10-majority-click")
    run_script(cluster, "step10-majority-back")
    wait_until(lambda: whole(cluster), 2 * BROKER_CONTAINER, "the cluster whole again, both workers consuming")
    answer = requests.post(f"{cluster.web_url}/hello", json={"name": "Ada", "duration": 0}, timeout=SERVICE)
    assert answer.status_code == 202, answer.text
    task_id = answer.json()["task_id"]
    wait_until(lambda: cluster.all_succeeded([task_id]), DRAIN, "a click after the nodes' return to succeed")
