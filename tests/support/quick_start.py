"""README's quick start, as written: the commands of its `quick-start` block, in order, and
what its comments say they print.

Two tests follow it: the learner path natively (tests/integration/test_learner_path.py,
the machine's RabbitMQ and Redis as "your own", so without the first two lines), and
tests/containers/test_quick_start.py with `docker compose up -d --wait rabbitmq redis`.
"""

from collections.abc import Callable

from tests.support import demo_doc

# The block's commands, which both tests know how to play: a change to the block that
# they do not follow fails them here, rather than leaving the quick start untested.
COMMANDS = [
    "make .env",
    "docker compose up -d --wait rabbitmq redis",
    "make run",
    ".venv/bin/supervisorctl stop worker_hello",
    "make --silent queue",
    ".venv/bin/supervisorctl start worker_hello",
    "make --silent queue",
]
# How many clicks the quick start makes while the worker is stopped.
CLICKS = 5


def steps() -> list[tuple[str, str]]:
    """The quick start's commands, each with its comment.

    Raises:
        AssertionError: README's block has other commands than `COMMANDS`.
    """
    steps = demo_doc.commented_script("quick-start", doc=demo_doc.README)
    assert [command for command, _ in steps] == COMMANDS, f"README's quick start changed: {steps}"
    return steps


def services() -> list[str]:
    """The two commands before `make run`, which start RabbitMQ and Redis in containers."""
    return [command for command, _ in steps()[:2]]


def pile_up_and_drain(
    run_command: Callable[[str], list[str]], click: Callable[[], str], wait_for_drain: Callable[[list[str]], None]
) -> list[str]:
    """Play the quick start from after `make run`: stop the worker, click CLICKS times, count
    what waits, start the worker, and count again once it has drained the queue.

    Args:
        run_command: runs one command as the learner's second terminal would, in the clone;
            returns the lines it printed.
        click: one click of Say hello (a `POST /hello`); returns the task id.
        wait_for_drain: given the task ids clicked, waits until each has succeeded.

    Returns:
        The ids of the tasks clicked.

    Raises:
        AssertionError: a command printed other than its comment says.
    """
    clicked: list[str] = []
    for command, comment in steps()[3:]:
        if command.endswith("start worker_hello"):
            run_command(command)
            wait_for_drain(clicked)
            continue
        output = run_command(command)
        if command == "make --silent queue":
            # The comment says what it prints, after any words on when to ask.
            expected = comment.rsplit(": ", 1)[-1] if comment.startswith("once") else comment
            assert expected in output, f"README says {command!r} prints {expected!r}; it printed {output}"
        if command.endswith("stop worker_hello"):
            assert comment == "now click Say hello five times" and CLICKS == 5, comment
            clicked = [click() for _ in range(CLICKS)]
    return clicked
