"""A RabbitMQ of a test's own, in a container, for what must never happen to the machine's
shared one: a resource alarm, which blocks every publisher of the node, or a freeze
(`docker pause`), after which it reads from no connection at all.

The container runs the image that docker-compose.yml pins (as
tests/containers/native_on_rabbitmq4.sh does; a stand-in where no registry answers:
build_standins.sh), with its ports published on 127.0.0.1 where Docker picks them,
and a user and password of its own (the image's RABBITMQ_DEFAULT_USER and
RABBITMQ_DEFAULT_PASS: then RabbitMQ creates no guest). Every rabbitmqctl runs inside
it (`docker exec`): a bare `rabbitmqctl` would reach the machine's own node.

Alarms are raised and cleared as RabbitMQ's docs do it by hand ("Memory and Disk
Alarms"): a memory high watermark of 0, a disk free limit beyond any disk. Both
commands make the node check again at once. RabbitMQ's health check
`GET /api/health/checks/alarms` says which alarms are on: 200 `{"status": "ok"}`,
or 503 with `"alarms": [{"node": ..., "resource": "memory" | "disk space"}]`.

Queue counts are read two ways: exactly, from the node itself (`rabbitmqctl
list_queues`: what the queue holds this instant), and through the management API
(what a learner sees in the UI, refreshed every 5 s: `timing.STATISTICS_INTERVAL`).
"""

import json
import os
import secrets
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import requests
from kombu import Connection

from tests.support import docker_ready
from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE, Depth, depth_from_management
from tests.support.timing import BROKER_CONTAINER, CONSEQUENCE, DOCKER_COMMAND, DRAIN, HTTP_SLOW, PROBE

# Names this module's containers, and labels them with the test process that made
# them, so that `remove_stale` finds those of a run killed before its clean-up.
NAME_PREFIX = "hello-queue-own-rabbitmq-"
LABEL = "org.hello-queue.test-process"
# What raises and what clears each alarm (rabbitmqctl's command, then its values):
# a watermark of 0 is below any node's memory use, 100000GB above any free disk. The
# values that clear them: the memory watermark of RabbitMQ 3.x's default (4.x's is
# 0.6; either is far above an idle node's use), and the disk free limit of both.
ALARMS = {
    "memory": ("set_vm_memory_high_watermark", "0", "0.4"),
    "disk": ("set_disk_free_limit", "100000GB", "50MB"),
}
# How the health check names each resource.
HEALTH_CHECK_NAMES = {"memory": "memory", "disk": "disk space"}
# Connection states (`rabbitmqctl list_connections state`) of a resource alarm:
# "blocking", a connection that has not published since the alarm; "blocked", one
# that has, and whose next frames RabbitMQ does not read until the alarm ends.
BLOCKED_STATES = {"blocking", "blocked"}


def pinned_image() -> str:
    """The rabbitmq image that docker-compose.yml pins (`docker_ready.pinned_images`).

    Raises:
        ValueError: docker-compose.yml names none.
    """
    rabbitmq = [image for image in docker_ready.pinned_images() if image.startswith("rabbitmq:")]
    if not rabbitmq:
        raise ValueError("docker-compose.yml names no rabbitmq image")
    return rabbitmq[0]


def _docker(*args: str, timeout: float = DOCKER_COMMAND) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def missing_reason() -> str | None:
    """Why a RabbitMQ of our own cannot run here, in one line; None when it can: a Docker
    engine answers, and the pinned rabbitmq image is on this machine (nothing is pulled)."""
    return docker_ready.missing_reason(images=[pinned_image()], compose=False)


def remove_stale() -> list[str]:
    """Remove the containers of this module that test processes no longer running left behind.

    Returns:
        Their names.
    """
    listed = _docker("ps", "-a", "--filter", f"label={LABEL}", "--format", f'{{{{.Names}}}} {{{{.Label "{LABEL}"}}}}')
    stale = []
    for line in listed.stdout.splitlines():
        name, _, pid = line.partition(" ")
        if name.startswith(NAME_PREFIX) and pid.isdigit() and not Path(f"/proc/{pid}").exists():
            _docker("rm", "-f", "-v", name)
            stale.append(name)
    return stale


