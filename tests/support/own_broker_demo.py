"""`make run` against a RabbitMQ of the test module's own (tests/support/own_rabbitmq.py), for
the modules that put one in trouble: tests/integration/test_resource_alarm.py (an alarm)
and test_broker_stalled.py (a node that reads nothing). Both hold them in module-scoped
fixtures: one container and one stack for all the tests of a module.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tests.support.own_rabbitmq import OwnRabbitMQ, remove_stale
from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE, Depth
from tests.support.stack import Stack, free_port
from tests.support.timing import SERVICE


@contextmanager
def own_broker(missing: str | None, note: Callable[[str], None]) -> Iterator[OwnRabbitMQ]:
    """A RabbitMQ in a container of its own, removed when the block ends, also after a failure
    (paused or not).

    Args:
        missing: what the machine lacks for it (own_rabbitmq.missing_reason), or None. A
            module skips itself without it as it is collected, except on CI (CI=true),
            where .ci/run provides it: this then fails the test, as tests/containers/conftest.py does.
        note: called with one line for the module's notes: how long the node took to answer.
    """
    if missing:
        pytest.fail(missing, pytrace=False)
    remove_stale()
    own = OwnRabbitMQ()
    try:
        ready_in = own.start()
        note(f"{own.image} ({own.node}): docker run to management API and AMQP answering in {ready_in:.1f} s")
        yield own
    finally:
        own.remove()


@contextmanager
def demo_on(broker: OwnRabbitMQ, name: str, programs: tuple[str, ...]) -> Iterator[Stack]:
    """`make run` whose broker and management API are `broker`'s, with `programs` RUNNING and
    worker_hello consuming hello_queue; stopped when the block ends (`Stack.stop_cleanly`).

    Args:
        name: names its log in test-artifacts/.

    Raises:
        AssertionError: it did not come up (everything it started is killed first).
    """
    env = {
        "WEB_PORT": str(free_port()),
        "CELERY_BROKER_URL": broker.broker_url,
        "RABBITMQ_MANAGEMENT_URL": broker.management_url,
    }
    demo = Stack(name, env)
    try:
        demo.start(programs)
        wait_until(
            lambda: (broker.exact_depth(HELLO_QUEUE) or Depth(0, 0)).consumers == 1,
            SERVICE,
            "worker_hello to consume hello_queue",
            0.5,
        )
    except BaseException:
        demo.kill()
        raise
    yield demo
    demo.stop_cleanly()
