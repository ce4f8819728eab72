"""Steps 2 and 3 with Docker, DEMO.md's commands as written: supervisord's programs in the
app container, worker_hello stopped, a pile-up in the broker's container, the drain on start.

The pile-up is counted by RabbitMQ itself (`rabbitmqctl list_queues`), and the
drain by the web app on its host port: each task's GET /tasks/<id> reads SUCCESS.
"""

from tests.support.compose import ComposeProject
from tests.support.poll import wait_until
from tests.support.stack import post_hellos
from tests.support.timing import DRAIN, SERVICE

PILE = 5  # DEMO.md's "click five times"


def test_docker_status_stop_pile_up_start_drain(stack: ComposeProject) -> None:
    stack.run_demo_block("docker-status")
    stack.run_demo_block("docker-stop")
    assert stack.programs()["worker_hello"] == "STOPPED"

    task_ids = post_hellos(stack.web_url, PILE, duration=1)
    # Each 202 came after RabbitMQ confirmed the message: they are all in the queue now.
    wait_until(lambda: stack.hello_queue() == (PILE, 0, 0), SERVICE, f"{PILE} Ready, 0 Unacked, 0 consumers")
    stack.run_demo_block("docker-queue-piled")

    stack.run_demo_block("docker-start")
    wait_until(
        lambda: stack.all_succeeded(task_ids), DRAIN, f"all {PILE} tasks SUCCESS on GET /tasks/<id>", interval=0.5
    )
    wait_until(lambda: stack.hello_queue() == (0, 0, 1), SERVICE, "hello_queue drained, worker_hello consuming")
    stack.run_demo_block("docker-queue-drained")
