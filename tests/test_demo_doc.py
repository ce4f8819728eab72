"""Every claim in DEMO.md is checked by some test: none may be added without one."""

from pathlib import Path

from tests.support import demo_doc

TESTS = Path(__file__).resolve().parent


def test_every_demo_claim_is_used_by_a_test() -> None:
    sources = "\n".join(p.read_text() for p in TESTS.rglob("test_*.py") if p.name != Path(__file__).name)
    unchecked = [key for key in demo_doc.blocks() if f'"{key}"' not in sources]
    assert not unchecked, f"DEMO.md claims that no test checks: {unchecked}"


def test_placeholders_match_what_they_stand_for() -> None:
    pattern = demo_doc.line_pattern("Task say_hello[<task-id>] succeeded in <n>s: <any>")
    assert pattern.fullmatch("Task say_hello[0c7b3a8e-5d1f-4e8e-9a61-2f9d0b7c1a23] succeeded in 0.5s: None")
    assert not pattern.fullmatch("Task say_hello[not-an-id] succeeded in 0.5s: None")
