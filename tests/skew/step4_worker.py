"""The worker as it was at step 4: `greeting` is required, so messages without it fail.

Run: `celery --app tests.skew.step4_worker worker --queues hello_queue`.
"""

import time

from celery import Celery, Task
from celery.utils.log import get_task_logger

from worker.celery_app import worker_settings

celery = Celery("step4_worker")
celery.conf.update(worker_settings())
logger = get_task_logger("worker.tasks")


@celery.task(name="say_hello", bind=True)
def say_hello(self: Task, name: str, duration: float, greeting: str) -> None:
    """Step 4's task: greet `name` with `greeting` after `duration` seconds."""
    logger.info("%s, %s! (task id %s)", greeting, name, self.request.id)
    time.sleep(duration)
