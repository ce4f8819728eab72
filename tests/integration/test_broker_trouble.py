"""Broker trouble: connections closed by RabbitMQ, and RabbitMQ unreachable for a while.

The web app and the worker reach RabbitMQ through a proxy of this module's own
(`BrokerProxy`), so that the broker can vanish without stopping the machine's
shared RabbitMQ. Neither program is restarted: each must come back on its own.
"""

import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests

from tests.integration.conftest import PROGRAMS
from tests.support.poll import wait_until
from tests.support.proxy import BrokerProxy
from tests.support.rabbitmq import HELLO_QUEUE, PASSWORD, USER, Depth, VHost
from tests.support.reliability import Row, record
from tests.support.results import completions, wait_for_success
from tests.support.stack import Stack, free_port, post_hello, start_task
from tests.support.timing import HTTP_SLOW, SERVICE, TASK


@pytest.fixture(scope="module")
def proxy() -> Iterator[BrokerProxy]:
    broker = BrokerProxy()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def trouble_stack(checkout_free: None, proxy: BrokerProxy, vhost: VHost) -> Iterator[Stack]:
    """`make run` whose broker URL points at the proxy, in the run's vhost."""
    broker_url = f"amqp://{USER}:{PASSWORD}@127.0.0.1:{proxy.port}/{quote(vhost.name, safe='')}"
    demo = Stack("broker-trouble", {"WEB_PORT": str(free_port()), "CELERY_BROKER_URL": broker_url})
    try:
        demo.start(PROGRAMS)
        vhost.wait_for_consumers(1)
    except BaseException:
        demo.kill()
        raise
    yield demo
    demo.stop_cleanly()


def pids(stack: Stack) -> dict[str, int]:
    """Each program's process id: unchanged means supervisord did not restart it."""
    return {program: stack.pid(program) for program in PROGRAMS}


@pytest.fixture(scope="module")
def closed() -> set[str]:
    """The names of the connections this module has closed. The management API answers from
    its statistics database, which may list a closed connection for seconds after the
    broker dropped it (and a new one only after it is announced): a name in this set is
    never taken for a live connection."""
    return set()


def live_connections(vhost: VHost, programs: tuple[str, ...], closed: set[str]) -> dict[str, str]:
    """Wait until the management API lists, among connections not closed before, one of each
    of `programs` and the one whose channel consumes hello_queue (the worker's consumer, whose
    loss it logs as "consumer: Connection to broker lost"); return those connections, name →
    program. A program is known by the name its connections give themselves
    (`connection_name`): the web app's are `web`, a worker's its node name,
    `worker_hello@<host>` (worker/connection_name.py), of which the part before the @ counts.
    """

    def listed() -> dict[str, str] | None:
        connections = {
            name: program.split("@", 1)[0] for name, program in vhost.connections().items() if name not in closed
        }
        consumer = vhost.consumer_connections(HELLO_QUEUE) & connections.keys()
        return connections if consumer and set(programs) <= set(connections.values()) else None

    return wait_until(
        listed, SERVICE, f"the management API to list new connections of {programs} and hello_queue's consumer"
    )


def close_connections(vhost: VHost, programs: tuple[str, ...], closed: set[str]) -> list[str]:
    """Close, from the broker's side, every live connection of the vhost (`live_connections`),
    and add their names to `closed`.

    Returns:
        The names of the connections closed.
    """
    connections = live_connections(vhost, programs, closed)
    for name in connections:
        vhost.close_connection(name, "closed by test_broker_trouble")
        closed.add(name)
    return list(connections)


def test_connections_closed_by_the_broker_come_back_on_their_own(
    trouble_stack: Stack, vhost: VHost, closed: set[str]
) -> None:
    stack = trouble_stack
    # So that the web app holds a connection:
    wait_for_success([post_hello(stack.web_url, name="Ada", duration=0)], timeout=TASK)
    before = pids(stack)
    mark = len(stack.lines)
    closing = close_connections(vhost, ("web", "worker_hello"), closed)
    started = time.monotonic()
    # The worker's consumer reconnects (broker_connection_retry) and consumes again.
    stack.wait_for_lines(r"consumer: Connection to broker lost", since=mark)
    stack.wait_for_lines(r"Connected to amqp://", since=mark)
    vhost.wait_for_consumers(1)
    worker_back = time.monotonic() - started
    # The web app's next publish finds its connection closed, and its second
    # attempt (app/publish.py) connects again: the click still gets its 202.
    task_id = post_hello(stack.web_url, name="Grace", duration=0)
    wait_for_success([task_id], timeout=TASK)
    assert pids(stack) == before, "no program may have been restarted"
    assert completions([task_id]) == [1]
    record(
        Row(
            key="4a",
            scenario="Connections closed by the broker",
            action="Force Close every connection under Connections in RabbitMQ's UI",
            outcome="the worker reconnects and consumes again; the next click gets 202 and its task runs",
            setting="the worker's `broker_connection_retry`; the producer's second attempt on a fresh connection "
            "(app/publish.py)",
            counts=f"{len(closing)} connections closed; worker consuming again after {worker_back:.1f} s; "
            "next click 202, task SUCCESS; 0 restarts",
        )
    )


