"""Session fixtures: private PostgreSQL and MariaDB servers, TLS certificates, fault proxies.

The servers start once per session (a few seconds each) and are shared by every test that
asks for them; a test that breaks a server (kill, stop, pause) must leave it running again,
which `healthy_*` does for it. A server that cannot be started makes the fixture FAIL: these
tests never skip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.certs import Pki, make_pki
from tests.integration.proxy import FaultProxy
from tests.integration.servers import PrivateMariaDB, PrivatePostgres, PrivateServer


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory: Path = tmp_path_factory.mktemp("pki")
    directory.chmod(0o755)  # the servers' users read their copies, but the tests read these
    return make_pki(directory)


def _serve(server: PrivateServer) -> Iterator[PrivateServer]:
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def pg_server(pki: Pki) -> Iterator[PrivatePostgres]:
    """A private PostgreSQL 15 with TLS available (not required)."""
    yield from _serve(PrivatePostgres(tls=pki))  # type: ignore[misc]


@pytest.fixture(scope="session")
def mariadb_server(pki: Pki) -> Iterator[PrivateMariaDB]:
    """A private MariaDB with TLS available (not required)."""
    yield from _serve(PrivateMariaDB(tls=pki))  # type: ignore[misc]


def _healthy(server: PrivateServer) -> PrivateServer:
    """The server as a test expects it: running and answering (after another test's fault)."""
    server.resume()
    if not server.running:
        server.start()
    return server


@pytest.fixture
def healthy_pg(pg_server: PrivatePostgres) -> Iterator[PrivatePostgres]:
    yield _healthy(pg_server)  # type: ignore[misc]
    _healthy(pg_server)


@pytest.fixture
def healthy_mariadb(mariadb_server: PrivateMariaDB) -> Iterator[PrivateMariaDB]:
    yield _healthy(mariadb_server)  # type: ignore[misc]
    _healthy(mariadb_server)


@pytest.fixture(params=["pg", "mariadb"])
def server(request: pytest.FixtureRequest) -> PrivateServer:
    """A healthy private server of each engine: a test using it runs on both."""
    name = "healthy_pg" if request.param == "pg" else "healthy_mariadb"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture
def proxy_to() -> Iterator[type[FaultProxy]]:
    """`proxy_to(port)` starts a FaultProxy to that port; every one is stopped after the test."""
    started: list[FaultProxy] = []

    class _Tracked(FaultProxy):
        def start(self) -> FaultProxy:
            started.append(self)
            return super().start()

    yield _Tracked
    for proxy in started:
        proxy.stop()


# -- measured detection times, printed at the end of the run -------------------------------------

_MEASURED: list[tuple[str, str, str, float, str]] = []


@pytest.fixture(scope="session")
def measured() -> Callable[[str, str, str, float, str], None]:
    """`measured(engine, fault, how, seconds, bound)` records one timing for the summary."""

    def record(engine: str, fault: str, how: str, seconds: float, bound: str) -> None:
        _MEASURED.append((engine, fault, how, seconds, bound))

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _MEASURED:
        return
    terminalreporter.section("fault to detection, measured")
    terminalreporter.write_line(
        f"{'engine':<11}{'fault':<34}{'noticed by':<22}{'seconds':>8}  bound"
    )
    for engine, fault, how, seconds, bound in sorted(_MEASURED):
        terminalreporter.write_line(f"{engine:<11}{fault:<34}{how:<22}{seconds:>8.3f}  {bound}")
