"""`dbfsm availability` benchmarks: years per second, one worker and two, memory in years.

1. Simulated years per second per core of the example (`dbfsm/examples/kea-dhcp4.json` with
   `dbfsm/examples/outages.yml`, the configuration's own setting: 32 outages a year, most
   ending in an exit and restarts), and the cost of one year as a ratio to one fresh engine
   started, measured in the same process (the figure to compare across machines).
2. `--workers 2` against `--workers 1` on the same years: wall time, the best of three
   rounds taken in turns (each task is 10 years, merged in order). Target: at least 1.8x on
   a 2-core machine (other work on the machine shows as a lower figure).
3. Peak memory of 1,000 years against 100 (traced allocations, in this process). Target: flat,
   within 1.5x: the years are streamed into aggregates of bounded size.
4. `servers: 2` against `servers: 1`, the example with a request a second (each server its own
   timeline, with its own request phase), wall time in turns. Target: at most 2.2x: the
   servers cost one timeline each, and combining them next to nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import resource
import time
from importlib import resources

from benchmarks.measure import Figure, interleaved, peak_bytes, progress, table
from dbfsm.files import documents
from dbfsm.files.reading import load_file
from dbfsm.fsm import config
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.settings import ServerSettings
from dbfsm.simulation import availability, outages

YEARS = 200


def example() -> tuple[ServerSettings, outages.Profile]:
    root = resources.files("dbfsm") / "examples"
    settings = load_file(str(root / "kea-dhcp4.json"))
    return settings, outages.load(str(root / "outages.yml"), settings)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(plan: availability.Plan, years: int, workers: int) -> tuple[float, float]:
    """Wall and CPU seconds (this process and its worker processes) of one run."""
    cpu, children, wall = time.process_time(), _children_cpu(), time.perf_counter()
    availability.run(plan, years, workers)
    wall = time.perf_counter() - wall
    return wall, time.process_time() - cpu + _children_cpu() - children


def engine_start_seconds(settings: ServerSettings, rounds: int = 300) -> float:
    began = time.perf_counter()
    for _ in range(rounds):
        Engine(settings).start()
    return (time.perf_counter() - began) / rounds


def servers_figure(settings: ServerSettings, profile: outages.Profile) -> Figure:
    """Two servers with periodic traffic against one: the cost of independent timelines."""
    years = 40
    runs = {
        n: functools.partial(
            availability.years_task,
            availability.Plan((settings,), dataclasses.replace(profile, servers=n, every=1.0), 1),
            0,
            years,
        )
        for n in (1, 2)
    }
    walls = interleaved({str(n): run for n, run in runs.items()}, rounds=3)
    ratio = walls["2"] / walls["1"]
    return Figure(
        "`servers: 2` against `servers: 1`, a request a second, wall",
        f"{walls['2']:.1f} s for {years} years",
        f"{walls['1']:.1f} s",
        ratio,
        "≤ 2.2x",
        ratio <= 2.2,
    )


def report() -> str:
    settings, profile = example()
    plan = availability.Plan((settings,), profile, 1)
    progress(f"availability: {YEARS} years, one worker and two")
    one, two = timed_run(plan, YEARS, 1), timed_run(plan, YEARS, 2)
    # Wall times in turns, so that both see the same load of a shared machine.
    walls = interleaved(
        {str(n): functools.partial(availability.run, plan, YEARS, n) for n in (1, 2)}, rounds=3
    )
    unit = engine_start_seconds(settings)
    per_year = one[1] / YEARS
    figures = [
        Figure(
            "simulated years per second per core, one worker",
            f"{YEARS / one[1]:,.0f} years/s per CPU second ({one[0]:.1f} s wall, "
            f"{one[1]:.1f} s CPU for {YEARS} years)",
        ),
        Figure(
            "one simulated year / one fresh engine started",
            f"{per_year * 1e3:.2f} ms / {unit * 1e3:.3f} ms",
            "",
            per_year / unit,
        ),
        Figure(
            "`--workers 2` against `--workers 1`, wall",
            f"{walls['2']:.1f} s ({YEARS / two[1]:,.0f} years/s per CPU second)",
            f"{walls['1']:.1f} s",
            walls["1"] / walls["2"],
            "≥ 1.8x",
            walls["1"] / walls["2"] >= 1.8,
        ),
    ]
    progress("availability: one server and two, a request a second")
    figures.append(servers_figure(settings, profile))
    progress("availability: memory, 100 and 1,000 years")
    light = config.from_document(
        {
            "Dhcp4": {
                "lease-database": {
                    "type": "mysql",
                    "name": "kea",
                    "max-reconnect-tries": 100,
                    "reconnect-wait-time": 2000,
                }
            }
        }
    )
    doc = documents.parse(
        "restart: {policy: none}\noutages:\n"
        "  - {backends: [lease-database], rate: 50, duration: {exponential: {mean: 5}}}\n",
        "memory.yaml",
    )
    small_plan = availability.Plan((light,), outages.from_data(doc, doc.data, light), 1)
    small = peak_bytes(lambda: availability.run(small_plan, 100, 1))
    large = peak_bytes(lambda: availability.run(small_plan, 1000, 1))
    figures.append(
        Figure(
            "peak memory, 1,000 years",
            f"{large / 1e3:,.0f} kB",
            f"100 years, {small / 1e3:,.0f} kB",
            large / small,
            "≤ 1.5x",
            large / small <= 1.5,
        )
    )
    return "## Availability\n\n" + (__doc__ or "").split("\n", 2)[2] + "\n" + table(figures)


if __name__ == "__main__":
    print(report())
