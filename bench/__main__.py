"""`make bench` (`python -m bench`): measure the demo on this machine, print the figures
and write them to measured/BENCHMARKS.md (`make figures` copies that to BENCHMARKS.md).
`python -m bench http latency` runs only the sections named (http, enqueue, drain,
latency, bounded_publish, startup, cluster) and only prints.

A benchmark, not a test: it asserts no timing. It needs what `make test` needs
(RabbitMQ with its management API, Redis) and wrk. It works in a RabbitMQ vhost
of its own, deleted at the end even when a section fails. The cluster section runs
the demo in Docker instead, and is skipped without Docker or the images.
"""

import datetime
import os
import sys
from pathlib import Path

from bench import bounded_publish, cluster, drain, enqueue, http, latency, startup, targets
from bench.context import VHOST_PREFIX, Bench
from bench.report import machine_facts, render
from tests.support import checkout
from tests.support.rabbitmq import VHost, sweep_stale

# Under measured/ (git-ignored), not BENCHMARKS.md itself: a tracked file changed by
# `make bench` would make a learner's next `git checkout` of a step fail. A maintainer
# copies it in on purpose with `make figures`.
OUTPUT = Path(__file__).resolve().parents[1] / "measured" / "BENCHMARKS.md"
# The order they run in: those that need no stack, or the one stack, first; the
# start-up section, which starts its own, then the cluster's, which runs the demo in
# Docker, last. BENCHMARKS.md numbers them by topic.
SECTIONS = [enqueue, http, latency, bounded_publish, drain, startup, cluster]

COSTS = "What the demo's safety settings cost, and why it keeps them"
INTRO = """\
# Benchmarks

Figures measured on one machine by `make bench`, and copied into this file by
`make figures`. Rerun it on yours (it writes `measured/BENCHMARKS.md`, and
leaves this file alone): the figures that matter are the ratios, which depend
less on the machine than the absolute numbers do.

How to read the tables: every figure was measured in {runs} runs, and a cell
shows min / **median** / max over those runs. A column "× something" divides a
row's figure by that baseline row's, run by run, both measured in the same run
of `make bench` on the same machine; section 7's "quorum ÷ classic" divides one
column by the other in the same way. A benchmark on a laptop is noisy: another
program using the CPUs moves every figure, so compare rows of one table rather
than tables of two machines.

`make bench` needs the same RabbitMQ (with its management plugin) and Redis as
`make test`, and wrk (it installs Debian's package where it may). It runs the
demo in a RabbitMQ vhost of its own, and, for section 7, in Docker (the engine and
images of the container tests, tests/containers/README.md; without them, section 7
says so and the rest runs). It takes about 15 minutes.
`.venv/bin/python -m bench http latency` reruns only the sections named
(http, enqueue, drain, latency, bounded_publish, startup, cluster), and prints without writing anything.
"""


def main(names: list[str]) -> None:
    """Run the sections `names` (all when empty), then print the document; write it to
    measured/BENCHMARKS.md when all ran.

    Raises:
        SystemExit: a name is not a section's.
    """
    known = {section.__name__.removeprefix("bench."): section for section in SECTIONS}
    if unknown := set(names) - set(known):
        raise SystemExit(f"no such section: {', '.join(sorted(unknown))} (sections: {', '.join(known)})")
    chosen = [section for name, section in known.items() if not names or name in names]
    # Celery prefers this variable to any broker_url it is given (as tests/conftest.py
    # notes): every Celery object here must use the run's own vhost.
    os.environ.pop("CELERY_BROKER_URL", None)
    started, load_before = datetime.datetime.now(datetime.UTC), os.getloadavg()
    sweep_stale(VHOST_PREFIX)
    vhost = VHost(VHOST_PREFIX)
    vhost.create()
    # The demo runs from a copy of this working tree, as in `make test`
    # (tests/support/checkout.py): its own .run/, so a `make run` of yours may go on.
    checkout.remove_stale()
    checkout.create()
    bench = Bench(vhost)
    try:
        sections = [section.measure(bench) for section in chosen]
    finally:
        try:
            bench.stop_stack()
        finally:
            vhost.delete()
            checkout.remove()
    sections.sort(key=lambda section: int(section.title.split(".")[0]))
    facts = "\n".join(f"- {fact}" for fact in machine_facts(started, load_before))
    parts = [INTRO.format(runs=bench.runs), "## The machine", facts, *map(render, sections)]
    if not names:  # every section ran: the targets can be read
        parts.append(targets.render(sections))
    if costs := [cost for section in sections for cost in section.costs]:
        parts += [f"## {COSTS}", "\n".join(f"- {cost}" for cost in costs)]
    document = "\n\n".join(parts) + "\n"
    print(document)
    if not names:
        OUTPUT.parent.mkdir(exist_ok=True)
        OUTPUT.write_text(document)
        print(f"Written to {OUTPUT.relative_to(OUTPUT.parents[1])}; `make figures` copies it to BENCHMARKS.md.")


if __name__ == "__main__":
    main(sys.argv[1:])
