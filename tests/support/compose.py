"""The demo in containers, for tests/containers/: one `docker compose` project in a fresh
copy of this checkout, with a `.env` of its own, started once and removed afterwards.

The copy has git's files as they are in the working tree (tracked ones, edits
included, and untracked ones that git does not ignore), so that the images are
built from what is being tested, and nothing the tests do touches this checkout.
Its `.env` is `.env.example` with fresh passwords, and host ports that nothing
listens on, so that the stack runs beside the machine's own RabbitMQ and Redis.

Every command runs in the copy, with COMPOSE_PROJECT_NAME in its environment: a
DEMO.md command (`docker compose exec app ...`) then reaches this project as
written, as a learner's does from their clone.
"""

import os
import re
import secrets
import subprocess
import time
import uuid
from pathlib import Path

import redis
import requests

from tests.support import demo_doc
from tests.support.checkout import REPOSITORY, copy_working_tree, free_port
from tests.support.poll import wait_until
from tests.support.timing import DOCKER_COMMAND, DOCKER_HEALTHY, HTTP, SETUP, STACK_START

# The image that docker-compose.yml's app service builds, and its worker service runs:
# hello-queue, or HELLO_QUEUE_IMAGE. Each project of the tests names its own, a tag of
# this repository: another checkout's tests, building at the same time, would otherwise
# retag the name under it, and `docker compose up --scale` recreate its app container.
APP_REPOSITORY = "hello-queue"
# The host ports that docker-compose.yml publishes, each a variable of .env.
PORT_VARIABLES = ("WEB_PORT", "FLOWER_PORT", "RABBITMQ_PORT", "RABBITMQ_MANAGEMENT_PORT", "REDIS_PORT")
# What DEMO.md's commands say, and where the demo listens by default: moved to this stack's ports.
DEFAULT_ADDRESSES = {"localhost:8000": "WEB_PORT", "localhost:5555": "FLOWER_PORT"}
# hello_queue's counts, as DEMO.md asks RabbitMQ for them with Docker.
LIST_QUEUES = ("rabbitmqctl", "list_queues", "-q", "name", "messages_ready", "messages_unacknowledged", "consumers")
# The names of a container's volumes, one a line.
VOLUMES_TEMPLATE = '{{range .Mounts}}{{if eq .Type "volume"}}{{println .Name}}{{end}}{{end}}'
# Docker's variables, which say which engine the docker CLI talks to: kept for every command.
DOCKER_VARIABLES = ("DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")


def dot_env(example: str, ports: dict[str, int]) -> str:
    """A `.env` from the text of `.env.example`: the secrets it leaves empty chosen, and `ports`.

    Raises:
        ValueError: `.env.example` has no empty `RABBITMQ_DEFAULT_PASS=`, `FLOWER_BASIC_AUTH=` or
            `RABBITMQ_ERLANG_COOKIE=` line.
    """
    filled = {
        # token_urlsafe: letters, digits, - and _, safe inside the broker's URL (.env.example says so).
        "RABBITMQ_DEFAULT_PASS": secrets.token_urlsafe(16),
        "FLOWER_BASIC_AUTH": f"flower:{secrets.token_urlsafe(16)}",
        # Letters and digits, as `make .env` makes it (.env.example says so).
        "RABBITMQ_ERLANG_COOKIE": secrets.token_hex(32),
    }
    text = example
    for variable, value in filled.items():
        text, found = re.subn(rf"^{variable}=$", f"{variable}={value}", text, flags=re.M)
        if not found:
            raise ValueError(f".env.example has no empty {variable}= line to fill in")
    return text + "".join(f"{variable}={port}\n" for variable, port in ports.items())


def free_ports(variables: tuple[str, ...] = PORT_VARIABLES) -> dict[str, int]:
    """A distinct free TCP port on 127.0.0.1 for each of `variables`."""
    ports: dict[str, int] = {}
    while len(ports) < len(variables):
        port = free_port()
        if port not in ports.values():
            ports[variables[len(ports)]] = port
    return ports


