"""A service's own connections: opened with a backend's parameters, judged by Kea's loss rules.

dbfsm's sessions (`drivers.postgresql`, `drivers.mysql`) run dbfsm's statements; a service
runs its own, on connections of the client library it already knows: a `psycopg.Connection`
(or `psycopg.AsyncConnection`) for PostgreSQL, a PyMySQL connection for MySQL/MariaDB. This
module opens those with every parameter the backend's map gives (host, port, user, password
or password-file, connect-timeout, read/write-timeout, tcp-user-timeout, TLS), and says
whether an exception raised on one means the connection is gone: the same classification
the sessions apply, so a service's loss is the loss Kea would see.

PyMySQL has no asyncio API: `AsyncMySQLConnection` runs a PyMySQL connection in its own
worker thread (one call at a time, as PyMySQL needs) behind a few coroutines.

A hung server acknowledges what is sent and never answers, which TCP_USER_TIMEOUT does not
end: a PostgreSQL connection's every operation therefore waits no longer than the map's
tcp-user-timeout, as dbfsm's sessions do (MySQL's read-timeout bounds PyMySQL's reads).

Handed-out connections never reconnect on their own: psycopg does not, and PyMySQL's
`ping()` reconnects only when asked to (dbfsm requires PyMySQL 1.2, where that is off by
default). The engine's reconnect schedule is the only one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from dbfsm.drivers.passwords import first_line
from dbfsm.drivers.session import OpenError
from dbfsm.fsm.settings import BackendSettings, DbType

T = TypeVar("T")


def _library_error(error: BaseException, kind: DbType) -> bool:
    """Whether `error` comes from the backend's client library (or its socket)."""
    if isinstance(error, OSError):
        return True
    if kind is DbType.POSTGRESQL:
        import psycopg

        return isinstance(error, psycopg.Error)
    import pymysql

    return isinstance(error, pymysql.err.Error)


def is_loss(settings: BackendSettings, error: BaseException, connection: object) -> bool:
    """Whether `error`, raised while `connection` was in use, means the connection is gone.

    Errors that are not the client library's (the service's own bugs, cancellation) never
    are; a library error is judged by the rules of the backend's driver.
    """
    if not _library_error(error, settings.type):
        return False
    if isinstance(error, OSError):
        return True
    if settings.type is DbType.POSTGRESQL:
        from dbfsm.drivers import postgresql

        return postgresql.is_loss(error, bool(getattr(connection, "broken", False)))
    from dbfsm.drivers import mysql

    raw = connection.raw if isinstance(connection, AsyncMySQLConnection) else connection
    return mysql.is_loss(error, bool(getattr(raw, "open", False)))


def reason(settings: BackendSettings, error: BaseException) -> str:
    """One line saying what went wrong, without the password."""
    return first_line(error, settings.parameters)


def _unconnectable(settings: BackendSettings) -> None:
    if settings.type not in (DbType.POSTGRESQL, DbType.MYSQL):
        raise OpenError(f"a {settings.type} backend has no database connection")


def open_sync(settings: BackendSettings) -> Any:
    """A new connection of the backend's client library (not in autocommit mode).

    Raises the library's own error when the server cannot be reached, so that the caller
    judges it with `is_loss` like any other.
    """
    _unconnectable(settings)
    if settings.type is DbType.POSTGRESQL:
        from dbfsm.drivers.postgresql import connection_parameters

        sync_class, _ = _answered_classes()
        conn = sync_class.connect(**connection_parameters(settings.parameters))
        conn.answer_within = _answer_within(settings)
        return conn
    from dbfsm.drivers.mysql import connect_blocking

    conn, _ = connect_blocking(settings.parameters, autocommit=False)
    return conn


async def open_async(settings: BackendSettings) -> Any:
    """`open_sync` for asyncio: a `psycopg.AsyncConnection`, or an `AsyncMySQLConnection`."""
    _unconnectable(settings)
    if settings.type is DbType.POSTGRESQL:
        from dbfsm.drivers.postgresql import connection_parameters

        _, async_class = _answered_classes()
        conn = await async_class.connect(**connection_parameters(settings.parameters))
        conn.answer_within = _answer_within(settings)
        return conn
    return await AsyncMySQLConnection.connect(settings)


