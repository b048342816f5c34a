"""dbfsm's own database schema, its version, and how it is checked, created and upgraded.

As in Kea, a `schema_version(version, minor)` table says which schema a database holds;
a server accepts exactly `SCHEMA_VERSION` and never upgrades by itself. The SQL lives next to
this module: `<engine>/create.sql` makes version 1.0, then every `UPGRADES` step in order
brings it to `SCHEMA_VERSION`, so a fresh database and an upgraded one are built by the same
statements.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

from dbfsm.drivers.session import Dialect, Session

Version = tuple[int, int]

SCHEMA_VERSION: Final[Version] = (2, 0)
FIRST_VERSION: Final[Version] = (1, 0)
# (from, to) in order; `<from>_to_<to>` names the script in each engine's directory.
UPGRADES: Final[tuple[tuple[Version, Version], ...]] = (((1, 0), (2, 0)),)
TABLE = "schema_version"


def text(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def mismatch(engine: str, found: str) -> str:
    """Kea's text (`mysql_connection.cc` / `pgsql_connection.cc` ensureSchemaVersion);
    `engine` as Kea spells it (`MySQL`, `PostgreSQL`), `found` as `major.minor`."""
    return (
        f"{engine} schema version mismatch: expected version: "
        f"{text(SCHEMA_VERSION)}, found version: {found}"
    )


def statements(dialect: Dialect, script: str) -> list[str]:
    """The statements of one script: comment lines dropped, split at `;` ending a line."""
    source = resources.files(__package__).joinpath(dialect.directory, f"{script}.sql")
    lines = [ln for ln in source.read_text().splitlines() if not ln.lstrip().startswith("--")]
    parts = (part.strip().removesuffix(";").strip() for part in "\n".join(lines).split(";\n"))
    return [part for part in parts if part]


def _script_name(step: tuple[Version, Version]) -> str:
    return f"upgrade_{text(step[0])}_to_{text(step[1])}"


async def tables(session: Session) -> list[str]:
    return sorted(str(row[0]) for row in await session.fetch(session.dialect.list_tables))


async def read_version(session: Session) -> Version | None:
    """The version the database holds; None when it has no schema at all."""
    if TABLE not in await tables(session):
        return None
    rows = await session.fetch(f"SELECT version, minor FROM {TABLE}")
    if not rows:
        return None
    major, minor = rows[0]
    return int(major), int(minor or 0)


async def create(session: Session, upto: Version = SCHEMA_VERSION) -> Version:
    """Create the schema in an empty database, at `upto` (an earlier one only for tests)."""
    await session.run_script(statements(session.dialect, "create"))
    return await upgrade(session, FIRST_VERSION, upto)


async def upgrade(session: Session, found: Version, upto: Version = SCHEMA_VERSION) -> Version:
    """Apply, in order, every step that starts where the database is; returns the version."""
    version = found
    for step in UPGRADES:
        if step[0] == version and step[1] <= upto:
            await session.run_script(statements(session.dialect, _script_name(step)))
            version = step[1]
    return version
