"""Private database servers: own data directory, own 127.0.0.1 port, for the integration
tests and for `dbfsm spec run --target kea` (which runtime code cannot import from tests/).

The shared servers on 5432/3306 are never touched: every fault a test or a case injects
(kill, stop, pause, terminated sessions) hits a server that exists only for it. A server
that cannot be started raises `ServerError` with the tail of its log, so a fixture using it
fails loudly instead of skipping.

PostgreSQL refuses to run as root, so initdb and pg_ctl run as `postgres` (`runuser`);
mariadbd is started as root with `--user=mysql` and drops privileges itself, which keeps the
process we signal the server itself.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import psycopg
import pymysql

from dbfsm.validation.kea.certs import Pki, make_pki

PG_BIN = Path("/usr/lib/postgresql/15/bin")
MARIADBD = Path("/usr/sbin/mariadbd")
START_TIMEOUT = 60.0
DATABASE = "dbfsm"
USER = "dbfsm"


class ServerError(RuntimeError):
    """A private server could not be set up, started or stopped."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(*args: str | Path, user: str | None = None, timeout: float = 120) -> str:
    command = [str(a) for a in args]
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise ServerError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc (a PostgreSQL server's backends)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: split after it.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent, or for init, to reap it is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


class PrivateServer(ABC):
    """What both engines offer (tests/integration/conftest.py makes fixtures of them)."""

    kind: str

    def __init__(self, *, tls: Pki | bool | None = None) -> None:
        """`tls`: the certificates to serve TLS with; True makes a set of its own (then in
        `self.tls`, with the CA and a client certificate for the tests)."""
        self.root = Path(tempfile.mkdtemp(prefix=f"dbfsm-{self.kind}-"))
        self.tls = (
            make_pki(self.root / "pki") if tls is True else tls if isinstance(tls, Pki) else None
        )
        self.port = free_port()
        self.password = "pw-" + secrets.token_hex(8)
        self.running = False
        self.paused = False
        self._initialised = False
        # Starts, stops and the cleanup take turns: a cleanup begun while another thread
        # starts the server waits for that start and then removes all of it, and once a
        # cleanup has begun the server is never started again (it would make its files in a
        # directory nobody removes any more). The last cleanup is the interpreter's exit.
        self._lock = threading.RLock()
        self._cleaned = False
        atexit.register(self.cleanup)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> PrivateServer:
        with self._lock:
            if self._cleaned:
                raise ServerError(f"{self.root}: cleaned up, so not started again")
            if not self._initialised:
                self._initialise()
            self._start()
            self.running = True
            if not self._initialised:
                self._provision()
                self._initialised = True
        return self

    def stop(self, mode: str = "fast") -> None:
        if mode not in ("fast", "immediate"):
            raise ValueError(f"stop mode must be fast or immediate, not {mode!r}")
        with self._lock:
            self.resume()
            if self.running:
                self._stop(mode)
            self.running = False

    def kill(self) -> None:
        """SIGKILL: a crash, no goodbye sent to any client."""
        with self._lock:
            self.resume()
            pids = self._pids()
            _signal_all(pids, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while any(_alive(p) for p in pids) and time.monotonic() < deadline:
                self._reap()
                time.sleep(0.02)
            self._reap()
            self.running = False

    def pause(self) -> None:
        """SIGSTOP every process of the server: it accepts TCP but answers nothing."""
        _signal_all(self._pids(), signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.paused:
            _signal_all(self._pids(), signal.SIGCONT)
            self.paused = False

    def restart(self) -> None:
        self.stop("fast")
        self.start()

    def cleanup(self) -> None:
        """Stop the server (quickly, but cleanly, so it leaves no shared memory behind) and
        remove its directory. Returns once that is done, whichever thread does it."""
        with self._lock:
            if self._cleaned:
                return
            self._cleaned = True
            if self.running or self._pids():  # a server stopped while still starting, too
                try:
                    self._halt()
                except Exception:
                    self.kill()
            shutil.rmtree(self.root, ignore_errors=True)

    def _halt(self) -> None:
        """The quickest stop that leaves nothing outside the server's directory."""
        self.stop("immediate")

    # -- what the tests read ------------------------------------------------------------------

    def database_map(self, **overrides: Any) -> dict[str, Any]:
        """A Kea database map (lease-database / hosts-databases entry) reaching this server."""
        entry: dict[str, Any] = {
            "type": self.kind,
            "host": "127.0.0.1",
            "port": self.port,
            "name": DATABASE,
            "user": USER,
            "password": self.password,
        }
        entry.update(overrides)
        return entry

    # -- engine specifics ---------------------------------------------------------------------

    @abstractmethod
    def _initialise(self) -> None: ...
    @abstractmethod
    def _start(self) -> None: ...
    @abstractmethod
    def _stop(self, mode: str) -> None: ...
    @abstractmethod
    def _provision(self) -> None: ...
    @abstractmethod
    def _pids(self) -> list[int]: ...
    @abstractmethod
    def terminate_sessions(self) -> int:
        """End every client session from the server side; returns how many."""

    @abstractmethod
    def create_database(self, name: str) -> None:
        """A new, empty database `name` the test user owns (dropped first if it exists)."""

    def _reap(self) -> None:  # noqa: B027 (only the MariaDB server is our child process)
        """Collect exited child processes."""

    def _own(self, *paths: Path, user: str) -> None:
        for path in paths:
            shutil.chown(path, user, user)


class PrivatePostgres(PrivateServer):
    kind = "postgresql"

    def __init__(
        self, *, tls: Pki | bool | None = None, client_cert_required: bool = False
    ) -> None:
        self.client_cert_required = client_cert_required
        super().__init__(tls=tls)
        self.data = self.root / "data"
        self.log = self.root / "server.log"

    def _initialise(self) -> None:
        self._own(self.root, user="postgres")
        _run(
            PG_BIN / "initdb",
            "-D",
            self.data,
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
            user="postgres",
        )
        settings = [
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.root}'",
            # Speed without losing a commit when the server is killed: a process crash
            # keeps what reached the kernel; only a machine crash would lose it.
            "fsync = off",
            "full_page_writes = off",
            "max_connections = 60",
            "shared_buffers = 16MB",
        ]
        hba = ["local all all trust"]
        if self.tls is not None:
            for name in ("server_cert", "server_key", "ca"):
                source: Path = getattr(self.tls, name)
                target = self.root / source.name
                shutil.copy(source, target)
                self._own(target, user="postgres")
                target.chmod(0o600)
            settings += [
                "ssl = on",
                f"ssl_cert_file = '{self.root / self.tls.server_cert.name}'",
                f"ssl_key_file = '{self.root / self.tls.server_key.name}'",
                f"ssl_ca_file = '{self.root / self.tls.ca.name}'",
            ]
            if self.client_cert_required:
                hba.append("hostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-ca")
        hba += [
            "host all postgres 127.0.0.1/32 trust",
            "host all all 127.0.0.1/32 scram-sha-256",
        ]
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(settings) + "\n")
        (self.data / "pg_hba.conf").write_text("\n".join(hba) + "\n")

    def _start(self) -> None:
        try:
            _run(
                PG_BIN / "pg_ctl",
                "-D",
                self.data,
                "-l",
                self.log,
                "-w",
                "-t",
                str(int(START_TIMEOUT)),
                "start",
                user="postgres",
            )
        except ServerError as e:
            raise ServerError(f"{e}\n{_tail(self.log)}") from None

    def _stop(self, mode: str) -> None:
        _run(PG_BIN / "pg_ctl", "-D", self.data, "-w", "-m", mode, "stop", user="postgres")

    def kill(self) -> None:
        segment = self._shared_memory_id()
        super().kill()
        # The killed postmaster may linger as a zombie until init reaps it, and PostgreSQL
        # takes a lock file whose process still exists for a running server: remove the
        # data directory's and the socket's, as an operator would after a crash, and the
        # System V segment the lock file named (nobody is attached any more), which the next
        # start could no longer find to remove.
        for lock in (self.data / "postmaster.pid", *self.root.glob(".s.PGSQL.*.lock")):
            lock.unlink(missing_ok=True)
        if segment is not None:
            subprocess.run(["ipcrm", "-m", str(segment)], capture_output=True, check=False)

    def _shared_memory_id(self) -> int | None:
        """The shmid on line 7 of postmaster.pid ("key id"), if the server wrote one."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
            return int(lines[6].split()[1])
        except (OSError, IndexError, ValueError):
            return None

    def _pids(self) -> list[int]:
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        if not _alive(pid):
            return []
        return [pid, *_children(pid)]

    def admin(self, query: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement as the superuser (autocommit) and return its rows."""
        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            dbname=database,
            autocommit=True,
            connect_timeout=10,
            sslmode="disable",
        ) as conn:
            cursor = conn.execute(query.encode())
            return cursor.fetchall() if cursor.description else []

    def _provision(self) -> None:
        self.admin(f"CREATE ROLE {USER} LOGIN CREATEDB PASSWORD '{self.password}'")
        self.create_database(DATABASE)

    def create_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin(f'CREATE DATABASE "{name}" OWNER {USER}')

    def terminate_sessions(self) -> int:
        rows = self.admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return len(rows)


