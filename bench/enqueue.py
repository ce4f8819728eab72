"""Section 2, Enqueue: what Celery's `send_task` and publisher confirms cost, in messages/s from one process.

Four ways to put the same message on hello_queue, one after another from this
process: Celery's `send_task` with the web app's own producer settings
(`app.celery_app`), and kombu's `Producer.publish` of the very body, headers
and properties that `send_task` produced (Celery's message protocol 2), each
with and without publisher confirms (`confirm_publish`). And the other thing
`POST /hello` does for each task: note its id in Redis (`app.issued_tasks`).
"""

import time
import uuid
from collections.abc import Callable

from celery import Celery
from celery.signals import before_task_publish
from kombu import Connection

from app.celery_app import RESULT_EXPIRES, hello_queue_type, producer_settings
from app.issued_tasks import KEY_PREFIX, IssuedTasks
from bench.context import Bench
from bench.report import Metric, Row, Section
from tests.support.rabbitmq import HELLO_QUEUE

MESSAGES = 1_000  # per run and way
KWARGS = {"name": "bench", "duration": 0.0, "greeting": "Hello", "fail_times": 0}
BASELINE = "kombu publish, no confirms"
REDIS_NOTE = "Redis SET of the task id (POST /hello's note, before send_task)"


def celery_producer(broker_url: str, confirm: bool, queue_type: str | None = None) -> Celery:
    """A Celery object with the web app's producer settings, publisher confirms on or off.

    Args:
        queue_type: hello_queue's type, "classic" or "quorum", as the demo it publishes to
            declares it (`hello_queue_type`); by default HELLO_QUEUE_TYPE's, as the web app's.
    """
    settings = producer_settings()
    if queue_type:
        settings.update(hello_queue_type(queue_type))
    transport_options = {**settings["broker_transport_options"], "confirm_publish": confirm}
    celery = Celery("bench-enqueue")
    celery.conf.update({**settings, "broker_url": broker_url, "broker_transport_options": transport_options})
    return celery


def celery_message(celery: Celery) -> dict:
    """What `send_task` publishes for one `say_hello`: kombu `publish` arguments, caught by
    Celery's `before_task_publish` signal (Celery docs, "Signals")."""
    caught: dict = {}

    def catch(body, exchange, routing_key, headers, properties, **_) -> None:
        caught.update(body=body, exchange=exchange, routing_key=routing_key, headers=headers, properties=properties)

    before_task_publish.connect(catch, weak=False)
    try:
        celery.send_task("say_hello", kwargs=KWARGS)
    finally:
        before_task_publish.disconnect(catch)
    return caught


def send_tasks(celery: Celery) -> Callable[[int], None]:
    """`count` × `send_task("say_hello")`, as `POST /hello` calls it."""

    def send(count: int) -> None:
        for _ in range(count):
            celery.send_task("say_hello", kwargs=KWARGS, task_id=str(uuid.uuid4()))

    return send


def publish_raw(connection: Connection, message: dict, delivery_mode: int = 2) -> Callable[[int], None]:
    """`count` × kombu `Producer.publish` of `message`, each with a new task id (header
    `id` and `root_id`, property `correlation_id`), as `send_task` gives each message.

    Args:
        delivery_mode: 2, persistent (Celery's task_default_delivery_mode): RabbitMQ
            writes the message to disk, and confirms it only then; 1, transient: kept
            in memory, lost if RabbitMQ restarts (RabbitMQ docs, "Publisher Confirms").
    """
    producer = connection.Producer()

    def publish(count: int) -> None:
        for _ in range(count):
            task_id = str(uuid.uuid4())
            producer.publish(
                message["body"],
                exchange=message["exchange"],
                routing_key=message["routing_key"],
                serializer="json",
                delivery_mode=delivery_mode,
                headers={**message["headers"], "id": task_id, "root_id": task_id},
                **{**message["properties"], "correlation_id": task_id},
            )

    return publish


def note_ids(issued: IssuedTasks, noted: list[str]) -> Callable[[int], None]:
    """`count` × `IssuedTasks.add`, as `POST /hello` notes each task id in Redis before
    sending it; the ids go to `noted`, for deleting them afterwards."""

    def note(count: int) -> None:
        for _ in range(count):
            task_id = str(uuid.uuid4())
            issued.add(task_id)
            noted.append(task_id)

    return note


def rate(send: Callable[[int], None]) -> float:
    """Messages per second of `send(MESSAGES)`."""
    started = time.perf_counter()
    send(MESSAGES)
    return MESSAGES / (time.perf_counter() - started)


