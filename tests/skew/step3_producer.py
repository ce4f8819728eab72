"""The web app's producer as it was at step 3: its `say_hello` messages carry no `greeting`."""

from celery import Celery

from app.celery_app import producer_settings


def send_say_hello(broker_url: str, name: str, duration: float) -> str:
    """Publish `say_hello` to hello_queue with step 3's arguments.

    Args:
        broker_url: the broker to publish to.
        name: who to greet.
        duration: seconds of slow work.

    Returns:
        The task id.
    """
    producer = Celery("step3_producer")
    producer.conf.update({**producer_settings(), "broker_url": broker_url})
    return producer.send_task("say_hello", kwargs={"name": name, "duration": duration}).id
