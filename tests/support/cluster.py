"""Step 10's cluster with Docker, for the tests of tests/containers/: the compose project of
docker-compose.yml and docker-compose.cluster.yml (three RabbitMQ nodes, app, one worker),
and what RabbitMQ says of it (its own tools, `rabbitmqctl ... --formatter json`, and the
management API of the first node, the one published on this machine).

A compose project of its own, beside the shared one of tests/containers/: its `.env` made
by `make .env`, as a learner's (the Erlang cookie included), with free ports added.
"""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.checkout import copy_working_tree
from tests.support.compose import ComposeProject, read_dot_env
from tests.support.poll import wait_until
from tests.support.stack import ARTIFACTS
from tests.support.timing import HTTP, SETUP, STACK_START

FILES = ("docker-compose.yml", "docker-compose.cluster.yml")
NODES = ["rabbit@rabbitmq", "rabbit@rabbitmq2", "rabbit@rabbitmq3"]
# Each client's first node: the first URL of its CELERY_BROKER_URL (docker-compose.cluster.yml).
FIRST_NODE = {"app": "rabbit@rabbitmq", "worker": "rabbit@rabbitmq2"}
PROGRAMS = {"flower": "RUNNING", "web": "RUNNING", "worker_hello": "RUNNING"}


@contextmanager
def cluster_project(folder: Path) -> Iterator[ComposeProject]:
    """The cluster's compose project in a fresh copy of this checkout, with one container of
    the `worker` service beside `app`, up until worker_hello and that worker consume
    hello_queue; afterwards `docker compose kill` and `down -v --remove-orphans`, also after a failure.

    test-artifacts/cluster-up.txt gets the times: `up` until it returns (the three nodes
    healthy, so the cluster formed, then app and worker started) and until both consume.
    """
    project = ComposeProject(folder, files=FILES)
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
