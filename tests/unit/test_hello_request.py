"""POST /hello's input rules, through Flask's test client (no server, no broker; the one
test that sends a task notes its id in the local Redis, under a key that expires)."""

import pytest
from flask.testing import FlaskClient

from app import create_app


@pytest.fixture
def client() -> FlaskClient:
    # kombu's in-memory transport: a real Celery producer that publishes to no
    # RabbitMQ, so unit tests never leave a message on a shared broker.
    return create_app({"broker_url": "memory://"}).test_client()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 42}, "name"),
        ({"duration": -1}, "duration"),
        ({"duration": 30.5}, "duration"),
        ({"duration": "soon"}, "duration"),
        ({"duration": True}, "duration"),
        ({"duration": None}, "duration"),
        ({"nmae": "Ada"}, "nmae"),
        ({"greeting": ""}, "greeting"),
        ({"greeting": "x" * 31}, "greeting"),
        ({"fail_times": -1}, "fail_times"),
        ({"fail_times": 6}, "fail_times"),
        ({"fail_times": 1.5}, "fail_times"),
        ({"fail_times": True}, "fail_times"),
        ({"poison": "maybe"}, "poison"),
        ({"poison": 2}, "poison"),
    ],
)
def test_bad_json_fields_answer_400_naming_the_field(client: FlaskClient, body: dict, field: str) -> None:
    answer = client.post("/hello", json=body)
    assert answer.status_code == 400
    assert answer.json["field"] == field
    assert answer.json["error"]


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"Ada"'])
def test_a_body_that_is_not_a_json_object_answers_400(client: FlaskClient, raw: str) -> None:
    answer = client.post("/hello", data=raw, content_type="application/json")
    assert answer.status_code == 400
    assert answer.json["field"] == "body"


def test_a_form_with_a_bad_duration_answers_400(client: FlaskClient) -> None:
    answer = client.post("/hello", data={"name": "Ada", "duration": "NaN"})
    assert (answer.status_code, answer.json["field"]) == (400, "duration")


def test_other_content_types_answer_415_in_json(client: FlaskClient) -> None:
    answer = client.post("/hello", data="name=Ada", content_type="text/plain")
    assert answer.status_code == 415
    assert "error" in answer.json


def test_unknown_routes_answer_json(client: FlaskClient) -> None:
    answer = client.get("/nope")
    assert answer.status_code == 404
    assert "error" in answer.json


def test_json_form_and_empty_bodies_are_accepted_by_the_blocking_route(client: FlaskClient) -> None:
    assert client.post("/hello/blocking", json={"name": "Ada", "duration": 0}).json == {
        "greeting": "Hello, Ada!",
        "duration": 0.0,
    }
    form = {"name": "Bob", "duration": "0", "greeting": "Bonjour"}
    assert client.post("/hello/blocking", data=form).json["greeting"] == "Bonjour, Bob!"


@pytest.mark.parametrize("route", ["/hello", "/hello/blocking"])
def test_both_routes_apply_the_same_rules(client: FlaskClient, route: str) -> None:
    answer = client.post(route, json={"duration": 31})
    assert (answer.status_code, answer.json["field"]) == (400, "duration")


def test_post_hello_publishes_say_hello_with_its_kwargs_to_hello_queue(client: FlaskClient) -> None:
    celery = client.application.extensions["celery"]
    answer = client.post("/hello", data={"name": "Bob", "duration": "0.5"})
    assert answer.status_code == 202
    assert answer.json == {"task_id": answer.json["task_id"], "queue": "hello_queue"}
    with celery.connection_for_read() as connection:
        message = connection.SimpleQueue("hello_queue").get(timeout=1)
    assert message.headers["task"] == "say_hello"
    assert message.headers["id"] == answer.json["task_id"]
    assert message.delivery_info["routing_key"] == "hello_queue"
    assert message.payload[:2] == [
        [],
        {"name": "Bob", "duration": 0.5, "greeting": "Hello", "fail_times": 0, "poison": False},
    ]


@pytest.mark.parametrize(("data", "json"), [({"poison": "on"}, None), (None, {"poison": True})])
def test_poison_comes_from_a_ticked_checkbox_or_json_true(
    client: FlaskClient, data: dict | None, json: dict | None
) -> None:
    celery = client.application.extensions["celery"]
    assert client.post("/hello", data=data, json=json).status_code == 202
    with celery.connection_for_read() as connection:
        message = connection.SimpleQueue("hello_queue").get(timeout=1)
    assert message.payload[1]["poison"] is True
