"""Section 3, Drain: how fast a worker empties a pile-up of `say_hello(duration=0)` tasks,
with the demo's worker settings and across pools, prefetch and acks_late. (To be measured.)"""

from bench.context import Bench
from bench.report import Section


def measure(bench: Bench) -> Section:
    """Measure the drain; for now, an empty section."""
    return Section(title="3. Drain: tasks/s", intro="10,000 piled-up `say_hello(duration=0)` tasks.")
