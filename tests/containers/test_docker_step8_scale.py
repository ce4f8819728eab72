"""Step 8 with Docker: `docker compose up -d --scale worker=2` adds two consumers of
hello_queue beside worker_hello, and `--scale worker=0` takes them away again."""

from tests.support import demo_doc
from tests.support.compose import ComposeProject
from tests.support.poll import wait_until
from tests.support.timing import SERVICE, SETUP, STACK_START


def test_two_worker_containers_make_three_consumers(stack: ComposeProject) -> None:
    app = stack.container("app")
    (scale_up,) = demo_doc.script("docker-scale-up")
    stack.run_demo_command(scale_up, timeout=SETUP // 2)
    assert len(stack.compose("ps", "--quiet", "worker").split()) == 2
    # Each worker container connects once Celery has started in it (a few seconds each).
    wait_until(
        lambda: stack.hello_queue() == (0, 0, 3), STACK_START + SERVICE, "3 consumers of hello_queue", interval=0.5
    )
    stack.run_demo_block("docker-scale-queue")
    assert stack.container("app") == app, "scaling the workers must leave the app container alone"

    (scale_down,) = demo_doc.script("docker-scale-down")
    stack.run_demo_command(scale_down, timeout=SETUP // 2)
    assert stack.compose("ps", "--all", "--quiet", "worker").split() == []
    wait_until(lambda: stack.hello_queue() == (0, 0, 1), STACK_START, "worker_hello the one consumer again")
