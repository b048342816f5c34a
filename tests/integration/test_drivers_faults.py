"""What counts as a loss, fault by fault, and how long noticing it takes.

Every fault is injected on a private server or through the fault proxy; the time from the
fault to the `Lost` report is recorded and printed in the run's summary ("fault to
detection, measured"). Kea notices a loss only when a request fails ("next request"); the
optional idle watch notices a server that closed the connection before any request
("idle watch").
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest

from dbfsm.drivers.live import LiveDriver
from dbfsm.drivers.session import QueryFailed
from dbfsm.fsm.events import Lost, Opened, OpenFailed
from tests.integration.proxy import FaultProxy
from tests.integration.servers import PrivateServer
from tests.integration.support import LEASE, open_request

HOSTS = "hosts-databases[0]"
MARGIN = 0.75  # seconds a timeout may be overrun by (thread hand-offs, a loaded machine)
_names = itertools.count()

SERVER_FAULTS: dict[str, Callable[[PrivateServer], object]] = {
    "killed (SIGKILL)": lambda s: s.kill(),
    "stopped (fast)": lambda s: s.stop("fast"),
    "stopped (immediate)": lambda s: s.stop("immediate"),
    "session terminated": lambda s: s.terminate_sessions(),
}


def _engine(server: PrivateServer) -> str:
    return "PostgreSQL" if server.kind == "postgresql" else "MariaDB"


async def _opened(driver: LiveDriver, entry: dict[str, Any], role: str = LEASE) -> None:
    answer = await driver.open(open_request(entry, role))
    assert isinstance(answer, Opened), answer


@pytest.mark.parametrize("fault", SERVER_FAULTS)
def test_server_fault_is_one_loss_at_the_next_request(
    server: PrivateServer, fault: str, measured: Any
) -> None:
    async def scenario() -> tuple[list[Lost | None], float, int, int]:
        driver = LiveDriver()
        await _opened(driver, server.database_map())
        assert await driver.use(LEASE, 1) is None
        before = len(driver.acknowledged)
        await asyncio.to_thread(SERVER_FAULTS[fault], server)
        start = time.monotonic()
        results = [await driver.use(LEASE, 1)]
        took = time.monotonic() - start
        results += await asyncio.gather(*(driver.use(LEASE, 1) for _ in range(3)))
        after = len(driver.acknowledged)
        await driver.aclose()
        return results, took, before, after

    results, took, before, after = asyncio.run(scenario())
    assert isinstance(results[0], Lost) and results[0].backend == LEASE, results
    assert results[1:] == [None, None, None], "one loss, one report"
    assert after == before, "a write that failed is never acknowledged"
    measured(_engine(server), fault, "next request", took, "none: at once")


@pytest.mark.parametrize("fault", SERVER_FAULTS)
def test_idle_watch_notices_a_loss_without_any_request(
    server: PrivateServer, fault: str, measured: Any
) -> None:
    interval = 0.2

    async def scenario() -> tuple[list[Lost], float, Lost | None]:
        found: list[Lost] = []
        noticed = asyncio.Event()
        noticed_at: list[float] = []

        def on_lost(lost: Lost) -> None:
            noticed_at.append(time.monotonic())
            found.append(lost)
            noticed.set()

        driver = LiveDriver(probe_interval=interval, on_lost=on_lost)
        await _opened(driver, server.database_map())
        start = time.monotonic()
        await asyncio.gather(
            asyncio.to_thread(SERVER_FAULTS[fault], server),
            asyncio.wait_for(noticed.wait(), 10),
        )
        took = noticed_at[0] - start
        await asyncio.sleep(2 * interval)
        later = await driver.use(LEASE, 1)
        await driver.aclose()
        return found, took, later

    found, took, later = asyncio.run(scenario())
    assert len(found) == 1 and found[0].backend == LEASE
    assert later is None, "the watch reported it: the request does not report it again"
    how = "idle watch (socket)" if server.kind == "postgresql" else "idle watch (ping)"
    bound = "none: at once" if server.kind == "postgresql" else f"probe interval {interval}s"
    measured(_engine(server), fault, how, took, bound)


# What bounds a request to a silent server: MySQL's read-timeout, and for PostgreSQL the
# tcp-user-timeout (libpq's own never fires on loopback, where the kernel acknowledges what
# a stopped server never reads: the driver bounds the wait for an answer by it).
SILENCE_BOUND = {"postgresql": "tcp-user-timeout", "mysql": "read-timeout"}


def test_hung_server_is_a_loss_after_its_timeout(server: PrivateServer, measured: Any) -> None:
    bound = SILENCE_BOUND[server.kind]

    async def scenario() -> tuple[Lost | None, float, str | None]:
        driver = LiveDriver()
        await _opened(driver, server.database_map(**{bound: 1}))
        session: Any = driver.session(LEASE, 1)
        libpq = None
        if server.kind == "postgresql":  # the parameter reaches libpq, in milliseconds
            libpq = session._conn.info.get_parameters().get("tcp_user_timeout")
        server.pause()
        start = time.monotonic()
        lost = await driver.use(LEASE, 1)
        took = time.monotonic() - start
        await driver.aclose()
        return lost, took, libpq

    try:
        lost, took, libpq = asyncio.run(scenario())
    finally:
        server.resume()
    assert isinstance(lost, Lost)
    assert 1.0 <= took < 1.0 + MARGIN
    assert libpq == ("1000" if server.kind == "postgresql" else None)
    measured(_engine(server), "hung (SIGSTOP)", bound, took, f"{bound} 1s")


# -- network faults through the proxy ------------------------------------------------------------


def _through(server: PrivateServer, proxy: FaultProxy, **overrides: Any) -> dict[str, Any]:
    return server.database_map(port=proxy.port, **overrides)


@pytest.mark.parametrize("mode", ["refuse", "blackhole", "reset"])
def test_open_through_a_faulty_network_ends_within_connect_timeout(
    server: PrivateServer, proxy_to: Any, mode: str, measured: Any
) -> None:
    """connect-timeout 1: psycopg alone would wait 2 s (it raises values under 2 to 2)."""
    proxy = proxy_to(server.port).start()
    proxy.set_mode(mode)
    entry = _through(server, proxy, **{"connect-timeout": 1})
    start = time.monotonic()
    answer = asyncio.run(LiveDriver().open(open_request(entry)))
    took = time.monotonic() - start
    assert isinstance(answer, OpenFailed) and not answer.schema_mismatch
    assert took < 1.0 + MARGIN
    if mode == "refuse":
        assert "refused" in answer.reason.lower()
    measured(_engine(server), f"open, proxy {mode}", "open fails", took, "connect-timeout 1s")


@pytest.mark.parametrize("fault", ["reset", "cut_all"])
def test_connection_reset_or_closed_on_the_way_is_a_loss(
    server: PrivateServer, proxy_to: Any, fault: str, measured: Any
) -> None:
    proxy = proxy_to(server.port).start()

    async def scenario() -> tuple[Lost | None, float, Opened | OpenFailed]:
        driver = LiveDriver()
        await _opened(driver, _through(server, proxy))
        start = time.monotonic()
        if fault == "reset":
            await asyncio.to_thread(proxy.set_mode, "reset")
        else:
            await asyncio.to_thread(proxy.cut_all)
        lost = await driver.use(LEASE, 1)
        took = time.monotonic() - start
        await asyncio.to_thread(proxy.set_mode, "pass")
        again = await driver.open(open_request(_through(server, proxy)))
        await driver.aclose()
        return lost, took, again

    lost, took, again = asyncio.run(scenario())
    assert isinstance(lost, Lost)
    assert isinstance(again, Opened), "the reconnect attempt replaces the lost connection"
    name = "proxy reset (RST)" if fault == "reset" else "proxy closed (FIN)"
    measured(_engine(server), name, "next request", took, "none: at once")


def test_blackholed_connection_is_a_loss_after_its_timeout(
    server: PrivateServer, proxy_to: Any, measured: Any
) -> None:
    bound = SILENCE_BOUND[server.kind]
    proxy = proxy_to(server.port).start()

    async def scenario() -> tuple[Lost | None, float]:
        driver = LiveDriver()
        await _opened(driver, _through(server, proxy, **{bound: 1}))
        await asyncio.to_thread(proxy.set_mode, "blackhole")
        start = time.monotonic()
        lost = await driver.use(LEASE, 1)
        took = time.monotonic() - start
        await driver.aclose()
        return lost, took

    lost, took = asyncio.run(scenario())
    assert isinstance(lost, Lost)
    assert 1.0 <= took < 1.0 + MARGIN
    measured(_engine(server), "proxy blackhole", bound, took, f"{bound} 1s")


def test_latency_under_read_timeout_is_no_loss_over_it_is(
    healthy_mariadb: PrivateServer, proxy_to: Any
) -> None:
    proxy = proxy_to(healthy_mariadb.port).start()

    async def scenario() -> tuple[Lost | None, Lost | None]:
        driver = LiveDriver()
        await _opened(driver, _through(healthy_mariadb, proxy, **{"read-timeout": 1}))
        proxy.set_latency(0.2)
        slow = await driver.use(LEASE, 1)
        proxy.set_latency(1.5)
        too_slow = await driver.use(LEASE, 1)
        await driver.aclose()
        return slow, too_slow

    slow, too_slow = asyncio.run(scenario())
    assert slow is None
    assert isinstance(too_slow, Lost)


# -- ordinary errors ---------------------------------------------------------------------------


def test_ordinary_query_errors_are_not_losses(server: PrivateServer) -> None:
    name = f"errors_{next(_names)}"
    server.create_database(name)
    entry = server.database_map(name=name)

    async def scenario() -> tuple[Lost | None, Lost | None, int]:
        driver = LiveDriver()
        await _opened(driver, entry, HOSTS)
        session = driver.session(HOSTS, 1)
        assert session is not None

        with pytest.raises(QueryFailed):
            await session.fetch("SELEKT 1")
        await session.fetch("DROP TABLE hosts")
        missing_table = await driver.use(HOSTS, 1)
        await session.fetch(
            "CREATE TABLE hosts (host_id INT, dhcp_identifier VARCHAR(128), hostname VARCHAR(255))"
        )
        fine_again = await driver.use(HOSTS, 1)
        connections = driver.connections
        await driver.aclose()
        return missing_table, fine_again, connections

    missing_table, fine_again, connections = asyncio.run(scenario())
    assert (missing_table, fine_again, connections) == (None, None, 1)


def test_blackholed_postgresql_request_waits_and_a_close_still_returns_at_once(
    healthy_pg: PrivateServer, proxy_to: Any
) -> None:
    """Without tcp-user-timeout nothing bounds a request to a silent server (as in Kea);
    closing the connection under it ends it at once, without a loss."""
    proxy = proxy_to(healthy_pg.port).start()

    async def scenario() -> tuple[bool, float, Lost | None]:
        driver = LiveDriver()
        await _opened(driver, _through(healthy_pg, proxy))
        await asyncio.to_thread(proxy.set_mode, "blackhole")
        request = asyncio.create_task(driver.use(LEASE, 1))
        await asyncio.sleep(1.5)
        waiting = not request.done()
        start = time.monotonic()
        await driver.aclose()
        took = time.monotonic() - start
        return waiting, took, await asyncio.wait_for(request, 5)

    waiting, took, result = asyncio.run(scenario())
    assert waiting and result is None
    assert took < 1.0


def test_a_connect_of_many_slow_steps_is_bounded_as_a_whole(
    server: PrivateServer, proxy_to: Any, measured: Any
) -> None:
    """Every read of the handshake answers within connect-timeout, the whole would not."""
    proxy = proxy_to(server.port).start()
    proxy.set_latency(0.4)
    entry = _through(server, proxy, **{"connect-timeout": 1})
    start = time.monotonic()
    answer = asyncio.run(LiveDriver().open(open_request(entry)))
    took = time.monotonic() - start
    assert isinstance(answer, OpenFailed), answer
    assert took < 1.25 + MARGIN
    measured(
        _engine(server), "open, 0.4 s latency per step", "open fails", took, "connect-timeout 1s"
    )


def test_a_request_cancelled_under_tcp_user_timeout_leaves_nothing_running(
    healthy_pg: PrivateServer,
) -> None:
    """The bound on an answer runs in the request's own task: cancelling the request (a run
    stopping) leaves no statement behind on the socket, and the next connection is clean."""

    async def scenario() -> tuple[set[asyncio.Task[Any]], Lost | Opened | OpenFailed | None]:
        driver = LiveDriver()
        await _opened(driver, healthy_pg.database_map(**{"tcp-user-timeout": 1}))
        healthy_pg.pause()
        request = asyncio.create_task(driver.use(LEASE, 1))
        await asyncio.sleep(0.2)
        request.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await request
        healthy_pg.resume()
        await driver.aclose()
        await asyncio.sleep(0)
        left = asyncio.all_tasks() - {asyncio.current_task()}
        await asyncio.sleep(1.5)  # past the timeout: a stray timer or statement would act now
        again = LiveDriver()
        answer = await again.open(open_request(healthy_pg.database_map(), LEASE, 2))
        await again.aclose()
        return left, answer

    try:
        left, answer = asyncio.run(scenario())
    finally:
        healthy_pg.resume()
    assert not left
    assert isinstance(answer, Opened)
