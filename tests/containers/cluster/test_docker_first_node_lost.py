"""Step 10's cluster loses its first node, rabbit@rabbitmq, the first of the web app's list:
a click goes to the next node, rabbitmq2, and is answered 202 within 3 s, and its task runs.

Last of this folder, by its name: it leaves the app container's clients on rabbitmq2, and
no test after it needs them back on the first node (conftest.py hands the cluster back
whole after every test but the last; the cluster is killed and removed after it).
"""

import time

import requests

from tests.support.cluster import queue_on
from tests.support.compose import ComposeProject
from tests.support.poll import wait_until
from tests.support.timing import CLICK_ANSWER, DRAIN, HTTP, SERVICE


def test_a_click_while_the_first_node_is_down_goes_to_the_next(cluster: ComposeProject) -> None:
    # hello_queue led by another node first (rabbitmq-queues transfer_leadership): with its
    # leader lost too, a click in the moments after could be handed by the new leader to
    # worker_hello's consumer on the lost node, not yet known lost, and wait there for
    # RabbitMQ's consumer_disconnected_timeout, 60 s (seen, with RabbitMQ 4.3). This test is
    # about the web app's failover; the leader's loss is test_docker_cluster_node_loss.py's.
    new_leader = "rabbit@rabbitmq2"
    if queue_on(cluster, "rabbitmq")["leader"] == "rabbit@rabbitmq":
        cluster.compose("exec", "rabbitmq", "rabbitmq-queues", "-q", "transfer_leadership", "hello_queue", new_leader)
        wait_until(
            lambda: (queue_on(cluster, "rabbitmq") or {}).get("leader") == new_leader,
            SERVICE,
            f"{new_leader} leading hello_queue",
        )
    # The web app's connections are on rabbitmq: killed, its container and name are gone
    # (`docker compose kill`, as in a crash), and app/failover.py tries rabbitmq2 next.
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
