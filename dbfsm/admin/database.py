"""`dbfsm db-init`, `db-version`, `db-upgrade`: dbfsm's schema, in the manner of kea-admin.

They connect exactly as a server would (the same drivers, every connection and TLS parameter
of the backend) to one backend of a configuration, named as in scenarios
(`lease-database`, `hosts-database`, `hosts-databases[N]`, `config-databases[N]`):

* `db-init` creates the schema in an empty database and refuses one that has tables;
* `db-version` prints the version the database holds (`major.minor`);
* `db-upgrade` prints the version, applies every upgrade step in order, prints it again.

A server never upgrades by itself (Kea's rule): an older schema fails its open until an
operator runs `db-upgrade`. Exit status: 0 done, 1 when the database cannot be reached or
refuses the operation (one line on stderr, without the password), 2 for bad input.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

from dbfsm.drivers import schema
from dbfsm.drivers.session import OpenError, QueryFailed, Session, SessionLost
from dbfsm.files.reading import load_file
from dbfsm.fsm.errors import InputError
from dbfsm.fsm.settings import BackendSettings, DbType

DEFAULT_BACKEND = "lease-database"
EXIT_FAILED = 1


class _Refused(Exception):
    """The database is reachable but the operation cannot be done; one line for stderr."""


def administer(command: str, config: str, key: str = DEFAULT_BACKEND) -> int:
    """`dbfsm COMMAND CONFIG KEY` (`db-init`, `db-version` or `db-upgrade`) on the backend
    `key` of the configuration file `config`; the exit status."""
    settings = load_file(config)
    try:
        backend = settings.backend(key)
    except KeyError:
        have = ", ".join(b.key for b in settings.backends) or "none"
        raise InputError(f"{config}: no backend {key} (the configuration has: {have})") from None
    if backend.type is DbType.MEMFILE:
        raise InputError(f"{config}: {backend.key} is a memfile database: it has no schema")
    operation = _OPERATIONS[command]
    try:
        asyncio.run(_with_session(backend, operation))
    except (OpenError, SessionLost) as e:
        sys.stderr.write(f"dbfsm {command}: cannot reach {backend.key}: {e}\n")
        return EXIT_FAILED
    except (_Refused, QueryFailed) as e:
        sys.stderr.write(f"dbfsm {command}: {backend.key}: {e}\n")
        return EXIT_FAILED
    return 0


Operation = Callable[[Session, BackendSettings], Awaitable[None]]


async def _with_session(backend: BackendSettings, operation: Operation) -> None:
    from dbfsm.drivers.live import connect  # PyMySQL and psycopg: only for a connection

    session = await connect(backend)
    try:
        return await operation(session, backend)
    finally:
        await session.close()


async def _init(session: Session, backend: BackendSettings) -> None:
    existing = await schema.tables(session)
    if existing:
        raise _Refused(
            f"expected an empty database {backend.parameters.get('name')}; aborting, "
            f"it has tables: {', '.join(existing)}"
        )
    version = await schema.create(session)
    print(f"Schema version reported after initialization: {schema.text(version)}")


async def _found(session: Session) -> schema.Version:
    found = await schema.read_version(session)
    if found is None:
        raise _Refused("no dbfsm schema (no schema_version table); run dbfsm db-init")
    return found


async def _version(session: Session, backend: BackendSettings) -> None:
    print(schema.text(await _found(session)))


async def _upgrade(session: Session, backend: BackendSettings) -> None:
    before = await _found(session)
    print(f"Schema version reported before upgrade: {schema.text(before)}", flush=True)
    after = await schema.upgrade(session, before)
    if after != schema.SCHEMA_VERSION:
        raise _Refused(
            f"no upgrade path from {schema.text(after)} to {schema.text(schema.SCHEMA_VERSION)}"
        )
    print(f"Schema version reported after upgrade: {schema.text(after)}")


_OPERATIONS: dict[str, Operation] = {
    "db-init": _init,
    "db-version": _version,
    "db-upgrade": _upgrade,
}
