"""RELIABILITY.md's table, written by the test run itself: each scenario's test records
its row, with the counts it measured, once its assertions have passed.

The table sits between two HTML comments in RELIABILITY.md; a test replaces its own
row (by key) and leaves the others as the last run that passed them wrote them.
"""

import re
from dataclasses import dataclass
from pathlib import Path

RELIABILITY = Path(__file__).resolve().parents[2] / "RELIABILITY.md"
BEGIN = "<!-- table: written by the test run (tests/support/reliability.py); do not edit by hand -->"
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


def record(row: Row) -> None:
    """Write `row` into RELIABILITY.md's table, replacing the row of the same key.

    Call it at the end of a scenario's test, after its assertions: only a passing
    run writes counts.

    Raises:
        ValueError: RELIABILITY.md lacks the table's BEGIN and END comments.
    """
    text = RELIABILITY.read_text()
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{RELIABILITY.name} has no table between {BEGIN!r} and {END!r}")
    rows = {}
    for line in text[start + len(BEGIN) : end].splitlines():
        match = re.match(r"\| (\d+\w*) \|", line)
        if match:
            rows[match[1]] = line
    rows[row.key] = row.markdown()
    table = "\n".join([HEADER, *(rows[key] for key in sorted(rows, key=_sort_key))])
    RELIABILITY.write_text(f"{text[:start]}{BEGIN}\n{table}\n{END}{text[end + len(END) :]}")
