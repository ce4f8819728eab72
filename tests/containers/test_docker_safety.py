"""Step 7's "safe on café Wi-Fi" and step 8's Flower, with Docker: DEMO.md's commands as
written, and what Docker itself says about the running containers."""

import json

import requests

from tests.support.compose import ComposeProject
from tests.support.timing import HTTP_SLOW

APP_UID = "10001"  # the Dockerfile's USER


def test_the_apps_programs_run_as_uid_10001(stack: ComposeProject) -> None:
    stack.run_demo_block("docker-user")
    # Every process of the container, as the host's ps sees it: supervisord, its
    # programs and their children (gunicorn's worker, Celery's pool processes).
    top = stack.compose("top", "app").splitlines()
    header = next(line.split() for line in top if "UID" in line.split())
    rows = [line.split() for line in top if line.split() and line.split()[0] == "app"]
    assert len(rows) >= 7, f"supervisord, 3 programs and their children, found:\n{top}"
    assert {row[header.index("UID")] for row in rows} == {APP_UID}, "\n".join(top)


def test_every_published_port_binds_127_0_0_1_only(stack: ComposeProject) -> None:
    stack.run_demo_block("docker-ports")
    bindings = {}
    for service in ("app", "rabbitmq", "redis"):
        ports = json.loads(stack.inspect(stack.container(service), "{{json .NetworkSettings.Ports}}"))
        bindings |= {f"{service} {port}": published for port, published in ports.items() if published}
    host_ips = {binding["HostIp"] for published in bindings.values() for binding in published}
    assert host_ips == {"127.0.0.1"}, bindings
    host_ports = {int(binding["HostPort"]) for published in bindings.values() for binding in published}
    assert host_ports == set(stack.ports.values()), f"published {bindings}, .env has {stack.ports}"


def test_flower_asks_for_the_env_files_password(stack: ComposeProject) -> None:
    stack.run_demo_block("docker-flower-auth")
    user, _, password = stack.env["FLOWER_BASIC_AUTH"].partition(":")
    for route in ("/", "/workers", "/tasks", "/api/tasks"):
        assert requests.get(stack.flower_url + route, timeout=HTTP_SLOW).status_code == 401, route
        assert requests.get(stack.flower_url + route, auth=(user, password), timeout=HTTP_SLOW).status_code == 200, (
            route
        )
    assert requests.get(stack.flower_url + "/api/workers", auth=(user, "wrong"), timeout=HTTP_SLOW).status_code == 401
