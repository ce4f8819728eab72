"""The image, the compose file and the Celery settings keep the demo's security promises.

Static checks: the files are read as text (Dockerfile, ignore files) or parsed
(docker-compose.yml and its cluster overlay, docker-compose.cluster.yml, with PyYAML);
nothing is built or started. supervisord.conf's
promises (a 0700 unix socket, no inet_http_server) are in test_supervisord_conf.py.
"""

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from celery import Celery

from app.celery_app import producer_settings
from monitor.celery_app import monitor_settings
from worker.celery_app import worker_settings

ROOT = Path(__file__).resolve().parents[2]
# A variable name that says it holds a secret.
SECRET_NAME = re.compile(r"PASS|PWD|SECRET|TOKEN|CREDENTIAL|AUTH|COOKIE", re.IGNORECASE)
# A URL with a user and a password in it: scheme://USER:PASSWORD@host, each part text or a
# ${...} (whose :? message may hold spaces and colons).
URL_USERINFO = re.compile(r"\w+://((?:\$\{[^}]*\}|[^/\s:@])*):((?:\$\{[^}]*\}|[^/\s@])*)@")
# One Compose interpolation, and nothing else: ${NAME}, ${NAME:?message}, ...
INTERPOLATION = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-?+][^}]*)?\}")
# A published port in Compose's short syntax, "HOST_IP:HOST_PORT:CONTAINER_PORT",
# whose HOST_PORT is a number or a variable with a number for its default:
# ${NAME:-PORT}.
SHORT_PORT = re.compile(
    r"(?P<host_ip>[^:]*):(?:(?P<host_port>\d+)|\$\{(?P<variable>[A-Za-z_][A-Za-z0-9_]*):-(?P<default>\d+)\})"
    r":(?P<container_port>\d+)"
)
# Each port that compose publishes on this machine, by service and container
# port: the variable that moves it there, whose default is the same port.
PORT_VARIABLES = {
    ("app", 8000): "WEB_PORT",
    ("app", 5555): "FLOWER_PORT",
    ("rabbitmq", 5672): "RABBITMQ_PORT",
    ("rabbitmq", 15672): "RABBITMQ_MANAGEMENT_PORT",
    ("redis", 6379): "REDIS_PORT",
}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (INSTRUCTION, arguments), comments dropped and
    continuation lines (ending in a backslash) joined."""
    lines = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [
        (parts[0].upper(), parts[1] if len(parts) > 1 else "")
        for parts in (line.strip().split(None, 1) for line in joined.splitlines() if line.strip())
    ]


# The compose file, and the overlay of DEMO.md step 10 (`-f docker-compose.yml -f docker-compose.cluster.yml`).
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.cluster.yml")


def compose(name: str = "docker-compose.yml") -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def compose_environment() -> list[tuple[str, str, str]]:
    """Every (service, variable, value) of the compose files' `environment:` sections."""
    found = []
    services = [(name, service) for file in COMPOSE_FILES for name, service in compose(file)["services"].items()]
    for name, service in services:
        environment = service.get("environment") or {}
        if isinstance(environment, list):  # the list form: ["NAME=value", ...]
            environment = dict(item.split("=", 1) for item in environment)
        found += [(name, variable, str(value)) for variable, value in environment.items()]
    return found


def ignore_lines(name: str) -> set[str]:
    return {line.strip() for line in (ROOT / name).read_text().splitlines()}


def env_example() -> dict[str, str]:
    """.env.example's variables and their values."""
    pairs = [line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines() if "=" in line]
    return {name.strip(): value.strip() for name, value in pairs if not name.lstrip().startswith("#")}


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    users = [arguments for instruction, arguments in dockerfile_instructions() if instruction == "USER"]
    assert users, "the Dockerfile has no USER: the container would run as root"
    # Numeric: Kubernetes' runAsNonRoot can only check a number (a name could be root).
    for part in users[-1].split(":"):
        assert part.isdigit() and int(part) != 0, f"USER {users[-1]}: want numeric, non-zero uid and gid"


