"""monitor/flowerconfig.py, the file Flower reads its settings from: no password, no Flower.

Flower runs the file as Python (tornado's `parse_config_file`); `runpy.run_path` does
the same here, with the environment each test sets.
"""

import runpy
from pathlib import Path

import pytest

FLOWERCONFIG = Path(__file__).resolve().parents[2] / "monitor" / "flowerconfig.py"


def settings(monkeypatch: pytest.MonkeyPatch, **environment: str) -> dict:
    """The names flowerconfig.py defines, run with only `environment` of Flower's variables set."""
    for name in ("FLOWER_BASIC_AUTH", "RABBITMQ_MANAGEMENT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(FLOWERCONFIG))


@pytest.mark.parametrize("credentials", [None, "", "flower", "flower:", ":secret", "flower:secret,"])
def test_flower_refuses_to_start_without_a_user_and_a_password(
    monkeypatch: pytest.MonkeyPatch, credentials: str | None
) -> None:
    environment = {} if credentials is None else {"FLOWER_BASIC_AUTH": credentials}
    with pytest.raises(SystemExit, match="FLOWER_BASIC_AUTH must be user:password"):
        settings(monkeypatch, **environment)


def test_the_password_comes_from_flower_basic_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(monkeypatch, FLOWER_BASIC_AUTH="flower:s3cret")["basic_auth"] == ["flower:s3cret"]
    both = settings(monkeypatch, FLOWER_BASIC_AUTH="flower:s3cret,ada:other")["basic_auth"]
    assert both == ["flower:s3cret", "ada:other"]


def test_the_broker_api_is_the_management_api_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Flower logs in with the broker URL's user and password (flower/utils/broker.py).
    assert settings(monkeypatch, FLOWER_BASIC_AUTH="flower:x")["broker_api"] == "http://localhost:15672/api/"
    docker = settings(monkeypatch, FLOWER_BASIC_AUTH="flower:x", RABBITMQ_MANAGEMENT_URL="http://rabbitmq:15672")
    assert docker["broker_api"] == "http://rabbitmq:15672/api/"


def test_flower_only_watches(monkeypatch: pytest.MonkeyPatch) -> None:
    flower = settings(monkeypatch, FLOWER_BASIC_AUTH="flower:x")
    assert flower["read_only"] is True
    assert flower["enable_events"] is False
    assert flower["persistent"] is False
