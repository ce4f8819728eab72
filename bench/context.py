"""What every section of `make bench` is handed: the run's RabbitMQ vhost, the demo's stack, progress output."""

import sys

from tests.support.rabbitmq import VHost
from tests.support.stack import Stack, start_demo

# Every vhost of a `make bench` run is named so: a killed run's are swept by the next.
VHOST_PREFIX = "hello-queue-bench"
# Every figure is measured this many times (min / median / max over the runs).
RUNS = 3


class Bench:
    """One `make bench` run.

    Args:
        vhost: the run's own RabbitMQ vhost (created by the caller, deleted at the end):
            the benchmark never touches another vhost's queues.

    Attributes:
        runs: how many times each section measures each figure.
    """

    def __init__(self, vhost: VHost) -> None:
        self.vhost = vhost
        self.runs = RUNS
        self._stack: Stack | None = None

    def stack(self) -> Stack:
        """The demo as `make run` starts it (web and worker_hello, worker_hello consuming
        hello_queue), in this run's vhost; started on first use, then shared by the sections.

        Raises:
            AssertionError: it did not come up (its log is in the message).
        """
        if self._stack is None:
            self.log("starting the demo (make run)")
            self._stack = start_demo("bench", self.vhost, ("web", "worker_hello"))
        return self._stack

    def stop_stack(self) -> None:
        """Stop the shared stack, if it runs: for a section that needs the checkout (and
        hello_queue) to itself. A process it leaves behind is killed."""
        if self._stack is not None:
            stack, self._stack = self._stack, None
            stack.stop_or_kill()

    def log(self, message: str) -> None:
        """Say what is being measured, on stderr: a run takes minutes."""
        print(f"bench: {message}", file=sys.stderr, flush=True)
