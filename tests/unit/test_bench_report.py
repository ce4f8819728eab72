"""`make bench`'s arithmetic: ratios run by run, the median of them that takeaways and targets
quote (the table's bold figure), and the clicks that two demos take in turn."""

import pytest

from bench import latency
from bench.report import Comparison, Metric, Row, Section, table


def rows_section(**fields: object) -> Section:
    return Section(title="9. Test", intro="", metrics=[Metric("ms", "ms")], **fields)


def test_ratios_against_a_baseline_row_are_run_by_run_and_their_median_is_the_tables() -> None:
    section = rows_section(
        rows=[Row("base", {"ms": [1.0, 2.0, 4.0, 8.0]}), Row("other", {"ms": [3.0, 2.0, 4.0, 4.0]})],
        baseline="base",
        ratio_of="ms",
    )
    assert section.ratios("other") == [3.0, 1.0, 1.0, 0.5]
    # Four runs: the mean of the middle two, as statistics.median and the table's bold figure.
    assert section.median_ratio("other") == 1.0
    assert "| other | 2.00 / **3.50** / 4.00 | 0.500× / **1.00×** / 3.00× |" in table(section)


def test_a_comparison_divides_two_metrics_of_each_row() -> None:
    section = Section(
        title="9. Test",
        intro="",
        metrics=[Metric("classic", "classic"), Metric("quorum", "quorum")],
        rows=[Row("p50 ms", {"classic": [2.0, 4.0, 5.0], "quorum": [6.0, 6.0, 20.0]})],
        comparison=Comparison("quorum", "classic", "quorum ÷ classic"),
    )
    assert section.ratios("p50 ms") == [3.0, 1.5, 4.0]
    assert section.median_ratio("p50 ms") == 3.0
    lines = table(section).splitlines()
    assert lines[0] == "|  | classic | quorum | quorum ÷ classic |"
    assert lines[2] == "| p50 ms | 2.00 / **4.00** / 5.00 | 6.00 / **6.00** / 20.0 | 1.50× / **3.00×** / 4.00× |"


def test_take_turns_alternates_which_demo_is_clicked_first(monkeypatch: pytest.MonkeyPatch) -> None:
    clicked: list[str] = []

    def click(web_url: str, events: object, name: str) -> tuple[float, float]:
        clicked.append(web_url)
        return len(clicked), 10.0 * len(clicked)

    monkeypatch.setattr(latency, "click", click)
    delays = latency.take_turns({"a": ("A", None), "b": ("B", None)}, 3)
    assert clicked == ["A", "B", "B", "A", "A", "B"]
    assert delays == {
        ("a", "answered"): [1, 4, 5],
        ("a", "task-started"): [10.0, 40.0, 50.0],
        ("b", "answered"): [2, 3, 6],
        ("b", "task-started"): [20.0, 30.0, 60.0],
    }
