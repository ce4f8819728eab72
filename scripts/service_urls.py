"""Which RabbitMQ and Redis `make run` uses: the ones `docker compose up -d rabbitmq redis`
started, when there is a `.env`; otherwise your own, on their usual ports, as guest.

Why: the compose file's RabbitMQ has no guest user (the official image creates only
`.env`'s RABBITMQ_DEFAULT_USER), and it may be published on another port
(RABBITMQ_PORT, ...). Reading the same `.env` as compose saves typing its password
into a URL. For each URL, in this order (the first that is there wins):

1. the variable itself, from the environment (CELERY_BROKER_URL, ...);
2. `.env`, if the folder has one: the URL compose's services answer on, built from
   its user, password and published ports; a port set in the environment wins over
   `.env`'s, as it does for `docker compose` (Compose docs, "Environment variables
   precedence");
3. the code's defaults: guest/guest on localhost:5672 and Redis on localhost:6379.
   guest may log in from localhost only (RabbitMQ docs, "Access Control": loopback_users).

Run as a script, it prints `export NAME=value` lines for the shell of `make run`,
which hands them to supervisord's programs.
"""

import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from dotenv import dotenv_values
from kombu.utils.url import maybe_sanitize_url

ROOT = Path(__file__).resolve().parents[1]
DOTENV = ROOT / ".env"
BROKER_URL = "amqp://guest:guest@localhost:5672//"
RESULT_BACKEND = "redis://localhost:6379/0"
MANAGEMENT_URL = "http://localhost:15672"
# What the demo's programs read: the web app and the worker (app/celery_app.py,
# worker/celery_app.py), the page's panel (app/status.py) and Flower (monitor/).
VARIABLES = ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "RABBITMQ_MANAGEMENT_URL")


@dataclass(frozen=True)
class Services:
    """The three URLs the demo's programs read, and where they came from."""

    broker_url: str
    result_backend: str
    management_url: str
    # "the environment", ".env" or "defaults": what the start line says.
    source: str

    def exports(self) -> str:
        """Shell lines that set the three variables, quoted for `eval`."""
        values = (self.broker_url, self.result_backend, self.management_url)
        return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in zip(VARIABLES, values, strict=True))

    def start_line(self) -> str:
        """One line for `make run`'s terminal: which RabbitMQ and Redis, and why those.

        The password is masked: terminals and CI logs keep what they show."""
        return (
            f"RabbitMQ: {masked(self.broker_url)} (UI {self.management_url}), "
            f"Redis: {masked(self.result_backend)}; from {self.source}."
        )


def masked(url: str) -> str:
    """`url` with its password shown as `**`, in each URL of a `;`-separated list (a cluster's
    nodes, Celery's failover URLs): kombu's maybe_sanitize_url masks the first one only."""
    return ";".join(maybe_sanitize_url(part) for part in url.split(";"))


def resolve(environ: Mapping[str, str], dotenv: Path = DOTENV) -> Services:
    """The URLs `make run` uses (this module's docstring gives the order).

    Args:
        environ: the environment, e.g. `os.environ`.
        dotenv: the `.env` file compose reads; it need not exist.

    Returns:
        A `Services`. Without `.env`, only the environment and the defaults count.

    Raises:
        ValueError: `.env` has a user but an empty password (`make .env` fills it in).
    """
    given = {name: environ[name] for name in VARIABLES if environ.get(name)}
    if not dotenv.is_file():
        return Services(
            given.get("CELERY_BROKER_URL", BROKER_URL),
            given.get("CELERY_RESULT_BACKEND", RESULT_BACKEND),
            given.get("RABBITMQ_MANAGEMENT_URL", MANAGEMENT_URL),
            "the environment" if given else "defaults",
        )
    values = {**{k: v or "" for k, v in dotenv_values(dotenv).items()}, **environ}
    user, password = values.get("RABBITMQ_DEFAULT_USER", ""), values.get("RABBITMQ_DEFAULT_PASS", "")
    if not password and "CELERY_BROKER_URL" not in given:
        raise ValueError(f"{dotenv.name} has no RABBITMQ_DEFAULT_PASS: set one there, or remove it and `make .env`.")
    port = values.get("RABBITMQ_PORT") or "5672"
    return Services(
        given.get("CELERY_BROKER_URL", f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@localhost:{port}//"),
        given.get("CELERY_RESULT_BACKEND", f"redis://localhost:{values.get('REDIS_PORT') or '6379'}/0"),
        given.get("RABBITMQ_MANAGEMENT_URL", f"http://localhost:{values.get('RABBITMQ_MANAGEMENT_PORT') or '15672'}"),
        "the environment" if len(given) == 3 else f"{dotenv.name} and the environment" if given else dotenv.name,
    )


def main() -> int:
    """Print the `export` lines; on a broken `.env`, one line on stderr and exit status 1."""
    try:
        services = resolve(os.environ)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    print(services.exports(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
