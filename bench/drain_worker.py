"""The demo's worker (`worker.celery_app`) for the drain table, with `task_acks_late` from the
environment: the one varied setting that `celery worker` has no command-line option for
(the pool and the prefetch multiplier have `--pool` and `--prefetch-multiplier`)."""

import os

from worker.celery_app import celery

celery.conf.task_acks_late = os.environ["BENCH_ACKS_LATE"] == "1"

__all__ = ["celery"]
