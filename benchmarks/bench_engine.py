"""Engine benchmarks: the cost of a state change, of the serving check, and of scaling.

1. Engine step: a stop-retry-exit lease database lost and recovered again and again (loss,
   failed attempt, timer, successful attempt: six state changes of the backend and server
   machines with their guards, origins and actions), per state change, against one trigger
   of a bare `transitions` machine. Target: at most 2x.
2. Serving check: `engine.serving`, against reading a plain attribute. Target: at most 2x.
3. Scaling: the same loss-and-recovery episode with 1, 10, 100 and 1,000 backends
   configured. Target: flat, the episode with 1,000 within 1.5x of the one with 1.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from typing import Any

from benchmarks.measure import Figure, bare_trigger, interleaved, progress, table
from dbfsm.fsm.actions import Action, Open, StartTimer, Transitioned
from dbfsm.fsm.config import from_document
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.events import Lost, Opened, OpenFailed, TimerFired

LEASE = "lease-database"


def _database(kind: str, on_fail: str) -> dict[str, Any]:
    return {
        "type": kind,
        "name": "kea",
        "max-reconnect-tries": 1_000_000_000,
        "reconnect-wait-time": 1000,
        "on-fail": on_fail,
    }


def serving_engine(backends: int = 1) -> Engine:
    """A started engine, every backend opened: a stop-retry-exit lease database and
    `backends - 1` serve-retry-continue host databases."""
    hosts = [_database("postgresql", "serve-retry-continue") for _ in range(backends - 1)]
    document: dict[str, Any] = {"lease-database": _database("mysql", "stop-retry-exit")}
    if hosts:
        document["hosts-databases"] = hosts
    engine = Engine(from_document({"Dhcp4": document}, where="benchmark"))
    actions = engine.start()
    while opens := [a for a in actions if isinstance(a, Open)]:
        actions = engine.handle(Opened(opens[0].backend, opens[0].instance))
    assert engine.serving, "benchmark: the engine does not serve"
    return engine


def episode(engine: Engine) -> list[Action]:
    """One loss of the lease database and its recovery at the second attempt."""
    instance = engine.server.backends[LEASE].instance
    actions = engine.handle(Lost(LEASE, instance))
    failed = engine.handle(OpenFailed(LEASE, instance, "Connection refused"))
    timer = next(a.name for a in failed if isinstance(a, StartTimer))
    actions += failed + engine.handle(TimerFired(timer))
    return actions + engine.handle(Opened(LEASE, instance))


def episodes(engine: Engine, count: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(count):
            episode(engine)

    return run


def serving_check_ratio(reads: int = 1_000_000) -> tuple[float, float]:
    """Seconds per `engine.serving` and per plain attribute read."""

    class Plain:
        def __init__(self) -> None:
            self.serving = True

    engine, plain = serving_engine(), Plain()
    check = min(timeit.repeat("e.serving", globals={"e": engine}, number=reads, repeat=7))
    base = min(timeit.repeat("p.serving", globals={"p": plain}, number=reads, repeat=7))
    return check / reads, base / reads


def report() -> str:
    progress("engine: step")
    engine = serving_engine()
    changes = sum(isinstance(a, Transitioned) for a in episode(engine))
    assert engine.serving, "benchmark: the episode does not end serving"
    count, triggers = 5000, 200_000
    best = interleaved({"engine": episodes(engine, count), "bare": bare_trigger(triggers)})
    step, bare = best["engine"] / (count * changes), best["bare"] / triggers
    progress("engine: serving check")
    check, read = serving_check_ratio()
    progress("engine: scaling")
    sizes, count = (1, 10, 100, 1000), 2000
    runs = {str(n): episodes(serving_engine(n), count) for n in sizes}
    scaling = {int(n): seconds / count for n, seconds in interleaved(runs).items()}
    flat = max(scaling.values()) / scaling[1]
    figures = [
        Figure(
            "engine step (per state change)",
            f"{step * 1e6:.2f} µs ({changes} state changes per episode)",
            f"bare `transitions` trigger {bare * 1e6:.2f} µs",
            step / bare,
            "≤ 2x",
            step / bare <= 2,
        ),
        Figure(
            "serving check (`engine.serving`)",
            f"{check * 1e9:.1f} ns",
            f"plain attribute read {read * 1e9:.1f} ns",
            check / read,
            "≤ 2x",
            check / read <= 2,
        ),
        Figure(
            "loss-and-recovery episode, 1 to 1,000 backends",
            ", ".join(f"{n:,}: {s * 1e6:.0f} µs" for n, s in scaling.items()),
            f"the episode with 1 backend, {scaling[1] * 1e6:.0f} µs",
            flat,
            "≤ 1.5x",
            flat <= 1.5,
        ),
    ]
    return "## Engine\n\n" + (__doc__ or "").split("\n", 2)[2] + "\n" + table(figures)


if __name__ == "__main__":
    print(report())