def test_the_image_has_a_healthcheck_that_runs_the_script() -> None:
    healthchecks = [arguments for instruction, arguments in dockerfile_instructions() if instruction == "HEALTHCHECK"]
    assert len(healthchecks) == 1, healthchecks
    assert "scripts/healthcheck.py" in healthchecks[0]
    for option in ("--interval=", "--timeout=", "--start-period=", "--retries="):
        assert option in healthchecks[0], f"HEALTHCHECK without {option}: Docker's default applies, unsaid"


def test_no_secret_is_baked_into_the_image() -> None:
    for instruction, arguments in dockerfile_instructions():
        if instruction == "ARG":
            names = [arguments.split("=", 1)[0]]
        elif instruction == "ENV":
            tokens = shlex.split(arguments)
            # ENV NAME=value NAME2=value2, or the legacy ENV NAME value.
            names = [token.split("=", 1)[0] for token in tokens] if "=" in tokens[0] else [tokens[0]]
        else:
            names = []
        assert not [name for name in names if SECRET_NAME.search(name)], f"{instruction} {arguments}"
        assert not URL_USERINFO.search(arguments), f"a URL with a password: {instruction} {arguments}"


def published_ports() -> list[tuple[str, object]]:
    """Every (service, port) of the compose files' `ports:` sections, as written."""
    services = [(name, service) for file in COMPOSE_FILES for name, service in compose(file)["services"].items()]
    return [(name, port) for name, service in services for port in service.get("ports", [])]


def test_published_ports_bind_localhost_only() -> None:
    ports = published_ports()
    assert ports, "no published ports: nothing checked"
    for name, port in ports:
        # Short syntax "HOST_IP:HOST_PORT:CONTAINER_PORT", or long syntax {host_ip: ...}.
        if isinstance(port, dict):
            host_ip = port.get("host_ip")
        else:
            short = SHORT_PORT.fullmatch(str(port))
            assert short, f"{name} publishes {port!r}: not HOST_IP:HOST_PORT:CONTAINER_PORT"
            host_ip = short["host_ip"]
        assert host_ip == "127.0.0.1", f"{name} publishes {port!r} beyond this machine"


def test_each_published_port_is_a_variable_that_defaults_to_the_same_port() -> None:
    found = {}
    for name, port in published_ports():
        short = SHORT_PORT.fullmatch(str(port))
        assert short and short["variable"], f"{name} publishes {port!r}: want 127.0.0.1:${{NAME:-PORT}}:PORT"
        assert short["default"] == short["container_port"], f"{name} publishes {port!r} elsewhere by default"
        found[(name, int(short["container_port"]))] = short["variable"]
    assert found == PORT_VARIABLES
    # .env.example shows each one, commented out, with its default.
    example = (ROOT / ".env.example").read_text().splitlines()
    for (_, port), variable in PORT_VARIABLES.items():
        assert f"# {variable}={port}" in example, f".env.example does not show {variable}"


def test_flower_is_published_on_localhost_only_at_the_images_port() -> None:
    env = " ".join(arguments for instruction, arguments in dockerfile_instructions() if instruction == "ENV")
    port = dict(token.split("=", 1) for token in shlex.split(env) if "=" in token)["FLOWER_PORT"]
    exposed = [arguments.split() for instruction, arguments in dockerfile_instructions() if instruction == "EXPOSE"]
    assert [port in ports for ports in exposed] == [True], exposed
    assert f"127.0.0.1:${{FLOWER_PORT:-{port}}}:{port}" in compose()["services"]["app"]["ports"]