class ComposeProject:
    """The demo's compose project in a copy of this checkout.

    Args:
        folder: an empty folder for the copy.
        name: the project's name; by default a unique one, so that the project's
            containers, network and volumes are its own.
        files: the compose files, in the order of `docker compose -f ... -f ...`; by default
            docker-compose.yml alone. Set as COMPOSE_FILE, so that every command, a
            DEMO.md one included, applies them (Compose docs, "Environment variables").
    """

    def __init__(self, folder: Path, name: str | None = None, files: tuple[str, ...] = ()) -> None:
        self.folder = folder
        self.name = name or f"hq-tests-{uuid.uuid4().hex[:8]}"
        self.app_image = f"{APP_REPOSITORY}:{self.name}"
        self.files = files
        self.ports = free_ports()
        self.web_url = f"http://127.0.0.1:{self.ports['WEB_PORT']}"
        self.flower_url = f"http://127.0.0.1:{self.ports['FLOWER_PORT']}"
        self.env: dict[str, str] = {}
        # The app image `up` built, and the images the project's containers ran at the end.
        self.built_image: str | None = None
        self.images_run: set[str] = set()

    def prepare(self) -> None:
        """Copy the working tree into `folder` and write its `.env`."""
        copy_working_tree(self.folder)
        (self.folder / ".env").write_text(dot_env((REPOSITORY / ".env.example").read_text(), self.ports))
        self.env = read_dot_env(self.folder / ".env")

    def environment(self) -> dict[str, str]:
        """The environment of every command: a second terminal's (no variable of the test
        run, which would override .env's), Docker's own, and the project's name."""
        keep = ("PATH", "HOME", *DOCKER_VARIABLES)
        files = {"COMPOSE_FILE": os.pathsep.join(self.files)} if self.files else {}
        return {
            **{k: os.environ[k] for k in keep if k in os.environ},
            "COMPOSE_PROJECT_NAME": self.name,
            "HELLO_QUEUE_IMAGE": self.app_image,
            **files,
        }

    def run(self, command: str | list[str], timeout: float = DOCKER_COMMAND) -> subprocess.CompletedProcess:
        """Run `command` (a shell line, or an argument list) in the copy; its exit status unchecked."""
        return subprocess.run(
            command,
            shell=isinstance(command, str),
            cwd=self.folder,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def compose(self, *args: str, timeout: float = DOCKER_COMMAND) -> str:
        """`docker compose ARGS` in the copy; what it printed on stdout.

        Raises:
            AssertionError: it exited non-zero (its output is in the message).
        """
        result = self.run(["docker", "compose", *args], timeout)
        assert result.returncode == 0, f"docker compose {' '.join(args)}: exit {result.returncode}\n{result.stderr}"
        return result.stdout

    def run_demo_command(self, command: str, timeout: float = DOCKER_COMMAND) -> list[str]:
        """Run a DEMO.md command as written, in the copy, but against this stack's host ports
        instead of the defaults (localhost:8000, localhost:5555).

        Returns:
            The lines it printed on stdout.

        Raises:
            AssertionError: it exited non-zero.
        """
        for address, variable in DEFAULT_ADDRESSES.items():
            command = command.replace(address, f"127.0.0.1:{self.ports[variable]}")
        result = self.run(command, timeout)
        assert result.returncode == 0, f"{command!r}: exit {result.returncode}\n{result.stdout}{result.stderr}"
        return result.stdout.splitlines()

    def run_demo_block(self, key: str, doc: Path = demo_doc.DEMO) -> None:
        """Run each command of the console block `key` of `doc` (DEMO.md by default;
        `run_demo_command`), and check that it prints the lines the block shows.

        Raises:
            AssertionError: a command failed, or printed other lines.
        """
        for command in demo_doc.commands(key, doc=doc):
            printed = self.run_demo_command(command.command)
            demo_doc.assert_lines_match(printed, command.expected, f"{doc.name} {key}: {command.command}")

    def redis(self) -> redis.Redis:
        """A client of the stack's Redis, on its host port: the results, and the worker's
        completion counts (worker/completions.py)."""
        return redis.Redis(port=self.ports["REDIS_PORT"], socket_timeout=HTTP, decode_responses=True)

    def redis_answers(self) -> bool:
        """Whether the stack's Redis answers PING right now (it has loaded its data)."""
        try:
            return self.redis().ping()
        except redis.RedisError:
            return False

    def task(self, task_id: str) -> tuple[int, dict]:
        """GET /tasks/<task_id> of the web app, on its host port: the status code and the JSON."""
        answer = requests.get(f"{self.web_url}/tasks/{task_id}", timeout=HTTP)
        return answer.status_code, answer.json()

    def all_succeeded(self, task_ids: list[str]) -> bool:
        """Whether GET /tasks/<id> reads SUCCESS for every one of `task_ids`."""
        return all(self.task(task_id)[1].get("state") == "SUCCESS" for task_id in task_ids)

    def started_at(self, service: str) -> str:
        """When `service`'s container last started, as Docker says (changes with each start)."""
        return self.inspect(self.container(service), "{{.State.StartedAt}}")

    def container(self, service: str) -> str:
        """The id of the one running container of `service`.

        Raises:
            AssertionError: none runs, or more than one.
        """
        ids = self.compose("ps", "--quiet", service).split()
        assert len(ids) == 1, f"{len(ids)} containers of {service} run: {ids}"
        return ids[0]

    def inspect(self, container: str, template: str) -> str:
        """`docker inspect --format TEMPLATE` of `container`, stripped."""
        result = self.run(["docker", "inspect", "--format", template, container])
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def health(self, service: str = "app") -> str:
        """Docker's verdict on `service`'s container: starting, healthy or unhealthy."""
        return self.inspect(self.container(service), "{{.State.Health.Status}}")

    def programs(self) -> dict[str, str]:
        """supervisord's programs in the app container and their states, by
        `supervisorctl status`; empty while it does not answer."""
        result = self.run(["docker", "compose", "exec", "app", "supervisorctl", "status"])
        # supervisorctl exits 3 when a program is not RUNNING: its lines still say which.
        return dict(line.split()[:2] for line in result.stdout.splitlines() if len(line.split()) >= 2)

    def hello_queue(self) -> tuple[int, int, int] | None:
        """hello_queue's messages Ready and Unacked, and its consumers, as RabbitMQ counts them
        now (`rabbitmqctl list_queues`, exact); None while RabbitMQ does not answer."""
        result = self.run(["docker", "compose", "exec", "rabbitmq", *LIST_QUEUES])
        for line in result.stdout.splitlines():
            name, *counts = line.split()
            if name == "hello_queue" and result.returncode == 0:
                return tuple(map(int, counts))
        return None

    def up(self) -> float:
        """`docker compose up -d --build` and wait until the app container is healthy.

        Returns:
            Seconds from the start of `up` to healthy.

        Raises:
            AssertionError: `up` failed, or the app was not healthy within DOCKER_HEALTHY
                seconds, or Docker found it unhealthy (the app's log is in the message).
        """
        started = time.monotonic()
        self.compose("up", "-d", "--build", "--quiet-pull", timeout=SETUP)

        def healthy() -> bool:
            status = self.health()
            assert status != "unhealthy", f"Docker found the app unhealthy:\n{self.logs('app')[-3000:]}"
            return status == "healthy"

        wait_until(healthy, DOCKER_HEALTHY, "Docker to report the app container healthy", interval=0.5)
        self.built_image = self.image_id(self.app_image)
        return time.monotonic() - started

    def image_id(self, image: str) -> str | None:
        """The id of the image named `image` on this machine now; None if there is none."""
        result = self.run(["docker", "image", "inspect", "--format", "{{.Id}}", image])
        return result.stdout.strip() if result.returncode == 0 else None

    def restore_app_image(self) -> None:
        """Point the app's image name back at the image `up` built from the working tree, if a
        test rebuilt it since (step 4's deploy builds a changed copy), and remove the image that
        test built: the next `docker compose up` here runs the code as it is, and no untagged
        image is left behind. An image under that name that this project did not build (another
        checkout's build, meanwhile) is left alone."""
        ours = self.built_image
        current = self.image_id(self.app_image)
        if ours is None or current is None or current == ours or current not in self.images_run:
            return
        self.run(["docker", "tag", ours, self.app_image])
        self.run(["docker", "image", "rm", current])

    def logs(self, *services: str) -> str:
        """What the containers of `services` (all, if none) printed so far."""
        return self.run(["docker", "compose", "logs", "--no-color", *services]).stdout

    def down(self) -> None:
        """`docker compose down -v --remove-orphans`: stop and remove every container, network and
        volume of the project, and its name for the app image (the images' layers stay, for
        the next run).

        Raises:
            AssertionError: it failed, or something of the project is left.
        """
        # The images' VOLUMEs (RabbitMQ's and Redis's data) are anonymous volumes, which
        # carry no project label: note them before their containers go.
        containers = self._labelled("container").split()
        inspected = self.run(["docker", "inspect", "--format", VOLUMES_TEMPLATE, *containers]) if containers else None
        volumes = inspected.stdout.split() if inspected else []
        self.images_run = set(self.run(["docker", "inspect", "--format", "{{.Image}}", *containers]).stdout.split())
        self.compose("down", "--volumes", "--remove-orphans", timeout=DOCKER_COMMAND + STACK_START)
        left = [f"container {c}" for c in self._labelled("container").split()]
        left += [f"network {n}" for n in self._labelled("network").split()]
        left += [f"volume {v}" for v in volumes if self.run(["docker", "volume", "inspect", v]).returncode == 0]
        assert not left, f"docker compose down left {left}"
        # The project's name for the app image goes too; --no-prune keeps the layers
        # under it, the next project's build cache.
        self.run(["docker", "image", "rm", "--no-prune", self.app_image])

    def _labelled(self, kind: str) -> str:
        """The ids of the containers (stopped ones too) or networks labelled as this project's."""
        listing = ["docker", kind, "ls", "--quiet", "--filter", f"label=com.docker.compose.project={self.name}"]
        return self.run([*listing, "--all"] if kind == "container" else listing).stdout


def read_dot_env(path: Path) -> dict[str, str]:
    """The `NAME=value` lines of a `.env` file, as a dict (comments and blank lines skipped)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}
