"""The drain's baseline: a bare Celery app, every setting at Celery's default but the broker
and the result backend, which are the demo's. Defaults that matter here (Celery docs,
"Configuration and defaults"): worker_prefetch_multiplier 4, task_acks_late False (a
message is acked when it arrives), task_track_started False (only the final state is
stored), no task events."""

import os

from celery import Celery

celery = Celery(
    "defaults",
    broker=os.environ["CELERY_BROKER_URL"],
    backend=os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/0"),
)


@celery.task(name="say_hello")
def say_hello(name: str = "world", duration: float = 0.0, **kwargs: object) -> str:
    """The same message contract as the demo's task, and no work: a greeting."""
    return f"Hello, {name}!"
