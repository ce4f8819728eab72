"""Every claim in DEMO.md, TROUBLESHOOTING.md and README.md is checked by some test: none may be added without one."""

from pathlib import Path

from tests.support import demo_doc

TESTS = Path(__file__).resolve().parent


def unchecked_claims(doc: Path) -> list[str]:
    """The keys of `doc`'s claims that no test module names (as a quoted string, `"KEY"`)."""
    sources = "\n".join(p.read_text() for p in TESTS.rglob("test_*.py") if p.name != Path(__file__).name)
    return [key for key in demo_doc.blocks(doc) if f'"{key}"' not in sources]


def test_every_demo_claim_is_used_by_a_test() -> None:
    unchecked = unchecked_claims(demo_doc.DEMO)
    assert not unchecked, f"DEMO.md claims that no test checks: {unchecked}"


def test_every_troubleshooting_claim_is_used_by_a_test() -> None:
    unchecked = unchecked_claims(demo_doc.TROUBLESHOOTING)
    assert not unchecked, f"TROUBLESHOOTING.md claims that no test checks: {unchecked}"


def test_every_readme_claim_is_used_by_a_test() -> None:
    keys = demo_doc.claim_keys(demo_doc.README)
    assert keys and all(key.startswith("quick-start") for key in keys), keys
    unchecked = unchecked_claims(demo_doc.README)
    assert not unchecked, f"README.md claims that no test checks: {unchecked}"


def test_troubleshooting_keys_are_its_own_and_unique() -> None:
    # A test finds its claim by key alone, so a key must name one claim in both files:
    # TROUBLESHOOTING.md's start with "ts-", DEMO.md's never do, and none repeats.
    keys = demo_doc.claim_keys(demo_doc.TROUBLESHOOTING)
    assert keys, "TROUBLESHOOTING.md has no claims"
    assert [key for key in keys if not key.startswith("ts-")] == []
    assert [key for key in demo_doc.claim_keys() if key.startswith("ts-")] == []
    assert len(set(keys)) == len(keys), f"repeated keys: {sorted({key for key in keys if keys.count(key) > 1})}"


def test_placeholders_match_what_they_stand_for() -> None:
    pattern = demo_doc.line_pattern("Task say_hello[<task-id>] succeeded in <n>s: <any>")
    assert pattern.fullmatch("Task say_hello[0c7b3a8e-5d1f-4e8e-9a61-2f9d0b7c1a23] succeeded in 0.5s: None")
    assert not pattern.fullmatch("Task say_hello[not-an-id] succeeded in 0.5s: None")
