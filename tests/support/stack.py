"""The demo's real stack for integration tests: `make run`, exactly as a learner starts it."""

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
import xmlrpc.client
from collections.abc import Callable
from pathlib import Path

import psutil
import requests
from celery import Celery
from supervisor.xmlrpc import SupervisorTransport

from scripts import preflight
from tests.support.checkout import ARTIFACTS, CHECKOUT, free_port
from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE, Depth, VHost
from tests.support.timing import COMMAND, HTTP, LOG_LINE, PROBE, PROGRAM_STATE, STACK_START

SOCKET = CHECKOUT / ".run" / "supervisor.sock"
SUPERVISORCTL = CHECKOUT / ".venv" / "bin" / "supervisorctl"
# The password `make run` makes up for Flower when FLOWER_BASIC_AUTH is unset (Makefile).
FLOWER_PASSWORD_FILE = CHECKOUT / ".run" / "flower-password"


def page_answers(web_url: str) -> bool:
    """Whether the web app at `web_url` serves its page (HTTP 200) right now."""
    try:
        return requests.get(web_url + "/", timeout=PROBE).status_code == 200
    # A timeout too: right after start, gunicorn accepts connections before its
    # worker has imported the app, which takes longer while the other programs start.
    except (requests.ConnectionError, requests.Timeout):
        return False