class PrivateMariaDB(PrivateServer):
    kind = "mysql"

    def __init__(self, *, tls: Pki | bool | None = None) -> None:
        super().__init__(tls=tls)
        self.data = self.root / "data"
        # Its own temporary directory: servers sharing /tmp collide on their temporary tables'
        # names while several bootstrap at once (mariadb-install-db aborts or crashes).
        self.tmp = self.root / "tmp"
        self.socket = self.root / "mariadb.sock"
        self.log = self.root / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    def _initialise(self) -> None:
        if not MARIADBD.exists():
            raise ServerError(f"{MARIADBD} not found (apt-get install mariadb-server)")
        self.tmp.mkdir()
        self._own(self.root, self.tmp, user="mysql")
        _run(
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={self.data}",
            f"--tmpdir={self.tmp}",
            "--user=mysql",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        )

    def _start(self) -> None:
        command = [
            str(MARIADBD),
            "--no-defaults",
            "--user=mysql",
            f"--datadir={self.data}",
            f"--tmpdir={self.tmp}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.socket}",
            f"--pid-file={self.root / 'mariadb.pid'}",
            f"--log-error={self.log}",
            # flush-log-at-trx-commit 2: every commit reaches the kernel, so a killed server
            # loses none; only a machine crash could.
            "--skip-name-resolve",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=32M",
            "--innodb-flush-log-at-trx-commit=2",
            "--max-connections=100",
        ]
        if self.tls is not None:
            for name in ("server_cert", "server_key", "ca"):
                source: Path = getattr(self.tls, name)
                target = self.root / source.name
                shutil.copy(source, target)
                self._own(target, user="mysql")
            command += [
                f"--ssl-ca={self.root / self.tls.ca.name}",
                f"--ssl-cert={self.root / self.tls.server_cert.name}",
                f"--ssl-key={self.root / self.tls.server_key.name}",
            ]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._process.poll() is not None:
                raise ServerError(f"mariadbd exited {self._process.returncode}\n{_tail(self.log)}")
            try:
                self.admin("SELECT 1")
                return
            except pymysql.MySQLError:
                if time.monotonic() > deadline:
                    self._process.kill()
                    self._process.wait()
                    raise ServerError(
                        f"mariadbd did not answer within {START_TIMEOUT:.0f}s\n{_tail(self.log)}"
                    ) from None
                time.sleep(0.1)

    def _stop(self, mode: str) -> None:
        """MariaDB has one clean shutdown (SIGTERM) for both modes; `kill()` is the crash."""
        process = self._process
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise ServerError("mariadbd did not shut down within 60s") from None
        self._process = None

    def _reap(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            self._process = None

    def _halt(self) -> None:
        """A killed MariaDB leaves nothing outside its directory, and a clean shutdown takes
        seconds."""
        self.kill()

    def _pids(self) -> list[int]:
        if self._process is None or self._process.poll() is not None:
            return []
        return [self._process.pid]

    def admin(self, query: str, database: str | None = None) -> list[tuple[Any, ...]]:
        """Run one statement as root over the server's socket and return its rows."""
        conn = pymysql.connect(
            unix_socket=str(self.socket),
            user="root",
            database=database,
            autocommit=True,
            connect_timeout=5,
            read_timeout=30,
            write_timeout=30,
        )
        try:
            with conn.cursor() as cursor:
                cursor.execute(query)
                return list(cursor.fetchall())
        finally:
            conn.close()

    def _provision(self) -> None:
        self.admin(f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{self.password}'")
        self.admin(f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'127.0.0.1'")
        self.create_database(DATABASE)

    def create_database(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS `{name}`")
        self.admin(f"CREATE DATABASE `{name}`")

    def terminate_sessions(self) -> int:
        rows = self.admin(
            "SELECT id FROM information_schema.processlist "
            "WHERE id <> CONNECTION_ID() AND command NOT IN ('Daemon', 'Binlog Dump') "
            "AND user NOT IN ('system user', 'event_scheduler')"
        )
        for (session,) in rows:
            with contextlib.suppress(pymysql.MySQLError):  # it may have gone meanwhile
                self.admin(f"KILL {int(session)}")
        return len(rows)
