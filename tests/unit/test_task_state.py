"""How GET /tasks/<id> tells a task id and reports a stored state (no broker, no Redis)."""

import pytest

from app import create_app
from app.issued_tasks import is_task_id
from app.task_state import describe

TASK_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.mark.parametrize(
    ("text", "well_formed"),
    [
        (TASK_ID, True),
        (TASK_ID.upper(), False),
        (TASK_ID.replace("-", ""), False),
        ("by-hand-1", False),
        ("", False),
    ],
)
def test_a_task_id_is_a_lowercase_uuid_with_hyphens(text: str, well_formed: bool) -> None:
    assert is_task_id(text) is well_formed


def test_a_malformed_id_answers_400_before_any_lookup() -> None:
    # No Redis on this port: the 400 must come before the app looks anything up.
    client = create_app({"broker_url": "memory://", "result_backend": "redis://127.0.0.1:9/0"}).test_client()
    answer = client.get("/tasks/nope")
    assert answer.status_code == 400
    assert answer.json["field"] == "task_id"


def test_pending_has_nothing_else() -> None:
    assert describe(TASK_ID, {"status": "PENDING", "result": None}) == {
        "id": TASK_ID,
        "state": "PENDING",
        "progress": None,
        "result": None,
        "error": None,
        "retries": None,
    }


def test_progress_shows_current_and_total_only() -> None:
    meta = {"status": "PROGRESS", "result": {"current": 1.0, "total": 3.0}, "retries": 0}
    state = describe(TASK_ID, meta)
    assert state["progress"] == {"current": 1.0, "total": 3.0}
    assert state["result"] is None


def test_started_keeps_the_workers_pid_to_itself() -> None:
    state = describe(TASK_ID, {"status": "STARTED", "result": {"pid": 42, "hostname": "w@h"}, "retries": 1})
    assert (state["progress"], state["result"], state["retries"]) == (None, None, 1)


def test_retry_and_failure_carry_the_error() -> None:
    state = describe(TASK_ID, {"status": "RETRY", "result": RuntimeError("busy"), "retries": 0})
    assert state["error"] == "RuntimeError: busy"
    assert describe(TASK_ID, {"status": "FAILURE", "result": TypeError("bad")})["error"] == "TypeError: bad"


def test_success_carries_the_result() -> None:
    result = {"greeting": "Hello, Ada!"}
    assert describe(TASK_ID, {"status": "SUCCESS", "result": result, "retries": 2})["result"] == result
