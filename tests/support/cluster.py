"""Step 10's cluster with Docker, for the tests of tests/containers/: the compose project of
docker-compose.yml and docker-compose.cluster.yml (three RabbitMQ nodes, app, one worker),
and what RabbitMQ says of it (its own tools, `rabbitmqctl ... --formatter json`, and the
management API of the first node, the one published on this machine).

A compose project of its own, beside the shared one of tests/containers/: its `.env` made
by `make .env`, as a learner's (the Erlang cookie included), with free ports added.
"""

import datetime
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support import demo_doc
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
def cluster_project(folder: Path, workers: int = 1) -> Iterator[ComposeProject]:
    """The cluster's compose project in a fresh copy of this checkout, started by DEMO.md step
    10's blocks step10-env and step10-up, with `workers` containers of the `worker` service
    beside `app` (one by default, as step10-up starts), up until worker_hello and those
    workers consume hello_queue; afterwards `docker compose kill` and `down -v
    --remove-orphans`, also after a failure.

    test-artifacts/cluster-up.txt gets the times: `up` until it returns (the three nodes
    healthy, so the cluster formed, then app and worker started) and until all consume.
    """
    project = ComposeProject(folder, files=FILES)
    copy_working_tree(project.folder)
    for command in demo_doc.script("step10-env"):  # `make .env`, as DEMO.md step 10 says
        project.run_demo_command(command)
    with (project.folder / ".env").open("a") as dotenv:
        dotenv.writelines(f"{name}={port}\n" for name, port in project.ports.items())
    project.env = read_dot_env(project.folder / ".env")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        started = time.monotonic()
        for command in demo_doc.script("step10-up"):  # `docker compose up -d --build`, as DEMO.md says
            if workers != 1 and command.startswith("docker compose up"):
                command += f" --scale worker={workers}"  # another number than the overlay's `scale: 1`
            project.run_demo_command(command, timeout=SETUP)
        formed = time.monotonic() - started
        wait_until(lambda: project.programs() == PROGRAMS, STACK_START, f"supervisord's programs: {PROGRAMS}")
        awaited = f"worker_hello and {workers} worker container(s) consuming hello_queue"
        wait_until(lambda: consumers(project) == 1 + workers, STACK_START, awaited)
        ready = time.monotonic() - started
        (ARTIFACTS / "cluster-up.txt").write_text(
            f"docker compose up -d --build (three nodes healthy, app and worker started): {formed:.1f} s\n"
            f"until worker_hello and the workers consume hello_queue: {ready:.1f} s\n"
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


def service_of(node: str) -> str:
    """The compose service of a RabbitMQ node: rabbit@rabbitmq2 -> rabbitmq2 (its host name)."""
    return node.split("@", 1)[1]


def queue_on(project: ComposeProject, service: str, queue: str = "hello_queue") -> dict | None:
    """`queue` as `service`'s node lists it now (`rabbitmqctl list_queues`, exact): its leader,
    members, the members `online` (a quorum queue's), messages_ready, messages_unacknowledged
    and consumers; None while that node does not answer (down, still booting) or lists no such
    queue."""
    columns = ("name", "leader", "members", "online", "messages_ready", "messages_unacknowledged", "consumers")
    listing = ["docker", "compose", "exec", service, "rabbitmqctl", "-q", "list_queues", *columns]
    result = project.run([*listing, "--formatter", "json"])
    if result.returncode != 0:
        return None
    try:
        return next((q for q in json.loads(result.stdout) if q["name"] == queue), None)
    except ValueError:
        return None


def running_nodes(project: ComposeProject, service: str) -> list[str] | None:
    """The cluster's running nodes, sorted, as `service`'s node sees them (`rabbitmqctl
    cluster_status`); None while it does not answer."""
    status = ["docker", "compose", "exec", service, "rabbitmqctl", "-q", "cluster_status", "--formatter", "json"]
    result = project.run(status)
    try:
        return sorted(json.loads(result.stdout)["running_nodes"]) if result.returncode == 0 else None
    except (ValueError, KeyError):
        return None


def stopped_at(project: ComposeProject, service: str) -> datetime.datetime:
    """When `service`'s container last stopped (`docker compose kill`: when it died), as Docker says."""
    container = project.compose("ps", "--all", "--quiet", service).split()[0]
    return parse_time(project.inspect(container, "{{.State.FinishedAt}}"))


def became_leader_at(project: ComposeProject, service: str, queue: str = "hello_queue") -> datetime.datetime | None:
    """When `service`'s node last became `queue`'s leader, as its log says: RabbitMQ logs each
    Raft election it wins, "queue 'hello_queue' in vhost '/': candidate -> leader in term: 2"
    (ra_server), with its own time (UTC, microseconds); None if its log has no such line."""
    won = rf"queue '{re.escape(queue)}' in vhost '/': candidate -> leader"
    pattern = re.compile(rf"^\S+\s+\|\s+(\S+ \S+) \[\w+\] <[^>]*> {won}")  # "rabbitmq3-1  | <time> [notice] <pid> ..."
    times = [match[1] for line in project.logs(service).splitlines() if (match := pattern.match(strip_colours(line)))]
    return parse_time(times[-1]) if times else None


def parse_time(text: str) -> datetime.datetime:
    """A time as Docker (2026-12-06T09:26:13.007469959Z) or RabbitMQ (2026-12-06 09:26:13.270635+00:00) writes it."""
    text = text.replace("T", " ").replace("Z", "+00:00")
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # nanoseconds: Python takes microseconds
    return datetime.datetime.fromisoformat(text)


def strip_colours(line: str) -> str:
    """`line` without the terminal colour codes that RabbitMQ's console log adds to notices and warnings."""
    return re.sub(r"\x1b\[[0-9;]*m", "", line)


def consumers(project: ComposeProject) -> int | None:
    """hello_queue's consumers now; None while it does not exist or RabbitMQ does not answer."""
    counts = project.hello_queue()
    return counts[2] if counts else None


def management_api(project: ComposeProject, path: str) -> list[dict]:
    """GET /api/`path` of the first node's management API (published on this machine), as the
    cluster's user, parsed: e.g. "nodes", "connections", "consumers".

    Raises:
        requests.RequestException: no answer, or an error status.
    """
    answer = requests.get(
        f"http://127.0.0.1:{project.ports['RABBITMQ_MANAGEMENT_PORT']}/api/{path}",
        auth=(project.env["RABBITMQ_DEFAULT_USER"], project.env["RABBITMQ_DEFAULT_PASS"]),
        timeout=HTTP,
    )
    answer.raise_for_status()
    return answer.json()


def connections(project: ComposeProject) -> list[dict]:
    """RabbitMQ's client connections, from the management API of the first node (published
    on this machine): each with the `node` it is on and the `peer_host` it comes from."""
    return management_api(project, "connections")


def address(project: ComposeProject, service: str) -> str:
    """The IP address of `service`'s one container on the project's network."""
    return project.inspect(project.container(service), "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
