"""RabbitMQ's management API (its HTTP API), as the web app asks it: for the one count AMQP
does not give, unacked (app/status.py), for the resource alarms (app/alarms.py), and for a
quorum hello_queue's members online (app/majority.py).

One session for all, so that the page's questions, every second, reuse one connection.
"""

import os

import requests

MANAGEMENT_URL = os.environ.get("RABBITMQ_MANAGEMENT_URL", "http://localhost:15672")
_session = requests.Session()


def get(path: str, auth: tuple[str, str], timeout: float) -> requests.Response:
    """`GET MANAGEMENT_URL + path` as the user `auth` (user, password), for at most `timeout` seconds.

    Raises:
        requests.RequestException: no answer in time, or no connection.
    """
    return _session.get(MANAGEMENT_URL + path, auth=auth, timeout=timeout)
