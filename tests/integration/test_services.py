"""Services on real servers: `dbfsm.Lifecycle` and `dbfsm.AsyncLifecycle` against the private
PostgreSQL and MariaDB, under crashes, black holes and bad use.

The crash tests run 50 threads (sync) or 100 tasks (async) inserting rows of their own while
the server is SIGKILLed and started again, then killed for good, under each on-fail mode,
and hold the lifecycle to what a service needs of it: no acknowledged insert lost, none
acknowledged while the server did not serve, one loss told to the engine per outage, Kea's
exit code given to `on_exit`, and a timeline (attempts and their spacing, serving changes,
the exit) that `dbfsm simulate` predicts for the same faults (`oracle.py`: the lifecycle's
notifications are `dbfsm run`'s records).

The reconnect loop is small so the file stays fast: 8 attempts 250 ms apart, longer than
either private server takes to start again after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from dbfsm import (
    AsyncLifecycle,
    BackendUnavailable,
    ConnectionLost,
    Lifecycle,
    NotServing,
    StartupFailed,
    Transitioned,
    Unavailable,
    UsageError,
    record_of,
)

from .oracle import TIMEOUTS, Case, assert_agrees, case_for, database, detections
from .servers import PrivateServer, free_port

__all__ = ["case_for"]  # a fixture

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
LEASE = "lease-database"
MODES = ("stop-retry-exit", "serve-retry-exit", "serve-retry-continue")
TRIES = 8
WAIT_MS = 250
BUDGET = TRIES * WAIT_MS / 1000
LOOP = {"max-reconnect-tries": TRIES, "reconnect-wait-time": WAIT_MS}
THREADS = 50
TASKS = 100
# Connections the async tasks hold at once: the private PostgreSQL allows 60 clients, and a
# service opening more than its server allows would see "too many clients", which is a loss.
ASYNC_CONNECTIONS = 40
# How late after a serving/online change an insert may still have entered its block: it was
# admitted just before the change, and the thread was then descheduled (two cores, 50
# threads).
ADMISSION_SLACK = 0.1


# -- a lifecycle whose notifications are kept as `dbfsm run` records ------------------------------


class Timeline:
    """The records a lifecycle's engine announced (`t` from the engine's start, as `dbfsm
    run` prints them) and each backend transition at its loop time (the monotonic clock)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.transitions: list[tuple[float, Transitioned]] = []
        self.started_at = 0.0
        self._lock = threading.Lock()

    def note(self, action: object, now: float, started_at: float) -> None:
        self.started_at = started_at
        record = record_of(action, now - started_at)  # type: ignore[arg-type]
        with self._lock:
            if record is not None:
                self.records.append(record.to_json())
            if isinstance(action, Transitioned) and action.machine != "server":
                self.transitions.append((now, action))

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.records)

    def find(self, message_id: str, after: int = 0) -> bool:
        return any(r["type"] == "log" and r["id"] == message_id for r in self.snapshot()[after:])

    def wait_log(self, message_id: str, timeout: float, after: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while not self.find(message_id, after):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {message_id} within {timeout}s:\n{self.report()}")
            time.sleep(0.01)

    async def await_log(self, message_id: str, timeout: float, after: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while not self.find(message_id, after):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {message_id} within {timeout}s:\n{self.report()}")
            await asyncio.sleep(0.01)

    def losses(self) -> list[float]:
        """When a backend went from online to lost: one per outage the engine heard of."""
        with self._lock:
            return [t for t, a in self.transitions if a.source == "online" and a.trigger == "lost"]

    def admissible(self) -> list[tuple[float, float]]:
        """The (start, end) intervals, in loop time, in which the lease backend was online
        and the server served: when a request could be admitted."""
        serving: list[tuple[float, bool]] = [
            (r["t"] + self.started_at, r["serving"])
            for r in self.snapshot()
            if r["type"] == "serving"
        ]
        with self._lock:
            online = [(t, a.dest == "online") for t, a in self.transitions if a.machine == LEASE]
        changes = sorted(
            [(t, "serving", v) for t, v in serving] + [(t, "online", v) for t, v in online]
        )
        now = {"serving": False, "online": False}
        intervals: list[tuple[float, float]] = []
        opened: float | None = None
        for t, what, value in changes:
            now[what] = value
            if now["serving"] and now["online"] and opened is None:
                opened = t
            elif not (now["serving"] and now["online"]) and opened is not None:
                intervals.append((opened, t))
                opened = None
        if opened is not None:
            intervals.append((opened, float("inf")))
        return intervals

    def finish(self, engine: Any, now: float) -> list[dict[str, Any]]:
        """The records with `dbfsm run`'s summary last (at the exit, if the server exited)."""
        records = self.snapshot()
        exits = [r["t"] for r in records if r["type"] == "exit"]
        end = exits[-1] if exits else now - self.started_at
        records.append(
            {
                "t": round(end, 6),
                "type": "summary",
                "exit_code": engine.exit_code,
                "serving": engine.serving,
                "state": engine.state,
            }
        )
        return records

    def report(self) -> str:
        return "\n".join(json.dumps(r) for r in self.snapshot())


class RecordedLifecycle(Lifecycle):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeline = Timeline()

    def _notify(self, action: Any, now: float) -> None:
        assert self._engine is not None
        self.timeline.note(action, now, self._engine.started_at)
        super()._notify(action, now)


class RecordedAsyncLifecycle(AsyncLifecycle):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeline = Timeline()

    def _notify(self, action: Any, now: float) -> None:
        assert self._engine is not None
        self.timeline.note(action, now, self._engine.started_at)
        super()._notify(action, now)


class LifecycleClock:
    """What `oracle.Case` needs of a run: the run's time base (the engine's start)."""

    until = 60.0

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline

    def at(self, monotonic: float) -> float:
        return monotonic - self.timeline.started_at

    def close(self) -> None:
        pass


# -- helpers ----------------------------------------------------------------------------------


def _map(server: PrivateServer, **overrides: Any) -> dict[str, Any]:
    return database(server, **{**LOOP, **overrides})


def _table(life: Lifecycle, name: str) -> None:
    with life.connection(LEASE) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {name} (id VARCHAR(40) PRIMARY KEY)")


def _stored(server: PrivateServer, table: str) -> set[str]:
    return {row[0] for row in server.admin(f"SELECT id FROM {table}", "dbfsm")}  # type: ignore[attr-defined]


def _sessions(server: PrivateServer) -> int:
    """Client sessions of the test user on the server (the lifecycle's and the service's)."""
    if server.kind == "postgresql":
        query = "SELECT count(*) FROM pg_stat_activity WHERE usename = 'dbfsm'"
    else:
        query = "SELECT count(*) FROM information_schema.processlist WHERE user = 'dbfsm'"
    return int(server.admin(query)[0][0])  # type: ignore[attr-defined]


def _no_sessions_left(server: PrivateServer, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while (left := _sessions(server)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == 0, f"{left} sessions left open after close"


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout}s")
        time.sleep(0.01)


class Inserts:
    """Inserts on `threads` threads, each through `life.connection`; every acknowledged one
    (its block returned: committed) is kept with the time it entered its block and whether
    the lifecycle served then."""

    def __init__(self, life: Lifecycle, table: str, threads: int) -> None:
        self.life = life
        self.table = table
        self.acks: list[tuple[str, float, bool]] = []
        self.refused = 0
        self.lost = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, args=(i,)) for i in range(threads)]

    def __enter__(self) -> Inserts:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        assert not any(t.is_alive() for t in self._threads), "an insert never returned"

    def _work(self, worker: int) -> None:
        n = 0
        sql = f"INSERT INTO {self.table} (id) VALUES (%s)"
        while not self._stop.is_set():
            n += 1
            key = f"{worker}-{n}"
            try:
                with self.life.connection(LEASE) as conn:
                    entered, serving = time.monotonic(), self.life.serving
                    with conn.cursor() as cursor:
                        cursor.execute(sql, (key,))
            except Unavailable:
                with self._lock:
                    self.refused += 1
                self._stop.wait(0.005)
            except ConnectionLost:
                with self._lock:
                    self.lost += 1
            except Exception as error:
                with self._lock:
                    self.errors.append(repr(error))
                self._stop.wait(0.005)
            else:
                with self._lock:
                    self.acks.append((key, entered, serving))


class AsyncInserts:
    """`Inserts` for asyncio: `tasks` tasks, at most ASYNC_CONNECTIONS in a block at once."""

    def __init__(self, life: AsyncLifecycle, table: str, tasks: int) -> None:
        self.life = life
        self.table = table
        self.acks: list[tuple[str, float, bool]] = []
        self.refused = 0
        self.lost = 0
        self.errors: list[str] = []
        self._stop = asyncio.Event()
        self._gate = asyncio.Semaphore(ASYNC_CONNECTIONS)
        self._tasks = [asyncio.ensure_future(self._work(i)) for i in range(tasks)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), 30)

    async def _work(self, worker: int) -> None:
        n = 0
        sql = f"INSERT INTO {self.table} (id) VALUES (%s)"
        while not self._stop.is_set():
            n += 1
            key = f"{worker}-{n}"
            try:
                async with self._gate, self.life.connection(LEASE) as conn:
                    entered, serving = time.monotonic(), self.life.serving
                    await conn.execute(sql, (key,))
            except Unavailable:
                self.refused += 1
                await asyncio.sleep(0.005)
            except ConnectionLost:
                self.lost += 1
            except Exception as error:
                self.errors.append(repr(error))
                await asyncio.sleep(0.005)
            else:
                self.acks.append((key, entered, serving))


