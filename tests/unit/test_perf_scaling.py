"""No step of a loss-and-recovery episode scans every backend: the work an episode does
(the Python lines it runs, a loop's every turn included) is the same with 2 or 300 backends
configured. Counting instead of timing makes the check exact and machine-independent."""

from __future__ import annotations

import sys
from typing import Any

from benchmarks.bench_engine import episode, serving_engine
from dbfsm.fsm.engine import Engine


def _episode(engine: Engine) -> None:
    """The benchmark's episode: a loss of the lease database, recovered at the second try."""
    episode(engine)
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
    few, many = _lines(serving_engine(2)), _lines(serving_engine(300))
    assert few > 100  # the counter sees the episode
    assert many == few
