"""RELIABILITY.md's table, from the test run's own counts: each scenario's test records
its row, with the counts it measured, once its assertions have passed.

A test run writes its rows under measured/reliability/ (git-ignored), never into
RELIABILITY.md itself: a tracked file changed by `make test` would make a learner's
next `git checkout` of a step fail ("Your local changes ... would be overwritten").
A maintainer copies the rows in on purpose with `make figures`, which runs
`python -m tests.support.reliability`.

The table sits between two HTML comments in RELIABILITY.md; each recorded row
replaces the row of its key, and the others stay as the last copy wrote them.
"""

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RELIABILITY = ROOT / "RELIABILITY.md"
# One file per row, named after its key: what the last test run measured. Under
# HELLO_QUEUE_MEASURED (relative to the checkout) instead, for a run whose figures are
# kept apart: the suite's second run, against RabbitMQ 4 (tests/containers/native_on_rabbitmq4.sh).
MEASURED = ROOT / os.environ.get("HELLO_QUEUE_MEASURED", "measured") / "reliability"
BEGIN = "<!-- table: copied by `make figures` from a test run (tests/support/reliability.py); do not edit by hand -->"
END = "<!-- end of table -->"
HEADER = (
    "| # | Scenario | What the learner does | What happens | Setting responsible | Counts in the last test run |\n"
    "|---|---|---|---|---|---|"
)


@dataclass
class Row:
    """One scenario of RELIABILITY.md.

    Args:
        key: its number in issue order, with a letter for variants ("2a", "2b"); rows sort by it.
        scenario: its short name.
        action: what the learner does (a command or a click).
        outcome: what happens, in words.
        setting: the Celery, RabbitMQ or supervisord setting responsible.
        counts: what the test counted, e.g. "1,000 sent, 1,000 succeeded, 0 twice".
    """

    key: str
    scenario: str
    action: str
    outcome: str
    setting: str
    counts: str

    def markdown(self) -> str:
        cells = [self.key, self.scenario, self.action, self.outcome, self.setting, self.counts]
        return "| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |"


def _sort_key(key: str) -> tuple[int, str]:
    number, letter = re.fullmatch(r"(\d+)(\w*)", key).groups()
    return int(number), letter


def clear() -> None:
    """Forget the rows of an earlier test run (called as a run starts), so that
    measured/reliability/ holds this run's rows only."""
    for stale in MEASURED.glob("*.md"):
        stale.unlink()


def record(row: Row) -> None:
    """Keep `row` in measured/reliability/KEY.md, for `make figures` to copy into RELIABILITY.md.

    Call it at the end of a scenario's test, after its assertions: only a passing
    run records counts.
    """
    MEASURED.mkdir(parents=True, exist_ok=True)
    (MEASURED / f"{row.key}.md").write_text(row.markdown() + "\n")


def publish() -> list[str]:
    """Write the recorded rows into RELIABILITY.md's table, each replacing the row of its key.

    Returns:
        The keys written, in table order; empty when no row was recorded.

    Raises:
        ValueError: RELIABILITY.md lacks the table's BEGIN and END comments.
    """
    recorded = {path.stem: path.read_text().strip() for path in MEASURED.glob("*.md")}
    if not recorded:
        return []
    text = RELIABILITY.read_text()
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{RELIABILITY.name} has no table between {BEGIN!r} and {END!r}")
    rows = {}
    for line in text[start + len(BEGIN) : end].splitlines():
        match = re.match(r"\| (\d+\w*) \|", line)
        if match:
            rows[match[1]] = line
    rows.update(recorded)
    table = "\n".join([HEADER, *(rows[key] for key in sorted(rows, key=_sort_key))])
    RELIABILITY.write_text(f"{text[:start]}{BEGIN}\n{table}\n{END}{text[end + len(END) :]}")
    return sorted(recorded, key=_sort_key)


if __name__ == "__main__":
    if written := publish():
        print(f"RELIABILITY.md: rows {', '.join(written)} from the last test run.")
    else:
        print(f"No rows in {MEASURED.relative_to(ROOT)}/: run make test first.", file=sys.stderr)
