"""Settings for the whole test session."""

import os

import pytest

from tests.support import reliability

# Celery prefers the CELERY_BROKER_URL variable to any broker_url it is
# configured with (celery.app.utils.Settings.broker_url), so a value inherited
# from the developer's shell would send the tests' messages to the wrong broker.
# Every test names its broker explicitly: its own vhost, or none at all.
os.environ.pop("CELERY_BROKER_URL", None)
# The same holds for CELERY_RESULT_BACKEND and result_backend.
os.environ.pop("CELERY_RESULT_BACKEND", None)


def pytest_sessionstart(session: pytest.Session) -> None:
    """measured/reliability/ holds this run's RELIABILITY.md rows only (`make figures` copies them)."""
    reliability.clear()
