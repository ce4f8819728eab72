"""Step 4 with Docker: a deploy (`docker compose up -d --build app`) while messages wait.

The messages wait in RabbitMQ's container, which the deploy leaves running; the
rebuilt app container's worker_hello runs them as it starts.
"""

from tests.support import demo_doc
from tests.support.compose import ComposeProject
from tests.support.poll import wait_until
from tests.support.stack import page_answers, post_hellos
from tests.support.timing import DRAIN, SERVICE, SETUP, STACK_START
from worker.completions import completions_key

WAITING = 3  # DEMO.md's "click Say hello three times"


def test_messages_wait_in_the_broker_through_a_deploy_and_run_after_it(stack: ComposeProject) -> None:
    stack.run_demo_block("docker-stop")
    task_ids = post_hellos(stack.web_url, WAITING, duration=0)
    wait_until(lambda: stack.hello_queue() == (WAITING, 0, 0), SERVICE, f"{WAITING} Ready, 0 consumers")
    old_app, old_image = stack.container("app"), stack.inspect(stack.container("app"), "{{.Image}}")
    broker_started = stack.started_at("rabbitmq")

    # A new version of the code, as `git checkout ':/^Step 4:'` brings one: here, a comment.
    with (stack.folder / "worker" / "tasks.py").open("a") as tasks:
        tasks.write("\n# A new version, deployed by tests/containers/test_docker_step4_deploy.py.\n")
    (deploy,) = demo_doc.script("docker-deploy")
    stack.run_demo_command(deploy, timeout=SETUP)

    new_app = stack.container("app")
    assert new_app != old_app, "the deploy must replace the app container"
    assert stack.inspect(new_app, "{{.Image}}") != old_image, "the deploy must run a rebuilt image"
    assert stack.started_at("rabbitmq") == broker_started, "RabbitMQ must keep running through the deploy"
    # `up` returns once the new container has started; gunicorn listens a moment later.
    wait_until(lambda: page_answers(stack.web_url), STACK_START, "the new container's page to answer", interval=0.5)
    wait_until(lambda: stack.all_succeeded(task_ids), DRAIN, f"the {WAITING} waiting tasks to succeed", interval=0.5)
    assert [stack.redis().get(completions_key(task_id)) for task_id in task_ids] == ["1"] * WAITING
