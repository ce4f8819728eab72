"""Which RabbitMQ and Redis `make run` uses (scripts/service_urls.py): the environment first,
then `.env`, then the defaults."""

from pathlib import Path

import pytest
from service_urls import BROKER_URL, MANAGEMENT_URL, RESULT_BACKEND, resolve

DOTENV = "RABBITMQ_DEFAULT_USER=hello\nRABBITMQ_DEFAULT_PASS=s3cret_-x\nFLOWER_BASIC_AUTH=flower:f\n"


def test_without_dotenv_the_defaults_as_guest(tmp_path: Path) -> None:
    services = resolve({}, tmp_path / ".env")
    assert (services.broker_url, services.result_backend, services.management_url) == (
        BROKER_URL,
        RESULT_BACKEND,
        MANAGEMENT_URL,
    )
    assert services.source == "defaults"
    assert services.start_line() == (
        "RabbitMQ: amqp://guest:**@localhost:5672// (UI http://localhost:15672), "
        "Redis: redis://localhost:6379/0; from defaults."
    )


def test_dotenv_gives_the_compose_services_user_and_published_ports(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(DOTENV + "RABBITMQ_PORT=5673\n# REDIS_PORT=6379\nREDIS_PORT=6380\n")
    services = resolve({}, dotenv)
    assert services.broker_url == "amqp://hello:s3cret_-x@localhost:5673//"
    assert services.result_backend == "redis://localhost:6380/0"
    assert services.management_url == "http://localhost:15672"
    assert services.source == ".env"
    assert "s3cret" not in services.start_line(), "the start line must not show the password"


def test_the_environment_wins_over_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(DOTENV + "RABBITMQ_PORT=5673\n")
    # A published port in the environment wins, as it does for `docker compose`.
    assert resolve({"RABBITMQ_PORT": "5674"}, dotenv).broker_url.endswith("@localhost:5674//")
    given = {"CELERY_BROKER_URL": "amqp://ada:pw@broker:5672/v", "CELERY_RESULT_BACKEND": "redis://r:1/2"}
    services = resolve(given, dotenv)
    assert services.broker_url == given["CELERY_BROKER_URL"]
    assert services.result_backend == given["CELERY_RESULT_BACKEND"]
    assert services.source == ".env and the environment"
    assert resolve({**given, "RABBITMQ_MANAGEMENT_URL": "http://m:1"}, dotenv).source == "the environment"


def test_the_start_line_masks_the_password_of_every_node_of_a_cluster(tmp_path: Path) -> None:
    # Celery's failover URLs, one per node (docker-compose.cluster.yml): kombu's
    # maybe_sanitize_url alone would mask the first password only.
    nodes = "amqp://ada:pw1@rabbitmq:5672//;amqp://ada:pw2@rabbitmq2:5672//"
    line = resolve({"CELERY_BROKER_URL": nodes}, tmp_path / ".env").start_line()
    assert line.startswith("RabbitMQ: amqp://ada:**@rabbitmq:5672//;amqp://ada:**@rabbitmq2:5672// (UI ")
    assert "pw" not in line


def test_a_password_that_needs_quoting_is_quoted(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("RABBITMQ_DEFAULT_USER=hello\nRABBITMQ_DEFAULT_PASS='p@ss/word'\n")
    assert resolve({}, dotenv).broker_url == "amqp://hello:p%40ss%2Fword@localhost:5672//"


def test_dotenv_without_a_password_is_one_clear_error(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("RABBITMQ_DEFAULT_USER=hello\nRABBITMQ_DEFAULT_PASS=\n")
    with pytest.raises(ValueError, match=r"has no RABBITMQ_DEFAULT_PASS: set one there, or remove it and `make \.env`"):
        resolve({}, dotenv)


def test_exports_are_shell_quoted(tmp_path: Path) -> None:
    services = resolve({"CELERY_BROKER_URL": "amqp://a:b c@h//"}, tmp_path / ".env")
    assert "export CELERY_BROKER_URL='amqp://a:b c@h//'\n" in services.exports()