def learner_env() -> dict[str, str]:
    """A second terminal's environment: none of the variables the stack was started with."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")}


def supervisorctl(*args: str, root: Path = CHECKOUT) -> subprocess.CompletedProcess:
    """Run `.venv/bin/supervisorctl ARGS` from the repository root (or the checkout `root`),
    as DEMO.md does.

    It gets no flags and none of the stack's variables: it must find
    supervisord.conf, and the socket through it, on its own.
    """
    return subprocess.run(
        [str(root / SUPERVISORCTL.relative_to(CHECKOUT)), *args],
        cwd=root,
        env=learner_env(),
        capture_output=True,
        text=True,
        timeout=COMMAND,
    )


def post_hello(web_url: str, **fields: object) -> str:
    """POST /hello with `fields` as JSON, and return the task id of its 202.

    Raises:
        AssertionError: the answer was not 202 (its body is in the message).
    """
    answer = requests.post(web_url + "/hello", json=fields, timeout=HTTP)
    assert answer.status_code == 202, f"POST /hello answered {answer.status_code}: {answer.text}"
    return answer.json()["task_id"]


def post_hellos(web_url: str, count: int, duration: float) -> list[str]:
    """POST /hello `count` times, over one HTTP connection, for tasks of `duration` seconds
    greeting "n0", "n1", ...; return their task ids, in order.

    Raises:
        AssertionError: an answer was not 202, or two task ids are the same.
    """
    with requests.Session() as session:
        task_ids = []
        for number in range(count):
            answer = session.post(f"{web_url}/hello", json={"name": f"n{number}", "duration": duration}, timeout=HTTP)
            assert answer.status_code == 202, f"POST /hello answered {answer.status_code}: {answer.text}"
            task_ids.append(answer.json()["task_id"])
    assert len(set(task_ids)) == count, "task ids must be unique"
    return task_ids


def start_task(web_url: str, worker_log: "LoggedProcess", duration: float) -> tuple[str, int]:
    """POST /hello for a task of `duration` seconds and wait until a pool process runs it.

    Args:
        web_url: the web app's base URL.
        worker_log: the process whose output shows the worker's log.
        duration: the task's duration, in seconds.

    Returns:
        The task id, and the index in the log of the task's greeting line.
    """
    task_id = post_hello(web_url, name="Ada", duration=duration)
    (greeting,) = worker_log.wait_for_lines(rf"say_hello\[{task_id}\]: Hello, Ada!", timeout=LOG_LINE)
    return task_id, worker_log.lines.index(greeting.string)


def _inspect(broker_url: str, *methods: str) -> list[dict] | None:
    """Ask the one worker on `broker_url` each of `methods` of `celery inspect` (active,
    reserved, ...): the tasks of all its answers, in order; None while it does not answer
    within PROBE seconds.

    limit=1: return as soon as one worker has answered, instead of waiting out the timeout.
    """
    inspect = Celery(broker=broker_url).control.inspect(timeout=PROBE, limit=1)
    tasks: list[dict] = []
    for method in methods:
        replies = getattr(inspect, method)()
        if not replies:
            return None
        (answer,) = replies.values()
        tasks += answer
    return tasks


def active_tasks(broker_url: str) -> list[dict] | None:
    """The tasks the one worker on `broker_url` runs now (`celery inspect active`): dicts with
    "id", "name", "worker_pid", ...; None while no worker answers within 2 s."""
    return _inspect(broker_url, "active")


def held_tasks(broker_url: str) -> list[dict] | None:
    """Every task the one worker on `broker_url` holds: running (`inspect active`), prefetched
    and waiting for a pool process (`reserved`), or waiting for its ETA, as a retry's
    countdown does (`scheduled`); None while no worker answers within 2 s."""
    return _inspect(broker_url, "active", "reserved", "scheduled")


class LoggedProcess:
    """A program run for a test, its output (stdout and stderr) collected line by line.

    Args:
        name: names the copy of its output kept in test-artifacts/NAME.log.
        args: the command line.
        env: variables added to this process's environment.
        root: the folder it runs in: this checkout, or another clone of it.
    """

    def __init__(self, name: str, args: list[str], env: dict[str, str], root: Path = CHECKOUT) -> None:
        self.name = name
        self.args = args
        self.env = {**os.environ, **env}
        self.root = root
        self.lines: list[str] = []
        self.process: subprocess.Popen | None = None

    def launch(self) -> None:
        """Start the program in `root`, in a process group of its own
        (like a shell's foreground job, so that `stop(SIGINT)` is Ctrl-C)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.launched_at = time.time() - 1  # psutil's create_time has a coarser clock
        self.process = subprocess.Popen(
            self.args,
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read_output, daemon=True).start()

    def _read_output(self) -> None:
        assert self.process and self.process.stdout
        with open(ARTIFACTS / f"{self.name}.log", "w") as copy:
            for line in self.process.stdout:
                self.lines.append(line.rstrip("\n"))
                copy.write(line)
                copy.flush()

    def log(self) -> str:
        """Everything the program printed so far."""
        return "\n".join(self.lines)

    def task_lines(self, task_id: str) -> list[str]:
        """The lines that a Celery worker logged about one task (`say_hello[<task_id>]`), in order."""
        return [line for line in self.lines if f"say_hello[{task_id}]" in line]

    def wait_for_lines(self, pattern: str, count: int = 1, timeout: float = LOG_LINE, since: int = 0) -> list[re.Match]:
        """Wait until `count` lines of the log match the regex `pattern`.

        Args:
            since: look only at lines from this index on (`len(self.lines)` noted earlier).

        Returns:
            The matches, in log order.

        Raises:
            AssertionError: fewer than `count` after `timeout` seconds.
        """
        regex = re.compile(pattern)

        def matches() -> list[re.Match] | None:
            found = [m for m in map(regex.search, self.lines[since:]) if m]
            return found if len(found) >= count else None

        return wait_until(matches, timeout, f"{count} log line(s) matching {pattern!r}")

    def process_tree(self) -> list[psutil.Process]:
        """The program and every process below it, right now."""
        assert self.process
        try:
            top = psutil.Process(self.process.pid)
            return [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 90) -> list[psutil.Process]:
        """Stop the program as a user would and wait for it to exit.

        Args:
            sig: SIGTERM is sent to the program alone (as `kill` or `docker stop`
                would); SIGINT to its whole process group (as Ctrl-C does).
            timeout: seconds to wait for it to exit.

        Returns:
            Its processes still alive afterwards; empty when it stopped cleanly.
        """
        assert self.process
        tree = self.process_tree()
        if sig == signal.SIGINT:
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)
        self.process.wait(timeout)
        # Ended as `make run` counts it (preflight.runs): a zombie has ended. Not
        # psutil.wait_procs: for a process that is not our child (the program's
        # children, orphaned when it exits) it waits for the pid to vanish, and a
        # zombie keeps its pid until init reaps it, here only every 2 s or so.
        return preflight.still_running(tree, timeout=5)

    def stop_or_kill(self) -> list[psutil.Process]:
        """`stop()` with SIGTERM, then SIGKILL whatever it left behind, or everything if it
        did not stop in time (the exception is raised again then).

        Returns:
            The processes that outlived SIGTERM and had to be killed; empty after a clean stop.
        """
        try:
            alive = self.stop()
        except BaseException:
            self.kill()
            raise
        if alive:
            self.kill()
        return alive

    def kill(self) -> None:
        """Last resort after a failed test: SIGKILL everything the program started.

        That is every process of its session (`launch` started a new one),
        even those left behind after the program itself exited.
        """
        if not self.process:
            return
        for process in psutil.process_iter(["create_time"]):
            with contextlib.suppress(psutil.Error, OSError):
                # The creation time guards against a pid reused by a stranger.
                if os.getsid(process.pid) == self.process.pid and process.info["create_time"] >= self.launched_at:
                    process.kill()


