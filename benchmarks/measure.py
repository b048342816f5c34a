"""What every benchmark shares: timing, peak memory, the machine, the Markdown of a figure.

Absolute times depend on the machine and on what else runs on it, so every figure that is
compared to a target is a ratio to a baseline measured in the same process, and every time
is the best of several repeats (the run least disturbed by other work).
"""

from __future__ import annotations

import gc
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from transitions import Machine


def timed(run: Callable[[], object], repeat: int = 5) -> tuple[float, float]:
    """The shortest wall time and the shortest CPU time of this process over `repeat` calls
    of `run`, in seconds (on a shared machine the CPU time shows what the wall time hides)."""
    walls, cpus = [], []
    for _ in range(repeat):
        gc.collect()
        cpu, wall = time.process_time(), time.perf_counter()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def best_of(run: Callable[[], object], repeat: int = 5) -> float:
    """The shortest wall time of `repeat` calls of `run`, in seconds."""
    return timed(run, repeat)[0]


def peak_bytes(run: Callable[[], object]) -> int:
    """Peak memory traced while `run` runs, above what was allocated when it began."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        run()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def interleaved(runs: Mapping[str, Callable[[], object]], rounds: int = 7) -> dict[str, float]:
    """The shortest wall time of each of `runs`, measured in turns (one of each per round),
    so that a figure and its baseline see the same load of a shared machine."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, run in runs.items():
            best[name] = min(best[name], best_of(run, repeat=1))
    return best


def bare_trigger(triggers: int = 200_000) -> Callable[[], None]:
    """`triggers` triggers of a bare two-state `transitions` machine with one guard and one
    effect: the floor a library-driven state machine sets."""

    class Model:
        pass

    model = Model()
    Machine(
        model=model,
        states=["a", "b"],
        initial="a",
        transitions=[
            {"trigger": "go", "source": "a", "dest": "b", "conditions": [lambda e: True]},
            {"trigger": "go", "source": "b", "dest": "a", "after": [lambda e: None]},
        ],
        send_event=True,
        auto_transitions=False,
    )
    go = model.go  # type: ignore[attr-defined]

    def run() -> None:
        for _ in range(triggers):
            go()

    return run


def machine() -> str:
    """The machine the figures came from."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, {python}"


@dataclass(frozen=True)
class Figure:
    """One measured figure: `ratio` against `baseline` when there is one, and its target."""

    name: str
    value: str  # the measurement, for context (absolute)
    baseline: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None

    def row(self) -> str:
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}x"
        met = {True: "yes", False: "**no**", None: ""}[self.met]
        return f"| {self.name} | {ratio} | {self.target} | {met} | {self.value} | {self.baseline} |"


def table(figures: list[Figure]) -> str:
    head = "| figure | ratio | target | met | measured | baseline |\n|---|---|---|---|---|---|\n"
    return head + "".join(f.row() + "\n" for f in figures)


def progress(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
