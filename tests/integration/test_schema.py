"""Schema versions on real servers: created when missing, refused when different, upgraded
only by an operator (kea-behaviour.md §4)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from dbfsm.drivers import schema
from dbfsm.drivers.live import LiveDriver, connect
from dbfsm.fsm.events import Opened, OpenFailed
from tests.integration.servers import PrivateServer
from tests.integration.support import LEASE, backend, open_request

_names = itertools.count()
ENGINE_NAMES = {"postgresql": "PostgreSQL", "mysql": "MySQL"}


@pytest.fixture
def empty_db(server: PrivateServer) -> dict[str, Any]:
    """A database map pointing to a new, empty database."""
    name = f"schema_{next(_names)}"
    server.create_database(name)
    return server.database_map(name=name)


def _at_version(entry: dict[str, Any], version: schema.Version) -> None:
    async def make() -> None:
        session = await connect(backend(entry))
        try:
            await schema.create(session, upto=version)
        finally:
            await session.close()

    asyncio.run(make())


def _version(entry: dict[str, Any]) -> schema.Version | None:
    async def read() -> schema.Version | None:
        session = await connect(backend(entry))
        try:
            return await schema.read_version(session)
        finally:
            await session.close()

    return asyncio.run(read())


def _open(entry: dict[str, Any], role: str = LEASE) -> Opened | OpenFailed:
    async def go() -> Opened | OpenFailed:
        driver = LiveDriver()
        try:
            return await driver.open(open_request(entry, role))
        finally:
            await driver.aclose()

    return asyncio.run(go())


def test_missing_schema_is_created_on_open(empty_db: dict[str, Any]) -> None:
    assert _version(empty_db) is None
    assert isinstance(_open(empty_db), Opened)
    assert _version(empty_db) == schema.SCHEMA_VERSION


def test_readonly_backend_does_not_create_the_schema(empty_db: dict[str, Any]) -> None:
    answer = _open(empty_db | {"readonly": True}, role="hosts-databases[0]")
    engine = ENGINE_NAMES[empty_db["type"]]
    assert answer == OpenFailed(
        "hosts-databases[0]",
        1,
        f"Not attempting to initialize the {engine} schema. Kea has the database configured "
        "as readonly.",
        schema_mismatch=True,
    )
    assert _version(empty_db) is None


def test_older_schema_is_a_mismatch_and_is_not_upgraded(empty_db: dict[str, Any]) -> None:
    _at_version(empty_db, schema.FIRST_VERSION)
    answer = _open(empty_db)
    engine = ENGINE_NAMES[empty_db["type"]]
    assert answer == OpenFailed(
        LEASE,
        1,
        f"{engine} schema version mismatch: expected version: 2.0, found version: 1.0",
        schema_mismatch=True,
    )
    assert _version(empty_db) == schema.FIRST_VERSION


async def _upgraded(entry: dict[str, Any]) -> schema.Version:
    session = await connect(backend(entry))
    try:
        return await schema.upgrade(session, schema.FIRST_VERSION)
    finally:
        await session.close()


def test_upgrade_then_open(empty_db: dict[str, Any]) -> None:
    _at_version(empty_db, schema.FIRST_VERSION)
    assert asyncio.run(_upgraded(empty_db)) == schema.SCHEMA_VERSION
    assert isinstance(_open(empty_db), Opened)


def _columns(entry: dict[str, Any]) -> list[Any]:
    current = "DATABASE()" if entry["type"] == "mysql" else "current_schema()"

    async def read() -> list[Any]:
        session = await connect(backend(entry))
        try:
            return sorted(
                await session.fetch(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns "
                    f"WHERE table_schema = {current}"
                )
            )
        finally:
            await session.close()

    return asyncio.run(read())


def test_a_fresh_schema_equals_an_upgraded_one(server: PrivateServer) -> None:
    """create.sql plus every step is the one way to build the schema: both paths agree."""
    fresh, upgraded = (server.database_map(name=f"schema_{next(_names)}") for _ in range(2))
    for entry in (fresh, upgraded):
        server.create_database(entry["name"])
    _at_version(fresh, schema.SCHEMA_VERSION)
    _at_version(upgraded, schema.FIRST_VERSION)
    asyncio.run(_upgraded(upgraded))
    assert _columns(fresh) == _columns(upgraded)
    assert ("lease4", "state") in {(t, c) for t, c, _ in _columns(fresh)}


def test_password_file_connects_but_does_not_create_the_schema(
    empty_db: dict[str, Any], tmp_path: Any
) -> None:
    """Kea runs kea-admin with the password on its command line, so with only a password
    file it does not initialise (DATABASE_*_NO_INIT_NO_PASSWORD)."""
    secret = tmp_path / "password"
    secret.write_text(empty_db.pop("password") + "\n")
    entry = empty_db | {"password-file": str(secret)}
    engine = ENGINE_NAMES[entry["type"]]
    assert _open(entry) == OpenFailed(
        LEASE,
        1,
        f"Not attempting to initialize the {engine} schema. Kea database password is not "
        "available.",
        schema_mismatch=True,
    )
    _at_version(entry, schema.SCHEMA_VERSION)
    assert _open(entry) == Opened(LEASE, 1)
