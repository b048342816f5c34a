"""Secrets against live servers (the twin of tests/unit/test_secrets.py): `dbfsm run`,
`db-init` and `db-version` connected to a private server with a password (inline and in a
`password-file`), the sessions' reprs and the errors of failed queries: no output names it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import traceback
from pathlib import Path
from typing import Any

import pytest

from dbfsm.cli import main
from dbfsm.drivers.live import connect
from dbfsm.drivers.session import DriverError
from dbfsm.files import reading
from tests.integration.servers import PrivateServer

_names = itertools.count()


def _configuration(server: PrivateServer, tmp_path: Path) -> tuple[Path, str]:
    """A configuration whose lease database holds the password inline and whose host database
    reads it from a file; the password."""
    name = f"secrets_{next(_names)}"
    server.create_database(name)
    password_file = tmp_path / "password"
    password_file.write_text(server.password + "\n")
    lease = server.database_map(name=name)
    hosts = server.database_map(name=name, **{"password-file": str(password_file)})
    del hosts["password"]
    document: dict[str, Any] = {"Dhcp4": {"lease-database": lease, "hosts-databases": [hosts]}}
    path = tmp_path / "kea.json"
    path.write_text(json.dumps(document))
    return path, server.password


def test_run_and_admin_show_no_password(
    server: PrivateServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, password = _configuration(server, tmp_path)
    runs = [
        ["db-init", str(path)],
        ["db-version", str(path)],
        ["db-version", str(path), "hosts-databases[0]"],
        ["db-upgrade", str(path)],
        ["run", str(path), "--until", "2", "--traffic", "20"],
        ["run", str(path), "--until", "1", "--format", "json"],
        ["db-init", str(path)],  # refused: the database has tables (exit 1)
    ]
    for argv in runs:
        code = main(argv)
        out, err = capsys.readouterr()
        assert code in (0, 1), (argv, err)
        assert password not in out and password not in err, (argv, out[-500:], err)
        if argv[0] == "run":
            assert "SERVING" in out or '"serving": true' in out, out[-500:]


def test_sessions_and_their_errors_show_no_password(server: PrivateServer, tmp_path: Path) -> None:
    path, password = _configuration(server, tmp_path)
    settings = reading.load_file(path)

    async def scan() -> list[str]:
        texts = []
        for backend in settings.backends:
            session = await connect(backend)
            try:
                texts.append(repr(session))
                try:
                    # The password as a parameter: a driver that quotes it must redact it.
                    await session.fetch("SELECT no_such_column WHERE 1 = %s", (password,))
                except DriverError as error:
                    texts += [str(error), repr(error)]
                    texts.append("".join(traceback.format_exception(error)))
                else:
                    raise AssertionError("the query should have failed")
            finally:
                await session.close()
        return texts

    texts = asyncio.run(scan())
    assert len(texts) == 8
    for text in texts:
        assert password not in text, text[-1500:]
