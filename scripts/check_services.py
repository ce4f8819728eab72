"""One line, with the way out, when RabbitMQ or Redis cannot be used: `make run`'s last
check before it starts (scripts/preflight.py), on the URLs of scripts/service_urls.py.
Each check gives up after 3 s.
"""

from urllib.parse import urlsplit

import redis
from amqp.exceptions import AccessRefused
from kombu import Connection
from service_urls import masked


def broker_problem(url: str, source: str = "") -> str | None:
    """Why RabbitMQ at `url` cannot be used, in one line; None if a connection opens.

    Args:
        url: the broker's URL.
        source: where `url` came from (`service_urls.Services.source`); ".env" makes a
            refused login name `.env`'s user and the way out.
    """
    connection = Connection(url, connect_timeout=3)
    try:
        # One attempt and no retry: a refused connection fails at once, a
        # silent host after connect_timeout.
        connection.ensure_connection(max_retries=0, timeout=3)
    except AccessRefused:
        # RabbitMQ answered, but not to this user: with .env's, most often a RabbitMQ of
        # the learner's own, which knows guest only, not the compose file's.
        # As the URL says it (kombu's own hostname may be resolved already).
        parts = urlsplit(url)
        where = f"{parts.hostname}:{parts.port or 5672}"
        if source == ".env":
            return (
                f"RabbitMQ at {where} refused .env's user {connection.userid} (ACCESS_REFUSED): that user is the "
                "compose file's RabbitMQ's (`docker compose up -d --wait rabbitmq redis`); for a RabbitMQ of "
                "your own, as guest, move .env away."
            )
        return f"RabbitMQ at {where} refused the user {connection.userid} (ACCESS_REFUSED): check CELERY_BROKER_URL."
    except Exception as error:  # noqa: BLE001 - whatever went wrong, the advice is the same
        return (
            f"RabbitMQ is not reachable at {masked(url)} ({error}). Start one, e.g. "
            "`docker compose up -d --wait rabbitmq redis` (after `make .env`) or `rabbitmq-server -detached`, "
            "or set CELERY_BROKER_URL."
        )
    finally:
        connection.release()
    return None


def result_backend_problem(url: str) -> str | None:
    """Why Redis at `url` cannot be used, in one line; None if it answers PING."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as error:
        return (
            f"Redis, the result backend, is not reachable at {masked(url)} ({error}). Start one, e.g. "
            "`docker compose up -d --wait rabbitmq redis` (after `make .env`) or `redis-server --daemonize yes`, "
            "or set CELERY_RESULT_BACKEND."
        )
    return None
