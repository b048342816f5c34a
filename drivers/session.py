"""What the live driver needs from one open database connection, whatever the engine.

`drivers/postgresql.py` and `drivers/mysql.py` each turn a backend's settings into a
`Session`; the live driver, the schema checks and `dbfsm db-*` only speak to this protocol,
so the rules (what to run on open, on a request, what a loss is worth) are written once.

A session raises `SessionLost` when the connection is gone (the engine-specific
classification decides) and `QueryFailed` for an ordinary error that leaves the connection
usable. Their texts never contain the password.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dbfsm.fsm.errors import Error


class DriverError(Error):
    """A database said no. Not bad input (`fsm.errors.InputError`): the driver turns it
    into a report for the engine, `dbfsm db-*` into exit status 1."""


class SessionLost(DriverError):
    """The connection is gone: the server closed it, crashed, or stopped answering."""


class QueryFailed(DriverError):
    """An ordinary error (syntax, constraint, permission): the connection is still usable."""


class OpenError(DriverError):
    """A connection could not be opened; the text is safe to show (no password)."""


Row = tuple[Any, ...]


class Session(Protocol):
    dialect: Dialect
    # TLS was configured but the session runs in clear text (Kea's *_NO_TLS).
    tls_missing: bool

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Run one statement (committed at once) and return its rows."""
        ...

    async def run_script(self, statements: Sequence[str]) -> None:
        """Run statements in order, as one transaction where the engine allows DDL in one."""
        ...

    async def ping(self) -> None:
        """The cheapest round trip; `SessionLost` if the connection is gone."""
        ...

    def watch(self, interval: float, gone: Callable[[str], None]) -> None:
        """Watch the idle connection; call `gone(reason)` once when it is found lost."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Dialect:
    """The SQL that differs between engines, and the engine's name as Kea prints it."""

    name: str  # "MySQL" / "PostgreSQL": Kea's spelling in its error texts
    message_prefix: str  # "MYSQL" / "PGSQL": as in Kea's DATABASE_<prefix>_* message IDs
    directory: str  # drivers/schema/<directory>/
    list_tables: str
    write_lease: str
    read_lease: str
    read_host: str
    poll_config: str