def _answer_within(settings: BackendSettings) -> float | None:
    return float(settings.parameters.get("tcp-user-timeout") or 0) or None


def _bounded(gen: Generator[Any, Any, T], within: float) -> Generator[Any, Any, T]:
    """psycopg's generator for one operation, failing once `within` seconds pass without it
    completing. psycopg's wait functions (Python and C) send "nothing ready" every interval
    (0.1 s) while the socket is silent, which is when the deadline is checked."""
    deadline = time.monotonic() + within
    try:
        state = next(gen)
        while True:
            ready = yield state
            if not ready and time.monotonic() >= deadline:
                import psycopg

                raise psycopg.OperationalError(
                    "could not receive data from server: no answer within tcp-user-timeout "
                    f"({within:g} s)"
                )
            state = gen.send(ready)
    except StopIteration as end:
        result: T = end.value
        return result


@functools.cache
def _answered_classes() -> tuple[Any, Any]:
    """psycopg connection classes whose every operation waits no longer than the backend's
    tcp-user-timeout for the server, as dbfsm's own sessions do: the kernel's TCP_USER_TIMEOUT
    ends a wait only when sent data goes unacknowledged, not when a hung server (SIGSTOP, a
    proxy that swallows everything) acknowledges and never answers."""
    import psycopg

    class Connection(psycopg.Connection[Any]):
        answer_within: float | None = None

        def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
            within = self.answer_within
            return super().wait(gen if within is None else _bounded(gen, within), *args, **kwargs)

    class AsyncConnection(psycopg.AsyncConnection[Any]):
        answer_within: float | None = None

        async def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
            within = self.answer_within
            gen = gen if within is None else _bounded(gen, within)
            return await super().wait(gen, *args, **kwargs)

    return Connection, AsyncConnection


def finish_sync(connection: Any, commit: bool) -> None:
    """End the connection's transaction: commit after a block that returned, else roll back."""
    if commit:
        connection.commit()
    else:
        connection.rollback()


async def finish_async(connection: Any, commit: bool) -> None:
    await (connection.commit() if commit else connection.rollback())


def close_sync(connection: Any) -> None:
    """Close, never raising: a connection being dropped may already be broken."""
    with contextlib.suppress(Exception):
        connection.close()


async def close_async(connection: Any) -> None:
    with contextlib.suppress(Exception):
        await connection.close()


class AsyncMySQLConnection:
    """A PyMySQL connection for asyncio code: each call runs in the connection's own thread.

    `execute(sql, params)` returns the rows; `commit`, `rollback` and `close` end the
    transaction or the connection; `run(fn)` runs `fn(raw_connection)` in the worker for
    anything else PyMySQL offers. `raw` is the PyMySQL connection itself.
    """

    def __init__(self, raw: Any, worker: ThreadPoolExecutor) -> None:
        self.raw = raw
        self._worker = worker

    @classmethod
    async def connect(cls, settings: BackendSettings) -> AsyncMySQLConnection:
        from dbfsm.drivers.mysql import connect_blocking

        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dbfsm-mysql")
        try:
            raw, _ = await asyncio.get_running_loop().run_in_executor(
                worker, lambda: connect_blocking(settings.parameters, autocommit=False)
            )
        except BaseException:
            worker.shutdown(wait=False)
            raise
        return cls(raw, worker)

    async def run(self, work: Callable[[Any], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, work, self.raw)

    async def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        def work(raw: Any) -> list[tuple[Any, ...]]:
            with raw.cursor() as cursor:
                cursor.execute(sql, tuple(params))
                return list(cursor.fetchall())

        return await self.run(work)

    async def commit(self) -> None:
        await self.run(lambda raw: raw.commit())

    async def rollback(self) -> None:
        await self.run(lambda raw: raw.rollback())

    async def close(self) -> None:
        try:
            await self.run(lambda raw: raw.close())
        finally:
            self._worker.shutdown(wait=False)
