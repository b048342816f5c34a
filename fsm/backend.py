"""The model of one backend machine: the data its guards read, the effects it performs.

Kea's ReconnectCtl lives here as plain fields (`retries_left`, `manager_id`); which effect
runs when is decided by `fsm.graph.BACKEND`, never here.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from dbfsm.fsm import forks, messages
from dbfsm.fsm.actions import Action, AttemptResult, Close, Log, Open
from dbfsm.fsm.graph import BACKEND
from dbfsm.fsm.settings import (
    DB_CONNECTION_ORIGIN,
    STARTUP_MANAGER_ID,
    BackendSettings,
    DbType,
    Role,
)

if TYPE_CHECKING:
    from dbfsm.fsm.messages import LogMessage

_MANAGER_NAMES = {
    (Role.LEASE, DbType.MYSQL): "MySqlLeaseMgr",
    (Role.LEASE, DbType.POSTGRESQL): "PgSqlLeaseMgr",
    (Role.HOSTS, DbType.MYSQL): "MySqlHostMgr",
    (Role.HOSTS, DbType.POSTGRESQL): "PgSqlHostMgr",
    (Role.CONFIG, DbType.MYSQL): "MySqlConfigBackend",
    (Role.CONFIG, DbType.POSTGRESQL): "PgSqlConfigBackend",
}

_OPEN_RETRY_MESSAGES = {
    Role.LEASE: "DHCPSRV_LEASE_MGR_DB_OPEN_CONNECTION_WITH_RETRY_FAILED",
    Role.HOSTS: "DHCPSRV_HOST_MGR_DB_OPEN_CONNECTION_WITH_RETRY_FAILED",
    Role.CONFIG: "DCTL_DB_OPEN_CONNECTION_WITH_RETRY_FAILED",
}


_Kept = TypeVar("_Kept", Log, AttemptResult)
_KEPT_LIMIT = 256  # actions a backend keeps to emit again (attempt numbers alone are endless)


class Host(Protocol):
    """What a backend needs from the server that owns it."""

    @property
    def universe(self) -> int: ...

    def emit(self, action: Action) -> None: ...
    def disable_service(self, origin: int, owner: str) -> None: ...
    def enable_service(self, owner: str) -> None: ...
    def backend_settled(self, backend: Backend) -> None: ...
    def post_recovery(self, backend: Backend) -> None: ...
    def exit_for_backend(self) -> None: ...
    def arm_timer(self, name: str, delay: float, backend: Backend) -> None: ...
    def disarm_timer(self, name: str) -> None: ...


def access_string(settings: BackendSettings, universe: int) -> str:
    """Kea's redacted access string: the parameters given (no defaults) plus `universe=N`
    for lease and host databases (cfg_db_access.cc:117-130), sorted as Kea's parameter map
    is; the password hidden; booleans `true`/`false`, as DbAccessParser stores them."""
    redacted = settings.redacted()
    given = {k: redacted[k] for k in settings.given}
    if settings.role is not Role.CONFIG:
        given["universe"] = universe
    return " ".join(f"{k}={_access_value(given[k])}" for k in sorted(given))


def _access_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Backend:
    def __init__(self, host: Host, settings: BackendSettings, instance: int) -> None:
        self.state = BACKEND.initial  # changed only by the engine, as the graph says
        self.host = host
        self.settings = settings
        self.key = settings.key
        self.instance = instance
        self.retries_left = settings.max_reconnect_tries
        self.config_applied = False
        self.schema_mismatch = False
        self.tls_missing = False  # the last Opened said: TLS configured, session in clear text
        self.last_error = ""
        # Recovery started by retry-on-startup runs under Kea's startup retry control (id 0).
        self.startup_retry = False
        self.manager_id = settings.manager_id
        # The logs and attempt results this backend emitted, to emit the same objects again.
        self._kept: dict[tuple[object, ...], Log | AttemptResult] = {}

    def fork(self, host: Host) -> Backend:
        """A copy in the same state, owned by `host` (a forked server); its fields are values
        except the actions it keeps to emit again, which it copies."""
        twin = forks.twin(self)
        twin.host = host
        twin._kept = dict(self._kept)
        return twin

    @functools.cached_property
    def timer_name(self) -> str:  # fixed for the backend's life: its instance and settings
        if self.settings.type is DbType.MEMFILE:
            return "memfile-lease-mgr"
        name = _MANAGER_NAMES[(self.settings.role, self.settings.type)]
        if self.settings.role is Role.CONFIG:
            name += f"DHCPv{self.host.universe}"
        return f"{name}[{self.instance}]DbReconnectTimer"

    @property
    def attempt_number(self) -> int:
        """Kea's retryIndex() after the decrement: the attempt now running."""
        return self.settings.max_reconnect_tries - self.retries_left

    # -- helpers ------------------------------------------------------------------------------

    def _log(self, message: LogMessage) -> None:
        self.host.emit(Log(message))

    def _server_log(self, name: str, *args: object) -> None:
        """Log the server's message `name` (`fsm.messages.server`)."""
        self._say(False, name, args)

    def _backend_log(self, name: str, *args: object) -> None:
        """Log this backend's hook message `name` (`fsm.messages.backend`)."""
        self._say(True, name, args)

    def _say(self, hook: bool, name: str, args: tuple[object, ...]) -> None:
        # A backend says the same few things again and again (the same manager, timer and
        # error): each `Log` is made once and emitted again, and a writer keeps what it wrote
        # for the object (fsm.records.JsonLines.notice).
        key = (hook, name, args)
        log = self._kept.get(key)
        if log is None:
            s, universe = self.settings, self.host.universe
            if hook:
                message = messages.backend(s.role, s.type, universe, name, *args)
            else:
                message = messages.server(universe, name, *args)
            log = self._keep(key, Log(message))
        self.host.emit(log)

    def _attempt_result(self, ok: bool) -> None:
        n = self.attempt_number
        result = self._kept.get((n, ok))
        if result is None:
            of = self.settings.max_reconnect_tries
            result = self._keep((n, ok), AttemptResult(self.key, n, of, ok))
        self.host.emit(result)

    def _keep(self, key: tuple[object, ...], action: _Kept) -> _Kept:
        if len(self._kept) >= _KEPT_LIMIT:
            self._kept.clear()
        self._kept[key] = action
        return action

    def _exits(self) -> bool:
        return BACKEND.guards["exits_on_failure"].holds(self)

    # -- effects (named in fsm.graph.BACKEND) -------------------------------------------------

    def request_open(self, _: Any = None) -> None:
        self.host.emit(Open(self.key, self.instance, self.settings))

    def next_backend(self, _: Any = None) -> None:
        self.host.backend_settled(self)

    abort_configuration = next_backend

    def log_open_retry(self, _: Any = None) -> None:
        self.startup_retry = True
        self.manager_id = STARTUP_MANAGER_ID
        name = _OPEN_RETRY_MESSAGES[self.settings.role]
        access = access_string(self.settings, self.host.universe)
        self._log(messages.database(name, access, self.last_error))

    def begin_episode(self, _: Any = None) -> None:
        self.retries_left = self.settings.max_reconnect_tries
        self.manager_id = STARTUP_MANAGER_ID if self.startup_retry else self.settings.manager_id
        self._server_log("DB_RECONNECT_LOST_CONNECTION", self.manager_id, self.timer_name)

    def post_recovery(self, _: Any = None) -> None:
        self.host.post_recovery(self)

    def stop_service(self, _: Any = None) -> None:
        self.host.disable_service(DB_CONNECTION_ORIGIN + self.manager_id, self.key)

    def request_attempt(self, _: Any = None) -> None:
        self.retries_left -= 1
        n, of = self.attempt_number, self.settings.max_reconnect_tries
        self.host.emit(Open(self.key, self.instance, self.settings, n, of))

    def log_attempt_failed(self, _: Any = None) -> None:
        self._attempt_result(ok=False)
        self._backend_log("DB_RECONNECT_ATTEMPT_FAILED", self.last_error)

    def schedule_attempt(self, _: Any = None) -> None:
        wait = self.settings.reconnect_wait_time
        n, of = self.attempt_number + 1, self.settings.max_reconnect_tries
        self._backend_log("DB_RECONNECT_ATTEMPT_SCHEDULE", n, of, wait)
        self.host.arm_timer(self.timer_name, wait / 1000, self)

    def log_lost_again(self, _: Any = None) -> None:
        self._server_log("DB_RECONNECT_LOST_CONNECTION", self.manager_id, self.timer_name)

    def log_tls(self, _: Any = None) -> None:
        """Kea checks the session's cipher after connecting, for MySQL only, and keeps a
        clear-text connection (mysql_lease_mgr.cc:2430-2440, kea-behaviour.md §5)."""
        if self.tls_missing and self.settings.type is DbType.MYSQL:
            self._backend_log("NO_TLS")

    def resume_service(self, _: Any = None) -> None:
        self._attempt_result(ok=True)
        self.host.enable_service(self.key)
        self._server_log("DB_RECONNECT_SUCCEEDED", self.manager_id, self.timer_name)
        # A recovered manager is a new one with its own retry control.
        self.retries_left = self.settings.max_reconnect_tries
        self.startup_retry = False
        self.manager_id = self.settings.manager_id

    def report_reconnect_disabled(self, _: Any = None) -> None:
        name = "FATAL_DB_RECONNECT_DISABLED" if self._exits() else "DB_RECONNECT_DISABLED"
        wait = self.settings.reconnect_wait_time
        self._server_log(name, self.retries_left, wait, self.manager_id, self.timer_name)

    def report_retries_exhausted(self, _: Any = None) -> None:
        tries = self.settings.max_reconnect_tries
        self._backend_log("DB_RECONNECT_FAILED", tries)
        name = "FATAL_DB_RECONNECT_FAILED" if self._exits() else "DB_RECONNECT_FAILED"
        self._server_log(name, tries, self.manager_id, self.timer_name)

    def request_exit(self, _: Any = None) -> None:
        self.host.exit_for_backend()

    def cancel_timer(self, _: Any = None) -> None:
        self.host.disarm_timer(self.timer_name)

    def request_close(self, _: Any = None) -> None:
        self.host.emit(Close(self.key, self.instance))
