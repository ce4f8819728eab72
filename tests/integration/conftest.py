"""Integration fixtures: a vhost of our own on the real RabbitMQ, and the real stack
started with `make run` once per test module."""

from collections.abc import Iterator

import pytest

from tests.support.rabbitmq import VHost, sweep_stale, unreachable_reason
from tests.support.stack import Stack, free_port

PROGRAMS = ("web", "worker_hello")


@pytest.fixture(scope="session")
def vhost() -> Iterator[VHost]:
    """A RabbitMQ vhost for this test run only; deleted, with all it holds, at the end.

    Stops the whole run at once, with one line saying why, if RabbitMQ is unreachable.
    """
    reason = unreachable_reason()
    if reason:
        pytest.exit(reason, returncode=3)
    sweep_stale()
    created = VHost()
    created.create()
    yield created
    created.delete()


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, vhost: VHost) -> Iterator[Stack]:
    """`make run` with web and worker_hello RUNNING and consuming; stopped with SIGTERM afterwards.

    The stop is part of the test: a stack that leaves a process behind fails.
    """
    env = {"WEB_PORT": str(free_port()), "CELERY_BROKER_URL": vhost.broker_url}
    demo = Stack(request.module.__name__.rsplit(".", 1)[-1], env)
    try:
        demo.start(PROGRAMS)
        vhost.wait_for_consumers(1)
        yield demo
        alive = demo.stop()
    except BaseException:
        demo.kill()
        raise
    if alive:
        demo.kill()
        pytest.fail(f"SIGTERM to make run left processes behind: {alive}")
