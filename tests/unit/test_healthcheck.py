"""scripts/healthcheck.py without a stack: which supervisord states it calls unhealthy, and
that neither a silent supervisord nor a silent web app can make it hang.

(The integration tests run it against the real stack: tests/integration/test_healthcheck*.py.)
"""

import socket
import threading
import time
from pathlib import Path

import pytest

from scripts import healthcheck


def program(name: str, state: str, description: str) -> dict:
    """One program as supervisor.getAllProcessInfo describes it (the keys the check reads)."""
    return {"name": name, "statename": state, "description": description}


@pytest.mark.parametrize(
    ("state", "healthy"),
    [
        ("RUNNING", True),
        # `supervisorctl stop worker_hello`, as DEMO.md's step 3 does on purpose.
        ("STOPPED", True),
        ("STARTING", True),
        ("STOPPING", True),
        ("FATAL", False),
        ("BACKOFF", False),
        ("EXITED", False),
        ("UNKNOWN", False),
    ],
)
def test_which_states_are_unhealthy(monkeypatch: pytest.MonkeyPatch, state: str, healthy: bool) -> None:
    programs = [program("web", "RUNNING", "pid 10, uptime 0:01:00"), program("worker_hello", state, "the reason")]
    monkeypatch.setattr(healthcheck, "program_states", lambda socket_path: programs)
    monkeypatch.setattr(healthcheck, "page_problem", lambda url: None)
    verdict = healthcheck.check(Path("unused.sock"), "http://unused/")
    if healthy:
        assert verdict == (True, f"healthy: web RUNNING, worker_hello {state}, page answers")
    else:
        assert verdict == (False, f"unhealthy: worker_hello {state} (the reason)")


def test_flower_counts_as_every_program_does(monkeypatch: pytest.MonkeyPatch) -> None:
    # Its password missing, say (monitor/flowerconfig.py refuses to start): FATAL.
    programs = [
        program("flower", "FATAL", "Exited too quickly (process log may have details)"),
        program("web", "RUNNING", "pid 10, uptime 0:01:00"),
        program("worker_hello", "RUNNING", "pid 11, uptime 0:01:00"),
    ]
    monkeypatch.setattr(healthcheck, "program_states", lambda socket_path: programs)
    monkeypatch.setattr(healthcheck, "page_problem", lambda url: None)
    verdict = healthcheck.check(Path("unused.sock"), "http://unused/")
    assert verdict == (False, "unhealthy: flower FATAL (Exited too quickly (process log may have details))")


def test_no_supervisord_and_no_page_is_unhealthy(tmp_path: Path) -> None:
    healthy, line = healthcheck.check(tmp_path / "absent.sock", "http://127.0.0.1:9/")  # the discard port: refused
    assert not healthy
    assert line.startswith(f"unhealthy: supervisord does not answer on {tmp_path / 'absent.sock'} (FileNotFoundError")
    assert line.endswith("; page does not answer (ConnectionError)")


def test_a_silent_supervisord_and_a_silent_page_cannot_make_it_hang(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # Both listen, so a connection succeeds (the kernel queues it), and neither
    # ever answers: without timeouts, the check would wait forever. Closed after
    # 10 s in any case, so that a missing timeout fails this test instead of hanging it.
    with socket.socket(socket.AF_UNIX) as silent_supervisord, socket.socket() as silent_web:
        silent_supervisord.bind(str(tmp_path / "silent.sock"))
        silent_supervisord.listen()
        silent_web.bind(("127.0.0.1", 0))
        silent_web.listen()
        timers = [threading.Timer(10, silent.close) for silent in (silent_supervisord, silent_web)]
        for timer in timers:
            timer.start()
        monkeypatch.setattr(healthcheck, "SOCKET", tmp_path / "silent.sock")
        monkeypatch.setattr(healthcheck, "TIMEOUT", 0.2)
        # 0.0.0.0, as in the image: the check must knock on 127.0.0.1 (a refusal would say ConnectionError).
        monkeypatch.setenv("WEB_HOST", "0.0.0.0")
        monkeypatch.setenv("WEB_PORT", str(silent_web.getsockname()[1]))
        started = time.monotonic()
        try:
            status = healthcheck.main()
        finally:
            socket.setdefaulttimeout(None)  # main() sets it for the whole process: not for the other tests
            for timer in timers:
                timer.cancel()
        elapsed = time.monotonic() - started
    line = capsys.readouterr().out
    assert status == 1
    assert "supervisord does not answer" in line and "TimeoutError" in line, line
    assert line.endswith("; page does not answer (ReadTimeout)\n"), line
    assert elapsed < 5, f"the check took {elapsed:.1f} s with a 0.2 s timeout"
