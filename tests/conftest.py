"""Settings for the whole test session.

`make test` runs the suite in several processes at once (pytest-xdist's `-n`): a
controller that hands out the tests, and workers that run them, each demo stack of
a worker in its own copy of the checkout (tests/support/checkout.py).
"""

import os

import pytest

from tests.support import checkout, reliability, scheduling

# Celery prefers the CELERY_BROKER_URL variable to any broker_url it is
# configured with (celery.app.utils.Settings.broker_url), so a value inherited
# from the developer's shell would send the tests' messages to the wrong broker.
# Every test names its broker explicitly: its own vhost, or none at all.
os.environ.pop("CELERY_BROKER_URL", None)
# The same holds for CELERY_RESULT_BACKEND and result_backend.
os.environ.pop("CELERY_RESULT_BACKEND", None)
# And hello_queue's type (app/celery_app.py): the tests' RabbitMQ holds a classic one, as
# `make run`'s does; the cluster's tests set quorum in their compose project.
os.environ.pop("HELLO_QUEUE_TYPE", None)


def is_worker(config: pytest.Config) -> bool:
    """Whether this process is one of pytest-xdist's workers (they get `workerinput`)."""
    return hasattr(config, "workerinput")


def runs_tests(config: pytest.Config) -> bool:
    """Whether this process runs tests: a worker, or a run without -n. pytest-xdist's
    controller only hands them out."""
    return is_worker(config) or not getattr(config.option, "numprocesses", None)


def pytest_configure(config: pytest.Config) -> None:
    """With pytest-xdist, its scheduler for `--dist loadfile` is ours (tests/support/scheduling.py)."""
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(scheduling, "hello-queue-scheduling")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Once per run (not per worker): measured/reliability/ holds this run's RELIABILITY.md rows
    only (`make figures` copies them), and copies left by a killed run go. Then, in each
    process that runs tests, its own copy of the checkout."""
    if not is_worker(session.config):
        reliability.clear()
        checkout.remove_stale()
    if runs_tests(session.config):
        checkout.create()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if runs_tests(session.config):
        checkout.remove()
