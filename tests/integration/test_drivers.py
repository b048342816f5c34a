"""The live driver against private servers: open, requests, schema, losses, timeouts."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

import pytest

from dbfsm.drivers.live import LiveDriver
from dbfsm.drivers.session import QueryFailed
from dbfsm.fsm import config
from dbfsm.fsm.actions import Action, Close, Log
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.events import Lost, Opened, OpenFailed
from dbfsm.live.runtime import AsyncioRuntime
from tests.integration.servers import PrivateServer
from tests.integration.support import LEASE, open_request


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_open_use_close_acknowledges_every_lease_written(server: PrivateServer) -> None:
    async def scenario() -> tuple[Any, ...]:
        driver = LiveDriver()
        opened = await driver.open(open_request(server.database_map()))
        results = [await driver.use(LEASE, 1) for _ in range(5)]
        during = driver.connections
        await driver.close(Close(LEASE, 1))
        return opened, results, during, driver.connections, driver.acknowledged

    opened, results, during, after, acknowledged = run(scenario())
    assert opened == Opened(LEASE, 1)
    assert results == [None] * 5
    assert (during, after) == (1, 0)
    assert len(acknowledged) == 5 and len(set(acknowledged)) == 5
    assert all(key == LEASE for key, _ in acknowledged)


def test_refused_port_fails_the_open_without_the_password(server: PrivateServer) -> None:
    from tests.integration.servers import free_port

    entry = server.database_map(port=free_port())
    answer = run(LiveDriver().open(open_request(entry)))
    assert isinstance(answer, OpenFailed) and not answer.schema_mismatch
    assert "refused" in answer.reason.lower()
    assert server.password not in repr(answer)


def test_wrong_password_fails_and_is_never_shown(server: PrivateServer) -> None:
    secret = "not-the-password-4711"
    answer = run(LiveDriver().open(open_request(server.database_map(password=secret))))
    assert isinstance(answer, OpenFailed)
    assert secret not in answer.reason and server.password not in answer.reason


def test_server_terminating_the_session_is_one_loss(server: PrivateServer) -> None:
    async def scenario() -> list[Lost | None]:
        driver = LiveDriver()
        assert isinstance(await driver.open(open_request(server.database_map())), Opened)
        await asyncio.to_thread(server.terminate_sessions)
        results = await asyncio.gather(*(driver.use(LEASE, 1) for _ in range(4)))
        results.append(await driver.use(LEASE, 1))
        await driver.aclose()
        return list(results)

    results = run(scenario())
    losses = [r for r in results if r is not None]
    assert len(losses) == 1, results
    assert losses[0].backend == LEASE and losses[0].instance == 1


def test_closing_while_a_request_waits_on_a_hung_server_returns_at_once(
    server: PrivateServer,
) -> None:
    """A clean stop must not wait for a stopped server: the request ends, not as a loss."""

    async def scenario() -> tuple[float, Lost | None, int]:
        driver = LiveDriver()
        assert isinstance(await driver.open(open_request(server.database_map())), Opened)
        server.pause()
        request = asyncio.create_task(driver.use(LEASE, 1))
        await asyncio.sleep(0.3)
        start = time.monotonic()
        await asyncio.wait_for(driver.aclose(), 10)
        took = time.monotonic() - start
        result = await asyncio.wait_for(request, 10)
        return took, result, driver.connections

    try:
        took, result, connections = run(scenario())
    finally:
        server.resume()
    assert took < 3.0
    assert (result, connections) == (None, 0)


def test_idle_watch_needs_someone_to_tell(server: PrivateServer) -> None:
    """Without `on_lost` there is no watch: the loss is still reported by the next request."""

    async def scenario() -> Lost | None:
        driver = LiveDriver(probe_interval=0.1)
        assert isinstance(await driver.open(open_request(server.database_map())), Opened)
        await asyncio.to_thread(server.terminate_sessions)
        await asyncio.sleep(0.5)
        lost = await driver.use(LEASE, 1)
        await driver.aclose()
        return lost

    assert isinstance(run(scenario()), Lost)


def test_closing_under_a_running_statement_leaves_the_next_connections_working(
    server: PrivateServer,
) -> None:
    """The closed connection's socket number is soon another connection's: nothing of the
    old one (a waiter on the event loop, a worker thread) may touch it afterwards."""
    sleep = "SELECT pg_sleep(2)" if server.kind == "postgresql" else "SELECT SLEEP(2)"

    async def scenario() -> list[Any]:
        driver = LiveDriver()
        outcomes: list[Any] = []
        for instance in range(1, 5):
            assert isinstance(
                await driver.open(open_request(server.database_map(), LEASE, instance)), Opened
            )
            session = driver.session(LEASE, instance)
            assert session is not None
            running = asyncio.create_task(session.fetch(sleep))
            await asyncio.sleep(0.05 * (instance % 3))
            await asyncio.wait_for(driver.close(Close(LEASE, instance)), 5)
            assert running.done(), "close returns once the statement under it has ended"
            outcomes.append(await asyncio.gather(running, return_exceptions=True))
        assert isinstance(await driver.open(open_request(server.database_map(), LEASE, 99)), Opened)
        outcomes.append([await driver.use(LEASE, 99) for _ in range(3)])
        await driver.aclose()
        return outcomes

    outcomes = run(asyncio.wait_for(scenario(), 60))
    assert all(isinstance(o[0], QueryFailed) for o in outcomes[:-1]), outcomes
    assert outcomes[-1] == [None, None, None]


def test_mysql_read_and_write_timeouts_govern_the_queries_after_the_handshake(
    healthy_mariadb: PrivateServer,
) -> None:
    """The handshake runs under connect-timeout; the configured timeouts (0: none, as Kea)
    are what every later read and write gets."""

    async def timeouts(entry: dict[str, Any]) -> tuple[Any, Any]:
        driver = LiveDriver()
        assert isinstance(await driver.open(open_request(entry)), Opened)
        session: Any = driver.session(LEASE, 1)
        pair = (session._conn._read_timeout, session._conn._write_timeout)
        await driver.aclose()
        return pair

    configured = healthy_mariadb.database_map(**{"read-timeout": 7, "write-timeout": 9})
    assert run(timeouts(configured)) == (7, 9)
    assert run(timeouts(healthy_mariadb.database_map())) == (None, None)


def _descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_no_descriptor_thread_or_session_left_after_opens_losses_and_closes(
    server: PrivateServer,
) -> None:
    """Thirty rounds of open, request, loss (the server ends the session) and reconnect, then
    a close: what the process and the server hold is back where it was."""
    if server.kind == "postgresql":
        count = "SELECT count(*) FROM pg_stat_activity WHERE usename = 'dbfsm'"
    else:
        count = "SELECT COUNT(*) FROM information_schema.processlist WHERE user = 'dbfsm'"

    async def rounds() -> list[Lost | None]:
        driver = LiveDriver(probe_interval=0.05, on_lost=lambda lost: None)
        losses = []
        for _ in range(30):
            assert isinstance(await driver.open(open_request(server.database_map())), Opened)
            assert await driver.use(LEASE, 1) is None
            await asyncio.to_thread(server.terminate_sessions)
            losses.append(await driver.use(LEASE, 1))
        await driver.aclose()
        return losses

    def held() -> tuple[int, int, int]:
        return _descriptors(), threading.active_count(), server.admin(count)[0][0]

    before = held()
    losses = run(rounds())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # worker threads and server sessions end by themselves
        after = held()
        # None more: fewer is fine (an earlier test's socket, thread or server session,
        # such as a statement the server still runs for a closed connection, may end now).
        if all(a <= b for a, b in zip(after, before, strict=True)):
            break
        time.sleep(0.1)
    assert all(a <= b for a, b in zip(after, before, strict=True)), (before, after)
    # Each loss is reported once: by the request, or already by the idle watch.
    assert all(lost is None or isinstance(lost, Lost) for lost in losses)


def test_no_log_of_a_live_run_shows_the_password(server: PrivateServer) -> None:
    """A wrong password under retry-on-startup: every failure is logged, with Kea's access
    string (`password=*****`) and the server's reason, never the password itself."""
    secret = "wrong-" + server.password
    entry = server.database_map(
        password=secret,
        **{"retry-on-startup": True, "max-reconnect-tries": 2, "reconnect-wait-time": 100},
    )
    texts: list[str] = []

    async def serve() -> None:
        def notify(action: Action, t: float) -> None:
            if isinstance(action, Log):
                texts.append(f"{action.message.id} {action.message.text}")

        engine = Engine(
            config.from_document({"Dhcp4": {"lease-database": entry}}), clock=time.monotonic
        )
        driver = LiveDriver()
        runtime = AsyncioRuntime(engine, driver, notify)
        runtime.start()
        await asyncio.wait_for(runtime.wait_exit(), 15)
        await driver.aclose()

    run(serve())
    assert any("password=*****" in text for text in texts), texts
    assert any("RECONNECT_ATTEMPT_FAILED" in text for text in texts), texts
    assert not [text for text in texts if secret in text or server.password in text]


@pytest.mark.parametrize("role", ["hosts-databases[0]", "config-databases[0]"])
def test_host_and_config_backends_read_and_never_acknowledge_a_lease(
    server: PrivateServer, role: str
) -> None:
    async def scenario() -> tuple[list[Lost | None], list[tuple[str, str]]]:
        driver = LiveDriver()
        assert isinstance(await driver.open(open_request(server.database_map())), Opened)
        await driver.close(Close(LEASE, 1))  # the schema exists now: a readonly open finds it
        entry = server.database_map(readonly=role.startswith("hosts"))
        assert isinstance(await driver.open(open_request(entry, role)), Opened)
        results = [await driver.use(role, 1) for _ in range(3)]
        await driver.aclose()
        return results, driver.acknowledged

    results, acknowledged = run(scenario())
    assert results == [None, None, None]
    assert acknowledged == []
