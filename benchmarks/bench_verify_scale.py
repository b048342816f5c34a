"""Benchmark: `dbfsm verify --workers`, and its states/s per core beside TLC's per worker.

1. Wall time at `--workers 2` against `--workers 1`, on the default bound and on
   `--backends 3 --tries 1,2`, rounds taken in turns (best of them). Target: at least 1.8x on
   a 2-core machine; other work on the machine shows as a lower figure. The reports are
   compared too: the same states and transitions whatever the workers, and the ceiling that
   one configuration per task puts on any number of workers (total ÷ the largest one).
2. States and transitions per second per core (per CPU second, this process and its workers
   together) at one worker, next to TLC's distinct and generated states per second per worker
   (Progress lines quoted in `../shared/reference/scale-out-facts.md` §2: CCF Raft on 120
   workers, Elasticsearch ZenWithTerms on 8, EWD998 on 32). Target: 3,000 states/s per core.
"""

from __future__ import annotations

import resource
import time

from dbfsm.scaleout import executor
from dbfsm.validation.verify import Bound, Report, run

BOUNDS = (
    ("default bound", Bound(), 3),
    ("`--backends 3 --tries 1,2`", Bound(backends=3, tries=(1, 2)), 2),
)
TLC = (  # spec, workers, distinct states/s per worker, generated states/s per worker
    ("CCF Raft", 120, "≈520", "≈3,000"),
    ("Elasticsearch ZenWithTerms", 8, "≈8,300", "≈26,600"),
    ("EWD998", 32, "≈2,300 to 3,500", "≈31,000"),
)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


LARGEST: list[float] = []  # the longest configuration of the last run, in seconds


def _note(line: str) -> None:
    seconds = float(line.split(" transitions ")[1].split(" s ")[0])
    LARGEST[:] = [max([seconds, *LARGEST])]


def timed(bound: Bound, workers: int) -> tuple[Report, float, float]:
    """The report, wall seconds and CPU seconds (with the workers') of one run."""
    LARGEST.clear()
    cpu, children, wall = time.process_time(), _children_cpu(), time.perf_counter()
    with executor(workers, None) as pool:
        report, found = run(bound, _note, pool=pool)
    if found is not None:
        raise SystemExit(f"violation: {found.invariant}")
    wall = time.perf_counter() - wall
    return report, wall, time.process_time() - cpu + _children_cpu() - children


def report() -> str:
    rows = ["| bound | figure | ratio | target | met | measured | baseline |", "|" + "---|" * 7]
    rates = []
    for name, bound, rounds in BOUNDS:
        best: dict[int, tuple[Report, float, float]] = {}
        largest = 0.0
        for _ in range(rounds):
            for workers in (1, 2):
                figures = timed(bound, workers)
                if workers not in best or figures[1] < best[workers][1]:
                    best[workers] = figures
                    largest = LARGEST[0] if workers == 1 else largest
        (one, wall1, cpu1), (two, wall2, _) = best[1], best[2]
        same = (one.states, one.transitions) == (two.states, two.transitions)
        ratio = wall1 / wall2
        rows.append(
            f"| {name} | `--workers 2` against `--workers 1`, wall | {ratio:.2f}x | ≥ 1.8x | "
            f"{'yes' if ratio >= 1.8 else '**no**'} | {wall2:.1f} s | {wall1:.1f} s |"
        )
        rows.append(
            f"| {name} | same states and transitions at 1 and 2 workers | | | "
            f"{'yes' if same else '**no**'} | {two.states} / {two.transitions} | "
            f"{one.states} / {one.transitions} |"
        )
        rows.append(
            f"| {name} | ceiling of one configuration per task: total ÷ largest | "
            f"{wall1 / largest:.1f}x | | | largest {largest:.1f} s | total {wall1:.1f} s |"
        )
        per_core = one.states / cpu1
        rows.append(
            f"| {name} | states per second per core, one worker | | ≥ 3,000 | "
            f"{'yes' if per_core >= 3000 else '**no**'} | {per_core:,.0f} states/s, "
            f"{one.transitions / cpu1:,.0f} transitions/s ({one.states} states in {cpu1:.1f} "
            "CPU s) | |"
        )
        rates.append((name, per_core, one.transitions / cpu1))
    tlc = [
        "| checker, spec | workers | states/s per core or worker | transitions/s |",
        "|" + "---|" * 4,
    ]
    tlc += [f"| dbfsm verify, {n} | 1 | {s:,.0f} | {t:,.0f} |" for n, s, t in rates]
    tlc += [f"| TLC, {spec} | {w} | {d} (distinct) | {g} (generated) |" for spec, w, d, g in TLC]
    text = (__doc__ or "").split("\n", 2)[2]
    return "## dbfsm verify --workers\n\n" + text + "\n" + "\n".join([*rows, "", *tlc]) + "\n"


if __name__ == "__main__":
    print(report())
