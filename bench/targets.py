"""The issue's targets for this demo on a 2-core machine, against this run's medians.

The targets come from the issue that asked for `make bench` ("Operate it and measure
it"), which measured a bare Celery 5.7 set-up on such a machine. A missed target is
shown as missed: the sections above say where the time goes, and the last section
what the demo buys with it.
"""

from dataclasses import dataclass

from bench import bounded_publish, drain, latency, startup
from bench.report import Section, number

MISSED = (
    "Where a target is missed, the demo pays for something it keeps. Draining faster would take a worker"
    " that stores no results, logs less and sends no task events: section 3's row of Celery's defaults"
    " without a result backend shows what that alone gains. A faster `POST /hello` would take publishing"
    " without waiting for RabbitMQ's confirm of a persistent message (section 2). The last section says"
    " why the demo keeps both."
)


@dataclass
class Target:
    """One target: what, the section and row it reads, the metric, the bound and its direction."""

    what: str
    section: str
    row: str
    metric: str
    bound: float
    at_least: bool
    unit: str
    ratio: bool = False

    def measured(self, sections: dict[str, Section]) -> float:
        """This run's median of the target's figure."""
        section = sections[self.section]
        return section.median_ratio(self.row) if self.ratio else section.median(self.row, self.metric)


TARGETS = [
    Target("the demo's worker drains", "3", drain.DEMO, drain.TASKS_PER_S.key, 2000, True, " tasks/s"),
    Target("`POST /hello`, requests/s against `POST /noop`", "1", "POST /hello", "rps", 0.5, True, "×", ratio=True),
    Target("`POST /hello` → task started, p50", "4", latency.ROWS["task-started"], "p50", 5, False, " ms"),
    Target(
        "`POST /hello` → task started, p50, now against before the bounded publish (issue 18)",
        "6",
        bounded_publish.ROWS["now", "task-started"],
        "p50",
        bounded_publish.BOUND,
        False,
        "×",
        ratio=True,
    ),
    Target("the worker consumes after its start", "5", startup.ROWS["demo"], "s", 1, False, " s"),
]


def render(sections: list[Section]) -> str:
    """The targets as a Markdown section: target, this run's median, met or missed."""
    by_number = {section.title.split(".")[0]: section for section in sections}
    lines = ["## Targets", "", "| target | median here | |", "|---|---:|---|"]
    for target in TARGETS:
        value = target.measured(by_number)
        met = value >= target.bound if target.at_least else value < target.bound
        bound = f"{'≥' if target.at_least else '<'} {number(target.bound)}{target.unit}"
        lines.append(
            f"| {target.what} {bound} (section {target.section}) | {number(value)}{target.unit} |"
            f" {'met' if met else '**missed**'} |"
        )
    lines += ["", MISSED]
    return "\n".join(lines)
