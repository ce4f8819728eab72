"""Is the demo healthy? The container's HEALTHCHECK runs this; natively, `make healthcheck`.

It asks supervisord, over its unix socket, for the state of every program, and
GETs the page. It prints one line and exits 0 when all is well, 1 otherwise
(Docker reads the exit status: 0 healthy, 1 unhealthy; 2 is reserved. Docker
docs, "Dockerfile reference: HEALTHCHECK"):

    healthy: flower RUNNING, web RUNNING, worker_hello RUNNING, page answers
    unhealthy: worker_hello FATAL (Exited too quickly (process log may have details))

Reads WEB_HOST and WEB_PORT, as supervisord.conf's `[program:web]` does.
"""

import http.client
import os
import socket
import sys
import xmlrpc.client
from pathlib import Path

import requests
from supervisor.xmlrpc import SupervisorTransport

# supervisord.conf's [unix_http_server] file=%(here)s/.run/supervisor.sock:
# .run/ next to supervisord.conf, one folder up from this script.
SOCKET = Path(__file__).resolve().parents[1] / ".run" / "supervisor.sock"

# Seconds to wait for supervisord's answer, and for the page's. A health check
# must never hang: Docker kills one that outlasts HEALTHCHECK --timeout (10 s in
# the Dockerfile) and counts it as a failure, but says nothing useful about why.
TIMEOUT = 2.0

# The supervisord states that make the container unhealthy (supervisor docs,
# "Subprocesses: Process States"). FATAL: it exited too quickly startretries+1
# times in a row, and supervisord gave up on it. BACKOFF: it exited too quickly
# and waits to be started again. EXITED: it exited on its own (with
# autorestart=true, a moment before supervisord starts it again). UNKNOWN: a
# supervisord bug.
#
# Not among them, on purpose:
# - STOPPED: only `supervisorctl stop` (or autostart=false) puts a program
#   there, never a crash. DEMO.md's step 3 stops worker_hello to let tasks pile
#   up in hello_queue: the learner did it, the demo works as intended, and a
#   container marked "unhealthy" then would say the opposite. The line still
#   names the state ("worker_hello STOPPED"). A stopped web program is caught
#   anyway: the page no longer answers.
# - STARTING and STOPPING: on their way to RUNNING or STOPPED, for a second or
#   so (`supervisorctl restart`). A program that keeps failing to start goes
#   through BACKOFF to FATAL, which are caught.
UNHEALTHY_STATES = {"FATAL", "BACKOFF", "EXITED", "UNKNOWN"}


def program_states(socket_path: Path = SOCKET) -> list[dict]:
    """Every program's state, as `supervisorctl status` shows it.

    Asks supervisord's XML-RPC interface (`supervisor.getAllProcessInfo`, supervisor
    docs "XML-RPC API Documentation") over its unix socket, with supervisor's own client.

    Args:
        socket_path: supervisord's unix socket.

    Returns:
        One dict per program: `name`, `statename` (RUNNING, FATAL, ...) and
        `description` (for FATAL and BACKOFF, the reason), among others.

    Raises:
        OSError: no supervisord answers on the socket within TIMEOUT seconds
            (socket.timeout is an OSError).
        http.client.HTTPException, xmlrpc.client.Error: supervisord's answer was not
            a valid XML-RPC one, or an error.
    """
    transport = SupervisorTransport(None, None, serverurl=f"unix://{socket_path}")
    # The URL is a placeholder: the transport connects to the socket instead.
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor.getAllProcessInfo()


def page_problem(url: str) -> str | None:
    """Why the page at `url` is not served, in a few words; None when it answers 200 within TIMEOUT seconds."""
    try:
        answer = requests.get(url, timeout=TIMEOUT)
    except requests.RequestException as error:
        return f"page does not answer ({type(error).__name__})"
    if answer.status_code != 200:
        return f"page answers {answer.status_code}"
    return None


def check(socket_path: Path, url: str) -> tuple[bool, str]:
    """Check supervisord's programs, then the page.

    Args:
        socket_path: supervisord's unix socket.
        url: the page's URL.

    Returns:
        Whether all is well, and the one line that says so or names what is wrong.
    """
    problems, states = [], []
    try:
        for program in program_states(socket_path):
            state = program["statename"]
            states.append(f"{program['name']} {state}")
            if state in UNHEALTHY_STATES:
                reason = f" ({program['description']})" if program["description"] else ""
                problems.append(f"{program['name']} {state}{reason}")
    except (OSError, http.client.HTTPException, xmlrpc.client.Error) as error:
        problems.append(f"supervisord does not answer on {socket_path} ({type(error).__name__}: {error})")
    page = page_problem(url)
    if page:
        problems.append(page)
    if problems:
        return False, "unhealthy: " + "; ".join(problems)
    return True, "healthy: " + ", ".join([*states, "page answers"])


def main() -> int:
    """Print the verdict in one line; return 0 if healthy, 1 if not."""
    # supervisor's unix-socket client (supervisor.xmlrpc.UnixStreamHTTPConnection)
    # opens a plain socket and sets no timeout: a supervisord that accepts the
    # connection and never answers would hang this script. New sockets take the
    # process-wide default timeout, which is harmless to set in a script that
    # lives for one check. (requests gets its own timeout, below.)
    socket.setdefaulttimeout(TIMEOUT)
    host = os.environ.get("WEB_HOST", "127.0.0.1")
    # gunicorn listening on 0.0.0.0 (every interface, in the image) is reached on 127.0.0.1.
    if host == "0.0.0.0":
        host = "127.0.0.1"
    healthy, line = check(SOCKET, f"http://{host}:{os.environ.get('WEB_PORT', '8000')}/")
    print(line)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
