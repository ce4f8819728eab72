"""Integration fixtures: the real stack, started with `make run` once per test module."""

from collections.abc import Iterator

import pytest

from tests.support.stack import Stack, free_port

PROGRAMS = ("web",)


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """`make run` with the demo's programs RUNNING; stopped with SIGTERM afterwards.

    The stop is part of the test: a stack that leaves a process behind fails.
    """
    demo = Stack(request.module.__name__.rsplit(".", 1)[-1], {"WEB_PORT": str(free_port())})
    try:
        demo.start(PROGRAMS)
        yield demo
    except BaseException:
        demo.kill()
        raise
    alive = demo.stop()
    if alive:
        demo.kill()
        pytest.fail(f"SIGTERM to make run left processes behind: {alive}")