def test_a_connection_lost_mid_task_runs_the_task_again_and_completes_it_once(
    trouble_stack: Stack, vhost: VHost, closed: set[str]
) -> None:
    stack = trouble_stack
    # Known to the management API before the task starts: it must be closed mid-task.
    live_connections(vhost, ("worker_hello",), closed)
    task_id, started = start_task(stack.web_url, stack, duration=4)
    close_connections(vhost, ("worker_hello",), closed)
    # worker_cancel_long_running_tasks_on_connection_loss: the running copy is
    # cancelled, since its message, unacked, goes back to hello_queue.
    stack.wait_for_lines(r"consumer: Connection to broker lost", since=started)
    greetings = stack.wait_for_lines(
        rf"/(ForkPoolWorker-\d+)\] say_hello\[{task_id}\]: Hello, Ada!", count=2, since=started
    )
    # The copy run again ends last: had the first one run on, it would have
    # logged its success, and counted its completion, before this one.
    again = stack.lines.index(greetings[1].string)
    stack.wait_for_lines(rf"/{greetings[1][1]}\] Task say_hello\[{task_id}\] succeeded", since=again)
    successes = len(stack.wait_for_lines(rf"Task say_hello\[{task_id}\] succeeded", since=started))
    assert (len(greetings), successes, completions([task_id])) == (2, 1, [1])
    runs = len(greetings)
    record(
        Row(
            key="4c",
            scenario="Connection lost mid-task",
            action="Force Close the worker's connections during a 4 s task",
            outcome="the running copy is cancelled; the redelivered message runs the task to the end, once",
            setting="`worker_cancel_long_running_tasks_on_connection_loss=True` with `task_acks_late`",
            counts=f"1 task, {runs} starts, 1 completion",
        )
    )


def test_an_unreachable_broker_gets_503_within_3_s_and_both_recover_without_restart(
    trouble_stack: Stack, proxy: BrokerProxy, vhost: VHost
) -> None:
    stack = trouble_stack
    before = pids(stack)
    proxy.stop()
    try:
        started = time.monotonic()
        answer = requests.post(stack.web_url + "/hello", json={"name": "Ada", "duration": 0}, timeout=HTTP_SLOW)
        refused_in = time.monotonic() - started
        assert answer.status_code == 503, answer.text
        assert "broker is unreachable, nothing was queued" in answer.json()["error"]
        assert refused_in < 3.0, f"the 503 took {refused_in:.2f} s"
    finally:
        proxy.start()
    recovered = time.monotonic()
    attempts: list[int] = []

    def accepted() -> str | None:
        answer = requests.post(stack.web_url + "/hello", json={"name": "Grace", "duration": 0}, timeout=HTTP_SLOW)
        attempts.append(answer.status_code)
        return answer.json()["task_id"] if answer.status_code == 202 else None

    task_id = wait_until(accepted, SERVICE, "POST /hello to answer 202 again", interval=0.5)
    # The worker was cut off too; it reconnects on its own and runs the task.
    wait_for_success([task_id], timeout=TASK)
    back_in = time.monotonic() - recovered
    assert pids(stack) == before, "no program may have been restarted"
    assert completions([task_id]) == [1]
    assert vhost.depth(HELLO_QUEUE) == Depth(ready=0, consumers=1)
    record(
        Row(
            key="4b",
            scenario="Broker unreachable",
            action="RabbitMQ goes away (the test cuts the proxy in front of it), then comes back",
            outcome="`POST /hello` answers 503 in JSON, nothing queued; once it is back, 202 and the task runs",
            setting="`broker_connection_timeout=1` (producer, app/publish.py); `broker_connection_retry` (worker)",
            counts=f"503 after {refused_in:.2f} s; {len(attempts)} POST(s) to the first 202; task SUCCESS "
            f"{back_in:.1f} s after the broker returned; 0 restarts",
        )
    )
