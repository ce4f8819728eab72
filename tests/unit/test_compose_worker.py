"""docker-compose.yml's `worker` service: worker_hello's Celery worker, alone in a container.

Static checks (PyYAML); nothing is built or started: CI has no Docker.
"""

import configparser
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def celery_args(command: str) -> list[str]:
    """A `celery ... worker` command line's words, with the values of --hostname and
    --concurrency (which name or count differently in each place) left out."""
    words = shlex.split(command)
    for option in ("--hostname", "--concurrency"):
        at = words.index(option) + 1
        words[at] = "<value>"
    return words


def test_a_worker_container_runs_worker_hellos_command(services: dict) -> None:
    shell, flag, script = services["worker"]["command"]
    assert (shell, flag) == ("sh", "-c")
    # exec: celery becomes PID 1 and gets `docker stop`'s SIGTERM itself, a warm shutdown.
    assert script.startswith("exec celery ")
    conf = configparser.RawConfigParser(inline_comment_prefixes=(";",))
    conf.read(ROOT / "supervisord.conf")
    assert celery_args(script.removeprefix("exec ")) == celery_args(conf.get("program:worker_hello", "command"))
    words = shlex.split(script)
    assert words[words.index("--concurrency") + 1] == "$$WORKER_CONCURRENCY", "the image's WORKER_CONCURRENCY"


def test_a_worker_container_is_named_after_its_host_and_pings_that_name(services: dict) -> None:
    worker = services["worker"]
    words = shlex.split(worker["command"][2])
    # Celery's %h: the container's host name, its id, unique to each container.
    node = words[words.index("--hostname") + 1]
    assert node == "worker@%h"
    kind, test = worker["healthcheck"]["test"]
    assert kind == "CMD-SHELL" and test.startswith("celery --app worker.celery_app inspect ping ")
    ping = shlex.split(test)
    # $HOSTNAME: Docker's host name of the container, which is what %h reads.
    assert ping[ping.index("--destination") + 1] == node.replace("%h", "$$HOSTNAME")
    # Docker reads exit status 1 as unhealthy; celery's own on no reply is 69.
    assert ping[-3:] == ["||", "exit", "1"]


def test_the_worker_service_runs_apps_image_from_its_broker_and_backend(services: dict) -> None:
    app, worker = services["app"], services["worker"]
    assert "build" in app and worker["image"] == app["image"]
    assert "build" not in worker and worker["pull_policy"] == "never", "the image is built, never pulled"
    broker_and_backend = {name: app["environment"][name] for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")}
    assert worker["environment"] == broker_and_backend
    assert worker["depends_on"] == app["depends_on"]
    assert worker["stop_grace_period"] == app["stop_grace_period"]


def test_plain_compose_up_starts_no_worker_container(services: dict) -> None:
    # DEMO.md steps 1 to 7 need worker_hello to be the only consumer: `--scale worker=N` adds them.
    assert services["worker"]["scale"] == 0
