"""The live driver against private servers: open, requests, schema, losses, timeouts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from drivers.live import LiveDriver
from fsm.actions import Close
from fsm.events import Lost, Opened, OpenFailed
from tests.integration.servers import PrivateServer
from tests.integration.support import LEASE, open_request

ENGINES = ["pg", "mariadb"]


@pytest.fixture(params=ENGINES)
def server(request: pytest.FixtureRequest) -> PrivateServer:
    name = "healthy_pg" if request.param == "pg" else "healthy_mariadb"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


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
