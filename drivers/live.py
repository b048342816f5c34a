"""The live driver: real connections to PostgreSQL and MySQL/MariaDB servers.

One `LiveDriver` serves every backend of a configuration, whatever its engine: it dispatches
on the backend's type to `drivers.postgresql` or `drivers.mysql`, and runs the same rules
for both:

* open: connect, read the schema version (create the schema in an empty database unless the
  backend is `readonly` or has only a `password-file`, as Kea), and answer `Opened` (saying
  whether configured TLS is missing) or `OpenFailed` (`schema_mismatch` for a schema that
  does not match or cannot be created: Kea never retries those);
* use: one client request (a lease written and read back on a lease database, a host looked
  up on a host database, a configuration poll on a config database); the first failure that
  means the connection is gone is reported as `Lost`, and only the first: many requests
  failing on one loss make one report per connection;
* the optional idle watch (`probe_interval`, with `on_lost` to tell) reports a loss it finds
  through `on_lost`, so a server that closed the connection is noticed before a client pays
  for it.

Memfile lease databases have no server: they open at once and a request on them does nothing.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from dbfsm.drivers import schema
from dbfsm.drivers.session import OpenError, QueryFailed, Session, SessionLost
from dbfsm.fsm import messages
from dbfsm.fsm.actions import Close, Open
from dbfsm.fsm.errors import InputError
from dbfsm.fsm.events import Lost, Opened, OpenFailed
from dbfsm.fsm.settings import BackendSettings, DbType, Role


class LibraryMissing(InputError, ImportError):
    """PyMySQL or psycopg is not installed. An `InputError` so that the command line says so
    in one line; an `ImportError` so that a caller probing for them can catch that."""


_LIBRARIES = {"pymysql": "PyMySQL", "psycopg": "psycopg"}  # module -> package to install

try:
    from dbfsm.drivers.mysql import MySQLSession
    from dbfsm.drivers.postgresql import PostgreSQLSession
except ImportError as error:
    _package = _LIBRARIES.get((error.name or "").partition(".")[0])
    if _package is None:
        raise
    raise LibraryMissing(
        f"live connections need {_package}, which is not installed: pip install {_package}"
    ) from error

log = logging.getLogger("dbfsm.drivers")

_FIRST_LEASE = int(ipaddress.IPv4Address("10.0.0.1"))
_LEASE_SPACE = 2**24 - 2  # addresses cycle through 10.0.0.0/8


async def connect(settings: BackendSettings) -> Session:
    """A new session for a MySQL or PostgreSQL backend; `OpenError` when it cannot open."""
    if settings.type is DbType.POSTGRESQL:
        return await PostgreSQLSession.connect(settings.parameters)
    if settings.type is DbType.MYSQL:
        return await MySQLSession.connect(settings.parameters)
    raise OpenError(f"no live driver for database type {settings.type}")


async def ensure_schema(session: Session, settings: BackendSettings) -> None:
    """Kea's ensureSchemaVersion: read the version, create a missing schema, refuse others.

    Raises `OpenError` with Kea's text; the open then fails as a schema problem.
    """
    prefix = session.dialect.message_prefix
    found = await schema.read_version(session)
    if found is None:
        # Kea does not initialise a readonly database, nor without an inline password
        # (mysql_connection.cc:480-496).
        refusal = "READONLY" if settings.readonly else None
        if refusal is None and "password-file" in settings.parameters:
            refusal = "NO_PASSWORD"
        if refusal is not None:
            message = messages.database(f"DATABASE_{prefix}_NO_INIT_{refusal}")
            log.warning("%s %s", message.id, message.text)
            raise OpenError(message.text)
        message = messages.database(
            f"DATABASE_{prefix}_INITIALIZE_SCHEMA",
            f"create schema {schema.text(schema.SCHEMA_VERSION)} in {settings.key}",
        )
        log.info("%s %s", message.id, message.text)
        try:
            found = await schema.create(session)
        except QueryFailed as e:
            raise OpenError(f"schema initialization failed: {e}") from None
    if found != schema.SCHEMA_VERSION:
        raise OpenError(schema.mismatch(session.dialect.name, schema.text(found)))


@dataclass
class _Connection:
    session: Session
    settings: BackendSettings
    lost_reported: bool = False


class LiveDriver:
    """Implements `drivers.base.Driver` against real servers."""

    def __init__(
        self,
        *,
        probe_interval: float | None = None,
        on_lost: Callable[[Lost], None] | None = None,
    ) -> None:
        self.probe_interval = probe_interval
        self.on_lost = on_lost
        # (backend key, lease address) for every lease write the server acknowledged.
        self.acknowledged: list[tuple[str, str]] = []
        self._connections: dict[tuple[str, int], _Connection] = {}
        self._closed: set[tuple[str, int]] = set()  # closed while an open was under way
        self._leases = itertools.count()

    @property
    def connections(self) -> int:
        """How many connections are open now."""
        return len(self._connections)

    def session(self, backend: str, instance: int) -> Session | None:
        """The open session of a backend's connection, if any (to inspect it)."""
        connection = self._connections.get((backend, instance))
        return None if connection is None else connection.session

    async def open(self, request: Open) -> Opened | OpenFailed:
        key = (request.backend, request.instance)
        self._closed.discard(key)
        await self._drop(key)  # a reconnect attempt replaces the lost connection
        settings = request.settings
        if settings.type is DbType.MEMFILE:
            return Opened(request.backend, request.instance)
        try:
            session = await connect(settings)
        except OpenError as e:
            return OpenFailed(request.backend, request.instance, str(e))
        try:
            await ensure_schema(session, settings)
        except OpenError as e:
            await session.close()
            return OpenFailed(request.backend, request.instance, str(e), schema_mismatch=True)
        except (SessionLost, QueryFailed) as e:
            await session.close()
            return OpenFailed(request.backend, request.instance, str(e))
        if key in self._closed:  # the engine closed it meanwhile: the answer is stale
            await session.close()
            return Opened(request.backend, request.instance)
        connection = _Connection(session, settings)
        self._connections[key] = connection
        if self.probe_interval and self.on_lost is not None:
            session.watch(self.probe_interval, lambda reason: self._gone(key, connection, reason))
        return Opened(request.backend, request.instance, tls_missing=session.tls_missing)

    async def close(self, request: Close) -> None:
        key = (request.backend, request.instance)
        self._closed.add(key)
        await self._drop(key)

    async def aclose(self) -> None:
        """Close every connection (a clean stop)."""
        for key in list(self._connections):
            await self._drop(key)

    async def use(self, backend: str, instance: int) -> Lost | None:
        connection = self._connections.get((backend, instance))
        if connection is None:
            return None
        try:
            await self._request(backend, connection)
        except SessionLost as e:
            return self._loss(backend, instance, connection, str(e))
        except QueryFailed as e:
            log.warning("request on %s failed (not a connection loss): %s", backend, e)
        return None

    async def _request(self, backend: str, connection: _Connection) -> None:
        session, role = connection.session, connection.settings.role
        dialect = session.dialect
        if role is Role.LEASE:
            address = _FIRST_LEASE + next(self._leases) % _LEASE_SPACE
            await session.fetch(dialect.write_lease, (address, f"hw-{address:08x}"))
            self.acknowledged.append((backend, str(ipaddress.IPv4Address(address))))
            await session.fetch(dialect.read_lease, (address,))
        elif role is Role.HOSTS:
            await session.fetch(dialect.read_host, (f"client-{next(self._leases)}",))
        else:
            await session.fetch(dialect.poll_config)

    def _loss(
        self, backend: str, instance: int, connection: _Connection, reason: str
    ) -> Lost | None:
        if connection.lost_reported:
            return None
        connection.lost_reported = True
        return Lost(backend, instance, reason)

    def _gone(self, key: tuple[str, int], connection: _Connection, reason: str) -> None:
        lost = self._loss(*key, connection, reason)
        if lost is not None and self.on_lost is not None:
            self.on_lost(lost)

    async def _drop(self, key: tuple[str, int]) -> None:
        connection = self._connections.pop(key, None)
        if connection is not None:
            await connection.session.close()
