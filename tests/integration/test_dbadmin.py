"""`dbfsm db-init`, `db-version`, `db-upgrade` against private servers."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from dbfsm.drivers import schema
from dbfsm.drivers.live import connect
from dbfsm.files import reading
from tests.cli import invoke
from tests.integration.servers import PrivateServer, free_port

_names = itertools.count()


def _config(tmp_path: Path, lease: dict[str, Any], hosts: tuple[dict[str, Any], ...] = ()) -> str:
    document: dict[str, Any] = {"Dhcp4": {"lease-database": lease}}
    if hosts:
        document["Dhcp4"]["hosts-databases"] = list(hosts)
    path = tmp_path / "kea-dhcp4.json"
    path.write_text(json.dumps(document, indent=2))
    return str(path)


@pytest.fixture
def empty(server: PrivateServer, tmp_path: Path) -> tuple[str, PrivateServer]:
    name = f"admin_{next(_names)}"
    server.create_database(name)
    return _config(tmp_path, server.database_map(name=name)), server


def test_init_version_and_refusal(empty: tuple[str, PrivateServer], capsys: Any) -> None:
    path, server = empty
    assert invoke(capsys, "db-version", path) == (
        1,
        "",
        "dbfsm db-version: lease-database: no dbfsm schema (no schema_version table); "
        "run dbfsm db-init\n",
    )
    assert invoke(capsys, "db-init", path) == (
        0,
        "Schema version reported after initialization: 2.0\n",
        "",
    )
    assert invoke(capsys, "db-version", path, "lease-database") == (0, "2.0\n", "")
    code, out, err = invoke(capsys, "db-init", path)
    assert (code, out) == (1, "")
    assert err.startswith("dbfsm db-init: lease-database: expected an empty database admin_")
    assert "config_audit, hosts, lease4, schema_version" in err
    assert server.password not in err


def test_upgrade_from_1_0(empty: tuple[str, PrivateServer], capsys: Any) -> None:
    path, _ = empty

    # Make a 1.0 database the way an older dbfsm did: only create.sql.
    async def old() -> None:
        session = await connect(reading.load_file(path).backend("lease-database"))
        try:
            await schema.create(session, upto=schema.FIRST_VERSION)
        finally:
            await session.close()

    asyncio.run(old())
    assert invoke(capsys, "db-version", path) == (0, "1.0\n", "")
    assert invoke(capsys, "db-upgrade", path) == (
        0,
        "Schema version reported before upgrade: 1.0\nSchema version reported after upgrade: 2.0\n",
        "",
    )
    assert invoke(capsys, "db-upgrade", path) == (
        0,
        "Schema version reported before upgrade: 2.0\nSchema version reported after upgrade: 2.0\n",
        "",
    )


def test_hosts_database_by_index(
    server: PrivateServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"admin_{next(_names)}"
    server.create_database(name)
    path = _config(tmp_path, {"type": "memfile"}, (server.database_map(name=name),))
    assert invoke(capsys, "db-init", path, "hosts-databases[0]")[0] == 0
    assert invoke(capsys, "db-version", path, "hosts-databases[0]") == (0, "2.0\n", "")


def test_unreachable_is_exit_1_without_the_password(
    server: PrivateServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, server.database_map(port=free_port(), **{"connect-timeout": 2}))
    code, out, err = invoke(capsys, "db-version", path)
    assert (code, out) == (1, "")
    assert err.startswith("dbfsm db-version: cannot reach lease-database: ")
    assert err.count("\n") == 1 and "refused" in err.lower()
    assert server.password not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["lease-database"], "lease-database is a memfile database: it has no schema"),
        (["hosts-databases[3]"], "no backend hosts-databases[3] (the configuration has: "),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    path = _config(tmp_path, {"type": "memfile"})
    code, out, err = invoke(capsys, "db-init", path, *argv)
    assert (code, out) == (2, "")
    assert err.startswith("dbfsm db-init: ") and message in err and err.count("\n") == 1


def test_bad_configuration_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"Dhcp4": {"lease-database": {"type": "mysql", "prot": 1}}}')
    code, _, err = invoke(capsys, "db-version", str(path))
    assert code == 2
    assert err.startswith(f"dbfsm db-version: {path}:1:") and err.count("\n") == 1
