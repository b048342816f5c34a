"""A simulated driver: database servers that are up or down, with a schema version.

A server going down breaks every connection open to it; a broken connection stays broken
even once the server is back, exactly like a real one, so the loss is still noticed at the
next request and the first reconnect attempt then succeeds. A reconnect attempt replaces the
broken connection, whatever its outcome; without one (reconnect disabled) it stays in use.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from dbfsm.drivers import schema
from dbfsm.drivers.tls import mysql_tls_configured
from dbfsm.fsm.actions import Close, Open
from dbfsm.fsm.events import Lost, Opened, OpenFailed
from dbfsm.fsm.settings import DEFAULT_PORTS, DbType

_ENGINE_NAMES = {DbType.MYSQL: "MySQL", DbType.POSTGRESQL: "PostgreSQL"}
_EXPECTED_SCHEMA = schema.text(schema.SCHEMA_VERSION)


@dataclass
class SimulatedServer:
    up: bool = True
    schema: str | None = None  # None: the version the live drivers expect (drivers.schema)
    tls: bool = True  # the server offers TLS
    open_instances: set[int] = field(default_factory=set)


Snapshot = tuple[dict[str, SimulatedServer], set[tuple[str, int]]]


class SimulatedDriver:
    """Synchronous core, used by the virtual runtime; async wrappers for the live one."""

    def __init__(self) -> None:
        self.servers: dict[str, SimulatedServer] = {}
        # Connections broken by a server going down, as (backend, instance): one set for
        # all servers, since a simulation asks after every step which are broken.
        self.broken_connections: set[tuple[str, int]] = set()

    def server(self, backend: str) -> SimulatedServer:
        server = self.servers.get(backend)
        if server is None:  # not setdefault: that would build a server on every call
            server = self.servers[backend] = SimulatedServer()
        return server

    def snapshot(self) -> Snapshot:
        """Everything the servers are, to `restore` later (a model checker tries a step and
        takes it back)."""
        return copy.deepcopy(self.servers), set(self.broken_connections)

    def restore(self, snapshot: Snapshot) -> None:
        self.servers, self.broken_connections = snapshot

    # -- faults -------------------------------------------------------------------------------

    def set_up(self, backend: str, up: bool) -> None:
        server = self.server(backend)
        server.up = up
        if not up:
            broken = ((backend, instance) for instance in server.open_instances)
            self.broken_connections.update(broken)

    def set_schema(self, backend: str, version: str | None) -> None:
        self.server(backend).schema = version

    def broken(self, backend: str, instance: int) -> bool:
        return (backend, instance) in self.broken_connections

    # -- driver operations --------------------------------------------------------------------

    def open_now(self, request: Open) -> Opened | OpenFailed:
        server = self.server(request.backend)
        db_type = request.settings.type
        if request.attempt is not None:  # Kea recreates the manager: the broken one is gone
            self.broken_connections.discard((request.backend, request.instance))
        if not server.up:
            return OpenFailed(request.backend, request.instance, _refused(request))
        if db_type in _ENGINE_NAMES and server.schema not in (None, _EXPECTED_SCHEMA):
            reason = schema.mismatch(_ENGINE_NAMES[db_type], str(server.schema))
            return OpenFailed(request.backend, request.instance, reason, schema_mismatch=True)
        server.open_instances.add(request.instance)
        self.broken_connections.discard((request.backend, request.instance))
        # As with PyMySQL: configured TLS falls back to clear text on a server without it.
        clear_text = (
            db_type is DbType.MYSQL
            and not server.tls
            and mysql_tls_configured(request.settings.parameters)
        )
        return Opened(request.backend, request.instance, tls_missing=clear_text)

    def close_now(self, request: Close) -> None:
        server = self.server(request.backend)
        server.open_instances.discard(request.instance)
        self.broken_connections.discard((request.backend, request.instance))

    def use_now(self, backend: str, instance: int) -> Lost | None:
        if self.broken(backend, instance):
            return Lost(backend, instance, "Lost connection to server during query")
        return None

    async def open(self, request: Open) -> Opened | OpenFailed:
        return self.open_now(request)

    async def close(self, request: Close) -> None:
        self.close_now(request)

    async def use(self, backend: str, instance: int) -> Lost | None:
        return self.use_now(backend, instance)


def _refused(request: Open) -> str:
    params = request.settings.parameters
    if request.settings.type is DbType.MEMFILE:
        return f"unable to open lease file {params.get('name', '')}"
    host = params.get("host", "localhost")
    port = params.get("port") or DEFAULT_PORTS[request.settings.type]
    return f"connection to server at {host}, port {port} failed: Connection refused"