class OwnRabbitMQ:
    """A RabbitMQ node in a container of its own, for one test module.

    `start` runs it and waits until it answers; `remove` deletes it, with its data.
    Methods raise `AssertionError` when what they wait for does not come in time, and
    `requests.HTTPError` when the management API refuses a call.
    """

    def __init__(self) -> None:
        self.image = pinned_image()
        self.name = f"{NAME_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.user = "hello-queue-test"
        self.password = secrets.token_hex(16)  # hex: nothing to quote in a URL
        self.amqp_port: int | None = None
        self.management_port: int | None = None
        # The node's name (rabbit@<the container's host name>), once it answers.
        self.node = ""
        self._not_yet = ""
        self._api = requests.Session()
        self._api.auth = (self.user, self.password)

    @property
    def broker_url(self) -> str:
        """The AMQP URL of its default vhost, "/", with its user and password."""
        return f"amqp://{self.user}:{self.password}@127.0.0.1:{self.amqp_port}//"

    @property
    def management_url(self) -> str:
        """Its management API's base URL, as RABBITMQ_MANAGEMENT_URL takes it (no /api/)."""
        return f"http://127.0.0.1:{self.management_port}"

    def start(self) -> float:
        """Run the container and wait until its management API and AMQP answer.

        Returns:
            Seconds from `docker run` to both answering.

        Raises:
            AssertionError: `docker run` failed, or the node did not answer within
                BROKER_CONTAINER seconds (the container's last log lines are in the message).
        """
        started = time.monotonic()
        run = _docker(
            "run",
            "--detach",
            "--name",
            self.name,
            "--label",
            f"{LABEL}={os.getpid()}",
            "--env",
            f"RABBITMQ_DEFAULT_USER={self.user}",
            "--env",
            f"RABBITMQ_DEFAULT_PASS={self.password}",
            "--publish",
            "127.0.0.1::5672",
            "--publish",
            "127.0.0.1::15672",
            self.image,
        )
        assert run.returncode == 0, f"docker run {self.image} failed: {run.stderr.strip()}"
        self.amqp_port = self._published_port(5672)
        self.management_port = self._published_port(15672)
        try:
            wait_until(self._answers, BROKER_CONTAINER, f"{self.image} to answer its management API and AMQP", 0.5)
        except AssertionError as error:
            logs = _docker("logs", "--tail", "20", self.name)
            raise AssertionError(
                f"{error} ({self._not_yet})\n--- docker logs --tail 20 {self.name}:\n{logs.stdout}{logs.stderr}"
            ) from None
        return time.monotonic() - started

    def _published_port(self, port: int) -> int:
        answer = _docker("port", self.name, f"{port}/tcp")
        assert answer.returncode == 0, f"docker port {self.name} {port}: {answer.stderr.strip()}"
        return int(answer.stdout.splitlines()[0].rpartition(":")[2])

    def _answers(self) -> bool:
        """Whether the management API and AMQP both answer, with our user, right now."""
        try:
            overview = self._api.get(f"{self.management_url}/api/overview", timeout=PROBE)
            overview.raise_for_status()
            self.node = overview.json()["node"]
            # The management API may answer before AMQP listens (the listeners start
            # last), and Docker's port accepts connections before anything listens behind it.
            with Connection(self.broker_url, connect_timeout=PROBE) as connection:
                connection.ensure_connection(max_retries=0)
        except Exception as error:  # noqa: BLE001 - "not yet", whatever it is; the last one is reported
            self._not_yet = f"{type(error).__name__}: {error}"
            return False
        return True

    def remove(self) -> None:
        """Delete the container and its volume (`docker rm -f -v`, paused or not); nothing if it is gone already."""
        _docker("rm", "--force", "--volumes", self.name)

    def exists(self) -> bool:
        """Whether Docker still lists the container (`docker ps -a`)."""
        listed = _docker("ps", "--all", "--quiet", "--filter", f"name=^{self.name}$")
        return bool(listed.stdout.strip())

    def rabbitmqctl(self, *args: str) -> str:
        """`rabbitmqctl ARGS` inside the container, on its own node; what it printed on stdout.

        Raises:
            AssertionError: it exited non-zero.
        """
        result = _docker("exec", self.name, "rabbitmqctl", *args)
        assert result.returncode == 0, f"rabbitmqctl {' '.join(args)} failed: {result.stdout}{result.stderr}"
        return result.stdout

    # --- A broker that stops reading

    def pause(self) -> None:
        """Freeze every process of the container: `docker pause`, which uses the cgroup freezer
        (Docker docs, "docker container pause"), so RabbitMQ neither notices nor reacts.

        What a paused container does to TCP: only its processes are frozen, not its
        kernel, which keeps every connection up and acknowledges the bytes a client
        sends, into the socket's receive buffer; a new connection is accepted too (by
        docker-proxy on the host, and by the container's kernel behind it, into the
        listen backlog). But RabbitMQ reads nothing and answers nothing: no publisher
        confirm, no connection.start to begin a new connection's AMQP handshake, no
        answer from the management API. Nothing is closed or reset: each client waits
        until a timeout of its own ends the wait, or forever if it has none.

        Raises:
            AssertionError: `docker pause` failed.
        """
        paused = _docker("pause", self.name)
        assert paused.returncode == 0, f"docker pause {self.name} failed: {paused.stderr.strip()}"

    def unpause(self) -> None:
        """Thaw the container (`docker unpause`), and wait until its management API and AMQP answer.

        RabbitMQ then reads what each socket buffered meanwhile, in order, as from a slow
        network: a publish a client wrote before it gave up is routed now, and a
        connection the client has closed since is closed after its last frame.

        Raises:
            AssertionError: `docker unpause` failed, or the node did not answer within
                CONSEQUENCE seconds.
        """
        thawed = _docker("unpause", self.name)
        assert thawed.returncode == 0, f"docker unpause {self.name} failed: {thawed.stderr.strip()}"
        wait_until(self._answers, CONSEQUENCE, f"{self.name} to answer again once unpaused", 0.5)

    def paused(self) -> bool:
        """Whether the container is paused now (`docker inspect`: State.Paused)."""
        state = _docker("inspect", "--format", "{{.State.Paused}}", self.name)
        return state.stdout.strip() == "true"

    # --- Alarms

    def alarms(self) -> list[dict]:
        """The alarms in effect, as the health check lists them (`{"node", "resource"}`); [] when none."""
        answer = self._api.get(f"{self.management_url}/api/health/checks/alarms", timeout=HTTP_SLOW)
        if answer.status_code == 200:
            return []
        assert answer.status_code == 503, f"the alarms health check answered {answer.status_code}: {answer.text}"
        return answer.json()["alarms"]

    def alarm_on(self, resource: str) -> bool:
        """Whether the health check reports the alarm of `resource` ("memory" or "disk") now."""
        return any(alarm["resource"] == HEALTH_CHECK_NAMES[resource] for alarm in self.alarms())

    def raise_alarm(self, resource: str) -> float:
        """Raise the alarm of `resource` ("memory" or "disk"), and wait until the health check reports it.

        Returns:
            Seconds from the command to the health check's report.
        """
        command, on, _ = ALARMS[resource]
        started = time.monotonic()
        self.rabbitmqctl(command, on)
        wait_until(lambda: self.alarm_on(resource), CONSEQUENCE, f"the health check to report a {resource} alarm")
        return time.monotonic() - started

    def clear_alarm(self, resource: str) -> float:
        """Clear the alarm of `resource` ("memory" or "disk"), and wait until the health check no
        longer reports it.

        Returns:
            Seconds from the command to the health check's report.
        """
        command, _, off = ALARMS[resource]
        started = time.monotonic()
        self.rabbitmqctl(command, off)
        wait_until(lambda: not self.alarm_on(resource), CONSEQUENCE, f"the health check to report no {resource} alarm")
        return time.monotonic() - started

    def clear_all_alarms(self) -> None:
        """Clear whichever alarms are on (for a clean-up after a test that may have failed)."""
        on = {alarm["resource"] for alarm in self.alarms()}
        for resource, name in HEALTH_CHECK_NAMES.items():
            if name in on:
                self.clear_alarm(resource)

    # --- Queues and connections

    def queue_depth(self, queue: str) -> Depth | None:
        """The counts of `queue` (in vhost "/") as the management UI shows them; None until it knows them."""
        answer = self._api.get(f"{self.management_url}/api/queues/%2F/{quote(queue, safe='')}", timeout=HTTP_SLOW)
        return depth_from_management(answer)

    def exact_depth(self, queue: str) -> Depth | None:
        """The counts of `queue` (in vhost "/") this instant, from the node itself
        (`rabbitmqctl list_queues`); None if it does not exist."""
        listed = json.loads(
            self.rabbitmqctl(
                "list_queues", "--formatter", "json", "name", "messages_ready", "messages_unacknowledged", "consumers"
            )
        )
        for row in listed:
            if row["name"] == queue:
                return Depth(
                    ready=row["messages_ready"], consumers=row["consumers"], unacked=row["messages_unacknowledged"]
                )
        return None

    def blocked_connections(self) -> list[str]:
        """The names of the client connections that a resource alarm blocks this instant
        (`rabbitmqctl list_connections`: state "blocking" or "blocked")."""
        listed = json.loads(self.rabbitmqctl("list_connections", "--formatter", "json", "name", "state"))
        return [row["name"] for row in listed if row["state"] in BLOCKED_STATES]

    def wait_until_idle(self, consumers: int = 1, queue: str = HELLO_QUEUE, timeout: float = DRAIN) -> None:
        """Wait until every message that was on its way has arrived and been consumed: no
        connection blocked, and `queue` empty (nothing Ready, nothing Unacked) with
        `consumers` consumers, both exactly and as the management API shows it.

        Why no blocked connection first: a message published during an alarm may sit,
        unread, in the socket of a blocked connection (even one its client has closed
        since), and RabbitMQ routes it to the queue only once the alarm is over. The
        management API alone would not do: its figures are up to two statistics
        intervals old, and an empty queue from before such a message arrived would pass.

        Raises:
            AssertionError: not so after `timeout` seconds.
        """
        idle = Depth(ready=0, consumers=consumers, unacked=0)
        seen: dict[str, object] = {}

        def reached() -> bool:
            seen.clear()
            seen["blocked connections"] = self.blocked_connections()
            if seen["blocked connections"]:
                return False
            seen["exact"] = self.exact_depth(queue)
            if seen["exact"] != idle:
                return False
            seen["management API"] = self.queue_depth(queue)
            return seen["management API"] == idle

        try:
            wait_until(reached, timeout, f"no blocked connection, and {queue} idle with {consumers} consumer(s)", 0.5)
        except AssertionError as error:
            raise AssertionError(f"{error}\nlast seen: {seen}") from None
