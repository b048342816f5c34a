"""A simulated driver: database servers that are up or down, with a schema version.

A server going down breaks every connection open to it; a broken connection stays broken
even once the server is back, exactly like a real one, so the loss is still noticed at the
next request and the first reconnect attempt then succeeds. A reconnect attempt replaces the
broken connection, whatever its outcome; without one (reconnect disabled) it stays in use.

A server behind a black hole (a network path that drops packets silently) refuses and
resets nothing, so nothing fails fast: a call to it blocks (`stall`) until the client's own
timeout (`connect_timeout`, `request_timeout`), and then fails (`open_timed_out`,
`use_timed_out`). The driver says how long; the runtime carries out the wait
(`dbfsm.simulation.virtual`), and a black hole that ends first lets the call complete then.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dbfsm.drivers import schema
from dbfsm.drivers.tls import mysql_tls_configured
from dbfsm.fsm import forks
from dbfsm.fsm.actions import Close, Open
from dbfsm.fsm.events import Lost, Opened, OpenFailed
from dbfsm.fsm.settings import DEFAULT_PORTS, BackendSettings, DbType

_ENGINE_NAMES = {DbType.MYSQL: "MySQL", DbType.POSTGRESQL: "PostgreSQL"}
_EXPECTED_SCHEMA = schema.text(schema.SCHEMA_VERSION)

# Linux gives up on data that stays unacknowledged after tcp_retries2 = 15 retransmissions:
# with the 200 ms minimum RTO, doubling up to TCP_RTO_MAX = 120 s, (2**10 - 1) * 0.2 s +
# (15 - 9) * 120 s = 924.6 s (Documentation/networking/ip-sysctl.rst, tcp_retries2: "The
# default value of 15 yields a hypothetical timeout of 924.6 seconds"; tcp_timer.c,
# tcp_model_timeout). The lower bound: a longer RTO on a slow path only lengthens it.
KERNEL_DATA_TIMEOUT = 924.6
# A connect whose SYNs go unanswered fails after tcp_syn_retries = 6 retransmissions, 1 + 2
# + ... + 64 = 127 s (ip-sysctl.rst, tcp_syn_retries), whatever connect-timeout says.
KERNEL_CONNECT_TIMEOUT = 127.0
LIBPQ_MIN_CONNECT_TIMEOUT = 2.0  # libpq treats connect_timeout 1 as 2 (driver-facts.md §1.2)

# What a failed connect leaves in libmariadb's error (the errno in parentheses), measured with
# kea-dhcp4 2.2.0 on Debian 12 (libmariadb 3.3) by a startup against each fault:
# * TCP, refused: 115 (EINPROGRESS), not 111. Kea always sets a connect timeout (default 5 s),
#   so the client connects without blocking and, once poll() reports the refusal, formats the
#   errno of its connect() call, still EINPROGRESS; the same through the fault proxy of
#   `dbfsm spec run --target kea`.
# * TCP, no answer to the SYNs (a black hole): 110 (ETIMEDOUT) once connect-timeout expires.
# * `localhost`: the Unix socket. A stopped server has removed it: 2 (ENOENT) at once (a
#   crashed one left it: 111); a server that accepts nothing: 11 (EAGAIN) after the timeout.
MARIADB_SOCKET = "/run/mysqld/mysqld.sock"  # the client's default socket on Debian
MARIADB_REFUSED = (115, 2)  # (TCP, socket)
MARIADB_TIMED_OUT = (110, 11)


@dataclass
class SimulatedServer:
    up: bool = True
    schema: str | None = None  # None: the version the live drivers expect (drivers.schema)
    tls: bool = True  # the server offers TLS
    open_instances: set[int] = field(default_factory=set)
    black_hole: bool = False  # packets to it are dropped silently


def _copy_server(server: SimulatedServer) -> SimulatedServer:
    copy = forks.twin(server)
    copy.open_instances = set(server.open_instances)
    return copy


Snapshot = tuple[dict[str, SimulatedServer], set[tuple[str, int]]]


class SimulatedDriver:
    """Synchronous core, used by the virtual runtime; async wrappers for the live one."""

    def __init__(self) -> None:
        self.servers: dict[str, SimulatedServer] = {}
        # Connections broken by a server going down, as (backend, instance): one set for
        # all servers, since a simulation asks after every step which are broken.
        self.broken_connections: set[tuple[str, int]] = set()
        # The backends whose server is behind a black hole, also asked after every step.
        self.black_holes: set[str] = set()

    def server(self, backend: str) -> SimulatedServer:
        server = self.servers.get(backend)
        if server is None:  # not setdefault: that would build a server on every call
            server = self.servers[backend] = SimulatedServer()
        return server

    def snapshot(self) -> Snapshot:
        """Everything the servers are, to `restore` later (a model checker tries a step and
        takes it back)."""
        servers = {k: _copy_server(s) for k, s in self.servers.items()}
        return servers, set(self.broken_connections)

    def restore(self, snapshot: Snapshot) -> None:
        self.servers, self.broken_connections = snapshot
        self.black_holes = {key for key, server in self.servers.items() if server.black_hole}

    # -- faults -------------------------------------------------------------------------------

    def set_up(self, backend: str, up: bool) -> None:
        server = self.server(backend)
        server.up = up
        if not up:
            broken = ((backend, instance) for instance in server.open_instances)
            self.broken_connections.update(broken)

    def set_schema(self, backend: str, version: str | None) -> None:
        self.server(backend).schema = version

    def set_black_hole(self, backend: str, on: bool) -> None:
        self.server(backend).black_hole = on
        if on:
            self.black_holes.add(backend)
        else:
            self.black_holes.discard(backend)

    def broken(self, backend: str, instance: int) -> bool:
        return (backend, instance) in self.broken_connections

    # -- black holes --------------------------------------------------------------------------

    def stall(self, backend: str, settings: BackendSettings, *, opening: bool) -> float | None:
        """How many seconds a call to `backend`'s server blocks before its timeout gives up:
        None if it is not behind a black hole (the call is answered at once)."""
        if backend not in self.black_holes:
            return None
        return connect_timeout(settings) if opening else request_timeout(settings)

    def open_timed_out(self, request: Open) -> OpenFailed:
        """The answer to an open that connect-timeout gave up on: no connection is left."""
        self.server(request.backend).open_instances.discard(request.instance)
        self.broken_connections.discard((request.backend, request.instance))
        return OpenFailed(request.backend, request.instance, _timed_out(request.settings))

    def use_timed_out(self, backend: str, instance: int, settings: BackendSettings) -> Lost:
        """The loss a request's timeout reports; the connection is dead from then on (the
        kernel has given it up), so later uses find it broken at once."""
        self.broken_connections.add((backend, instance))
        if settings.type is DbType.POSTGRESQL:
            reason = "could not receive data from server: Connection timed out"
        else:
            reason = "Lost connection to server during query"
        return Lost(backend, instance, reason)

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


def connect_timeout(settings: BackendSettings) -> float:
    """How long an open to an unanswering server blocks: Kea's connect-timeout (5 s unless
    configured; libpq raises 1 s to 2 s), cut short by the kernel's own give-up on unanswered
    SYNs, which is all there is without one."""
    seconds = float(settings.parameters.get("connect-timeout") or KERNEL_CONNECT_TIMEOUT)
    if settings.type is DbType.POSTGRESQL:
        seconds = max(seconds, LIBPQ_MIN_CONNECT_TIMEOUT)
    return min(seconds, KERNEL_CONNECT_TIMEOUT)


def request_timeout(settings: BackendSettings) -> float:
    """How long a request on a connection to an unanswering server blocks before the loss
    shows. PostgreSQL: tcp-user-timeout if set (TCP_USER_TIMEOUT replaces the kernel's
    retransmission limit). MySQL: read-timeout if set, the wait for the answer (the query's
    own write is taken by the kernel's send buffer at once, so write-timeout never fires for
    it), unless the kernel gives up first. Unset: the kernel's give-up on unacknowledged data,
    `KERNEL_DATA_TIMEOUT`."""
    parameters = settings.parameters
    if settings.type is DbType.POSTGRESQL:
        return float(parameters.get("tcp-user-timeout") or 0) or KERNEL_DATA_TIMEOUT
    read = float(parameters.get("read-timeout") or 0)
    return min(read, KERNEL_DATA_TIMEOUT) if read else KERNEL_DATA_TIMEOUT


def call_limit(settings: BackendSettings, *, opening: bool) -> tuple[float, str]:
    """How long a call to an unanswering server blocks (`connect_timeout` for an open, else
    `request_timeout`), and what sets that, in words for a timeline or a report: the
    backend's parameter, or where that is unset or overruled, the kernel's limit or libpq's
    minimum connect timeout."""
    if opening:
        seconds, name = connect_timeout(settings), "connect-timeout"
    else:
        seconds = request_timeout(settings)
        name = "tcp-user-timeout" if settings.type is DbType.POSTGRESQL else "read-timeout"
    given = float(settings.parameters.get(name) or 0)
    if not given:
        return seconds, f"the kernel's limit: no {name}"
    if given == seconds:
        return seconds, name
    overruled = "libpq's minimum" if seconds > given else "the kernel's limit"
    return seconds, f"{overruled}, not {name} {given:g} s"


def _timed_out(settings: BackendSettings) -> str:
    if settings.type is DbType.MYSQL:
        return _mariadb_cannot_connect(settings, MARIADB_TIMED_OUT)
    return f"{_connecting_to(settings)} failed: timeout expired"


def _refused(request: Open) -> str:
    params = request.settings.parameters
    if request.settings.type is DbType.MEMFILE:
        return f"unable to open lease file {params.get('name', '')}"
    if request.settings.type is DbType.MYSQL:
        return _mariadb_cannot_connect(request.settings, MARIADB_REFUSED)
    return f"{_connecting_to(request.settings)} failed: Connection refused"


def _connecting_to(settings: BackendSettings) -> str:
    """libpq's words (no "unable to open database" in them: Kea adds its own words, in its
    messages, `dbfsm.fsm.server` and `dbfsm.fsm.messages`)."""
    port = settings.parameters.get("port") or DEFAULT_PORTS[settings.type]
    return f"connection to server at {_host(settings)}, port {port}"


def _mariadb_cannot_connect(settings: BackendSettings, errnos: tuple[int, int]) -> str:
    """The MariaDB client's (libmariadb 3.3, what Kea 2.2 links on Debian 12) words for a
    connect that failed, as Kea passes them on (`mysql_error()`, nothing added): over TCP
    CR_CONN_HOST_ERROR with the host as configured; for `localhost` (Kea's default host) the
    client does not use TCP but the Unix socket, CR_CONNECTION_ERROR with its path. `errnos`:
    (TCP, socket)."""
    host, (tcp, unix) = _host(settings), errnos
    if host == "localhost":
        return f"Can't connect to local server through socket '{MARIADB_SOCKET}' ({unix})"
    return f"Can't connect to server on '{host}' ({tcp})"


def _host(settings: BackendSettings) -> str:
    """The host as configured; Kea's default is localhost."""
    return str(settings.parameters.get("host") or "localhost")
