"""The checkout each test process runs the demo from: a copy of this one, its own.

supervisord.conf keeps the demo's socket and pid file in the checkout's .run/
(`%(here)s`), so that a learner's `supervisorctl` finds them with no flag, and
`make run` refuses a second demo of the same folder. One checkout therefore runs
one demo at a time. `make test` runs the suite in several processes at once
(pytest-xdist, `-n` in the Makefile), so each process runs its demos from a copy of
the working tree of its own (`CHECKOUT`): its own .run/, so its own socket, and
with ports (`free_port`) and a RabbitMQ vhost (tests/integration/conftest.py) of
its own, no stack of one process can meet another's. Redis is shared: every key
the demo writes names a task id (a UUID), so two stacks never write the same key.

The copy holds git's files as they are in the working tree (edits included, as
the tests must test what is being changed), and links .venv to this checkout's.
"""

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

# This repository: its git history, its docs, and where the run's logs and figures go.
REPOSITORY = Path(__file__).resolve().parents[2]
# pytest-xdist names each of its test processes gw0, gw1, ... in this variable; a run
# without -n is one process.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
# This test process's copy, named after the process so that a run killed before its
# clean-up is found by `remove_stale`.
PREFIX = "hello-queue-tests-"
CHECKOUT = Path(tempfile.gettempdir()) / f"{PREFIX}{os.getpid()}-{WORKER}"
# What the demo's programs and the tests print, kept for a human to read after a run.
ARTIFACTS = REPOSITORY / "test-artifacts" / ("" if WORKER == "main" else WORKER)

# Ports for the tests' stacks come from below Linux's ephemeral range (32768-60999 by
# default, net.ipv4.ip_local_port_range): a port found free there is not handed a
# moment later to an outgoing connection, which binds an ephemeral port. Each test
# process claims a slice of its own, so two never pick the same port, even from two
# runs at once (another checkout's `make test`, or the learner-path test's own):
# a slice is claimed with a lock on a file, which the kernel releases when the
# process ends, however it ends (flock(2)).
PORTS_START, PORTS_PER_SLICE, SLICES = 20000, 1000, 12
_ports: Iterator[int] | None = None
_slice_lock: IO | None = None


def _claim_slice() -> Iterator[int]:
    """The ports of the first slice no other test process holds, trying this worker's own first."""
    global _slice_lock
    preferred = int(WORKER.removeprefix("gw")) % SLICES if WORKER != "main" else SLICES - 1
    for number in [preferred, *(n for n in range(SLICES) if n != preferred)]:
        lock = open(Path(tempfile.gettempdir()) / f"{PREFIX}ports-{number}.lock", "w")  # noqa: SIM115 - held for life
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        _slice_lock = lock
        start = PORTS_START + PORTS_PER_SLICE * number
        return iter(range(start, start + PORTS_PER_SLICE))
    raise RuntimeError(f"all {SLICES} slices of test ports are held by other test processes")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, from this test process's
    slice, never the same twice in one process.

    Raises:
        RuntimeError: no slice is free, or this one's 1,000 ports are used up.
    """
    global _ports
    if _ports is None:
        _ports = _claim_slice()
    for port in _ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:  # something else listens there
                continue
            return port
    raise RuntimeError(f"test process {WORKER} used up its {PORTS_PER_SLICE} ports")


def working_tree_files(root: Path = REPOSITORY) -> list[Path]:
    """The files of `root` that git tracks (as they are now) and the untracked ones it does not
    ignore: what a learner's clone would hold, less .venv/, .run/, measured/ and the like.
    Tracked files deleted in the working tree are left out."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({Path(name) for name in listed.split("\0") if name and (root / name).is_file()})


def copy_working_tree(destination: Path, root: Path = REPOSITORY) -> None:
    """Copy `working_tree_files(root)` into the folder `destination`, modes and times kept
    (make compares requirements.txt's time with .venv's marker files)."""
    for name in working_tree_files(root):
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, destination / name)


def create() -> None:
    """Make `CHECKOUT` afresh: the working tree, and .venv a link to this checkout's."""
    remove()
    CHECKOUT.mkdir()
    copy_working_tree(CHECKOUT)
    (CHECKOUT / ".venv").symlink_to(REPOSITORY / ".venv")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)


def remove() -> None:
    """Delete `CHECKOUT` (its .venv link only, not the .venv it links to)."""
    shutil.rmtree(CHECKOUT, ignore_errors=True)


def remove_stale() -> list[Path]:
    """Delete the copies of test processes that no longer run (a run killed before its clean-up).

    Returns:
        The folders deleted.
    """
    stale = []
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*-*"):
        pid = folder.name.removeprefix(PREFIX).split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)
            stale.append(folder)
    return stale
