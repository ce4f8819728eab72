"""README's quick start as written, with Docker for the services: `make .env`, `docker compose up
-d --wait rabbitmq redis`, `make run` (which finds the compose RabbitMQ's user, password and
ports in `.env`, and says so), then the pile-up and the drain.

A compose project of its own (only rabbitmq and redis), beside the shared one of
tests/containers/. The machine's own RabbitMQ and Redis hold the default ports, so the
services are published on free ones, set in `.env` as `.env.example` tells a learner whose
ports are taken; everything else runs as written.
"""

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import demo_doc, quick_start
from tests.support.checkout import REPOSITORY, copy_working_tree, free_port
from tests.support.compose import ComposeProject
from tests.support.poll import wait_until
from tests.support.stack import Stack, post_hello
from tests.support.timing import DRAIN, LOG_LINE, SETUP

# What the shell of `make run` must not bring from the test run: the URLs would win over
# .env's, and the tests' RABBITMQ_PORT (the RabbitMQ the tests use) over its published port.
NOT_A_LEARNERS = ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "RABBITMQ_MANAGEMENT_URL", "RABBITMQ_PORT")
PUBLISHED = ("RABBITMQ_PORT", "RABBITMQ_MANAGEMENT_PORT", "REDIS_PORT")


@pytest.fixture
def services() -> Iterator[ComposeProject]:
    """A copy of the working tree after the quick start's first two commands: `.env` made by
    `make .env` (with free ports added), and RabbitMQ and Redis up and healthy. Afterwards
    `docker compose down -v`, and the copy removed."""
    # A short path: make run's .run/supervisor.sock must fit in a unix socket's 108 bytes.
    with tempfile.TemporaryDirectory(prefix="hq-quick-") as folder:
        project = ComposeProject(Path(folder))
        copy_working_tree(project.folder)
        (project.folder / ".venv").symlink_to(REPOSITORY / ".venv")
        make_env, compose_up = quick_start.services()
        made = project.run(make_env)
        assert made.returncode == 0 and "Made .env" in made.stdout, made.stdout + made.stderr
        with (project.folder / ".env").open("a") as dotenv:
            dotenv.writelines(f"{name}={project.ports[name]}\n" for name in PUBLISHED)
        try:
            up = project.run(compose_up, timeout=SETUP)
            assert up.returncode == 0, f"{compose_up}: exit {up.returncode}\n{up.stderr}"
            yield project
        finally:
            project.compose("down", "-v", "--remove-orphans")


def test_quick_start_with_the_compose_services(services: ComposeProject) -> None:
    demo = Stack("quick-start", {"WEB_PORT": str(free_port()), "FLOWER_PORT": str(free_port())}, services.folder)
    for name in NOT_A_LEARNERS:
        demo.env.pop(name, None)
    try:
        demo.start(("web", "worker_hello", "flower"))
        user = re.search(r"^RABBITMQ_DEFAULT_USER=(.*)$", (services.folder / ".env").read_text(), re.M)
        assert user, "make .env should keep .env.example's user"
        ports = services.ports
        demo.wait_for_lines(
            rf"^RabbitMQ: amqp://{user[1]}:\*\*@localhost:{ports['RABBITMQ_PORT']}// "
            rf"\(UI http://localhost:{ports['RABBITMQ_MANAGEMENT_PORT']}\), "
            rf"Redis: redis://localhost:{ports['REDIS_PORT']}/0; from \.env\.$",
            timeout=LOG_LINE,
        )
        first = post_hello(demo.web_url, name="Ada", duration=1)
        demo.wait_for_lines(rf"Task say_hello\[{first}\] succeeded", timeout=LOG_LINE)

        def wait_for_drain(task_ids: list[str]) -> None:
            for task_id in task_ids:
                demo.wait_for_lines(rf"Task say_hello\[{task_id}\] succeeded", timeout=DRAIN)
            wait_until(
                lambda: any("messages:0 consumers:1" in line for line in demo.run_demo_command("make --silent queue")),
                LOG_LINE,
                "make queue to show hello_queue drained, worker_hello consuming",
            )

        clicked = quick_start.pile_up_and_drain(
            demo.run_demo_command, lambda: post_hello(demo.web_url, name="Ada", duration=1), wait_for_drain
        )
        assert len(clicked) == quick_start.CLICKS
    finally:
        alive = demo.stop()
        assert not alive, f"make run left processes behind: {alive}"


def test_without_dotenv_compose_says_how_to_make_one() -> None:
    """TROUBLESHOOTING.md's `ts-start-no-dotenv`: the services' command in a folder without
    `.env` starts nothing, and its one line names `make .env`."""
    with tempfile.TemporaryDirectory(prefix="hq-no-env-") as folder:
        project = ComposeProject(Path(folder))
        copy_working_tree(project.folder)
        (command,) = demo_doc.commands("ts-start-no-dotenv", doc=demo_doc.TROUBLESHOOTING)
        assert command.command == quick_start.services()[1], "the same command as README's quick start"
        result = project.run(command.command)
        assert result.returncode != 0, f"{command.command} should refuse without .env:\n{result.stdout}"
        printed = (result.stdout + result.stderr).splitlines()
        demo_doc.assert_lines_match(printed, command.expected, "TROUBLESHOOTING.md ts-start-no-dotenv")
        # Not `docker compose ps`, which stops at the same missing variable.
        label = f"label=com.docker.compose.project={project.name}"
        assert not project.run(["docker", "ps", "-a", "--quiet", "--filter", label]).stdout.strip(), "nothing may start"
