"""The Celery worker: hello-queue's consumer. Its Celery object is `worker.celery_app.celery`."""
