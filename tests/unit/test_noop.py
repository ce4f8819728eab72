"""The benchmark's baseline route, `POST /noop`, through Flask's test client."""

from app import create_app


def test_noop_answers_json_and_sends_no_task() -> None:
    # An unreachable broker and result backend: the route must touch neither.
    app = create_app({"broker_url": "amqp://guest:guest@127.0.0.1:1//", "result_backend": "redis://127.0.0.1:1/0"})
    answer = app.test_client().post("/noop", json={"name": "Ada", "duration": 0})
    assert answer.status_code == 200
    assert answer.json == {"noop": True}
