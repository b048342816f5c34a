"""Benchmark: a simulated day with thousands of faults, against a bare `transitions` baseline.

Target: a day with 2,000 faults runs in about a second. Absolute seconds depend on the
machine, so the figure that is compared over time is a ratio measured in this same process:
the engine's cost per state change divided by the cost of one trigger of a bare two-state
`transitions` machine (the floor the library sets). Memory: the peak traced allocation of
the run per record produced.

Run: `python benchmarks/bench_simulate.py [FAULTS]` (default 2000).
"""

from __future__ import annotations

import random
import sys
import time
import tracemalloc
from pathlib import Path

from transitions import Machine

from dbfsm.scenario import Scenario, ScenarioEvent, Traffic
from dbfsm.simulate import Result, run
from fsm import config

DAY = 86_400.0
CONFIG = {
    "Dhcp4": {
        "lease-database": {
            "type": "postgresql",
            "name": "kea",
            "max-reconnect-tries": 100_000,
            "reconnect-wait-time": 2000,
            "on-fail": "stop-retry-exit",
        },
        "hosts-databases": [
            {
                "type": "mysql",
                "name": "kea",
                "max-reconnect-tries": 100_000,
                "reconnect-wait-time": 1000,
                "on-fail": "serve-retry-continue",
            }
        ],
    }
}


def day_with_faults(faults: int, seed: int = 7) -> Scenario:
    """Outages of 0.5 to 6 s, 5 to 40 s apart, alternating between the two backends."""
    rnd = random.Random(seed)
    settings = config.from_document(CONFIG, where="benchmark")
    events: list[ScenarioEvent] = []
    keys = ("lease-database", "hosts-databases[0]")
    t = 1.0
    for i in range(faults):
        t += rnd.uniform(5, 40)
        events.append(ScenarioEvent(t, "down", keys[i % 2]))
        events.append(ScenarioEvent(t + rnd.uniform(0.5, 6), "up", keys[i % 2]))
    events.sort(key=lambda e: e.at)
    return Scenario(
        settings=settings,
        load_config=lambda: settings,
        until=max(DAY, t + 60),
        traffic=Traffic("periodic", every=0.5, start=0.25),
        events=tuple(events),
        source="<benchmark>",
    )


def bare_trigger_seconds(triggers: int) -> float:
    """Seconds per trigger of a two-state machine with one guard and one effect."""

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
    start = time.perf_counter()
    for _ in range(triggers):
        go()
    return (time.perf_counter() - start) / triggers


def measure(faults: int) -> dict[str, float]:
    scenario = day_with_faults(faults)
    start = time.perf_counter()
    result: Result = run(scenario)
    seconds = time.perf_counter() - start
    tracemalloc.start()
    run(scenario)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    changes = len(result.transitions)
    floor = bare_trigger_seconds(max(changes, 10_000))
    return {
        "faults": faults,
        "seconds": seconds,
        "state_changes": changes,
        "records": len(result.records),
        "us_per_change": seconds / changes * 1e6,
        "ratio_to_bare_trigger": seconds / changes / floor,
        "peak_bytes_per_record": peak / len(result.records),
    }


def main(argv: list[str]) -> int:
    faults = int(argv[1]) if len(argv) > 1 else 2000
    m = measure(faults)
    print(f"simulated day, {m['faults']:.0f} faults: {m['seconds']:.2f} s wall")
    print(f"  {m['state_changes']:.0f} state changes, {m['records']:.0f} records")
    print(f"  {m['us_per_change']:.1f} us per state change")
    print(f"  ratio to a bare transitions trigger: {m['ratio_to_bare_trigger']:.1f}x")
    print(f"  peak traced memory: {m['peak_bytes_per_record']:.0f} bytes per record")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main(sys.argv))
