"""Section 3, Drain: how fast a worker empties a pile-up of `say_hello(duration=0)` tasks,
with the demo's worker settings and across pools, prefetch and acks_late. (To be measured.)

What a section gets and gives (bench/context.py, bench/report.py): `measure(bench)`
may use `bench.vhost` (the run's own vhost: depth, purge), `bench.stack()` (the demo
as `make run` starts it, shared with the other sections) or `bench.stop_stack()`
(to start workers of its own: `tests.support.stack.LoggedProcess`, stopped with
`bench.context.stop`), `bench.runs` and `bench.log()`. It returns a `Section` whose
rows hold one value per run for each metric, a `baseline` row for its ratios,
a `takeaway`, and `costs` for the safety settings it prices.
"""

from bench.context import Bench
from bench.report import Section


def measure(bench: Bench) -> Section:
    """Measure the drain; for now, an empty section."""
    return Section(title="3. Drain: tasks/s", intro="10,000 piled-up `say_hello(duration=0)` tasks.")
