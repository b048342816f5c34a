"""The services benchmark's parts that need no database server, run with tiny counts.

The request timings and the outages need PostgreSQL (loopback, and a private server) and
are left to `python -m benchmarks --only bench_services`; here a memfile lease database,
which opens without I/O, carries the serving check and the refusal, and the outage's
figures are computed from made-up engine actions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from benchmarks import bench_services as bench
from benchmarks.measure import table
from dbfsm.fsm.actions import Action, Open, ServingChanged
from dbfsm.live.services import Lifecycle, load_config

MEMFILE = {bench.LEASE: {"type": "memfile"}}


@pytest.fixture
def life() -> Iterator[Lifecycle]:
    with Lifecycle.from_config(MEMFILE, on_exit=lambda code: None) as life:
        assert life.serving
        yield life


def test_the_serving_check_and_the_refusal_are_measured(life: Lifecycle) -> None:
    check, read = bench.serving_check(life, reads=1000, rounds=2)
    assert check > 0 and read > 0
    with pytest.raises(RuntimeError, match="serves"):
        bench.refusal_seconds(life, raises=10, rounds=1)  # a serving lifecycle refuses nothing
    with bench.disabled(life):
        assert not life.serving
        refusal, plain = bench.refusal_seconds(life, raises=10, rounds=2)
    assert refusal > 0 and plain > 0
    assert life.serving  # dhcp-enable after the measurement


class FakePool:
    """`psycopg_pool.ConnectionPool.connection()` as the runners use it."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    @contextmanager
    def connection(self) -> Iterator[Any]:
        yield self

    def execute(self, statement: str) -> None:
        self.statements.append(statement)


def test_each_way_runs_its_statement_and_the_turns_are_timed(life: Lifecycle) -> None:
    pool = FakePool()
    runs = bench.ways(life, pool)
    assert set(runs) == {"lifecycle", "pool", "guard"}
    del runs["lifecycle"]  # a memfile database has no connection to lend
    measured = bench.interleaved_requests(runs, count=3, rounds=2)
    assert pool.statements == ["SELECT 1"] * 2 * (3 + 3 * 2)  # warm, then 2 rounds of 3
    assert measured.ratio["pool"] == 1 and measured.best["pool"] == 1
    assert measured.seconds["guard"] > 0 and measured.ratio["guard"] > 0


def _open(attempt: int | None) -> Open:
    settings = load_config(MEMFILE).backend(bench.LEASE)
    return Open(bench.LEASE, 1, settings, attempt, 10 if attempt is not None else None)


def test_the_outage_is_timed_from_the_first_attempt_after_the_restart() -> None:
    actions: list[tuple[float, Action]] = [
        (0.0, _open(None)),  # startup: no reconnect attempt
        (0.1, ServingChanged(True)),
        (1.0, ServingChanged(False)),
        (1.0, _open(1)),
        (1.5, _open(2)),  # fails: the server is starting
        (2.0, _open(3)),
        (2.012, ServingChanged(True)),
    ]
    found = bench.recovery(actions, restarted=1.6, served=2.015)
    assert found.attempt == 3 and not found.early
    assert found.from_attempt == pytest.approx(0.015)
    assert found.from_restart == pytest.approx(0.415)
    # An attempt begun while the server was still starting brought it back: that one.
    early = bench.recovery([*actions[:5], (1.52, ServingChanged(True))], 1.51, 1.53)
    assert early.attempt == 2 and early.early
    assert early.from_attempt == pytest.approx(0.03)


def test_the_recovery_figures_say_what_was_met(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = [bench.Recovery(0.40, 0.013, 2, False), bench.Recovery(0.41, 0.060, 2, True)]
    monkeypatch.setattr(bench, "outages", lambda reps: runs)
    within, context = bench.recovery_figures()
    assert within.met is False and "max 60 ms" in within.value and "1 begun" in within.value
    assert "median 405 ms" in context.value

    def no_server(reps: int) -> list[bench.Recovery]:
        raise RuntimeError("no PostgreSQL here")

    monkeypatch.setattr(bench, "outages", no_server)
    (missing,) = bench.recovery_figures()
    assert missing.met is None and "not measured" in missing.value
    assert "| ≤ 50 ms |" in table([missing])
