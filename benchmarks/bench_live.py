"""Benchmark: how fast a live run notices a fault and how fast it serves again.

Against private PostgreSQL and MariaDB servers (started here, on their own data directory
and port, removed at the end), each behind a fault proxy, `dbfsm.run.LiveRun` runs in this
process with a `stop-retry-exit` lease database (many tries, `reconnect-wait-time` 500 ms)
and every record is timed on the monotonic clock the moment the engine emits it. For each
fault kind and engine, repeated REPS times:

- detection: from the fault to the engine's `Lost` (its `*_DB_RECONNECT_LOST_CONNECTION`).
  Targets: a killed server noticed within 50 ms of its next use (traffic at 100
  requests a second: a use every 10 ms) or of the kill with the idle watch on; a black hole
  or a hung server within the timeout that bounds it (`tcp-user-timeout` / `read-timeout`,
  1 s here) plus 10 %.
- recovery: from the server accepting again (the mend returned) to serving, and the part
  of it the successful attempt took (its floor is the next attempt of the 500 ms schedule;
  target: serving within 50 ms of that attempt's start).

Run by hand: `python benchmarks/bench_live.py [REPS]` (default 3; about 3 minutes). Needs
PostgreSQL 15 and MariaDB binaries (as the integration tests) and root (servers run as
their users via runuser).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests/

from dbfsm.fsm import config
from dbfsm.fsm.records import Record
from dbfsm.live.run import LiveRun
from tests.integration.proxy import FaultProxy
from tests.integration.servers import PrivateMariaDB, PrivatePostgres, PrivateServer

WAIT_MS = 500
TIMEOUT_S = 1  # tcp-user-timeout (PostgreSQL), read-/write-timeout (MySQL)
TRAFFIC = 100.0
SILENT_GIVE_UP = 3 * TIMEOUT_S + 1.0  # a silent fault not noticed by then is "not noticed"


@dataclass
class Timed:
    """Every record of a run with the monotonic moment it was emitted."""

    records: list[tuple[float, Record]] = field(default_factory=list)

    def __call__(self, record: Record) -> None:
        self.records.append((time.monotonic(), record))

    def first(self, match: Callable[[Record], bool], since: float) -> tuple[float, Record] | None:
        return next(((at, r) for at, r in self.records if at >= since and match(r)), None)

    async def wait(self, match: Callable[[Record], bool], since: float, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.first(match, since)
            if found is not None:
                return found[0]
            await asyncio.sleep(0.005)
        raise TimeoutError


def _lost(r: Record) -> bool:
    return r.type == "log" and str(r.data["id"]).endswith("_DB_RECONNECT_LOST_CONNECTION")


def _serving(r: Record) -> bool:
    return r.type == "serving" and bool(r.data["serving"])


@dataclass
class Fault:
    name: str
    break_it: Callable[[], object]
    mend_it: Callable[[], object]
    silent: bool = False  # nothing answers: only a timeout can notice it
    lands_at_end: bool = False  # the fault happens as the call returns (sessions killed)
    traffic: float = TRAFFIC
    probe_interval: float | None = None


@dataclass
class Row:
    engine: str
    fault: str
    detections: list[float] = field(default_factory=list)
    recoveries: list[float] = field(default_factory=list)
    attempts: list[float] = field(default_factory=list)
    missed: int = 0  # silent faults not noticed within SILENT_GIVE_UP


def _faults(server: PrivateServer, proxy: FaultProxy) -> list[Fault]:
    def cut() -> None:
        proxy.set_mode("refuse")
        proxy.cut_all()

    def stop(mode: str) -> Callable[[], None]:
        return lambda: server.stop(mode)

    faults = [
        Fault("killed, traffic", server.kill, server.start),
        Fault("killed, idle watch", server.kill, server.start, traffic=0, probe_interval=0.05),
        Fault("stopped fast", stop("fast"), server.start),
        Fault("stopped immediate", stop("immediate"), server.start),
        Fault("session terminated", server.terminate_sessions, lambda: None, lands_at_end=True),
        Fault("proxy refuse + cut", cut, lambda: proxy.set_mode("pass")),
        Fault("proxy reset", lambda: proxy.set_mode("reset"), lambda: proxy.set_mode("pass")),
        Fault(
            "proxy black hole",
            lambda: proxy.set_mode("blackhole"),
            lambda: proxy.set_mode("pass"),
            silent=True,
        ),
        Fault("server hung", server.pause, server.resume, silent=True),
    ]
    return faults


def _document(server: PrivateServer, proxy: FaultProxy) -> dict[str, Any]:
    timeouts = (
        {"tcp-user-timeout": TIMEOUT_S}
        if server.kind == "postgresql"
        else {"read-timeout": TIMEOUT_S, "write-timeout": TIMEOUT_S}
    )
    entry = server.database_map(
        port=proxy.port,
        **{"connect-timeout": 2, "max-reconnect-tries": 1000, "reconnect-wait-time": WAIT_MS},
        **{"on-fail": "stop-retry-exit"},
        **timeouts,
    )
    return {"Dhcp4": {"lease-database": entry}}


async def _measure(server: PrivateServer, proxy: FaultProxy, fault: Fault, reps: int) -> Row:
    row = Row(server.kind, fault.name)
    timed = Timed()
    settings = config.from_document(_document(server, proxy))
    live = LiveRun(settings, traffic=fault.traffic, probe_interval=fault.probe_interval, sink=timed)
    running = asyncio.create_task(live.run())
    try:
        await timed.wait(_serving, 0.0, timeout=15)
        for _ in range(reps):
            await asyncio.sleep(0.5)
            broken = time.monotonic()
            await asyncio.to_thread(fault.break_it)
            # A session kill opens its own admin connections first: it lands as it returns.
            happened = time.monotonic() if fault.lands_at_end else broken
            try:
                limit = SILENT_GIVE_UP if fault.silent else 10.0
                noticed = await timed.wait(_lost, broken, timeout=limit)
                row.detections.append(noticed - happened)
            except TimeoutError:  # the engine still thinks all is well: nothing to recover
                row.missed += 1
                await asyncio.to_thread(fault.mend_it)
                break
            await asyncio.to_thread(fault.mend_it)
            back = time.monotonic()
            serving = await timed.wait(_serving, broken, timeout=30)
            starts = [at for at, r in timed.records if _lost(r) and at <= serving]
            row.recoveries.append(serving - back)
            row.attempts.append(serving - starts[-1] if starts else float("nan"))
    finally:
        await live.stop()
        with contextlib.suppress(Exception):
            await running
        proxy.set_mode("pass")
        server.resume()
        if not server.running:
            server.start()
    return row


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values) * 1000:7.0f} / {max(values) * 1000:5.0f}"


def _table(rows: list[Row], reps: int) -> Iterator[str]:
    yield f"{reps} repetitions each; median / max in ms; reconnect-wait-time {WAIT_MS} ms,"
    yield f"timeouts {TIMEOUT_S} s (tcp-user-timeout, read-/write-timeout), traffic {TRAFFIC:g}/s"
    yield ""
    yield f"{'engine':<11} {'fault':<20} {'detection':>15} {'recovery':>15} {'last attempt':>15}"
    for row in rows:
        detection = _ms(row.detections)
        if row.missed:
            detection = f"{row.missed} not noticed" if not row.detections else detection + " *"
        yield (
            f"{row.engine:<11} {row.fault:<20} {detection:>15} {_ms(row.recoveries):>15} "
            f"{_ms(row.attempts):>15}"
        )
    yield ""
    yield f"'not noticed': no Lost within {SILENT_GIVE_UP:g} s of the fault."
    yield "recovery: mend returned -> serving (negative: serving before the mend call returned);"
    yield "last attempt: the successful attempt's start -> serving."


async def _all(reps: int) -> list[Row]:
    rows: list[Row] = []
    for server in (PrivatePostgres(), PrivateMariaDB()):
        try:
            server.start()
            proxy = FaultProxy(server.port, lifetime=1800).start()
            try:
                for fault in _faults(server, proxy):
                    rows.append(await _measure(server, proxy, fault, reps))
                    print(f"  measured {server.kind} {fault.name}", file=sys.stderr)
            finally:
                proxy.stop()
        finally:
            server.cleanup()
    return rows


def main(argv: list[str]) -> int:
    reps = int(argv[1]) if len(argv) > 1 else 3
    rows = asyncio.run(_all(reps))
    print("\n".join(_table(rows, reps)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
