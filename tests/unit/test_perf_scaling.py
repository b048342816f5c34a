"""No step of a loss-and-recovery episode scans every backend: the work an episode does
(the Python lines it runs, a loop's every turn included) is the same with 2 or 300 backends
configured. Counting instead of timing makes the check exact and machine-independent."""

from __future__ import annotations

import sys
from typing import Any

from fsm.actions import Open, StartTimer
from fsm.config import from_document
from fsm.engine import Engine
from fsm.events import Lost, Opened, OpenFailed, TimerFired

LEASE = "lease-database"


def _database(on_fail: str) -> dict[str, Any]:
    return {
        "type": "postgresql",
        "name": "kea",
        "max-reconnect-tries": 5,
        "reconnect-wait-time": 1000,
        "on-fail": on_fail,
    }


def _serving(backends: int) -> Engine:
    hosts = [_database("serve-retry-continue") for _ in range(backends - 1)]
    document = {"lease-database": _database("stop-retry-exit"), "hosts-databases": hosts}
    engine = Engine(from_document({"Dhcp4": document}, where="test"))
    actions = engine.start()
    while opens := [a for a in actions if isinstance(a, Open)]:
        actions = engine.handle(Opened(opens[0].backend, opens[0].instance))
    assert engine.serving
    return engine


def _episode(engine: Engine) -> None:
    instance = engine.server.backends[LEASE].instance
    engine.handle(Lost(LEASE, instance))
    failed = engine.handle(OpenFailed(LEASE, instance, "Connection refused"))
    engine.handle(TimerFired(next(a.name for a in failed if isinstance(a, StartTimer))))
    engine.handle(Opened(LEASE, instance))
    assert engine.serving


def _lines(engine: Engine) -> int:
    count = 0

    def trace(_frame: Any, event: str, _arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return trace

    _episode(engine)  # warm: caches filled once per backend are not the episode's work
    sys.settrace(trace)
    try:
        _episode(engine)
    finally:
        sys.settrace(None)
    return count


def test_an_episode_does_the_same_work_with_2_or_300_backends() -> None:
    few, many = _lines(_serving(2)), _lines(_serving(300))
    assert few > 100  # the counter sees the episode
    assert many == few
