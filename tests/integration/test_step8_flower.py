"""DEMO.md step 8: Flower watches the demo. It asks for the password on every page and API
route and acts on nothing; it sees worker_hello through the worker's events, follows each
task to its end, and reports hello_queue's length as RabbitMQ does.

On the shared stack, whose Flower listens on a port of its own (`Stack`) and takes the
password that `make run` keeps in .run/flower-password, as a learner's does.
"""

import socket
import stat
import subprocess

import requests
import tornado.web
from flower.urls import handlers

from tests.support import demo_doc
from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE, Depth, VHost
from tests.support.results import wait_for_success
from tests.support.stack import (
    ARTIFACTS,
    CHECKOUT,
    FLOWER_PASSWORD_FILE,
    Stack,
    free_port,
    learner_env,
    post_hello,
    supervisorctl,
)
from tests.support.timing import FLOWER, HTTP, MANAGEMENT_API, SHORT_COMMAND, TASK

# --hostname worker_hello@%%h in supervisord.conf: Celery's %h is socket.gethostname().
WORKER = f"worker_hello@{socket.gethostname()}"
# The routes Flower serves without a password, by its own design: its CSS and
# JavaScript; /login and /logout, for OAuth, not used here; /healthcheck, which
# answers "OK"; and /metrics, for Prometheus (worker names, task names and counts,
# never a task's arguments or result). And its catch-all route, a 404 page.
OPEN_ROUTES = {"/static/(.*)", "/login/?", "/logout", "/healthcheck", "/metrics", ".*"}


def flower_routes() -> list[tuple[str, str]]:
    """Every (HTTP method, path) that Flower's route table (flower.urls.handlers) serves,
    but OPEN_ROUTES; a route's regex groups are filled with "x"."""
    routes = []
    for handler in handlers:
        pattern, view = handler[:2] if isinstance(handler, tuple) else (handler.regex.pattern, handler.handler_class)
        pattern = pattern.removesuffix("$")
        if pattern in OPEN_ROUTES:
            continue
        path = pattern.replace("(.+)", "x").replace("(.*)", "x")
        for method in ("get", "post", "put", "delete", "patch"):
            if getattr(view, method) is not getattr(tornado.web.RequestHandler, method):
                routes.append((method.upper(), path))
    return routes


def flower(stack: Stack, path: str, method: str = "GET", auth: tuple[str, str] | None = None) -> requests.Response:
    """One request to the stack's Flower, with its password unless `auth` says otherwise."""
    return requests.request(method, stack.flower_url + path, auth=auth or stack.flower_auth(), timeout=HTTP)


def test_every_page_and_api_route_asks_for_the_password(stack: Stack) -> None:
    routes = flower_routes()
    assert ("GET", "/api/workers") in routes and ("POST", "/api/worker/shutdown/x") in routes, routes
    user, password = stack.flower_auth()
    wrong = (user, password + "-not")
    for method, path in routes:
        for auth, given in ((None, "no password"), (wrong, "a wrong password")):
            answer = requests.request(method, stack.flower_url + path, auth=auth, timeout=HTTP)
            assert answer.status_code == 401, f"{method} {path} with {given}: {answer.status_code}"
    # What makes a browser ask for the user and password, on opening Flower:
    assert requests.get(stack.flower_url + "/", timeout=HTTP).headers["WWW-Authenticate"] == 'Basic realm="flower"'


def test_flower_only_watches(stack: Stack) -> None:
    """monitor/flowerconfig.py's read_only: with the password, every API route that would act
    (shut a worker down, resize its pool, send, revoke or abort a task) answers 403."""
    actions = [path for method, path in flower_routes() if method == "POST" and path.startswith("/api/")]
    assert {"/api/worker/shutdown/x", "/api/task/send-task/x", "/api/task/revoke/x"} <= set(actions), actions
    for path in actions:
        answer = flower(stack, path, method="POST")
        assert answer.status_code == 403 and "Read only mode is enabled" in answer.text, (path, answer.status_code)


