"""`make bench` starts outside pytest: `python -m bench` imports every section.

pytest puts scripts/ on sys.path (pyproject.toml's pythonpath), which hid, for a week,
that `python -m bench` could not import tests/support/stack.py's scripts/preflight.py.
So this runs it as `make bench` does, in a process of its own, with a section name
that does not exist: it stops before touching RabbitMQ, once every section is imported.
"""

import subprocess
import sys

from tests.support.checkout import REPOSITORY
from tests.support.timing import SHORT_COMMAND


def test_python_m_bench_imports_its_sections() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "no_such_section"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=SHORT_COMMAND,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1, done.stderr
    assert (
        "no such section: no_such_section (sections: enqueue, http, latency, bounded_publish, drain, startup, cluster)"
        in done.stderr
    ), done.stderr
