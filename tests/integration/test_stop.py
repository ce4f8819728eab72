"""Ctrl-C in the terminal of `make run` stops supervisord and every program, leaving no process behind.

(SIGTERM to make, as `kill` or `docker stop` sends, is checked when the shared
stack of the other modules stops: tests/integration/conftest.py.)
"""

import signal

import requests

from tests.integration.conftest import PROGRAMS
from tests.support.rabbitmq import VHost
from tests.support.stack import Stack, free_port
from tests.support.timing import PROBE


def test_ctrl_c_stops_everything(vhost: VHost, checkout_free: None) -> None:
    demo = Stack("ctrl-c", {"WEB_PORT": str(free_port()), "CELERY_BROKER_URL": vhost.broker_url})
    try:
        demo.start(PROGRAMS)
        vhost.wait_for_consumers(1)
        # gunicorn's master and worker, Celery's main process and its pool, under make and supervisord.
        assert len(demo.process_tree()) >= 6, demo.process_tree()
        alive = demo.stop(signal.SIGINT)
        assert not alive, f"Ctrl-C left processes behind: {alive}"
        try:
            requests.get(demo.web_url, timeout=PROBE)
            raise AssertionError("the web app still answers after Ctrl-C")
        except requests.ConnectionError:
            pass
        vhost.wait_for_consumers(0)
    except BaseException:
        demo.kill()
        raise