class Stack(LoggedProcess):
    """`make run` in a subprocess: supervisord in the foreground with the demo's programs.

    Args:
        name: names the log file kept in test-artifacts/.
        env: variables added to this process's environment (WEB_PORT, ...).
        root: the checkout it runs from: this one, or another clone.
        command: instead of `make run`, supervisord itself with a copy of its
            configuration (`supervisord_copy`, `supervisord_command`).
    """

    def __init__(self, name: str, env: dict[str, str], root: Path = CHECKOUT, command: list[str] | None = None) -> None:
        super().__init__(name, command or ["make", "--no-print-directory", "run"], env, root)
        self.socket = root / SOCKET.relative_to(CHECKOUT)
        self.web_url = f"http://127.0.0.1:{self.env['WEB_PORT']}"
        # Flower on a port of its own, never a learner's 5555 (nor the 5555 that
        # `make test` exports). Its password: unless the caller gives one, none from
        # this process's environment, so that `make run` uses its password file, as
        # for a learner, and DEMO.md's commands, which read that file, work as written.
        if "FLOWER_PORT" not in env:
            self.env["FLOWER_PORT"] = str(free_port())
        if "FLOWER_BASIC_AUTH" not in env:
            self.env.pop("FLOWER_BASIC_AUTH", None)
        self.flower_url = f"http://127.0.0.1:{self.env['FLOWER_PORT']}"

    def flower_auth(self) -> tuple[str, str]:
        """The user and password that this stack's Flower accepts: FLOWER_BASIC_AUTH if the
        caller gave it, else user flower and the password in `make run`'s .run/flower-password
        (the Makefile; it exists once the stack has started)."""
        if "FLOWER_BASIC_AUTH" in self.env:
            user, _, password = self.env["FLOWER_BASIC_AUTH"].split(",")[0].partition(":")
            return user, password
        return "flower", (self.root / FLOWER_PASSWORD_FILE.relative_to(CHECKOUT)).read_text().strip()

    def start(self, programs: tuple[str, ...], timeout: float = STACK_START) -> None:
        """Start `make run` and wait until each of `programs` is RUNNING and the page answers.

        Raises:
            AssertionError: a demo already runs from this checkout, or the stack did
                not come up within `timeout` seconds (its log is in the message).
        """
        assert not self._socket_answers(), (
            f"a demo is already running from this checkout ({self.socket} answers): stop it first"
        )
        self.launch()
        try:
            for program in programs:
                self.wait_for_state(program, "RUNNING", timeout)
            wait_until(lambda: page_answers(self.web_url), timeout, f"{self.web_url}/ to answer")
        except AssertionError as error:
            raise AssertionError(f"{error}\n--- make run printed:\n{self.log()}") from None

    def stop_cleanly(self) -> None:
        """Stop with SIGTERM, as `kill` or `docker stop` would, and check that nothing outlives it.

        Raises:
            AssertionError: processes were left behind (they are then killed).
        """
        alive = self.stop_or_kill()
        if alive:
            raise AssertionError(f"SIGTERM to make run left processes behind: {alive}")

    def _socket_answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(str(self.socket))
            return True
        except OSError:
            return False

    def run_demo_command(self, command: str) -> list[str]:
        """Run a DEMO.md shell command as written, from the repository root, in a
        second terminal's environment, against this stack's ports instead of 8000
        (the page) and 5555 (Flower), and this stack's broker (the test run's vhost)
        instead of the default.

        Returns:
            The lines it printed on stdout.

        Raises:
            AssertionError: it exited non-zero.
        """
        command = command.replace("localhost:8000", self.web_url.removeprefix("http://"))
        command = command.replace("localhost:5555", self.flower_url.removeprefix("http://"))
        env = learner_env()
        if "CELERY_BROKER_URL" in self.env:
            env["CELERY_BROKER_URL"] = self.env["CELERY_BROKER_URL"]
        result = subprocess.run(
            command, shell=True, cwd=self.root, env=env, capture_output=True, text=True, timeout=COMMAND
        )
        assert result.returncode == 0, f"{command!r} failed ({result.returncode}): {result.stdout}{result.stderr}"
        return result.stdout.splitlines()

    def rpc(self) -> xmlrpc.client.ServerProxy:
        """supervisord's XML-RPC interface over its unix socket (supervisor's own client)."""
        transport = SupervisorTransport(None, None, serverurl=f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def state(self, program: str) -> str | None:
        """`program`'s state name (RUNNING, STOPPED, ...), or None while supervisord does not answer."""
        try:
            return self.rpc().supervisor.getProcessInfo(program)["statename"]
        except (OSError, xmlrpc.client.Fault):
            return None

    def pid(self, program: str) -> int:
        """`program`'s process id, as supervisord reports it (0 while it does not run)."""
        return self.rpc().supervisor.getProcessInfo(program)["pid"]

    def stop_program(self, program: str) -> None:
        """`supervisorctl stop PROGRAM`, as DEMO.md does, and wait until supervisord reports it STOPPED.

        Raises:
            AssertionError: supervisorctl failed (its output is in the message), or `program`
                did not stop within PROGRAM_STATE seconds.
        """
        stopped = supervisorctl("stop", program, root=self.root)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        self.wait_for_state(program, "STOPPED")

    def pile_up(self, count: int, duration: float, depth: Callable[[str], Depth | None], timeout: float) -> list[str]:
        """Stop worker_hello, POST /hello `count` times for tasks of `duration` seconds (`post_hellos`),
        and wait until `depth(HELLO_QUEUE)` shows them all Ready, with no consumer: DEMO.md step 3.

        Args:
            depth: a queue's counts as the test reads them: exactly, from the broker, or through
                the management API, which shows a change up to MANAGEMENT_API seconds late.
            timeout: seconds to wait for the count.

        Returns:
            The task ids, in order.
        """
        self.stop_program("worker_hello")
        task_ids = post_hellos(self.web_url, count, duration)
        piled = Depth(ready=count, consumers=0, unacked=0)
        wait_until(
            lambda: depth(HELLO_QUEUE) == piled, timeout, f"{count} tasks Ready in {HELLO_QUEUE}, no consumer", 0.5
        )
        return task_ids

    def ensure_running(self, program: str) -> None:
        """Start `program` again if a test stopped it, and wait until supervisord reports it RUNNING
        (for the `finally:` of a test that stops it: `supervisorctl start` of a running
        program only answers an error, which is harmless here)."""
        supervisorctl("start", program, root=self.root)
        self.wait_for_state(program, "RUNNING")

    def wait_for_state(self, program: str, state: str, timeout: float = PROGRAM_STATE) -> None:
        """Wait until supervisord reports `program` in `state`.

        Raises:
            AssertionError: not reached within `timeout` seconds, or `make run` exited.
        """

        def reached() -> bool:
            assert self.process and self.process.poll() is None, f"make run exited:\n{self.log()}"
            return self.state(program) == state

        wait_until(reached, timeout, f"supervisord to report {program} {state}")


def supervisord_copy(folder: Path, worker_hello_settings: str) -> Path:
    """Write to `folder` a copy of supervisord.conf with `worker_hello_settings` (setting lines,
    e.g. "stopasgroup=true") added to `[program:worker_hello]` only, and return its path.

    `%(here)s` becomes this checkout: the programs run its code, and the socket and pid
    file stay in its .run/, where supervisorctl, scripts/healthcheck.py and `make run`'s
    checks look for them. So the copy needs the checkout to itself (`checkout_free`).

    Raises:
        AssertionError: the settings did not land in worker_hello's section alone.
    """
    config = (CHECKOUT / "supervisord.conf").read_text().replace("%(here)s", str(CHECKOUT))
    head, worker = config.split("[program:worker_hello]")
    worker, *rest = worker.split("\n[")  # worker_hello's section only, not the ones after it
    worker = worker.rstrip("\n") + f"\n{worker_hello_settings}\n"
    config = "\n[".join([head + "[program:worker_hello]" + worker, *rest])
    assert config.count(f"\n{worker_hello_settings}\n") == 1
    copy = folder / "supervisord.conf"
    copy.write_text(config)
    (CHECKOUT / ".run").mkdir(exist_ok=True)  # as `make run` makes it
    return copy


def supervisord_command(config: Path) -> tuple[list[str], dict[str, str]]:
    """What `make run` runs, with the configuration `config` instead of supervisord.conf:
    supervisord's command line, and the variables `make run` would set (for `Stack`'s `env`).

    Flower gets a password of its own: `make run` would make one up.
    """
    env = {
        "PATH": f"{CHECKOUT / '.venv/bin'}:{os.environ['PATH']}",
        "WEB_HOST": "127.0.0.1",
        "WORKER_CONCURRENCY": "2",
        "EXTRA_WORKERS": "0",  # what `make run` computes from WORKERS=1
        "FLOWER_BASIC_AUTH": f"flower:{secrets.token_urlsafe(16)}",
    }
    return [str(CHECKOUT / ".venv/bin/supervisord"), "-c", str(config)], env


def start_demo(
    name: str,
    vhost: VHost,
    programs: tuple[str, ...],
    env: dict[str, str] | None = None,
    consumers: int = 1,
    root: Path = CHECKOUT,
) -> Stack:
    """`make run` on a free port, its broker `vhost`: wait until `programs` are RUNNING, the page
    answers and `consumers` workers consume hello_queue (`Stack.start`, `VHost.wait_for_consumers`).

    Args:
        name: names its log in test-artifacts/.
        env: more variables for `make run` (WORKERS, WORKER_CONCURRENCY, ...).
        root: the checkout it runs from: this one, or another clone.

    Raises:
        AssertionError: it did not come up; everything it started is killed first.
    """
    demo = Stack(name, {"WEB_PORT": str(free_port()), "CELERY_BROKER_URL": vhost.broker_url, **(env or {})}, root)
    try:
        demo.start(programs)
        vhost.wait_for_consumers(consumers)
    except BaseException:
        demo.kill()
        raise
    return demo
