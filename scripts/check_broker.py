"""Fail fast, in one line, when RabbitMQ is not there. `make run` calls this first.

Exit status 0 when a connection to `CELERY_BROKER_URL` opens within 3 s, else 1.
"""

import os
import sys

from kombu import Connection
from kombu.utils.url import maybe_sanitize_url


def main() -> int:
    """Open one connection to the broker and close it.

    Returns:
        0 if it opened, 1 otherwise (after printing one line saying what to do).
    """
    url = os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@localhost:5672//")
    connection = Connection(url, connect_timeout=3)
    try:
        # One attempt and no retry: a refused connection fails at once, a
        # silent host after connect_timeout.
        connection.ensure_connection(max_retries=0, timeout=3)
    except Exception as error:  # noqa: BLE001 - whatever went wrong, the advice is the same
        print(
            f"RabbitMQ is not reachable at {maybe_sanitize_url(url)} ({error}). Start one, e.g. "
            "`docker compose up -d rabbitmq` or `rabbitmq-server -detached`, or set CELERY_BROKER_URL.",
            file=sys.stderr,
        )
        return 1
    finally:
        connection.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
