"""The claims of DEMO.md and TROUBLESHOOTING.md, read from the files themselves so that the
tests and the text cannot drift.

A claim is a fenced block right after an HTML comment `<!-- demo: KEY -->`. Each
function reads DEMO.md unless given another file (`doc=TROUBLESHOOTING`, whose
keys start with `ts-`, or `doc=README`, whose keys start with `quick-start`), so that a key
names one claim in all three.

- A `console` block holds commands (lines starting with `$ `), each followed by
  the output it prints.
- A `text` block holds lines that the stack's log must show.
- A block of another language (`sh`) holds commands only, run as written (`script`).

In expected output, `<task-id>` stands for a Celery task id (a UUID), `<n>` for
a number, `<any>` for any text on that line.
"""

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "DEMO.md"
TROUBLESHOOTING = ROOT / "TROUBLESHOOTING.md"
# README.md's quick start: its keys start with `quick-start`.
README = ROOT / "README.md"
BLOCK = re.compile(r"<!-- demo: (?P<key>[\w-]+) -->\s*\n```(?P<lang>\w+)\n(?P<body>.*?)\n```", re.S)
PLACEHOLDERS = {
    "<task-id>": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "<n>": r"[0-9]+(?:\.[0-9]+)?",
    "<any>": r".*",
}


@dataclass
class Command:
    """One `$ command` of a console block and the lines it is documented to print."""

    command: str
    expected: list[str]


def claim_keys(doc: Path = DEMO) -> list[str]:
    """The key of every claim in `doc`, in the file's order, repeats included."""
    return [m["key"] for m in BLOCK.finditer(doc.read_text())]


def blocks(doc: Path = DEMO) -> dict[str, tuple[str, str]]:
    """Every claim in `doc` (DEMO.md by default): key → (language, body)."""
    return {m["key"]: (m["lang"], m["body"]) for m in BLOCK.finditer(doc.read_text())}


def block(key: str, doc: Path = DEMO) -> str:
    """The body of the claim `key` in `doc`.

    Raises:
        KeyError: `doc` has no `<!-- demo: key -->` block.
    """
    return blocks(doc)[key][1]


def commands(key: str, doc: Path = DEMO) -> list[Command]:
    """The commands of the console block `key` in `doc`, with their expected output lines."""
    result: list[Command] = []
    for line in block(key, doc).splitlines():
        if line.startswith("$ "):
            result.append(Command(line[2:], []))
        elif result:
            result[-1].expected.append(line)
    return result


def script(key: str, doc: Path = DEMO) -> list[str]:
    """The commands of a block `key` in `doc` that shows commands only (no `$ ` prompts, no
    output), each without its trailing `# comment`."""
    lines = (line.split(" #", 1)[0].strip() for line in block(key, doc).splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def commented_script(key: str, doc: Path = DEMO) -> list[tuple[str, str]]:
    """The commands of a block `key` in `doc` that shows commands only, each with its trailing
    `# comment` ("" if none): README's quick start says there what a command prints or what
    to do next. Lines that are only a comment are left out."""
    pairs = (line.partition(" #")[::2] for line in block(key, doc).splitlines())
    return [(command.strip(), comment.strip()) for command, comment in pairs if command.strip()[:1] not in ("", "#")]


def line_pattern(expected: str) -> re.Pattern:
    """A regex matching one documented output line, placeholders filled in."""
    parts = re.split("(" + "|".join(map(re.escape, PLACEHOLDERS)) + ")", expected)
    return re.compile("".join(PLACEHOLDERS.get(part, re.escape(part)) for part in parts))


def assert_lines_match(actual: list[str], expected: list[str], where: str) -> None:
    """Assert that `actual` lines are the documented `expected` ones, in order.

    Raises:
        AssertionError: naming the first line that differs.
    """
    assert len(actual) == len(expected), f"{where}: {len(actual)} lines, the doc shows {len(expected)}:\n" + "\n".join(
        actual
    )
    for got, want in zip(actual, expected, strict=True):
        assert line_pattern(want).fullmatch(got), f"{where}: got {got!r}, the doc shows {want!r}"


def assert_lines_appear_in_order(actual: list[str], expected: list[str], where: str) -> None:
    """Assert that each documented line matches some line of `actual`, in the documented order,
    with any other lines in between (a log where several programs write at once).

    Raises:
        AssertionError: naming the first documented line not found.
    """
    remaining = iter(actual)
    for want in expected:
        pattern = line_pattern(want)
        assert any(pattern.fullmatch(got) for got in remaining), (
            f"{where}: no line like {want!r} (in this order) in:\n" + "\n".join(actual)
        )
