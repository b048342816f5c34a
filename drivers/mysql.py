"""MySQL and MariaDB sessions on PyMySQL, each in its own worker thread.

PyMySQL blocks, so every call on a connection runs in that connection's single worker
thread: the event loop never waits on a socket, and a connection (which PyMySQL does not
share between threads) sees one call at a time.

Timeouts: PyMySQL applies `connect_timeout` to the TCP connect only, and the server's
greeting and the handshake to `read_timeout` (driver-facts.md §2.1), so a port that accepts
but never speaks would hang a connect for ever. The handshake therefore runs with Kea's
`connect-timeout` as its read and write timeouts, and the configured `read-timeout` /
`write-timeout` (0: none, as in Kea) govern the queries after it.

A loss is one of the client errors that mean the session is gone (2002, 2003, 2006, 2013,
2014, 2045, 2055: Kea's list plus driver-facts.md's), the server's own "your session is
over" (1053 shutdown, 1927 killed, 4031 idle timeout), or a connection PyMySQL has already
closed after an I/O error; anything else is an ordinary query error.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pymysql
import pymysql.connections

from dbfsm.drivers import tls
from dbfsm.drivers.passwords import password, redact
from dbfsm.drivers.session import Dialect, OpenError, QueryFailed, Row, SessionLost
from dbfsm.fsm.settings import DEFAULT_PORTS, DbType

DIALECT = Dialect(
    name="MySQL",
    message_prefix="MYSQL",
    directory="mysql",
    list_tables=(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
    ),
    write_lease=(
        "INSERT INTO lease4 (address, hwaddr, valid_lifetime, expire, subnet_id) "
        "VALUES (%s, %s, 3600, NOW() + INTERVAL 1 HOUR, 1) "
        "ON DUPLICATE KEY UPDATE hwaddr = VALUES(hwaddr), expire = VALUES(expire)"
    ),
    read_lease="SELECT address, hwaddr, expire FROM lease4 WHERE address = %s",
    read_host="SELECT host_id, hostname FROM hosts WHERE dhcp_identifier = %s",
    poll_config="SELECT MAX(revision_id) FROM config_audit",
)
LOSS_CODES = frozenset({1053, 1927, 2002, 2003, 2006, 2013, 2014, 2045, 2055, 4031})
_CLOSE_GRACE = 2.0  # seconds a clean close (COM_QUIT) may take before the socket is cut
_CONNECT_GRACE = 0.25  # seconds past connect-timeout before a connect is given up as a whole

T = TypeVar("T")


def error_code(error: BaseException) -> int | None:
    args = error.args
    return args[0] if args and isinstance(args[0], int) else None


def error_text(error: BaseException, parameters: Mapping[str, Any]) -> str:
    args = error.args
    text = str(args[1]) if len(args) > 1 else str(error)
    return redact(text or type(error).__name__, parameters)


def is_loss(error: BaseException, still_open: bool) -> bool:
    if not still_open or error_code(error) in LOSS_CODES:
        return True
    # PyMySQL's errors on a connection it closed itself: InterfaceError(0, '') and "Already closed".
    return isinstance(error, pymysql.err.InterfaceError) or "Already closed" in str(error)


def connect_blocking(
    parameters: Mapping[str, Any], *, autocommit: bool = True
) -> tuple[pymysql.connections.Connection[Any], bool]:
    """Blocking: open, with the handshake bounded by connect-timeout; (conn, tls_missing).
    dbfsm's own sessions commit every statement; a service's connections may not."""
    connect_timeout = int(parameters.get("connect-timeout", 5))
    read_timeout = int(parameters.get("read-timeout", 0)) or None
    write_timeout = int(parameters.get("write-timeout", 0)) or None
    conn = pymysql.connections.Connection(
        host=parameters.get("host", "localhost"),
        port=int(parameters.get("port") or DEFAULT_PORTS[DbType.MYSQL]),
        user=parameters.get("user"),
        password=password(parameters) or "",
        database=parameters.get("name"),
        connect_timeout=connect_timeout,
        read_timeout=connect_timeout,
        write_timeout=connect_timeout,
        autocommit=autocommit,
        charset="utf8mb4",
        defer_connect=True,
        ssl_disabled=True,  # its default context would load the system CAs on every connect
    )
    # PyMySQL attributes its stubs do not declare: its "preferred" TLS mode (TLS when the
    # server offers it, clear text otherwise, as Kea's client) with our context, and the
    # socket timeouts it applies to every read and write.
    undeclared: Any = conn
    context = tls.mysql_context(parameters)
    undeclared.ssl = True
    undeclared.ctx = context or tls.opportunistic_context()
    conn.connect()  # on failure PyMySQL closes its socket itself
    undeclared._read_timeout = read_timeout
    undeclared._write_timeout = write_timeout
    try:
        return conn, context is not None and not _cipher(conn)
    except BaseException:
        with contextlib.suppress(Exception):
            conn.close()
        raise


def _cipher(conn: pymysql.connections.Connection[Any]) -> str:
    """The session's TLS cipher; empty in clear text (Kea asks mysql_get_ssl_cipher())."""
    with conn.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        row = cursor.fetchone()
    return str(row[1]) if row and row[1] else ""


