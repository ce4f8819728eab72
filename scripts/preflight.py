"""`make run`'s checks before it starts supervisord: one line per problem, with the way out.

A half-started demo teaches the wrong lesson. Without these checks, supervisord
starts anyway when port 8000 is taken (gunicorn retries "Connection in use" while
http://localhost:8000 shows the other program's page), and reports a second
`make run` as a port clash when it means its own unix socket.

In this order:
1. A demo of this folder already runs: say so, with how to stop it; nothing else
   is checked, since its own ports and socket are in use.
2. A demo of this folder whose supervisord died (killed, out of memory, its
   terminal closed) left its programs running, orphaned: end them, and say so.
3. `WEB_PORT` or `FLOWER_PORT` is in use: which port, which process holds it, and
   a free one to use instead.
4. RabbitMQ or Redis does not answer (`check_services.py`), at the URLs that
   `service_urls.py` finds: from the environment, `.env` or the defaults.

Exit status 0 when `make run` may start supervisord, after one line on stdout that
names the RabbitMQ and Redis it uses; else 1, after one line on stderr per problem.
"""

import contextlib
import errno
import os
import signal
import socket
import sys
import time
from pathlib import Path

import psutil

# check_services.py, beside this file (Python puts a script's own folder on sys.path).
from check_services import broker_problem, result_backend_problem
from service_urls import resolve

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / ".run"
# supervisord.conf's [unix_http_server] file and [supervisord] pidfile.
SOCKET = RUN / "supervisor.sock"
PIDFILE = RUN / "supervisord.pid"
# supervisord hands each program the URL of its socket in this variable (supervisor's
# process.py, `_prepare_child_env`), and children inherit it: gunicorn's workers,
# Celery's pool processes. It names this folder, so it finds what this demo started.
SERVER_URL = f"unix://{SOCKET}"
# How long the leftovers get to exit on SIGTERM before SIGKILL, in seconds: short, since
# `make run` waits (a warm shutdown of Celery or gunicorn takes 2 s or more). A task cut
# short is not lost: with task_acks_late, RabbitMQ delivers its message again.
TERM_GRACE = 0.5


def running_supervisord() -> int | None:
    """The pid of this folder's supervisord if it runs: its socket answers, or its pid
    file names a live supervisord; None otherwise."""
    try:
        pid = int(PIDFILE.read_text())
        process = psutil.Process(pid)
        # The pid of a supervisord that died may since belong to another program.
        if "supervisord" in " ".join(process.cmdline()) and Path(process.cwd()) == ROOT:
            return pid
    except (OSError, ValueError, psutil.Error):
        pass
    try:
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(str(SOCKET))
    except OSError:
        return None
    return -1  # answering, though its pid file is gone


def already_running_problem() -> str | None:
    """One line if a demo of this folder already runs, else None."""
    pid = running_supervisord()
    if pid is None:
        return None
    which = f" (supervisord pid {pid})" if pid > 0 else ""
    return (
        f"A demo of this folder is already running{which}: stop it with Ctrl-C in its terminal, "
        "or `.venv/bin/supervisorctl shutdown` from here, then `make run` again."
    )


def leftovers() -> list[psutil.Process]:
    """The processes that a demo of this folder started and that still run (call it only
    while no supervisord of this folder runs: then they are orphans)."""
    found = []
    for process in psutil.process_iter(["environ"]):
        environ = process.info["environ"] or {}  # None: another user's process
        if environ.get("SUPERVISOR_SERVER_URL") == SERVER_URL and process.pid != os.getpid():
            found.append(process)
    return found


