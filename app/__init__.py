"""The web app: hello-queue's producer.

gunicorn (run by supervisord's `[program:web]`) loads it with `app:create_app()`,
the app factory pattern of Flask's own `examples/celery`.
"""

from flask import Flask

from app import errors, routes


def create_app() -> Flask:
    """Build the Flask app.

    Returns:
        A configured `Flask` instance; nothing is read from the environment yet.
    """
    app = Flask(__name__)
    errors.register(app)
    app.register_blueprint(routes.bp)
    return app
