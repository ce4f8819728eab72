"""A task's state as `GET /tasks/<id>` answers it, from what the worker stored in the result backend."""

from typing import Any, TypedDict

from celery import states


class Progress(TypedDict):
    """How far a running task is: `current` of `total` seconds of its duration."""

    current: float
    total: float


class TaskState(TypedDict):
    """The JSON body of `GET /tasks/<id>`."""

    id: str
    state: str
    progress: Progress | None
    result: Any
    error: str | None
    retries: int | None


def describe(task_id: str, meta: dict[str, Any]) -> TaskState:
    """Turn the result backend's record of a task into the page's view of it.

    Args:
        task_id: the task's id.
        meta: `celery.backend.get_task_meta(task_id)`: `status` is the state
            (PENDING, STARTED, PROGRESS, RETRY, SUCCESS, FAILURE), `result` is
            the task's return value, the PROGRESS meta, or the exception, and
            `retries` the attempts retried so far (stored with
            `result_extended`; absent while PENDING).

    Returns:
        `progress` only while the state is PROGRESS, `result` only on SUCCESS,
        `error` ("ExceptionType: message") on RETRY and FAILURE.
    """
    state = meta["status"]
    info = meta.get("result")
    progress = None
    if state == "PROGRESS" and isinstance(info, dict):
        progress = Progress(current=info.get("current"), total=info.get("total"))
    error = None
    if isinstance(info, BaseException):
        error = f"{type(info).__name__}: {info}"
    return TaskState(
        id=task_id,
        state=state,
        progress=progress,
        result=info if state == states.SUCCESS else None,
        error=error,
        retries=meta.get("retries"),
    )
