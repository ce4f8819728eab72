"""The web app: hello-queue's producer.

gunicorn (run by supervisord's `[program:web]`) loads it with `app:create_app()`,
the app factory pattern of Flask's own `examples/celery`.
"""

from flask import Flask

from app import baseline, errors, routes, security, status
from app.celery_app import celery_init_app, producer_settings
from app.issued_tasks import IssuedTasks


def create_app(celery_settings: dict | None = None) -> Flask:
    """Build the Flask app and its producer Celery object.

    Args:
        celery_settings: Celery settings that override those read from the
            environment (tests use it to point at another broker). Beware:
            Celery itself prefers a CELERY_BROKER_URL variable, when set, to
            any `broker_url` (celery.app.utils.Settings.broker_url).

    Returns:
        A configured `Flask` instance; its Celery object is `app.extensions["celery"]`,
        and the ids of the tasks it sent are in `app.extensions["issued_tasks"]`.
    """
    app = Flask(__name__)
    # Security headers on every answer, and MAX_CONTENT_LENGTH (app/security.py).
    security.secure(app)
    app.config["CELERY"] = {**producer_settings(), **(celery_settings or {})}
    celery = celery_init_app(app)
    # Kept in the result backend's Redis. (Its URL is conf.result_backend, for
    # which Celery prefers the CELERY_RESULT_BACKEND variable, as for the broker.)
    app.extensions["issued_tasks"] = IssuedTasks(celery.backend.client, celery.conf.result_expires)
    errors.register(app)
    app.register_blueprint(routes.bp)  # the page, POST /hello, GET /tasks/<id>, POST /hello/blocking
    app.register_blueprint(status.bp)  # GET /status, for the page's panel
    app.register_blueprint(baseline.bp)  # POST /noop, make bench's baseline
    return app
