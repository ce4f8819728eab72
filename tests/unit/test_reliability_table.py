"""RELIABILITY.md's rows: a test run keeps them under measured/, and only `make figures`
(`publish()`) writes them into the tracked file."""

from pathlib import Path

import pytest

from tests.support import reliability
from tests.support.reliability import BEGIN, END, HEADER, Row

DOCUMENT = (
    f"intro\n\n{BEGIN}\n{HEADER}\n| 1 | one | a | b | c | old 1 |\n| 2a | two | a | b | c | old 2a |\n{END}\n\nafter\n"
)


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A RELIABILITY.md and a measured/reliability/ of the test's own."""
    document = tmp_path / "RELIABILITY.md"
    document.write_text(DOCUMENT)
    monkeypatch.setattr(reliability, "RELIABILITY", document)
    monkeypatch.setattr(reliability, "MEASURED", tmp_path / "measured" / "reliability")
    return document


def test_record_leaves_the_tracked_file_alone(files: Path) -> None:
    reliability.record(Row("2a", "two", "a", "b", "c", "new 2a"))
    assert files.read_text() == DOCUMENT
    assert (reliability.MEASURED / "2a.md").read_text() == "| 2a | two | a | b | c | new 2a |\n"


def test_publish_replaces_recorded_rows_keeps_the_others_and_sorts(files: Path) -> None:
    reliability.record(Row("2a", "two", "a", "b", "c", "new 2a"))
    reliability.record(Row("10", "ten", "a", "b", "c", "new 10"))
    assert reliability.publish() == ["2a", "10"]
    text = files.read_text()
    assert text.startswith("intro\n\n") and text.endswith(f"{END}\n\nafter\n")
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    assert rows == [
        "| 1 | one | a | b | c | old 1 |",
        "| 2a | two | a | b | c | new 2a |",
        "| 10 | ten | a | b | c | new 10 |",
    ]


def test_clear_forgets_an_earlier_run(files: Path) -> None:
    reliability.record(Row("1", "one", "a", "b", "c", "new 1"))
    reliability.clear()
    assert reliability.publish() == []
    assert files.read_text() == DOCUMENT


def test_publish_refuses_a_document_without_the_table(files: Path) -> None:
    files.write_text("no table here\n")
    reliability.record(Row("1", "one", "a", "b", "c", "new 1"))
    with pytest.raises(ValueError, match="has no table"):
        reliability.publish()