def runs(process: psutil.Process) -> bool:
    """Whether `process` still runs. An orphan that has exited stays a zombie until init
    reaps it, which may take a while: it runs no more, holds no port and no socket, and
    counts as ended (psutil's `is_running()` says True for a zombie)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def still_running(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those of `processes` that still run (`runs`) after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [process for process in processes if runs(process)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def end_leftovers() -> tuple[str | None, str | None]:
    """End what a demo of this folder left running when its supervisord died: SIGTERM,
    then SIGKILL after TERM_GRACE seconds.

    Returns:
        A line saying what was ended (None if nothing was left), and a problem line
        (None unless some of them could not be ended).
    """
    orphans = leftovers()
    if not orphans:
        return None, None
    programs = sorted({process.info["environ"].get("SUPERVISOR_PROCESS_NAME", "?") for process in orphans})
    pids = sorted(process.pid for process in orphans)
    for process in orphans:
        with contextlib.suppress(psutil.Error):  # gone already, or not ours: reported below
            process.send_signal(signal.SIGTERM)
    alive = still_running(orphans, TERM_GRACE)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    alive = still_running(alive, 1)
    if alive:
        stuck = " ".join(str(process.pid) for process in alive)
        return None, (
            f"An earlier demo of this folder left processes running that could not be ended "
            f"(pids {stuck}): end them with `kill -9 {stuck}`, then `make run` again."
        )
    return (
        f"Ended {len(pids)} processes ({', '.join(programs)}: pids {', '.join(map(str, pids))}) that an "
        "earlier demo of this folder left running when its supervisord died; starting afresh.",
        None,
    )


def port_in_use(host: str, port: int) -> bool:
    """Whether a program of ours could not listen on `host`:`port`, or another program
    listens on `port` on an address that http://localhost:`port` may reach."""
    try:
        with socket.socket() as probe:
            # What gunicorn and Flower set too: a port that only lingers in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return True
        raise
    # A browser may resolve localhost to ::1 first: a listener there shows its page
    # though our bind on 127.0.0.1 succeeded.
    return holder(port, ("::1",)) is not None


def holder(port: int, addresses: tuple[str, ...] | None = None) -> psutil.Process | str | None:
    """The process listening on TCP `port` (on one of `addresses`, or any), a description
    when the system does not say which (another user's process), or None if none listens."""
    for connection in psutil.net_connections("tcp"):
        if connection.status != psutil.CONN_LISTEN or connection.laddr.port != port:
            continue
        if addresses is not None and connection.laddr.ip not in addresses:
            continue
        if connection.pid is None:
            return "another user's program"
        try:
            return psutil.Process(connection.pid)
        except psutil.NoSuchProcess:
            continue
    return None


def free_port_near(port: int, host: str, taken: set[int]) -> int:
    """A free port to suggest instead of `port`: 8080 for the web's 8000 when free, else the next free one."""
    for candidate in ((8080,) if port == 8000 else ()) + tuple(range(port + 1, port + 100)):
        if candidate not in taken and candidate < 65536 and not port_in_use(host, candidate):
            return candidate
    return 0  # the kernel picks one; never reached on a sane machine


def port_problems(host: str, ports: dict[str, int]) -> list[str]:
    """One line per port of `ports` (variable name → port) that is in use, or given twice."""
    problems = []
    if len(set(ports.values())) < len(ports):
        names = " and ".join(ports)
        problems.append(f"{names} are the same port, {next(iter(ports.values()))}: give each its own.")
    checked = set()
    for name, port in ports.items():
        if port in checked:
            continue
        checked.add(port)
        try:
            if not port_in_use(host, port):
                continue
        except OSError as error:
            problems.append(f"{name}={port} cannot be listened on at {host} ({error.strerror}): choose another port.")
            continue
        owner = holder(port)
        who = f"{owner.name()} (pid {owner.pid})" if isinstance(owner, psutil.Process) else owner or "another program"
        instead = free_port_near(port, host, set(ports.values()))
        problems.append(
            f"Port {port} ({name}) is already in use by {who}: stop it, or use another port, "
            f"e.g. `{name}={instead} make run`."
        )
    return problems


def main() -> int:
    """Run the checks above, in order.

    Returns:
        0 if `make run` may start supervisord, 1 otherwise (each problem printed on one line).
    """
    if problem := already_running_problem():
        print(problem, file=sys.stderr)
        return 1
    ended, problem = end_leftovers()
    if ended:
        print(ended, file=sys.stderr)
    problems = [problem] if problem else []
    ports = {}
    for name, default in (("WEB_PORT", "8000"), ("FLOWER_PORT", "5555")):
        value = os.environ.get(name, default)
        if value.isdigit() and 0 < int(value) < 65536:
            ports[name] = int(value)
        else:
            problems.append(f"{name} must be a port number from 1 to 65535, not {value!r}.")
    problems += port_problems(os.environ.get("WEB_HOST", "127.0.0.1"), ports)
    try:
        services = resolve(os.environ)
    except ValueError as error:
        problems.append(str(error))
    else:
        problems += filter(
            None,
            [broker_problem(services.broker_url, services.source), result_backend_problem(services.result_backend)],
        )
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(services.start_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
