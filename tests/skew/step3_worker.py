"""The worker as it was at step 3, still running on a machine not yet redeployed:
its `say_hello` knows no `greeting`.

Run: `celery --app tests.skew.step3_worker worker --queues hello_queue`.
"""

import time

from celery import Celery, Task
from celery.utils.log import get_task_logger

from worker.celery_app import worker_settings

celery = Celery("step3_worker")
celery.conf.update(worker_settings())
logger = get_task_logger("worker.tasks")


@celery.task(name="say_hello", bind=True)
def say_hello(self: Task, name: str, duration: float) -> None:
    """Step 2 and 3's task: greet `name` after `duration` seconds."""
    logger.info("Hello, %s! (task id %s)", name, self.request.id)
    time.sleep(duration)