def _check_acks(acks: list[tuple[str, float, bool]], stored: set[str], timeline: Timeline) -> None:
    """Nothing acknowledged is lost; nothing was acknowledged while not admissible."""
    acknowledged = {key for key, _, _ in acks}
    missing = acknowledged - stored
    assert not missing, f"{len(missing)} acknowledged inserts are not in the table"
    assert all(serving for _, _, serving in acks), "an insert was admitted while not serving"
    intervals = timeline.admissible()
    outside = [
        (key, entered)
        for key, entered, _ in acks
        if not any(start <= entered <= end + ADMISSION_SLACK for start, end in intervals)
    ]
    assert not outside, f"acknowledged while not serving or not connected: {outside[:5]}"


def _check_load(load: Inserts | AsyncInserts, case: Case, records: list[dict[str, Any]]) -> None:
    """The load went on through both outages, and each loss was noticed once the kill was
    done (a killed server's connections go when its processes have died: the simulation's
    `down` is that moment, the run's first loss after the kill began)."""
    print(f"\n  {len(load.acks)} acknowledged, {load.refused} refused, {load.lost} lost")
    assert not load.errors, load.errors[:5]
    assert load.refused and load.lost and len(load.acks) > 50
    kills = [end - start for kind, start, end in case.windows if kind == "silent"]
    found = detections(case, records)
    assert len(found) == len(kills) == 2
    for took, noticed in zip(kills, found, strict=True):
        assert noticed <= took + ADMISSION_SLACK, f"noticed {noticed:.3f}s after a {took:.3f}s kill"


