"""The databases of one case: private servers, a database per backend made by Kea's own
`kea-admin db-init`, and a fault proxy per backend through which Kea reaches it.

A worker keeps one PostgreSQL and one MariaDB (TLS available) for all its cases; each
backend of a case gets a fresh database, so no case sees another's leases or schema. A
`down` cuts the backend's open connections and refuses new ones at its proxy (the server
itself stays up, so backends sharing it are not hurt); `up` lets connections through again.
`no-tls` turns TLS off on the server: PostgreSQL reloads with `ssl = off`; MariaDB cannot,
so a case that needs it gets a MariaDB of its own, restarted without TLS.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbfsm.validation.kea.certs import Pki
from dbfsm.validation.kea.keaconfig import Endpoint
from dbfsm.validation.kea.proxy import FaultProxy
from dbfsm.validation.kea.servers import USER, PrivateMariaDB, PrivatePostgres, PrivateServer

_ADMIN_TYPE = {"postgresql": "pgsql", "mysql": "mysql"}
_counter = itertools.count(1)


class SetupError(RuntimeError):
    """A case's databases could not be made (kea-admin's own words)."""


@dataclass
class Servers:
    """A worker's private servers, started when first needed."""

    pki: Pki | None
    _started: dict[str, PrivateServer] = field(default_factory=dict)
    _closed: bool = False

    def get(self, kind: str) -> PrivateServer:
        if self._closed:  # a new server now would be one nobody cleans up
            raise SetupError(f"no {kind} server: the private servers are cleaned up")
        if kind not in self._started:
            server: PrivateServer = (
                PrivatePostgres(tls=self.pki)
                if kind == "postgresql"
                else PrivateMariaDB(tls=self.pki)
            )
            self._started[kind] = server
            server.start()
        server = self._started[kind]
        if not server.running:
            server.start()
        return server

    def cleanup(self) -> None:
        self._closed = True
        for server in self._started.values():
            server.cleanup()
        self._started.clear()


@dataclass
class Backend:
    """One backend's database, server and proxy."""

    key: str
    server: PrivateServer
    database: str
    proxy: FaultProxy
    own_server: bool  # started for this case alone
    pki: Pki | None = None  # what the server offers TLS with, when it does

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(
            self.server.kind, self.proxy.port, self.database, USER, self.server.password
        )

    def down(self) -> None:
        self.proxy.set_mode("refuse")
        self.proxy.cut_all()

    def up(self) -> None:
        self.proxy.set_mode("pass")

    def set_schema(self, version: str) -> None:
        major, _, minor = version.partition(".")
        query = f"UPDATE schema_version SET version = {int(major)}, minor = {int(minor or 0)}"
        self._admin(query)

    def schema(self) -> tuple[int, int]:
        rows = self._admin("SELECT version, minor FROM schema_version")
        return int(rows[0][0]), int(rows[0][1])

    def _admin(self, query: str) -> list[tuple[Any, ...]]:
        """One statement in this backend's database, as the server's administrator."""
        server = self.server
        if isinstance(server, PrivatePostgres | PrivateMariaDB):
            return server.admin(query, self.database)
        raise SetupError(f"no administrator connection to a {server.kind} server")

    def set_tls(self, offered: bool) -> None:
        if isinstance(self.server, PrivatePostgres):
            self.server.admin(f"ALTER SYSTEM SET ssl = {'on' if offered else 'off'}")
            self.server.admin("SELECT pg_reload_conf()")
            return
        wanted = self.pki if offered else None
        if self.server.tls is not wanted:
            self.server.tls = wanted  # _start reads it: the restart serves TLS, or clear text only
            self.server.restart()


def make_backend(key: str, kind: str, servers: Servers, *, own: bool, admin: str) -> Backend:
    """A fresh database for backend `key` on a `kind` server, with Kea's schema in it."""
    server = PrivateMariaDB(tls=servers.pki) if own else servers.get(kind)
    try:
        if own:
            server.start()
        database = f"case{next(_counter)}_{key.replace('-', '_').replace('[', '').replace(']', '')}"
        server.create_database(database)
        if isinstance(server, PrivatePostgres):
            server.admin(f'ALTER DATABASE "{database}" OWNER TO {USER}')
        _db_init(admin, kind, server, database)
        proxy = FaultProxy(server.port).start()
    except BaseException:
        if own:  # no backend holds it, so `release` never would
            server.cleanup()
        raise
    return Backend(key, server, database, proxy, own, servers.pki)


def _db_init(admin: str, kind: str, server: PrivateServer, database: str) -> None:
    command = [
        admin,
        "db-init",
        _ADMIN_TYPE[kind],
        "-h",
        "127.0.0.1",
        "-P",
        str(server.port),
        "-u",
        USER,
        "-p",
        server.password,
        "-n",
        database,
    ]
    # kea-admin 2.2 leaves -P out of the mysql call that runs the schema script, which would
    # then reach the machine's own server on 3306: the client's environment pins the port.
    env = dict(os.environ, MYSQL_TCP_PORT=str(server.port), MYSQL_HOST="127.0.0.1")
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, env=env
    )
    if done.returncode != 0:
        said = [
            ln
            for ln in (done.stdout + done.stderr).splitlines()
            if ln.strip() and not ln.startswith("Warning:")
        ]
        tail = "\n".join(said[-5:])
        raise SetupError(f"kea-admin db-init {_ADMIN_TYPE[kind]} failed: {tail}")


def release(backends: list[Backend]) -> None:
    """Stop the proxies and the servers a case started for itself."""
    for backend in backends:
        with contextlib.suppress(Exception):
            backend.proxy.stop()
        if backend.own_server:
            backend.server.cleanup()


def private_directory(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path
