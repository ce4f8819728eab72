"""GET /status's parts that need no broker."""

import pytest

from app import management_api, status


def test_unacked_is_unknown_when_the_management_api_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(management_api, "MANAGEMENT_URL", "http://127.0.0.1:9")  # the discard port: refused
    assert status._management_unacked("guest", "guest", "/", "hello_queue") is None


def test_programs_are_unknown_outside_supervisord(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPERVISOR_SERVER_URL", raising=False)
    assert status.program_states() is None