def _check_ending(
    mode: str, life: Lifecycle | AsyncLifecycle, exits: list[int], timeline: Timeline
) -> None:
    losses = timeline.losses()
    assert len(losses) == 2, f"one loss per outage, two outages: {losses}"
    if mode == "serve-retry-continue":
        assert exits == [] and life.alive and life.serving
        assert life.backends()[LEASE]["attempts"] == TRIES
    else:
        assert exits == [1]
        assert not life.alive and life.state == "exited" and not life.serving


# -- startup ----------------------------------------------------------------------------------


def test_serving_after_with(server: PrivateServer) -> None:
    table = f"svc_{uuid.uuid4().hex[:12]}"
    with Lifecycle.from_config({LEASE: _map(server)}) as life:
        assert life.serving and life.alive and life.state == "serving"
        assert life.health()["status"] == "pass"
        _table(life, table)
        with life.connection(LEASE) as conn, conn.cursor() as cursor:
            cursor.execute(f"INSERT INTO {table} (id) VALUES (%s)", ("one",))
        with pytest.raises(ZeroDivisionError), life.connection(LEASE) as conn:
            with conn.cursor() as cursor:
                cursor.execute(f"INSERT INTO {table} (id) VALUES (%s)", ("rolled back",))
            raise ZeroDivisionError  # the service's own error: rolled back, passed through
        with life.connection(LEASE) as conn, conn.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {table}")
            assert [row[0] for row in cursor.fetchall()] == ["one"]
        assert life.serving  # an error of the service's own is no loss

    async def main() -> None:
        async with AsyncLifecycle.from_config({LEASE: _map(server)}) as life:
            assert life.serving and life.state == "serving"
            async with life.connection(LEASE) as conn:
                await conn.execute(f"INSERT INTO {table} (id) VALUES (%s)", ("two",))
            async with life.connection(LEASE) as conn:
                result = await conn.execute(f"SELECT count(*) FROM {table}")
                rows = result if isinstance(result, list) else await result.fetchall()
            assert rows[0][0] == 2

    asyncio.run(main())
    _no_sessions_left(server)


