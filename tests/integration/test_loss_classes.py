"""SQLSTATE classes Kea counts as a lost connection, provoked on a real PostgreSQL server.

Kea's `checkStatementError` (pgsql_connection.cc) treats class 54, "program limit exceeded",
like 08, 53, 57 and 58: the connection is considered lost and the reconnect logic runs. A
SELECT with more target entries than the server allows (1664) is an error of that class
(54011) that harms nothing, so the real server's own answer is what the driver judges.
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from dbfsm.drivers import postgresql
from dbfsm.drivers.postgresql import PostgreSQLSession
from dbfsm.drivers.session import QueryFailed, SessionLost
from tests.integration.servers import PrivatePostgres
from tests.integration.support import backend

# PostgreSQL's MaxTupleAttributeNumber is 1664: one more target entry is a class-54 error.
TOO_MANY_COLUMNS = "SELECT " + ", ".join(["1"] * 1665)


async def _fetch_error(server: PrivatePostgres, sql: str) -> BaseException:
    session = await PostgreSQLSession.connect(backend(server.database_map()).parameters)
    try:
        with pytest.raises((SessionLost, QueryFailed)) as info:
            await session.fetch(sql)
        return info.value
    finally:
        await session.close()


def test_the_server_answers_54011_to_too_many_target_entries(healthy_pg: PrivatePostgres) -> None:
    """The provocation is what it claims: psycopg itself sees SQLSTATE 54011."""
    entry = healthy_pg.database_map()
    with (
        psycopg.connect(
            host=entry["host"],
            port=entry["port"],
            dbname=entry["name"],
            user=entry["user"],
            password=entry["password"],
            autocommit=True,
        ) as conn,
        pytest.raises(psycopg.Error) as info,
    ):
        conn.execute(TOO_MANY_COLUMNS.encode())
    assert info.value.sqlstate == "54011"
    assert postgresql.is_loss(info.value, broken=False)


def test_a_class_54_error_is_reported_as_a_loss(healthy_pg: PrivatePostgres) -> None:
    """The driver reports SessionLost, not QueryFailed, though the connection still works."""
    error = asyncio.run(_fetch_error(healthy_pg, TOO_MANY_COLUMNS))
    assert isinstance(error, SessionLost), repr(error)
    assert "1664" in str(error)  # the server's own message: "target lists can have at most"


def test_an_ordinary_error_stays_a_query_error(healthy_pg: PrivatePostgres) -> None:
    """The contrast: a class-42 error (undefined table) is no loss."""
    error = asyncio.run(_fetch_error(healthy_pg, "SELECT * FROM no_such_table_at_all"))
    assert isinstance(error, QueryFailed), repr(error)
