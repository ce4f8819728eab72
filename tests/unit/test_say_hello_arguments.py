"""say_hello checks its argument types, and fails with an error the web app can show (no broker, no Redis)."""

import pytest

from app.task_state import describe
from worker.arguments import check_say_hello_arguments
from worker.celery_app import celery
from worker.tasks import say_hello

VALID = {"name": "Ada", "duration": 0.5, "greeting": "Hello", "fail_times": 0, "poison": False}


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("duration", "abc", "say_hello: duration must be a finite number of seconds, got 'abc'"),
        # JSON's "2" is a string, not a number, though pydantic's lax mode would convert it.
        ("duration", "2", "say_hello: duration must be a finite number of seconds, got '2'"),
        ("duration", True, "say_hello: duration must be a finite number of seconds, got True"),
        ("duration", None, "say_hello: duration must be a finite number of seconds, got None"),
        ("duration", float("inf"), "say_hello: duration must be a finite number of seconds, got inf"),
        ("fail_times", "x", "say_hello: fail_times must be a whole number of attempts, got 'x'"),
        ("fail_times", True, "say_hello: fail_times must be a whole number of attempts, got True"),
        ("fail_times", 1.5, "say_hello: fail_times must be a whole number of attempts, got 1.5"),
        ("poison", 1, "say_hello: poison must be true or false, got 1"),
        ("poison", "yes", "say_hello: poison must be true or false, got 'yes'"),
        ("name", 42, "say_hello: name must be a string, got 42"),
        ("greeting", ["Hi"], "say_hello: greeting must be a string, got ['Hi']"),
    ],
)
def test_a_wrong_type_is_a_type_error_naming_the_task_and_the_argument(field: str, value: object, error: str) -> None:
    with pytest.raises(TypeError) as raised:
        check_say_hello_arguments(**{**VALID, field: value})
    assert str(raised.value) == error


@pytest.mark.parametrize("duration", [0, 2, 0.5])
def test_a_whole_number_of_seconds_is_a_valid_duration(duration: float) -> None:
    check_say_hello_arguments(**{**VALID, "duration": duration})


def test_the_task_checks_before_anything_else() -> None:
    # apply() runs the task here, in this process, as a worker's pool process would.
    result = say_hello.apply(kwargs={"duration": "abc"})
    assert result.state == "FAILURE"
    assert repr(result.result) == "TypeError(\"say_hello: duration must be a finite number of seconds, got 'abc'\")"


def test_defaults_and_unknown_arguments_are_still_tolerated() -> None:
    result = say_hello.apply(kwargs={"duration": 0, "colour": "blue"})
    assert result.state == "SUCCESS"
    assert result.result["greeting"] == "Hello, world!"


def test_the_error_survives_the_result_backend_and_reads_well_on_the_page() -> None:
    """The worker stores the exception as JSON; the web app rebuilds it and shows "Type: message"."""
    with pytest.raises(TypeError) as raised:
        check_say_hello_arguments(**{**VALID, "duration": "abc"})
    backend = celery.backend  # Redis, but encoding and decoding never connect
    stored = backend.encode(backend.prepare_exception(raised.value))
    rebuilt = backend.exception_to_python(backend.decode(stored))
    state = describe("0f8fad5b-d9cb-469f-a165-70867728950e", {"status": "FAILURE", "result": rebuilt})
    assert state["error"] == "TypeError: say_hello: duration must be a finite number of seconds, got 'abc'"
