"""The container tests' fixtures: one `docker compose` stack for all of tests/containers/,
shared by every module, and handed to each module idle.

These tests need a Docker engine and the pinned images, and nothing else: not the
machine's RabbitMQ or Redis, nor the integration tests' fixtures (their vhost,
their `make run`). Without an engine or the images, they are skipped with one line
saying why; on CI (CI=true), where .ci/run provides both, the same line fails the
run.
"""

import functools
import os
from collections.abc import Iterator

import pytest

from tests.support import docker_ready
from tests.support.compose import ComposeProject
from tests.support.poll import wait_until
from tests.support.stack import ARTIFACTS
from tests.support.timing import STACK_START

PROGRAMS = {"flower": "RUNNING", "web": "RUNNING", "worker_hello": "RUNNING"}
# hello_queue idle: nothing Ready, nothing Unacked, worker_hello its one consumer.
IDLE_QUEUE = (0, 0, 1)


@functools.cache
def missing() -> str | None:
    """Why these tests cannot run here (`docker_ready.missing_reason`), asked once per run."""
    return docker_ready.missing_reason()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before each test of this folder: skip it, or on CI fail it, when Docker or the images
    are missing. Raised here rather than in a fixture, so that pytest's summary folds the
    skips into one line (same place, same reason) instead of one per test."""
    reason = missing()
    if reason and os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    if reason:
        pytest.skip(reason)


# Package scope: down as soon as the last container test is done, not at the end of
# the whole run, so that the stack does not idle on the cores through the other tests.
@pytest.fixture(scope="package")
def compose_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeProject]:
    """The demo's compose project, up and healthy (`ComposeProject.up`), in a fresh copy of
    this checkout; after the last container test `docker compose down -v --remove-orphans`,
    also after a failure, and its log kept in test-artifacts/compose.log.
    """
    project = ComposeProject(tmp_path_factory.mktemp("compose"))
    project.prepare()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        seconds = project.up()
        (ARTIFACTS / "compose-up.txt").write_text(f"docker compose up -d --build to healthy: {seconds:.1f} s\n")
        yield project
    finally:
        (ARTIFACTS / "compose.log").write_text(project.logs())
        project.down()
        project.restore_app_image()


@pytest.fixture(scope="module")
def stack(compose_stack: ComposeProject) -> ComposeProject:
    """The run's stack as each module finds it: supervisord's programs RUNNING in the app
    container, and hello_queue idle, worker_hello its one consumer.

    What a failed module may have left stopped (the app container, a program) is
    started again first, so that one failure does not fail the modules after it.

    Raises:
        AssertionError: it did not get there within STACK_START seconds.
    """
    if not compose_stack.compose("ps", "--quiet", "app").strip():
        compose_stack.compose("start", "app")
    if compose_stack.programs() != PROGRAMS:
        compose_stack.run(["docker", "compose", "exec", "app", "supervisorctl", "start", "all"])
    wait_until(
        lambda: compose_stack.programs() == PROGRAMS, STACK_START, f"supervisord's programs: {PROGRAMS}", interval=0.5
    )
    wait_until(
        lambda: compose_stack.hello_queue() == IDLE_QUEUE, STACK_START, "hello_queue idle (0, 0, 1)", interval=0.5
    )
    return compose_stack
