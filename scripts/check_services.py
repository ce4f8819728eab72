"""Fail fast, in one line, when RabbitMQ or Redis is not there. `make run` calls this first.

Exit status 0 when a connection to the broker (`CELERY_BROKER_URL`) and one to
the result backend (`CELERY_RESULT_BACKEND`) each open within 3 s, else 1.
"""

import os
import sys

import redis
from kombu import Connection
from kombu.utils.url import maybe_sanitize_url


def broker_problem(url: str) -> str | None:
    """Why RabbitMQ at `url` cannot be used, in one line; None if a connection opens."""
    connection = Connection(url, connect_timeout=3)
    try:
        # One attempt and no retry: a refused connection fails at once, a
        # silent host after connect_timeout.
        connection.ensure_connection(max_retries=0, timeout=3)
    except Exception as error:  # noqa: BLE001 - whatever went wrong, the advice is the same
        return (
            f"RabbitMQ is not reachable at {maybe_sanitize_url(url)} ({error}). Start one, e.g. "
            "`docker compose up -d rabbitmq` or `rabbitmq-server -detached`, or set CELERY_BROKER_URL."
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
            f"Redis, the result backend, is not reachable at {maybe_sanitize_url(url)} ({error}). Start one, e.g. "
            "`docker compose up -d redis` or `redis-server --daemonize yes`, or set CELERY_RESULT_BACKEND."
        )
    return None


def main() -> int:
    """Check the broker, then the result backend.

    Returns:
        0 if both answered, 1 otherwise (after printing one line saying what to do).
    """
    problem = broker_problem(
        os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@localhost:5672//")
    ) or result_backend_problem(os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/0"))
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