def test_unreachable_at_startup_is_startup_failed(server: PrivateServer, proxy_to: Any) -> None:
    proxy = proxy_to(server.port).start()
    proxy.set_mode("refuse")
    source = {LEASE: _map(server, port=proxy.port, **{"on-fail": "stop-retry-exit"})}
    with pytest.raises(StartupFailed) as caught, Lifecycle.from_config(source):
        pass
    failed = caught.value
    assert failed.message_id == "DHCP4_INIT_FAIL" and failed.exit_code == 1
    assert "Unable to open database" in failed.reason and "refused" in failed.reason

    async def main() -> StartupFailed:
        with pytest.raises(StartupFailed) as caught:
            async with AsyncLifecycle.from_config(source):
                pass
        return caught.value

    assert asyncio.run(main()).message_id == "DHCP4_INIT_FAIL"


# -- crashes under load, against the simulation -----------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_threads_through_a_crash_then_the_mode_s_ending(
    server: PrivateServer, mode: str, case_for: Callable[..., Case]
) -> None:
    """50 threads; killed, started (recovered); killed for good (the mode's ending)."""
    case = case_for(_map(server, **{"on-fail": mode}))
    exits: list[int] = []
    life = RecordedLifecycle.from_config(case.config, on_exit=exits.append)
    timeline = life.timeline
    table = f"svc_{uuid.uuid4().hex[:12]}"
    with life:
        case.run = LifecycleClock(timeline)  # type: ignore[assignment]
        _table(life, table)
        with Inserts(life, table, THREADS) as load:
            time.sleep(0.5)
            case.silent(server.kill)
            case.up(server.start)
            timeline.wait_log("DHCP4_DB_RECONNECT_SUCCEEDED", timeout=BUDGET + 5)
            time.sleep(0.5)
            mark = len(timeline.snapshot())
            case.silent(server.kill)
            if mode == "serve-retry-continue":
                timeline.wait_log("DHCP4_DB_RECONNECT_FAILED", timeout=BUDGET + 5, after=mark)
                with pytest.raises(BackendUnavailable) as refused, life.connection(LEASE):
                    pass
                assert refused.value.retry_after is None  # no attempt is due any more
            else:
                _until(lambda: bool(exits), BUDGET + 5, "exited")
            time.sleep(0.1)
        records = timeline.finish(life.engine, time.monotonic())
        _check_ending(mode, life, exits, timeline)
    _check_load(load, case, records)
    server.start()
    _check_acks(load.acks, _stored(server, table), timeline)
    assert_agrees(case, records)


