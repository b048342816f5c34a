"""Typed, validated settings: what the engine reads from a Kea configuration.

`fsm.config` turns a Kea document into these objects; everything downstream (the graph's
guards, the engine, the CLI) reads only these, never raw JSON, so a rule that depends on a
parameter sees one spelling and one default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class OnFail(StrEnum):
    """Kea's `on-fail` values (`reconnect_ctl.h` OnFailAction)."""

    STOP_RETRY_EXIT = "stop-retry-exit"
    SERVE_RETRY_EXIT = "serve-retry-exit"
    SERVE_RETRY_CONTINUE = "serve-retry-continue"


class DbType(StrEnum):
    MEMFILE = "memfile"
    MYSQL = "mysql"
    POSTGRESQL = "postgresql"


class Role(StrEnum):
    """Which part of the configuration a backend comes from."""

    LEASE = "lease-database"
    HOSTS = "hosts-databases"
    CONFIG = "config-databases"


# The port a backend map without one (Kea's port 0) connects to: the client library's default.
DEFAULT_PORTS: Mapping[DbType, int] = {DbType.MYSQL: 3306, DbType.POSTGRESQL: 5432}

# Kea's manager IDs (`makeReconnectCtl` ids, "manager ID" in logs), kea-behaviour.md §2.2.
MANAGER_IDS: Mapping[tuple[Role, DbType], int] = {
    (Role.LEASE, DbType.MYSQL): 3001,
    (Role.LEASE, DbType.POSTGRESQL): 3002,
    (Role.LEASE, DbType.MEMFILE): 3003,
    (Role.HOSTS, DbType.MYSQL): 3011,
    (Role.HOSTS, DbType.POSTGRESQL): 3012,
    (Role.CONFIG, DbType.MYSQL): 3021,
    (Role.CONFIG, DbType.POSTGRESQL): 3022,
}

# The retry control made while connecting under retry-on-startup has id 0 (kea-behaviour.md §2.7).
STARTUP_MANAGER_ID = 0
# NetworkState::DB_CONNECTION; the origin of a retry control is DB_CONNECTION + its manager ID.
DB_CONNECTION_ORIGIN = 3000
USER_COMMAND_ORIGIN = 1


@dataclass(frozen=True)
class BackendSettings:
    """One database backend with Kea's defaults filled in.

    `key` names the backend the way scenarios and records do: `lease-database`,
    `hosts-database`, `hosts-databases[0]`, `config-databases[1]`.
    """

    key: str
    role: Role
    type: DbType
    max_reconnect_tries: int = 0
    reconnect_wait_time: int = 0  # milliseconds, as in Kea
    on_fail: OnFail = OnFail.STOP_RETRY_EXIT
    retry_on_startup: bool = False
    readonly: bool = False
    # Every parameter as effective (defaults filled); secrets included: use `redacted()` to show.
    # Not in the repr, which ends up in tracebacks and logs.
    parameters: Mapping[str, Any] = field(default_factory=dict, repr=False)
    # The names of the parameters the configuration gave (Kea's access string holds only these).
    given: frozenset[str] = frozenset()

    @property
    def manager_id(self) -> int:
        return MANAGER_IDS[(self.role, self.type)]

    @property
    def reconnects(self) -> bool:
        """Memfile has no reconnect loop: its retry control always has zero tries."""
        return self.type is not DbType.MEMFILE

    def redacted(self) -> dict[str, Any]:
        """Effective parameters safe to print: the password is never shown."""
        return {k: ("*****" if k == "password" else v) for k, v in self.parameters.items()}


@dataclass(frozen=True)
class ServerSettings:
    """A whole server configuration: the backends in Kea's connect order plus the document.

    Kea connects config backends first (while parsing), then the lease database, then host
    databases (`cfg_db_access.cc` createManagers); `backends` keeps that order.
    """

    universe: int  # 4 or 6
    backends: tuple[BackendSettings, ...]
    # The configuration as given, untouched (for config-get); secrets included, so not in the repr.
    document: Mapping[str, Any] = field(repr=False)
    source: str | None = None  # file the configuration came from, if any
    config_fetch_wait_time: float = 30.0  # seconds, config-control polling period

    @property
    def root(self) -> str:
        return f"Dhcp{self.universe}"

    def backend(self, key: str) -> BackendSettings:
        for b in self.backends:
            if b.key == key:
                return b
        raise KeyError(key)
