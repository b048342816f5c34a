"""Benchmark: `dbfsm verify` at its default bound, and how far a time budget reaches.

Target: the default bound within 60 s. Reported: states, transitions, wall and CPU time,
states per second, peak resident memory, and, as the figure to compare across machines,
the cost of one explored transition as a ratio to one start of a fresh engine measured in
the same process (verify takes each step on a fork of a world standing in the state, so
the engine's own speed, and the checker's, set its reach). Then wider bounds run one after
another until the budget (default 600 s) is spent: three backends, then more tries per
mixed backend.

Run: `python benchmarks/bench_verify.py [BUDGET_SECONDS]`.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import replace

from dbfsm.fsm.config import from_document
from dbfsm.fsm.engine import Engine
from dbfsm.validation.verify import Bound, Report, document, run

LADDER = (
    ("three backends", Bound(backends=3)),
    ("two backends, 2 tries each", Bound(backends=2, mixed_tries=2)),
    ("three backends, 2 tries each", Bound(backends=3, mixed_tries=2)),
    ("two backends, 3 tries each", Bound(backends=2, mixed_tries=3)),
)


def engine_start_seconds(rounds: int = 300) -> float:
    """One fresh engine, started: the unit of a replay."""
    doc = document(next(iter(Bound().configurations())))
    settings = from_document(doc)
    began = time.perf_counter()
    for _ in range(rounds):
        Engine(settings).start()
    return (time.perf_counter() - began) / rounds


def measured(bound: Bound, deadline: float | None = None) -> tuple[Report, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    report, found = run(bound, deadline=deadline)
    if found is not None:
        raise SystemExit(f"violation: {found.invariant}")
    return report, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
    unit = engine_start_seconds()
    report, wall, cpu = measured(Bound())
    per_transition = cpu / report.transitions
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("## dbfsm verify\n")
    print(f"Default bound: {Bound().describe()}.\n")
    print("| figure | value |\n|---|---|")
    print(f"| configurations | {report.configurations} |")
    print(f"| states | {report.states} |")
    print(f"| transitions | {report.transitions} |")
    print(f"| wall time (target: under 60 s) | {wall:.1f} s |")
    print(f"| CPU time | {cpu:.1f} s |")
    print(f"| states per second (CPU) | {report.states / cpu:.0f} |")
    print(f"| peak resident memory | {peak:.0f} MB |")
    print(
        f"| one explored transition / one fresh engine started | {per_transition / unit:.1f}x "
        f"({per_transition * 1e3:.2f} ms / {unit * 1e3:.2f} ms) |"
    )
    print(f"\nWithin a budget of {budget:.0f} s (wall), wider bounds, one after another:\n")
    print("| bound | configurations | states | transitions | wall | complete |")
    print("|---|---|---|---|---|---|")
    deadline = time.perf_counter() + budget - wall
    for name, bound in LADDER:
        if time.perf_counter() > deadline:
            print(f"| {name} | not started: budget spent | | | | no |")
            continue
        wide, seconds, _ = measured(replace(bound), deadline)
        done = "yes" if not wide.truncated else "no (budget spent)"
        print(
            f"| {name} | {wide.configurations} | {wide.states} | {wide.transitions} | "
            f"{seconds:.0f} s | {done} |"
        )


if __name__ == "__main__":
    main()