@pytest.mark.parametrize("mode", MODES)
def test_tasks_through_a_crash_then_the_mode_s_ending(
    server: PrivateServer, mode: str, case_for: Callable[..., Case]
) -> None:
    """100 tasks on the service's own loop; the same faults as the threads'."""
    case = case_for(_map(server, **{"on-fail": mode}))
    exits: list[int] = []
    table = f"svc_{uuid.uuid4().hex[:12]}"

    async def on_exit(code: int) -> None:
        await asyncio.sleep(0)  # a coroutine is awaited too
        exits.append(code)

    async def main() -> tuple[AsyncInserts, RecordedAsyncLifecycle, list[dict[str, Any]]]:
        life = RecordedAsyncLifecycle.from_config(case.config, on_exit=on_exit)
        timeline = life.timeline
        async with life:
            case.run = LifecycleClock(timeline)  # type: ignore[assignment]
            async with life.connection(LEASE) as conn:
                await conn.execute(f"CREATE TABLE {table} (id VARCHAR(40) PRIMARY KEY)")
            load = AsyncInserts(life, table, TASKS)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(case.silent, server.kill)
            await asyncio.to_thread(case.up, server.start)
            await timeline.await_log("DHCP4_DB_RECONNECT_SUCCEEDED", timeout=BUDGET + 5)
            await asyncio.sleep(0.5)
            mark = len(timeline.snapshot())
            await asyncio.to_thread(case.silent, server.kill)
            if mode == "serve-retry-continue":
                await timeline.await_log(
                    "DHCP4_DB_RECONNECT_FAILED", timeout=BUDGET + 5, after=mark
                )
            else:
                deadline = time.monotonic() + BUDGET + 5
                while not exits and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
            await load.stop()
            records = timeline.finish(life.engine, time.monotonic())
            _check_ending(mode, life, exits, timeline)
        return load, life, records

    load, life, records = asyncio.run(main())
    _check_load(load, case, records)
    server.start()
    _check_acks(load.acks, _stored(server, table), life.timeline)
    assert_agrees(case, records)


def test_no_connection_is_left_open_after_close(server: PrivateServer) -> None:
    """Sessions ended by the server mid-run (a loss, a reconnect, connections of two epochs):
    after close, the server sees none of the lifecycle's or the service's sessions."""
    table = f"svc_{uuid.uuid4().hex[:12]}"
    life = RecordedLifecycle.from_config({LEASE: _map(server, **{"on-fail": "serve-retry-exit"})})
    with life:
        _table(life, table)
        with Inserts(life, table, 20) as load:
            time.sleep(0.4)
            assert 1 <= _sessions(server) <= 21  # the engine's and at most one a thread
            server.terminate_sessions()
            life.timeline.wait_log("DHCP4_DB_RECONNECT_SUCCEEDED", timeout=5)
            time.sleep(0.4)
        assert len(life.timeline.losses()) == 1
    assert not load.errors, load.errors[:5]
    _no_sessions_left(server)
    _check_acks(load.acks, _stored(server, table), life.timeline)

    async def main() -> None:
        async with AsyncLifecycle.from_config({LEASE: _map(server)}) as life:
            async with life.connection(LEASE) as conn:
                await conn.execute(f"CREATE TABLE {table}_a (id VARCHAR(40) PRIMARY KEY)")
            load = AsyncInserts(life, f"{table}_a", 60)
            await asyncio.sleep(0.4)
            await load.stop()
            assert not load.errors and load.acks

    asyncio.run(main())
    _no_sessions_left(server)


# -- a server that goes silent ------------------------------------------------------------------


