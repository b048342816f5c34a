"""TLS against private servers, with certificates the tests make (tests/integration/certs.py).

PostgreSQL: the TLS parameters only configure libpq (`trust-anchor` -> verify-ca by
default); `cipher-list` is ignored, as Kea ignores it. MySQL: a given trust anchor is
verified; a server without TLS is answered in clear text and the engine logs `*_NO_TLS`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dbfsm.drivers.live import LiveDriver
from dbfsm.fsm import config
from dbfsm.fsm.actions import Action, Log
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.events import Opened, OpenFailed
from dbfsm.live.runtime import AsyncioRuntime
from tests.integration.certs import Pki
from tests.integration.servers import USER, PrivateMariaDB, PrivatePostgres
from tests.integration.support import LEASE, open_request

X509_USER = "dbfsm_x509"


def _open_and_read(entry: dict[str, Any], query: str) -> tuple[Opened | OpenFailed, Any]:
    """Open a lease backend; if it opened, the rows `query` gives on its connection."""

    async def go() -> tuple[Opened | OpenFailed, Any]:
        driver = LiveDriver()
        answer = await driver.open(open_request(entry))
        rows = None
        session = driver.session(LEASE, 1)
        if session is not None:
            rows = await session.fetch(query)
        await driver.aclose()
        return answer, rows

    return asyncio.run(go())


PG_SSL = "SELECT ssl, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
MY_SSL = "SHOW SESSION STATUS LIKE 'Ssl_cipher'"


# -- PostgreSQL ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_mutual(pki: Pki) -> Iterator[PrivatePostgres]:
    """A PostgreSQL that accepts only clients with a certificate from the test CA."""
    server = PrivatePostgres(tls=pki, client_cert_required=True)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


def test_pg_trust_anchor_alone_verifies_the_ca(healthy_pg: PrivatePostgres, pki: Pki) -> None:
    answer, rows = _open_and_read(healthy_pg.database_map(**{"trust-anchor": str(pki.ca)}), PG_SSL)
    assert answer == Opened(LEASE, 1)
    assert rows[0][0] is True and rows[0][1]


def test_pg_wrong_ca_names_the_certificate_problem(healthy_pg: PrivatePostgres, pki: Pki) -> None:
    entry = healthy_pg.database_map(**{"trust-anchor": str(pki.wrong_ca)})
    answer, _ = _open_and_read(entry, PG_SSL)
    assert isinstance(answer, OpenFailed) and not answer.schema_mismatch
    assert "certificate verify failed" in answer.reason


def test_pg_cipher_list_is_ignored_and_ssl_mode_honoured(
    healthy_pg: PrivatePostgres, pki: Pki
) -> None:
    entry = healthy_pg.database_map(**{"trust-anchor": str(pki.ca), "cipher-list": "NO-SUCH"})
    answer, rows = _open_and_read(entry, PG_SSL)
    assert answer == Opened(LEASE, 1) and rows[0][0] is True
    answer, rows = _open_and_read(healthy_pg.database_map(**{"ssl-mode": "disable"}), PG_SSL)
    assert answer == Opened(LEASE, 1) and rows[0][0] is False


def test_pg_mutual_tls(pg_mutual: PrivatePostgres, pki: Pki) -> None:
    with_cert = pg_mutual.database_map(
        **{
            "trust-anchor": str(pki.ca),
            "cert-file": str(pki.client_cert),
            "key-file": str(pki.client_key),
        }
    )
    answer, rows = _open_and_read(with_cert, PG_SSL)
    assert answer == Opened(LEASE, 1) and rows[0][0] is True
    answer, _ = _open_and_read(pg_mutual.database_map(**{"trust-anchor": str(pki.ca)}), PG_SSL)
    assert isinstance(answer, OpenFailed)
    assert "certificate" in answer.reason


# -- MySQL / MariaDB -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mariadb_x509(mariadb_server: PrivateMariaDB) -> str:
    """A user that may only log in with a client certificate (REQUIRE X509)."""
    password = mariadb_server.password
    mariadb_server.admin(f"DROP USER IF EXISTS '{X509_USER}'@'127.0.0.1'")
    mariadb_server.admin(
        f"CREATE USER '{X509_USER}'@'127.0.0.1' IDENTIFIED BY '{password}' REQUIRE X509"
    )
    mariadb_server.admin(f"GRANT ALL PRIVILEGES ON *.* TO '{X509_USER}'@'127.0.0.1'")
    return X509_USER


@pytest.fixture(scope="module")
def mariadb_plain() -> Iterator[PrivateMariaDB]:
    """A MariaDB without TLS at all."""
    server = PrivateMariaDB(tls=None)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.mark.parametrize("anchor", ["ca", "ca_dir"])
def test_mysql_trust_anchor_file_or_directory(
    healthy_mariadb: PrivateMariaDB, pki: Pki, anchor: str
) -> None:
    entry = healthy_mariadb.database_map(**{"trust-anchor": str(getattr(pki, anchor))})
    answer, rows = _open_and_read(entry, MY_SSL)
    assert answer == Opened(LEASE, 1, tls_missing=False)
    assert rows[0][1], "a cipher is in use"


def test_mysql_wrong_ca_names_the_certificate_problem(
    healthy_mariadb: PrivateMariaDB, pki: Pki
) -> None:
    answer, _ = _open_and_read(
        healthy_mariadb.database_map(**{"trust-anchor": str(pki.wrong_ca)}), MY_SSL
    )
    assert isinstance(answer, OpenFailed)
    assert "CERTIFICATE_VERIFY_FAILED" in answer.reason


def test_mysql_mutual_tls(healthy_mariadb: PrivateMariaDB, mariadb_x509: str, pki: Pki) -> None:
    files = {
        "trust-anchor": str(pki.ca),
        "cert-file": str(pki.client_cert),
        "key-file": str(pki.client_key),
    }
    answer, rows = _open_and_read(healthy_mariadb.database_map(user=mariadb_x509, **files), MY_SSL)
    assert answer == Opened(LEASE, 1) and rows[0][1]
    no_cert = healthy_mariadb.database_map(user=mariadb_x509, **{"trust-anchor": str(pki.ca)})
    answer, _ = _open_and_read(no_cert, MY_SSL)
    assert isinstance(answer, OpenFailed) and "Access denied" in answer.reason
    assert healthy_mariadb.password not in answer.reason


def test_mysql_cipher_list_is_used_and_a_bad_one_refused(
    healthy_mariadb: PrivateMariaDB, pki: Pki
) -> None:
    entry = healthy_mariadb.database_map(
        **{"trust-anchor": str(pki.ca), "cipher-list": "NO-SUCH-CIPHER"}
    )
    answer, _ = _open_and_read(entry, MY_SSL)
    assert isinstance(answer, OpenFailed)
    assert answer.reason.startswith("unable to set cipher: ")


def test_mysql_server_without_tls_is_used_in_clear_text_and_logged(
    mariadb_plain: PrivateMariaDB, pki: Pki
) -> None:
    entry = mariadb_plain.database_map(**{"trust-anchor": str(pki.ca)})
    answer, rows = _open_and_read(entry, MY_SSL)
    assert answer == Opened(LEASE, 1, tls_missing=True)
    assert rows[0][1] == ""

    async def serve() -> list[str]:
        logged: list[str] = []

        def notify(action: Action, t: float) -> None:
            if isinstance(action, Log):
                logged.append(action.message.id)

        settings = config.from_document({"Dhcp4": {"lease-database": entry}})
        engine = Engine(settings, clock=time.monotonic)
        driver = LiveDriver()
        runtime = AsyncioRuntime(engine, driver, notify)
        runtime.start()
        deadline = time.monotonic() + 10
        while not engine.serving and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await driver.aclose()
        return logged

    logged = asyncio.run(serve())
    assert "MYSQL_LB_NO_TLS" in logged
    assert logged.index("MYSQL_LB_NO_TLS") < logged.index("DHCP4_STARTED")


def test_mysql_without_tls_parameters_checks_nothing(mariadb_plain: PrivateMariaDB) -> None:
    answer, _ = _open_and_read(mariadb_plain.database_map(user=USER), MY_SSL)
    assert answer == Opened(LEASE, 1, tls_missing=False)


def test_mysql_without_tls_parameters_uses_tls_when_the_server_offers_it(
    healthy_mariadb: PrivateMariaDB,
) -> None:
    answer, rows = _open_and_read(healthy_mariadb.database_map(), MY_SSL)
    assert answer == Opened(LEASE, 1, tls_missing=False)
    assert rows[0][1], "as libmysqlclient's preferred mode: TLS when offered"


def test_a_private_server_can_make_its_own_certificates() -> None:
    server = PrivatePostgres(tls=True)
    try:
        server.start()
        assert server.tls is not None and server.tls.ca.is_relative_to(server.root)
        entry = server.database_map(**{"trust-anchor": str(server.tls.ca)})
        answer, rows = _open_and_read(entry, PG_SSL)
        assert answer == Opened(LEASE, 1) and rows[0][0] is True
    finally:
        server.cleanup()
    assert not server.root.exists()
