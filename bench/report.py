"""What `make bench` reports, and how: figures over runs, ratios against a baseline, Markdown tables.

Every figure is measured in several runs and shown as min / median / max: one
run says little on a laptop that also runs a browser. A ratio compares a row
with a baseline row of the same section, run by run (run 1 with run 1, ...), so
that both were measured on the same machine, in the same minute.
"""

import datetime
import os
import platform
import shutil
import statistics
import subprocess
from dataclasses import dataclass, field
from importlib import metadata

import redis
import requests

from tests.support import rabbitmq


@dataclass
class Metric:
    """One column of figures: `key` names it in `Row.runs`, `heading` in the table (with its unit)."""

    key: str
    heading: str


@dataclass
class Comparison:
    """A column of ratios within each row, in place of a baseline row: metric `key` over
    metric `base`, run by run, headed `heading` (e.g. "quorum ÷ classic")."""

    key: str
    base: str
    heading: str


@dataclass
class Row:
    """One line of a table: `label` says what was measured; `runs` maps each metric's key
    to its values, one per run, in run order."""

    label: str
    runs: dict[str, list[float]]


@dataclass
class Section:
    """One section of BENCHMARKS.md: a table and what a learner should take from it.

    Args:
        title: its heading, which starts with its number: "1. HTTP: ..."; BENCHMARKS.md
            shows the sections in that order.
        intro: one sentence on what was measured, and how (Markdown).
        metrics: the table's columns of figures.
        rows: the table's lines.
        baseline: the label of the row the others are compared with, if any.
        ratio_of: the key of the metric compared (a ratio above 1: more than the baseline).
        comparison: instead of a baseline row, two metrics of the same row compared, if any.
        takeaway: 1 to 3 sentences for the learner (Markdown), written once the figures are in.
        costs: what each of the demo's safety settings that the section measured costs,
            and why the demo keeps it: one Markdown sentence or two per setting, gathered
            at the end of BENCHMARKS.md.
    """

    title: str
    intro: str
    metrics: list[Metric] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    baseline: str | None = None
    ratio_of: str | None = None
    comparison: Comparison | None = None
    takeaway: str = ""
    costs: list[str] = field(default_factory=list)

    def row(self, label: str) -> Row:
        """The row labelled `label`.

        Raises:
            KeyError: no such row.
        """
        for row in self.rows:
            if row.label == label:
                return row
        raise KeyError(label)

    def ratios(self, label: str) -> list[float]:
        """Row `label`'s ratios, run by run (one value per run): its `ratio_of` metric over the
        baseline row's, or, in a section with a `comparison`, its two metrics, one over the other."""
        row = self.row(label)
        if self.comparison:
            values, bases = row.runs[self.comparison.key], row.runs[self.comparison.base]
        else:
            assert self.baseline and self.ratio_of, f"{self.title} has no baseline"
            values, bases = row.runs[self.ratio_of], self.row(self.baseline).runs[self.ratio_of]
        return [value / base for value, base in zip(values, bases, strict=True)]

    def median_ratio(self, label: str) -> float:
        """The median over the runs of row `label`'s ratios (`ratios`): the figure a takeaway
        or a target quotes, the same as the bold one of the table's ratio column."""
        return statistics.median(self.ratios(label))

    def median(self, label: str, key: str) -> float:
        """The median over the runs of row `label`'s metric `key`."""
        return statistics.median(self.row(label).runs[key])


def number(value: float) -> str:
    """`value` with as many digits as a benchmark's noise allows: 1,234 / 56.7 / 8.90 / 0.123."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def spread(values: list[float], unit: str = "") -> str:
    """min / median / max of `values`, as a table cell."""
    low, middle, high = min(values), statistics.median(values), max(values)
    return f"{number(low)}{unit} / **{number(middle)}{unit}** / {number(high)}{unit}"


def table(section: Section) -> str:
    """The section's rows as a Markdown table, each cell min / **median** / max over the runs."""
    headings = ["", *(metric.heading for metric in section.metrics)]
    if section.comparison:
        headings.append(section.comparison.heading)
    elif section.baseline:
        headings.append(f"× {section.baseline}")
    lines = ["| " + " | ".join(headings) + " |", "|---" + "|---:" * (len(headings) - 1) + "|"]
    for row in section.rows:
        cells = [row.label, *(spread(row.runs[metric.key]) for metric in section.metrics)]
        if section.comparison:
            cells.append(spread(section.ratios(row.label), "×"))
        elif section.baseline:
            cells.append("baseline" if row.label == section.baseline else spread(section.ratios(row.label), "×"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(section: Section) -> str:
    """The section as Markdown: heading, what was measured, the table, the takeaway."""
    parts = [f"## {section.title}", section.intro]
    parts.append(table(section) if section.rows else "_Not measured yet._")
    if section.takeaway:
        parts.append(section.takeaway)
    return "\n\n".join(parts)


def machine_facts(started: datetime.datetime, load_before: tuple[float, float, float]) -> list[str]:
    """What the figures depend on, one Markdown list item each: date, CPUs, load, versions.

    Args:
        started: when the benchmark started (UTC); the time it took is counted up to now.
        load_before: `os.getloadavg()` at the start: how busy other programs kept the
            CPUs (about the CPU count or more: expect noisy figures).

    RabbitMQ's version comes from its management API (`GET /api/overview`), Redis's
    from `INFO server`, the libraries' from their installed distributions.
    """
    version = metadata.version
    took = datetime.datetime.now(datetime.UTC) - started
    overview = requests.get(
        f"{rabbitmq.MANAGEMENT_URL}/api/overview", auth=(rabbitmq.USER, rabbitmq.PASSWORD), timeout=10
    ).json()
    redis_url = os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/0")
    redis_version = redis.Redis.from_url(redis_url).info("server")["redis_version"]
    wrk = "no wrk"
    if shutil.which("wrk"):  # `wrk --version` prints "wrk debian/4.1.0-3+b2 [epoll] Copyright ..."
        wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split(" [")[0]
    load = " at the start, ".join(
        " / ".join(f"{value:.2f}" for value in loads) for loads in (load_before, os.getloadavg())
    )
    return [
        f"Date: {started:%Y-%m-%d %H:%M} UTC; the run took {took.total_seconds() / 60:.1f} min",
        f"CPUs: {os.cpu_count()} ({cpu_model()}); load average (1 / 5 / 15 min) {load} at the end",
        f"Python {platform.python_version()}, Celery {version('celery')}, kombu {version('kombu')},"
        f" Flask {version('flask')}, gunicorn {version('gunicorn')}",
        f"RabbitMQ {overview['rabbitmq_version']} (Erlang {overview['erlang_version']}), Redis {redis_version}, {wrk}",
    ]


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo on Linux; the platform's processor string elsewhere."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown model"