def test_demo_step8_flower_sees_worker_hello_through_its_events(stack: Stack) -> None:
    (command,) = demo_doc.commands("step8-workers")

    # Flower knows a worker from its events (worker-online, then a heartbeat every 2 s).
    def listed() -> list[str] | None:
        output = stack.run_demo_command(command.command)
        return output if output == [f'{{"{WORKER}": true}}'] else None

    output = wait_until(listed, FLOWER, f"Flower to list {WORKER} online")
    demo_doc.assert_lines_match(output, command.expected, "DEMO.md step8-workers")

    # And from asking it (`celery inspect`): its pool and the queue it consumes. Flower
    # stores the replies a moment after it answers, so an answer may still lack them.
    def inspected() -> dict | None:
        return flower(stack, "/api/workers?refresh=1").json().get(WORKER)

    inspected = wait_until(inspected, FLOWER, f"Flower's `celery inspect` to reach {WORKER}")
    # WORKER_CONCURRENCY: the Makefile's 2, unless the run was given another.
    assert inspected["stats"]["pool"]["max-concurrency"] == int(stack.env.get("WORKER_CONCURRENCY", "2"))
    assert [queue["name"] for queue in inspected["active_queues"]] == [HELLO_QUEUE]


def test_flower_follows_a_task_to_success_on_worker_hello(stack: Stack) -> None:
    task_id = post_hello(stack.web_url, name="Ada", duration=0)

    def succeeded() -> dict | None:
        answer = flower(stack, f"/api/task/info/{task_id}")
        return answer.json() if answer.status_code == 200 and answer.json()["state"] == "SUCCESS" else None

    info = wait_until(succeeded, FLOWER, f"Flower to show task {task_id} SUCCESS (from the worker's task events)")
    assert (info["name"], info["worker"]) == ("say_hello", WORKER)
    assert "'name': 'Ada'" in info["kwargs"]  # a repr(), as the task-received event carries it
    assert info["received"] <= info["started"] <= info["succeeded"]
    listed = flower(stack, "/api/tasks?limit=50").json()
    assert listed[task_id]["state"] == "SUCCESS"


def test_flower_reports_hello_queues_length_as_rabbitmq_does(stack: Stack, vhost: VHost) -> None:
    def flower_length() -> int | None:
        queues = flower(stack, "/api/queues/length").json()["active_queues"]
        # "messages" is missing until the management API has sampled the queue (every 5 s).
        return next((queue.get("messages") for queue in queues if queue["name"] == HELLO_QUEUE), None)

    try:
        assert supervisorctl("stop", "worker_hello").returncode == 0
        vhost.wait_for_consumers(0)
        # The worker says goodbye (a worker-offline event): the Workers page shows it offline.
        wait_until(
            lambda: flower(stack, "/api/workers?status=1").json() == {WORKER: False}, FLOWER, f"{WORKER} offline"
        )
        task_ids = [post_hello(stack.web_url, name="Ada", duration=0) for _ in range(3)]
        assert vhost.depth(HELLO_QUEUE) == Depth(ready=3, consumers=0)
        # The management API refreshes its figures every 5 s (collect_statistics_interval).
        wait_until(lambda: flower_length() == 3, MANAGEMENT_API, "Flower to report 3 messages in hello_queue")
        broker_page = flower(stack, "/broker")
        assert broker_page.status_code == 200 and HELLO_QUEUE in broker_page.text
    finally:
        stack.ensure_running("worker_hello")
    wait_for_success(task_ids, timeout=TASK)


def test_flower_will_not_start_without_a_password() -> None:
    port = free_port()
    # supervisord.conf's command, run alone, with an empty password.
    celery = str(CHECKOUT / ".venv" / "bin" / "celery")
    flower_alone = subprocess.run(
        [celery, "--app", "monitor.celery_app", "flower", "--conf=monitor/flowerconfig.py", f"--port={port}"],
        cwd=CHECKOUT,
        env={**learner_env(), "FLOWER_BASIC_AUTH": ""},
        capture_output=True,
        text=True,
        timeout=2 * SHORT_COMMAND,
    )
    assert flower_alone.returncode == 1, flower_alone.stdout + flower_alone.stderr
    assert "FLOWER_BASIC_AUTH must be user:password" in flower_alone.stderr
    assert "Visit me at" not in flower_alone.stdout + flower_alone.stderr


def test_flowers_password_file_is_private_and_never_printed(stack: Stack) -> None:
    # The Makefile's umask 077: readable and writable by its owner only.
    assert stat.S_IMODE(FLOWER_PASSWORD_FILE.stat().st_mode) == 0o600
    # All the shared stack printed since `make run` started, kept for humans to read.
    printed = (ARTIFACTS / "stack.log").read_text()
    assert "Flower: http://localhost:" in printed  # where it says the password is instead
    assert stack.flower_auth()[1] not in printed
