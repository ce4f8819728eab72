"""Integration fixtures: a vhost of our own on the real RabbitMQ, the real stack
started with `make run` once for the whole run, handed to each module idle, and a
real browser for the modules that test the page."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.browser import launch_chromium
from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE, Depth, VHost, sweep_stale, unreachable_reason
from tests.support.stack import Stack, held_tasks, start_demo
from tests.support.timing import SERVICE, TASK

PROGRAMS = ("web", "worker_hello", "flower")


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
def quiet_vhost(vhost: VHost) -> Iterator[VHost]:
    """A vhost of the module's own, with no consumer: the test run's `vhost` has the shared
    stack's worker whenever an earlier module of this test process started it.

    (Depending on `vhost` stops the run at once if RabbitMQ is unreachable.)
    """
    own = VHost()
    own.create()
    yield own
    own.delete()


class SharedStack:
    """`make run` with its programs RUNNING and worker_hello consuming, started at first use
    and shared by every module that asks for the `stack` fixture (starting and
    stopping one takes about 6 s). Its stop is part of the run: a stack that leaves
    a process behind fails it.
    """

    def __init__(self, vhost: VHost) -> None:
        self.vhost = vhost
        self.stack: Stack | None = None

    def get(self) -> Stack:
        """The running stack; started first if need be."""
        if self.stack is None:
            self.stack = start_demo("stack", self.vhost, PROGRAMS)
        return self.stack

    def stop(self) -> None:
        """Stop the stack, if it runs (`Stack.stop_cleanly`)."""
        if self.stack is not None:
            demo, self.stack = self.stack, None
            demo.stop_cleanly()


@pytest.fixture(scope="session")
def shared_stack(vhost: VHost) -> Iterator[SharedStack]:
    shared = SharedStack(vhost)
    yield shared
    shared.stop()


@pytest.fixture(scope="module")
def checkout_free(shared_stack: SharedStack) -> None:
    """For a module that starts its own `make run`: stops the shared stack first, since
    two cannot run from one checkout (they would share .run/supervisor.sock).

    Such modules run last (`pytest_collection_modifyitems`), so that the shared stack
    starts only once.
    """
    shared_stack.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests that need the checkout to themselves after all the others (a stable sort)."""
    items.sort(key=lambda item: "checkout_free" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="module")
def stack(shared_stack: SharedStack, vhost: VHost) -> Stack:
    """The run's stack as each module finds it: every program RUNNING, worker_hello idle
    and consuming an empty hello_queue, and a log (`lines`) that starts with this module.

    Raises:
        AssertionError: an earlier module left it otherwise, and it did not recover in time (SERVICE, TASK).
    """
    session_stack = shared_stack.get()
    for program in PROGRAMS:
        session_stack.wait_for_state(program, "RUNNING")
    vhost.wait_for_consumers(1)
    wait_until(lambda: vhost.depth(HELLO_QUEUE) == Depth(ready=0, consumers=1), SERVICE, "an empty hello_queue")
    # Ask the worker itself whether it still holds a task: a running one, or a retry waiting
    # out its countdown, which hello_queue no longer shows (the worker holds it unacked).
    wait_until(lambda: held_tasks(vhost.broker_url) == [], TASK, "worker_hello to hold no task", interval=0.2)
    session_stack.lines.clear()
    return session_stack


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """A headless Chromium (tests/support/browser.py), for one module's page tests."""
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()