@pytest.mark.parametrize("api", ["sync", "async"])
def test_a_black_hole_is_bounded_by_the_timeouts(
    server: PrivateServer, proxy_to: Any, api: str
) -> None:
    """Everything accepted, nothing answered: tcp-user-timeout (PostgreSQL) / read-timeout
    (MariaDB) end the insert under way, the loss is told, and the lifecycle recovers once the
    path is back."""
    timeouts = TIMEOUTS[server.kind]
    bound = max(timeouts.get("tcp-user-timeout", 0), timeouts.get("read-timeout", 0)) * 1.1 + 0.2
    proxy = proxy_to(server.port).start()
    source = {LEASE: _map(server, port=proxy.port, **{"on-fail": "serve-retry-continue"})}
    table = f"svc_{uuid.uuid4().hex[:12]}"
    sql = f"INSERT INTO {table} (id) VALUES (%s)"

    def sync() -> tuple[float, float]:
        life = RecordedLifecycle.from_config(source)
        with life:
            _table(life, table)
            proxy.set_mode("blackhole")
            began = time.monotonic()
            with (
                pytest.raises(ConnectionLost) as lost,
                life.connection(LEASE) as conn,
                conn.cursor() as cursor,
            ):
                cursor.execute(sql, ("silent",))
            took = time.monotonic() - began
            assert "time" in str(lost.value)  # "timed out" / "no answer within tcp-user-timeout"
            _until(lambda: bool(life.timeline.losses()), bound, "lost")
            noticed = life.timeline.losses()[0] - began
            proxy.set_mode("pass")
            life.timeline.wait_log("DHCP4_DB_RECONNECT_SUCCEEDED", timeout=BUDGET + 10)
            with life.connection(LEASE) as conn, conn.cursor() as cursor:
                cursor.execute(sql, ("back",))
        return took, noticed

    async def asynchronous() -> tuple[float, float]:
        life = RecordedAsyncLifecycle.from_config(source)
        async with life:
            async with life.connection(LEASE) as conn:
                await conn.execute(f"CREATE TABLE {table} (id VARCHAR(40) PRIMARY KEY)")
            proxy.set_mode("blackhole")
            began = time.monotonic()
            with pytest.raises(ConnectionLost):
                async with life.connection(LEASE) as conn:
                    await conn.execute(sql, ("silent",))
            took = time.monotonic() - began
            while not life.timeline.losses() and time.monotonic() - began < bound:
                await asyncio.sleep(0.005)
            noticed = life.timeline.losses()[0] - began
            proxy.set_mode("pass")
            await life.timeline.await_log("DHCP4_DB_RECONNECT_SUCCEEDED", timeout=BUDGET + 10)
            async with life.connection(LEASE) as conn:
                await conn.execute(sql, ("back",))
        return took, noticed

    took, noticed = sync() if api == "sync" else asyncio.run(asynchronous())
    print(f"  insert ended after {took:.3f}s, loss noticed after {noticed:.3f}s (bound {bound}s)")
    assert took <= bound and noticed <= bound
    assert "back" in _stored(server, table)


# -- refused before any I/O ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "refusal"),
    [("stop-retry-exit", NotServing), ("serve-retry-continue", BackendUnavailable)],
)
def test_refusals_touch_no_network(
    server: PrivateServer, proxy_to: Any, mode: str, refusal: type[Unavailable]
) -> None:
    """Lost, the first attempt refused, the next one 10 s away; the path is then open again,
    and 1000 refused requests (connections and guards) reach nothing: the proxy accepts no
    connection meanwhile."""
    proxy = proxy_to(server.port).start()
    db = _map(server, port=proxy.port, **{"on-fail": mode, "reconnect-wait-time": 10_000})
    with Lifecycle.from_config({LEASE: db}) as life:
        proxy.set_mode("refuse")
        proxy.cut_all()
        with pytest.raises(ConnectionLost), life.connection(LEASE) as conn:
            conn.cursor().execute("SELECT 1")
        _until(lambda: life.backends()[LEASE]["attempts"] == 1, 5, "the first attempt made")
        proxy.set_mode("pass")
        accepted = proxy.accepted
        began = time.monotonic()
        for n in range(1000):
            with pytest.raises(refusal) as refused:
                cm = life.connection(LEASE) if n % 2 else life.guard(LEASE)
                with cm:
                    raise AssertionError("admitted")
            retry_after = refused.value.retry_after
            assert retry_after is not None and 0 < retry_after <= 10
        took = time.monotonic() - began
        assert proxy.accepted == accepted, "a refused request opened a connection"
        assert life.state == ("not_serving" if mode == "stop-retry-exit" else "serving")
    print(f"  1000 refusals took {took * 1000:.1f} ms")
    assert took < 2.0


# -- secrets --------------------------------------------------------------------------------------


