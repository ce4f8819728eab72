"""A broker that a test can take away and give back: socat forwarding a port of ours to RabbitMQ.

The machine's RabbitMQ is shared with other test runs and must never be stopped;
a stack started with its broker URL on this proxy's port loses its broker when
the proxy stops, and finds it again when the proxy starts on the same port.
"""

import os
import signal
import socket
import subprocess

from tests.support.poll import wait_until
from tests.support.rabbitmq import AMQP_PORT, HOST
from tests.support.stack import free_port
from tests.support.timing import CONNECT, CONSEQUENCE


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=CONNECT).close()
        return True
    except OSError:
        return False


class BrokerProxy:
    """socat listening on 127.0.0.1:`port`, one forked child per connection to RabbitMQ's AMQP port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Listen again, and wait until a connection is accepted.

        Raises:
            AssertionError: socat did not listen within CONSEQUENCE seconds.
        """
        self.process = subprocess.Popen(
            # reuseaddr: listen again at once on the port just given up; fork:
            # one child per connection, so that several clients connect.
            ["socat", f"TCP-LISTEN:{self.port},bind=127.0.0.1,reuseaddr,fork", f"TCP:{HOST}:{AMQP_PORT}"],
            start_new_session=True,
        )
        wait_until(lambda: _accepts(self.port), CONSEQUENCE, f"socat to listen on port {self.port}")

    def stop(self) -> None:
        """SIGKILL socat and every child it forked: each connection through it is cut, as
        if the broker's machine vanished, and new ones are refused."""
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(CONSEQUENCE)
        self.process = None
        wait_until(lambda: not _accepts(self.port), CONSEQUENCE, f"port {self.port} to refuse connections")
