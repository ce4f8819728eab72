"""The flake hunt: run the suite again and again, and count, per module, the runs it failed.

A test that fails one run in ten passes most CI runs and then a learner's: only
repetition shows it, and load makes it likelier (a learner's laptop has a
browser open). So each run may have busy processes beside it, each spinning one
core, and each module may run alone (one pytest process, `-n 0`) or among the
others (`make test`'s `-n 3`, three stacks on the machine at once).

    .venv/bin/python -m tests.support.flake_hunt --runs 3 --busy 2 tests/integration
    .venv/bin/python -m tests.support.flake_hunt --runs 5 --alone tests/integration/test_broker_trouble.py

Each run writes pytest's JUnit XML report under measured/flake-hunt/ (`make test`
writes one under measured/junit/ too), and the table
(module, runs, runs failed, the failed tests) is printed and written to
measured/flake-hunt.md, to copy into tests/README.md. It needs the services and tools
that `make test` needs (run `make test` once first). To count reports that exist already, those of
`make test` or of CI's clones:

    .venv/bin/python -m tests.support.flake_hunt --tally measured/junit /tmp/ci-check/measured/junit
"""

import argparse
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path

from tests.support.checkout import REPOSITORY

OUT = REPOSITORY / "measured" / "flake-hunt"
PYTEST = [str(REPOSITORY / ".venv" / "bin" / "pytest"), "-p", "no:cacheprovider", "-q"]
# What `make test` passes (Makefile: TEST_PROCESSES, --dist loadfile and its scheduler).
AMONG_OTHERS = ["-n", "3", "--dist", "loadfile", "--no-loadscope-reorder"]


def busy(count: int) -> list[subprocess.Popen]:
    """Start `count` processes that each keep one core busy until killed."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def modules(paths: list[str]) -> list[str]:
    """The test modules (tests/.../test_*.py, relative to the repository) under `paths`."""
    found: list[str] = []
    for path in paths:
        target = REPOSITORY / path
        files = [target] if target.is_file() else sorted(target.rglob("test_*.py"))
        found += [str(file.relative_to(REPOSITORY)) for file in files]
    return found


def run_once(args: list[str], report: Path, load: int) -> float:
    """Run pytest with `args` and its JUnit report at `report`, with `load` busy processes beside it.

    Returns:
        Its wall time, in seconds.
    """
    burners = busy(load)
    started = time.monotonic()
    try:
        subprocess.run([*PYTEST, f"--junitxml={report}", *args], cwd=REPOSITORY, check=False)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    return time.monotonic() - started


def module_of(classname: str) -> str:
    """The module file of a JUnit `classname`: `tests.integration.test_x`, or with a class
    after it (`tests.integration.test_x.TestY`)."""
    parts = classname.split(".")
    for end in range(len(parts), 0, -1):
        path = "/".join(parts[:end]) + ".py"
        if (REPOSITORY / path).is_file():
            return path
    return classname


def failures(report: Path) -> dict[str, list[str]]:
    """Each module of the report → the names of its tests that failed or errored there
    (empty for a module that passed)."""
    result: dict[str, list[str]] = {}
    for case in ElementTree.parse(report).iter("testcase"):
        module = module_of(case.get("classname", ""))
        failed = case.find("failure") is not None or case.find("error") is not None
        result.setdefault(module, [])
        if failed:
            result[module].append(case.get("name", "?"))
    return result


def table(reports: list[Path]) -> str:
    """The Markdown table of module, runs, runs failed, and the tests that failed, over `reports`."""
    runs: dict[str, int] = defaultdict(int)
    failed_runs: dict[str, int] = defaultdict(int)
    failed_tests: dict[str, set[str]] = defaultdict(set)
    for report in reports:
        for module, failed in failures(report).items():
            runs[module] += 1
            failed_runs[module] += bool(failed)
            failed_tests[module].update(failed)
    lines = ["| module | runs | runs failed | tests that failed |", "|---|---|---|---|"]
    for module in sorted(runs):
        names = ", ".join(sorted(failed_tests[module])) or "-"
        lines.append(f"| `{module}` | {runs[module]} | {failed_runs[module]} | {names} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="how many times to run each (default 3)")
    parser.add_argument("--busy", type=int, default=0, help="busy processes beside each run (default 0)")
    parser.add_argument("--alone", action="store_true", help="each module by itself, in one process (-n 0)")
    parser.add_argument("--tally", action="store_true", help="run nothing: count the JUnit reports under PATHS")
    parser.add_argument("paths", nargs="*", default=["tests/integration", "tests/containers"])
    options = parser.parse_args()
    if options.tally:
        print(table(sorted(report for path in options.paths for report in Path(path).rglob("*.xml"))))
        return 0

    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = OUT / f"{stamp}-{'alone' if options.alone else 'among-others'}-busy{options.busy}"
    folder.mkdir(parents=True)
    plan = (
        [(Path(module).stem, ["-n", "0", module]) for module in modules(options.paths)]
        if options.alone
        else [("suite", [*AMONG_OTHERS, *options.paths])]
    )
    reports = []
    for run in range(1, options.runs + 1):
        for name, args in plan:
            report = folder / f"{name}-{run}.xml"
            seconds = run_once(args, report, options.busy)
            print(f"flake hunt: run {run}/{options.runs} of {name}: {seconds:.0f} s", flush=True)
            reports.append(report)
    command = "python -m tests.support.flake_hunt " + " ".join(sys.argv[1:])
    text = f"{command}\n\n{table(reports)}\n"
    (OUT.parent / "flake-hunt.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
