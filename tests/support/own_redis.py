"""A Redis of a test's own, for what must never happen to the machine's shared one: filled
to its `maxmemory`, which refuses every write of every user.

It is Debian's `redis-server` (the package CI installs), run as a child of the test
process on a free port of its slice, on 127.0.0.1, with nothing on disk (`--save ''`:
no snapshots; `--appendonly no`: no log of writes) and its working folder a temporary
one. `maxmemory-policy` stays Redis's default, `noeviction`: a full Redis then refuses
writes and answers reads (Redis docs, "Key eviction").
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

import redis

from tests.support.checkout import ARTIFACTS, free_port
from tests.support.poll import wait_until
from tests.support.timing import HTTP, SERVICE


class OwnRedis:
    """A `redis-server` process of the test's own; `url` is its result backend URL (db 0)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis(port=self.port, socket_timeout=HTTP)
        self.process: subprocess.Popen | None = None
        self.folder: Path | None = None

    def start(self) -> None:
        """Start redis-server and wait until it answers PING.

        Raises:
            AssertionError: redis-server is not installed, or it exited, or did not answer
                within SERVICE seconds (its output is in test-artifacts/own-redis-PORT.log).
        """
        assert shutil.which("redis-server"), "redis-server is not installed (Debian's package redis-server)"
        self.folder = Path(tempfile.mkdtemp(prefix="hello-queue-own-redis-"))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with open(ARTIFACTS / f"own-redis-{self.port}.log", "w") as log:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
                + ["--save", "", "--appendonly", "no", "--dir", str(self.folder)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._answers, SERVICE, f"redis-server on port {self.port} to answer PING", 0.1)

    def _answers(self) -> bool:
        assert self.process and self.process.poll() is None, f"redis-server exited ({self.process.returncode})"
        try:
            return bool(self.client.ping())
        except redis.ConnectionError:
            return False

    def fill(self) -> None:
        """Set its maxmemory to 1 byte, which it always uses more than: from now on every write fails (OOM)."""
        self.client.config_set("maxmemory", 1)

    def lift(self) -> None:
        """Set its maxmemory back to 0, no limit: writes work again."""
        self.client.config_set("maxmemory", 0)

    def stop(self) -> None:
        """Stop redis-server (SIGTERM, then SIGKILL if it lingers) and delete its folder."""
        if self.process:
            self.process.terminate()
            try:
                self.process.wait(SERVICE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(SERVICE)
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