def test_passwords_never_show(
    server: PrivateServer, proxy_to: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """In no exception text (or its cause's), log record, backends() or health(): through a
    loss, failed attempts, a recovery, refusals and a startup with the wrong password."""
    secret = server.password
    caplog.set_level(logging.DEBUG)
    proxy = proxy_to(server.port).start()
    texts: list[str] = []

    def keep(error: BaseException | None) -> None:
        for _ in range(10):  # the exception and the chain below it
            if error is None:
                return
            texts.extend([str(error), repr(error)])
            error = error.__cause__ or error.__context__

    db = _map(server, port=proxy.port, **{"on-fail": "serve-retry-continue"})
    with Lifecycle.from_config({LEASE: db}) as life:
        proxy.set_mode("refuse")
        proxy.cut_all()
        for _ in range(3):
            try:
                with life.connection(LEASE) as conn:
                    conn.cursor().execute("SELECT 1")
            except (ConnectionLost, Unavailable) as error:
                keep(error)
        _until(lambda: life.backends()[LEASE]["attempts"] >= 2, 5, "two attempts made")
        texts += [json.dumps(life.backends()), json.dumps(life.health())]
        assert life.backends()[LEASE]["last_error"]
        proxy.set_mode("pass")
        _until(lambda: life.backends()[LEASE]["state"] == "online", BUDGET + 5, "online")
        texts += [json.dumps(life.backends()), json.dumps(life.health())]
    wrong = dict(db, port=server.port, password="pw-not-the-right-one")
    with pytest.raises(StartupFailed) as failed, Lifecycle.from_config({LEASE: wrong}):
        pass
    keep(failed.value)
    texts += [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    assert any("refused" in t.lower() for t in texts)  # the failures were seen
    assert [t for t in texts if secret in t or "pw-not-the-right-one" in t] == []


# -- bad use --------------------------------------------------------------------------------------


def test_bad_use_is_a_usage_error(server: PrivateServer) -> None:
    source = {LEASE: _map(server), "hosts-databases": [_map(server)]}
    life = Lifecycle.from_config(source)
    with pytest.raises(UsageError, match="not started"), life.connection(LEASE):
        pass
    with life:
        with (
            pytest.raises(UsageError, match="known: lease-database, hosts-databases\\[0\\]"),
            life.connection("lease"),
        ):
            pass

        async def inside_a_loop() -> None:
            with pytest.raises(UsageError, match="AsyncLifecycle"), life.connection(LEASE):
                pass

        asyncio.run(inside_a_loop())
        with life.connection("hosts-databases[0]") as conn, conn.cursor() as cursor:
            cursor.execute("SELECT 1")
    with pytest.raises(UsageError, match="closed"), life.connection(LEASE):
        pass
    _no_sessions_left(server)


# -- the examples ---------------------------------------------------------------------------------


def _example(name: str) -> Any:
    """Import docs/examples/NAME.py as a module (not run as __main__)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config_file(directory: Path, db: dict[str, Any]) -> str:
    path = directory / "kea-dhcp4.json"
    path.write_text(json.dumps({"Dhcp4": {LEASE: db}}))
    return str(path)


def _example_env(**variables: str) -> dict[str, str]:
    env = {**os.environ, **variables}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def test_fastapi_example_in_process(server: PrivateServer) -> None:
    """Through the ASGI app: notes written and read, health 200 then 503, Retry-After on a
    refusal, metrics, and Kea's exit stopping the app with its code."""
    example = _example("service_fastapi")
    stopped = threading.Event()
    app = example.create_app(
        {LEASE: _map(server, **{"on-fail": "stop-retry-exit"})}, stop=stopped.set
    )

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://service") as client,
        ):
            health = await client.get("/healthz")
            assert health.status_code == 200
            assert health.headers["content-type"] == "application/health+json"
            assert health.json()["status"] == "pass"
            written = await client.post("/notes", json={"text": "hello"})
            assert written.status_code == 200 and written.json()["text"] == "hello"
            notes = await client.get("/notes")
            assert notes.json()[0] == written.json()
            metrics = await client.get("/metrics")
            assert "dbfsm_serving 1.0" in metrics.text
            await asyncio.to_thread(server.kill)
            lost = await client.post("/notes", json={"text": "lost"})
            assert lost.status_code == 503
            for _ in range(100):  # once the first attempt failed, the next one is due
                refused = await client.post("/notes", json={"text": "refused"})
                assert refused.status_code == 503
                if "retry-after" in refused.headers:
                    break
                await asyncio.sleep(0.01)
            assert refused.headers["retry-after"] == "1"  # 250 ms, rounded up
            health = await client.get("/healthz")
            assert health.status_code == 503 and health.json()["status"] == "fail"
            assert "dbfsm_serving 0.0" in (await client.get("/metrics")).text
            deadline = time.monotonic() + BUDGET + 5
            while not stopped.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert stopped.is_set() and app.state.exit_code == 1
            after = await client.post("/notes", json={"text": "after"})
            assert after.status_code == 503  # NotServing: the server has exited

    asyncio.run(main())


def test_fastapi_example_under_uvicorn(server: PrivateServer, tmp_path: Path) -> None:
    """`python docs/examples/service_fastapi.py` on a free loopback port; the database lost
    for good ends the process with Kea's exit code."""
    port = free_port()
    config = _config_file(tmp_path, _map(server, **{"on-fail": "serve-retry-exit"}))
    env = _example_env(DBFSM_CONFIG=config, DBFSM_PORT=str(port))
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "service_fastapi.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            assert process.poll() is None and time.monotonic() < deadline, "did not start"
            time.sleep(0.1)
        written = httpx.post(f"{base}/notes", json={"text": "via uvicorn"}, timeout=5)
        assert written.status_code == 200, written.text
        server.kill()
        assert httpx.post(f"{base}/notes", json={"text": "x"}, timeout=5).status_code == 503
        health = httpx.get(f"{base}/healthz", timeout=5)  # serving without the database
        assert health.status_code == 200 and health.json()["status"] == "warn"
        assert process.wait(timeout=BUDGET + 15) == 1
    finally:
        if process.poll() is None:
            process.kill()
        output = process.communicate(timeout=10)[0]
    assert "DHCP4_FATAL_DB_RECONNECT_FAILED" in output and server.password not in output


def test_worker_pool_example_through_an_outage(healthy_pg: PrivateServer, tmp_path: Path) -> None:
    server = healthy_pg
    server.admin("DROP TABLE IF EXISTS worker_events", "dbfsm")  # type: ignore[attr-defined]
    db = _map(server, **{"on-fail": "serve-retry-continue", "max-reconnect-tries": 20})
    env = _example_env(DBFSM_CONFIG=_config_file(tmp_path, db))
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "worker_pool.py"), "8", "5"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def rows() -> int:
        try:
            return int(server.admin("SELECT count(*) FROM worker_events", "dbfsm")[0][0])  # type: ignore[attr-defined]
        except Exception:
            return 0

    try:
        _until(lambda: rows() > 100 or process.poll() is not None, 20, "inserting")
        server.kill()
        time.sleep(0.3)
        server.start()
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err[-2000:]
    counts = dict(re.findall(r"(\w+)=(\d+)", out))
    acknowledged = int(counts["acknowledged"])
    assert acknowledged > 100 and int(counts["refused"]) + int(counts["lost"]) > 0, out
    assert rows() >= acknowledged, out  # every acknowledged insert is there
    assert server.password not in out + err


