"""How `make test` hands the tests to its processes: a pytest-xdist plugin, which
tests/conftest.py registers.

A module's tests go to one process, one after the other, since they share its
fixtures (a stack, a proxy): xdist's `--dist loadfile`. All of tests/containers/
go to one process too, tests/containers/cluster/ included (the same prefix): its
modules share one `docker compose` project, and cluster/'s one cluster (and
before each project named its own app image, tests/support/compose.py, a second
project in another process rebuilt and retagged `hello-queue` under the first:
`docker compose up --scale` then recreated the app container).

Not xdist's `--dist loadgroup` with `xdist_group` marks: pytest-xdist 3.8 groups by
renaming each test's node id, which pytest 9 no longer lets it do, so every test
went its own way.
"""

import pytest
from xdist.scheduler import LoadFileScheduling

CONTAINERS = "tests/containers/"


class ModulesAndContainers(LoadFileScheduling):
    """`--dist loadfile`, but with tests/containers/ as one unit."""

    def _split_scope(self, nodeid: str) -> str:
        """The unit a test belongs to: its module, or tests/containers/ as a whole."""
        return CONTAINERS if nodeid.startswith(CONTAINERS) else super()._split_scope(nodeid)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> ModulesAndContainers | None:
    """Our scheduler for `--dist loadfile`; xdist's own for any other mode."""
    return ModulesAndContainers(config, log) if config.getvalue("dist") == "loadfile" else None
