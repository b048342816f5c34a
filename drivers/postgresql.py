"""PostgreSQL sessions on psycopg 3 (async): parameters, loss classification, idle watch.

Every Kea parameter reaches libpq: host, port, name, user, password, `connect-timeout`
(enforced here too, since libpq raises values under 2 s to 2 s), `tcp-user-timeout` (Kea's
seconds become libpq's milliseconds) and the TLS parameters (`drivers.tls`).

A loss is an error on a broken connection, or an `OperationalError` whose SQLSTATE class is
08 (connection exception), 53 (insufficient resources), 54 (program limit exceeded), 57
(operator intervention), 58 (system error) or that has none (libpq's own "server closed the
connection"), as Kea's `checkStatementError`; anything else is an ordinary query error.

`tcp-user-timeout` also bounds the wait for an answer. libpq hands it to the kernel, which
closes a connection whose sent data stays unacknowledged that long; but a server that is
stopped (SIGSTOP) or cut off behind a proxy still has its data acknowledged by the kernel on
its side, so nothing would ever end the wait. A statement that has no answer within the
timeout therefore has its socket shut down, and the connection is lost as libpq would have
lost it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import psycopg

from dbfsm.drivers import tls
from dbfsm.drivers.passwords import first_line, password
from dbfsm.drivers.session import Dialect, OpenError, QueryFailed, Row, SessionLost
from dbfsm.fsm.settings import DEFAULT_PORTS, DbType

DIALECT = Dialect(
    name="PostgreSQL",
    message_prefix="PGSQL",
    directory="postgresql",
    list_tables=(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    ),
    write_lease=(
        "INSERT INTO lease4 (address, hwaddr, valid_lifetime, expire, subnet_id) "
        "VALUES (%s, %s, 3600, now() + interval '1 hour', 1) "
        "ON CONFLICT (address) DO UPDATE SET hwaddr = EXCLUDED.hwaddr, expire = EXCLUDED.expire"
    ),
    read_lease="SELECT address, hwaddr, expire FROM lease4 WHERE address = %s",
    read_host="SELECT host_id, hostname FROM hosts WHERE dhcp_identifier = %s",
    poll_config="SELECT max(revision_id) FROM config_audit",
)
LOSS_CLASSES = frozenset({"08", "53", "54", "57", "58"})
_CLOSE_GRACE = 2.0  # seconds a statement may take to fail after its socket is shut down
T = TypeVar("T")


def is_loss(error: BaseException, broken: bool) -> bool:
    if broken:
        return True
    if not isinstance(error, psycopg.OperationalError):
        return False
    return error.sqlstate is None or error.sqlstate[:2] in LOSS_CLASSES


def connection_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """psycopg/libpq keywords for a Kea PostgreSQL database map (defaults already filled)."""
    libpq: dict[str, Any] = {
        "host": parameters.get("host", "localhost"),
        "dbname": parameters.get("name"),
        "user": parameters.get("user"),
        "password": password(parameters),
        "connect_timeout": parameters.get("connect-timeout", 5),
    }
    if parameters.get("port"):
        libpq["port"] = parameters["port"]
    if parameters.get("tcp-user-timeout"):
        libpq["tcp_user_timeout"] = int(parameters["tcp-user-timeout"]) * 1000
    libpq.update(tls.postgresql_parameters(parameters))
    return {k: v for k, v in libpq.items() if v is not None}


class PostgreSQLSession:
    dialect = DIALECT
    tls_missing = False  # Kea makes no post-connect TLS check for PostgreSQL

    def __init__(self, conn: psycopg.AsyncConnection[Any], parameters: Mapping[str, Any]):
        self._conn = conn
        self._parameters = parameters
        self._closing = False
        self._busy = 0
        self._idle = asyncio.Event()  # set while no statement runs
        self._idle.set()
        self._gone: Callable[[str], None] | None = None
        self._answer_within = float(parameters.get("tcp-user-timeout") or 0) or None
        self._silent = False  # the server let a statement go unanswered past tcp-user-timeout
        self._watched_fd: int | None = None
        self._checks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"<PostgreSQLSession {self._parameters.get('host')}:{self._parameters.get('port')}>"

    @classmethod
    async def connect(cls, parameters: Mapping[str, Any]) -> PostgreSQLSession:
        timeout = float(parameters.get("connect-timeout", 5))
        host = parameters.get("host", "localhost")
        port = parameters.get("port") or DEFAULT_PORTS[DbType.POSTGRESQL]
        try:
            conn = await asyncio.wait_for(
                psycopg.AsyncConnection.connect(
                    autocommit=True, **connection_parameters(parameters)
                ),
                timeout,
            )
        except TimeoutError:
            raise OpenError(
                f'connection to server at "{host}", port {port} failed: timeout expired'
            ) from None
        except psycopg.Error as e:
            raise OpenError(first_line(e, parameters).removeprefix("connection failed: ")) from None
        return cls(conn, parameters)

    # -- statements -----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _using(self) -> AsyncIterator[None]:
        """One operation: the idle watch steps aside (psycopg waits on the same socket)."""
        self._busy += 1
        self._idle.clear()
        self._unwatch()
        try:
            yield
        except psycopg.Error as e:
            raise self._classify(e) from None
        finally:
            self._busy -= 1
            if not self._busy:
                self._idle.set()
            self._rewatch()

    def _classify(self, error: psycopg.Error) -> QueryFailed | SessionLost:
        reason = first_line(error, self._parameters)
        if self._closing:
            return QueryFailed(f"connection closed: {reason}")
        if self._silent:
            return SessionLost(
                "could not receive data from server: no answer within tcp-user-timeout "
                f"({self._parameters.get('tcp-user-timeout')} s)"
            )
        if is_loss(error, self._conn.broken):
            return SessionLost(reason)
        return QueryFailed(reason)

    async def _answered(self, work: Awaitable[T]) -> T:
        """`work`'s result, waiting no longer than tcp-user-timeout for the server: past it,
        the socket is shut down and `work` fails at once. A request cancelled from outside (a
        run stopping) ends its statement the same way, never by psycopg's cancel request,
        which libpq sends blocking, to a server that may be the silent one; either way the
        statement has ended when this returns, so nothing is left running on the socket."""
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(work)
        timer = None
        if self._answer_within is not None:
            timer = loop.call_later(self._answer_within, self._no_answer)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                self._shut_down_socket()
                await asyncio.wait({task})
            if not task.cancelled():
                task.exception()  # retrieved: the cancellation is what the caller sees
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _no_answer(self) -> None:
        self._silent = True
        self._shut_down_socket()

    async def _fetch(self, sql: str, params: Sequence[object]) -> list[Row]:
        cursor = await self._conn.execute(sql.encode(), params or None)
        return list(await cursor.fetchall()) if cursor.description else []

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        async with self._using():
            return await self._answered(self._fetch(sql, params))

    async def run_script(self, statements: Sequence[str]) -> None:
        async with self._using(), self._conn.transaction():
            for statement in statements:
                await self._answered(self._conn.execute(statement.encode()))

    async def ping(self) -> None:
        async with self._using():
            await self._answered(self._conn.execute(b""))

    # -- idle watch: the socket becoming readable while nothing runs --------------------------

    def watch(self, interval: float, gone: Callable[[str], None]) -> None:
        """`interval` is unused: the kernel tells when the server sends or closes anything."""
        self._gone = gone
        self._rewatch()

    def _rewatch(self) -> None:
        if self._gone is None or self._busy or self._closing or self._watched_fd is not None:
            return
        if self._conn.closed:
            return
        self._watched_fd = self._conn.fileno()
        asyncio.get_running_loop().add_reader(self._watched_fd, self._readable)

    def _unwatch(self) -> None:
        if self._watched_fd is not None:
            asyncio.get_running_loop().remove_reader(self._watched_fd)
            self._watched_fd = None

    def _readable(self) -> None:
        self._unwatch()
        task = asyncio.get_running_loop().create_task(self._check())
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _check(self) -> None:
        try:
            await self.ping()
        except SessionLost as e:
            gone, self._gone = self._gone, None
            self._unwatch()
            if gone is not None:
                gone(str(e))
        except QueryFailed:
            pass

    async def close(self) -> None:
        """Close, also under a running statement, without ever freeing the socket while
        psycopg still waits on it: its number could go to the next connection while the old
        waiter still adds and removes event-loop readers for it. So a busy connection's socket
        is shut down first (the statement then fails at once), and closed once it has."""
        self._closing = True
        self._gone = None
        self._unwatch()
        if self._busy:
            self._shut_down_socket()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), _CLOSE_GRACE)
        with contextlib.suppress(psycopg.Error, OSError):
            await self._conn.close()

    def _shut_down_socket(self) -> None:
        with contextlib.suppress(OSError, psycopg.Error):
            duplicate = socket.socket(fileno=os.dup(self._conn.fileno()))
            with duplicate:  # closes only the duplicate descriptor
                duplicate.shutdown(socket.SHUT_RDWR)