def _close_late(attempt: asyncio.Future[tuple[Any, bool]]) -> None:
    """A connect that completed after its caller gave up: nobody will use it. Its socket is
    closed without a goodbye, which could block the event loop this runs on."""
    if not attempt.cancelled() and attempt.exception() is None:
        sock: socket.socket | None = getattr(attempt.result()[0], "_sock", None)
        if sock is not None:
            sock.close()


class MySQLSession:
    dialect = DIALECT

    def __init__(
        self,
        conn: pymysql.connections.Connection[Any],
        worker: ThreadPoolExecutor,
        parameters: Mapping[str, Any],
        tls_missing: bool,
    ) -> None:
        self._conn = conn
        self._worker = worker
        self._parameters = parameters
        self.tls_missing = tls_missing
        self._closing = False
        self._in_flight = 0
        self._idle = asyncio.Event()  # set while no call runs
        self._idle.set()
        self._watcher: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<MySQLSession {self._parameters.get('host')}:{self._parameters.get('port')}>"

    @classmethod
    async def connect(cls, parameters: Mapping[str, Any]) -> MySQLSession:
        """Every step of a connect is bounded by connect-timeout, but there are several
        (name lookup, TCP, greeting, TLS, authentication): the whole is bounded too, and a
        connection that still completes after it is closed."""
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dbfsm-mysql")
        attempt = asyncio.get_running_loop().run_in_executor(worker, connect_blocking, parameters)
        bound = float(parameters.get("connect-timeout", 5)) + _CONNECT_GRACE
        try:
            conn, tls_missing = await asyncio.wait_for(asyncio.shield(attempt), bound)
        except TimeoutError:
            raise OpenError(
                f"Can't connect to MySQL server on '{parameters.get('host', 'localhost')}' "
                f"(connect-timeout of {parameters.get('connect-timeout', 5)} s expired)"
            ) from None
        except (pymysql.Error, OSError) as e:
            raise OpenError(error_text(e, parameters)) from None
        finally:
            if not attempt.done():  # given up (timed out, or the caller was cancelled)
                attempt.add_done_callback(_close_late)
                worker.shutdown(wait=False)
            elif attempt.cancelled() or attempt.exception() is not None:
                worker.shutdown(wait=False)
        return cls(conn, worker, parameters, tls_missing)

    async def _call(self, work: Callable[[], T]) -> T:
        self._in_flight += 1
        self._idle.clear()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._worker, work)
        except (pymysql.Error, OSError) as e:
            reason = error_text(e, self._parameters)
            if self._closing:
                raise QueryFailed(f"connection closed: {reason}") from None
            if is_loss(e, self._conn.open):
                raise SessionLost(reason) from None
            raise QueryFailed(reason) from None
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        def run() -> list[Row]:
            with self._conn.cursor() as cursor:
                cursor.execute(sql, tuple(params) or None)
                return list(cursor.fetchall())

        return await self._call(run)

    async def run_script(self, statements: Sequence[str]) -> None:
        """MySQL commits DDL statement by statement: there is no one transaction to use."""

        def run() -> None:
            with self._conn.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)

        await self._call(run)

    async def ping(self) -> None:
        await self._call(lambda: self._conn.ping(reconnect=False))

    def watch(self, interval: float, gone: Callable[[str], None]) -> None:
        """Ping every `interval` seconds while no request is running."""
        self._watcher = asyncio.get_running_loop().create_task(self._probe(interval, gone))

    async def _probe(self, interval: float, gone: Callable[[str], None]) -> None:
        while not self._closing:
            await asyncio.sleep(interval)
            if self._in_flight:
                continue  # a request is on the connection: it notices a loss itself
            try:
                await self.ping()
            except SessionLost as e:
                gone(str(e))
                return
            except QueryFailed:
                continue

    async def close(self) -> None:
        """Say goodbye (COM_QUIT) when the connection is idle; under a running call (a
        silent server, a long statement) shut the socket down instead, so the call fails
        at once, and return once it has."""
        self._closing = True
        if self._watcher is not None:
            self._watcher.cancel()
        if self._in_flight == 0 and self._conn.open:
            loop = asyncio.get_running_loop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    loop.run_in_executor(self._worker, self._conn.close), _CLOSE_GRACE
                )
        self._cut()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), _CLOSE_GRACE)
        self._worker.shutdown(wait=False)

    def _cut(self) -> None:
        """Unblock a call stuck on a silent server: shut the socket down under it."""
        sock: socket.socket | None = getattr(self._conn, "_sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            if self._in_flight == 0:
                sock.close()  # else the worker's call fails and PyMySQL closes it