def test_sqlalchemy_recipe(server: PrivateServer, tmp_path: Path) -> None:
    """As a script, then its engine through an outage: `engine.dispose` on restoration, one
    loss, and work going on afterwards."""
    config = _config_file(tmp_path, _map(server, **{"on-fail": "serve-retry-continue"}))
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "sqlalchemy_recipe.py")],
        env=_example_env(DBFSM_CONFIG=config),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"rows: \d+", done.stdout), done.stdout

    from sqlalchemy import text

    recipe = _example("sqlalchemy_recipe")
    life = RecordedLifecycle.from_config(config)
    engine = recipe.engine_for(life.settings.backend(LEASE).parameters)
    disposed = threading.Event()

    def restored() -> None:
        engine.dispose()
        disposed.set()

    outcomes: list[str] = []
    with life:
        for n in range(400):
            if n == 50:
                server.kill()
                server.start()
            try:
                with life.guard(LEASE, on_restored=restored), engine.begin() as conn:
                    conn.execute(text("INSERT INTO recipe_rows (n) VALUES (:n)"), {"n": n})
                outcomes.append("ok")
            except Unavailable:
                outcomes.append("refused")
                time.sleep(0.01)
            except ConnectionLost:
                outcomes.append("lost")
            if n > 50 and disposed.is_set() and outcomes[-20:] == ["ok"] * 20:
                break
    engine.dispose()
    assert disposed.is_set() and outcomes[-1] == "ok"
    assert "lost" in outcomes and len(life.timeline.losses()) == 1, outcomes