def measure(bench: Bench) -> Section:
    """Measure each way `bench.runs` times, taking turns; hello_queue is purged after each batch.

    No worker may consume hello_queue meanwhile: the demo's stack is stopped first.
    """
    bench.stop_stack()
    plain = celery_producer(bench.vhost.broker_url, confirm=False)
    confirming = celery_producer(bench.vhost.broker_url, confirm=True)  # the web app's settings
    message = celery_message(confirming)
    connections = [
        Connection(bench.vhost.broker_url, transport_options={"confirm_publish": confirm}) for confirm in (False, True)
    ]
    issued = IssuedTasks(confirming.backend.client, RESULT_EXPIRES)
    noted: list[str] = []
    ways = {
        BASELINE: publish_raw(connections[0], message),
        "Celery send_task, no confirms": send_tasks(plain),
        "kombu publish, publisher confirms, transient message": publish_raw(connections[1], message, delivery_mode=1),
        "kombu publish, publisher confirms": publish_raw(connections[1], message),
        "Celery send_task, publisher confirms (POST /hello's)": send_tasks(confirming),
        REDIS_NOTE: note_ids(issued, noted),
    }
    rates: dict[str, list[float]] = {label: [] for label in ways}
    try:
        for send in ways.values():  # connections opened, queue declared: untimed
            send(100)
        for run in range(bench.runs):
            for label, send in ways.items():
                bench.log(f"Enqueue run {run + 1}/{bench.runs}: {label}")
                rates[label].append(rate(send))
                bench.vhost.purge(HELLO_QUEUE)
    finally:
        for connection in connections:
            connection.release()
        bench.vhost.purge(HELLO_QUEUE)
        if noted:
            issued.client.delete(*(KEY_PREFIX + task_id for task_id in noted))
    section = Section(
        title="2. Enqueue: handing one task over, from one process",
        intro=(
            f"{MESSAGES:,} `say_hello` messages per run, sent one after another to hello_queue"
            " (durable, persistent messages, no consumer) by one Python process: with Celery's `send_task` and the"
            " web app's producer settings, or with a bare kombu `Producer.publish` of the same body, headers and"
            " properties (Celery's message protocol 2). The last row is the other half of what `POST /hello` does"
            f" for a task: {MESSAGES:,} task ids noted in Redis, one `SET` each."
        ),
        metrics=[Metric("rate", "per second"), Metric("ms", "ms each")],
        rows=[
            Row(label, {"rate": values, "ms": [1000 / value for value in values]}) for label, values in rates.items()
        ],
        baseline=BASELINE,
        ratio_of="rate",
    )
    explain(section)
    return section


def explain(section: Section) -> None:
    """Write the section's takeaway and the costs of the web app's safety settings, from its medians."""
    ms = {row.label: section.median(row.label, "ms") for row in section.rows}
    celery_cost = ms["Celery send_task, no confirms"] - ms[BASELINE]
    confirm_cost = ms["kombu publish, publisher confirms"] - ms[BASELINE]
    transient_cost = ms["kombu publish, publisher confirms, transient message"] - ms[BASELINE]
    section.takeaway = (
        f"Celery's `send_task` costs {celery_cost:.2f} ms a message more than a bare kombu publish of the same"
        " message: it builds the message, routes it, applies the retry policy, and the Redis result backend"
        " subscribes to each task's result channel. Publisher confirms cost"
        f" {confirm_cost:.2f} ms a message, {transient_cost:.2f} ms of which for a transient message: the rest"
        " is RabbitMQ writing a persistent message to disk before it confirms. `POST /hello` pays both on"
        " purpose, so that its 202 means that the message is safe in RabbitMQ; noting the task id in Redis costs"
        f" {ms[REDIS_NOTE]:.2f} ms."
    )
    section.costs = [
        "**Publisher confirms of persistent messages** (`confirm_publish` in app/celery_app.py; Celery sends"
        f" persistent messages by default, to a durable hello_queue): {confirm_cost:.2f} ms per `POST /hello`"
        " (section 2), a large part of what separates it from the no-op route (section 1). Kept because a 202"
        " then means that RabbitMQ has the message on disk: without the confirm, a message RabbitMQ failed to"
        " take would vanish without an error, and a transient message would be lost when RabbitMQ restarts.",
        f"**The task id noted in Redis before the message is sent** (app/issued_tasks.py): {ms[REDIS_NOTE]:.2f}"
        " ms per `POST /hello`, and a round trip before the message leaves (section 4). Kept because Celery"
        " answers PENDING for any id, issued or not: without the note, `GET /tasks/<id>` could not answer 404 to an"
        " unknown id. Noted first, a Redis that fails leaves nothing queued.",
    ]