def test_compose_holds_no_literal_credentials() -> None:
    environment = compose_environment()
    secrets = [(service, variable, value) for service, variable, value in environment if SECRET_NAME.search(variable)]
    assert secrets, "no password variable in docker-compose.yml: nothing checked"
    for service, variable, value in secrets:
        assert INTERPOLATION.fullmatch(value), f"{service}: {variable}={value!r} is not a ${{...}}"
    # Every URL of a value: the cluster's broker URLs are a `;`-separated list.
    urls = [(where, variable, url) for where, variable, value in environment for url in URL_USERINFO.finditer(value)]
    assert urls, "no URL with a user and password in the compose files: nothing checked"
    for service, variable, userinfo in urls:
        for part in userinfo.groups():
            assert INTERPOLATION.fullmatch(part), f"{service}: {variable} has a literal {part!r}"


@pytest.mark.parametrize(
    ("service", "variable"),
    [
        ("rabbitmq", "RABBITMQ_DEFAULT_USER"),
        ("rabbitmq", "RABBITMQ_DEFAULT_PASS"),
        ("app", "FLOWER_BASIC_AUTH"),
        ("rabbitmq2", "RABBITMQ_ERLANG_COOKIE"),
    ],
)
def test_a_missing_password_stops_compose_with_a_message(service: str, variable: str) -> None:
    environment = {name: value for where, name, value in compose_environment() if where == service}
    assert re.fullmatch(rf"\$\{{{variable}:\?.+\}}", environment[variable]), environment[variable]


def test_env_example_names_every_variable_and_holds_no_secret() -> None:
    example = env_example()
    used = {
        re.match(r"\$\{(\w+)", match)[1]
        for *_, value in compose_environment()
        for match in INTERPOLATION.findall(value)
    }
    assert used, "docker-compose.yml interpolates nothing"
    assert used <= example.keys(), f"missing from .env.example: {used - example.keys()}"
    for name, value in example.items():
        if SECRET_NAME.search(name):
            assert value == "", f".env.example commits a value for {name}"


def test_make_env_fills_in_every_secret_that_env_example_leaves_empty(tmp_path: Path) -> None:
    # `make .env`, the one command before a first `docker compose up` (with the cluster
    # overlay too): the Makefile's target, run in a folder of its own.
    for name in ("Makefile", ".env.example"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    subprocess.run(["make", "--silent", ".env"], cwd=tmp_path, capture_output=True, check=True)
    made = tmp_path / ".env"
    assert made.stat().st_mode & 0o777 == 0o600, "readable by its owner only"
    values = dict(line.split("=", 1) for line in made.read_text().splitlines() if "=" in line and line[0] != "#")
    secrets = {name: value for name, value in values.items() if SECRET_NAME.search(name)}
    assert set(secrets) == {name for name in env_example() if SECRET_NAME.search(name)}
    assert all(secrets.values()), f"left empty: {[name for name, value in secrets.items() if not value]}"
    # The Erlang cookie: letters and digits (RabbitMQ docs, "Clustering": up to 255).
    assert re.fullmatch(r"[0-9a-f]{64}", secrets["RABBITMQ_ERLANG_COOKIE"])


@pytest.mark.parametrize("ignore_file", [".gitignore", ".dockerignore"])
def test_env_is_neither_committed_nor_sent_to_the_image(ignore_file: str) -> None:
    assert ".env" in ignore_lines(ignore_file)


def test_no_env_file_is_tracked_by_git() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(["git", "ls-files", "--", ".env"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert tracked.stdout == ""


@pytest.mark.parametrize(
    "settings", [producer_settings, worker_settings, monitor_settings], ids=["producer", "worker", "flower"]
)
def test_celery_speaks_json_only(settings) -> None:
    # The settings as Celery resolves them, defaults included: a serializer left
    # unset is Celery's default, which must be JSON too (Celery docs, "Security: Serializers").
    conf = Celery(set_as_current=False, config_source=settings()).conf
    assert list(conf.accept_content) == ["json"]
    assert list(conf.result_accept_content or conf.accept_content) == ["json"]
    assert conf.task_serializer == conf.result_serializer == conf.event_serializer == "json"
