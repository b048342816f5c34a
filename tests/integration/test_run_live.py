"""`dbfsm run` against private database servers: a stopped and restarted PostgreSQL, exit
statuses (shutdown, SIGTERM, retries exhausted), config-set reconnecting for real, a failed
config-set answered while the server keeps answering commands, every connection closed, and
the control socket under load."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbfsm.fsm.config import from_document
from dbfsm.fsm.records import Record
from dbfsm.live.command import ask
from dbfsm.live.control import RECEIVE_TIMEOUT
from dbfsm.live.run import LiveRun
from tests.control_load import check, run_load
from tests.integration.servers import PrivateMariaDB, PrivatePostgres, free_port

ROOT = Path(__file__).resolve().parents[2]
WAIT = 30.0  # seconds any one expected line may take to appear


class RunProcess:
    """`dbfsm run` as a subprocess, its stdout read line by line as it comes."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dbfsm", "run", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def expect(self, text: str, timeout: float = WAIT) -> str:
        """Read until a line containing `text`; fail with what was read if it does not come."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                pytest.fail(f"no line with {text!r}; got:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if text in line:
                return line

    def finish(self, timeout: float = WAIT) -> int:
        code = self.process.wait(timeout)
        self._reader.join(timeout)
        while (line := self._queue.get_nowait() if not self._queue.empty() else None) is not None:
            self.lines.append(line)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def processes() -> Iterator[list[RunProcess]]:
    started: list[RunProcess] = []
    yield started
    for process in started:
        process.kill()


def write_config(path: Path, socket: Path, lease: dict[str, Any]) -> Path:
    control = {"socket-type": "unix", "socket-name": str(socket)}
    document = {"Dhcp4": {"control-socket": control, "lease-database": lease}}
    path.write_text(json.dumps(document, indent=2))
    return path


def pg_sessions(pg: PrivatePostgres, database: str | None = None) -> int:
    """Client sessions of the test user on the private server (not the admin's own)."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
        "AND pid <> pg_backend_pid()"
    )
    if database is not None:
        query += f" AND datname = '{database}'"
    return int(pg.admin(query)[0][0])


def wait_for(condition: Any, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def test_postgres_stopped_and_restarted(
    healthy_pg: PrivatePostgres, tmp_path: Path, processes: list[RunProcess]
) -> None:
    """The server stops serving when PostgreSQL goes, retries every 1 s, serves again once
    it is back; `shutdown` ends the run with status 0 and no session left behind."""
    pg = healthy_pg
    socket = tmp_path / "kea.sock"
    lease = pg.database_map(
        **{"max-reconnect-tries": 30, "reconnect-wait-time": 1000, "on-fail": "stop-retry-exit"}
    )
    config = write_config(tmp_path / "kea-dhcp4.json", socket, lease)
    run = RunProcess(str(config), "--traffic", "10")
    processes.append(run)
    run.expect("DHCP4_STARTED")
    assert os.stat(socket).st_mode & 0o777 == 0o600

    pg.stop("fast")
    run.expect("NOT SERVING")
    run.expect("attempt 2 of 30 on lease-database failed")
    pg.start()
    run.expect("succeeded")
    run.expect("SERVING")
    answer = json.loads(ask(str(socket), {"command": "status-get"}))
    assert answer["result"] == 0
    assert answer["arguments"]["dhcp-state"]["globally-disabled"] is False

    shutdown = subprocess.run(
        [sys.executable, "-m", "dbfsm", "command", str(socket), '{"command": "shutdown"}'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert shutdown.returncode == 0
    assert json.loads(shutdown.stdout) == {"result": 0, "text": "Shutting down."}
    assert run.finish() == 0
    assert run.lines[-1].endswith("end: exited with code 0, not serving, server state exited")
    assert not socket.exists()
    assert wait_for(lambda: pg_sessions(pg) == 0)
    text = "\n".join(run.lines)
    assert lease["password"] not in text
    print("\n" + text)  # the transcript the README shows


def test_sigterm_and_until_exit_0_and_close_everything(
    healthy_pg: PrivatePostgres, tmp_path: Path, processes: list[RunProcess]
) -> None:
    pg = healthy_pg
    socket = tmp_path / "kea.sock"
    config = write_config(tmp_path / "kea.json", socket, pg.database_map())
    baseline = pg_sessions(pg)  # sessions other tests may still be ending
    run = RunProcess(str(config), "--format", "json")
    processes.append(run)
    run.expect('"DHCP4_STARTED"')
    assert pg_sessions(pg) == baseline + 1
    run.process.send_signal(signal.SIGTERM)
    assert run.finish() == 0
    last = json.loads(run.lines[-1])
    assert last["type"] == "summary" and last["state"] == "serving"
    assert not socket.exists()
    assert wait_for(lambda: pg_sessions(pg) <= baseline)

    run = RunProcess(str(config), "--until", "1", "--format", "json")
    processes.append(run)
    assert run.finish() == 0
    records = [json.loads(line) for line in run.lines]
    assert records[-1]["type"] == "summary" and 1.0 <= records[-1]["t"] < 2.0
    assert wait_for(lambda: pg_sessions(pg) <= baseline)


def test_retries_exhausted_exit_1(
    healthy_mariadb: PrivateMariaDB, tmp_path: Path, processes: list[RunProcess]
) -> None:
    db = healthy_mariadb
    lease = db.database_map(**{"max-reconnect-tries": 2, "reconnect-wait-time": 200})
    config = write_config(tmp_path / "kea.json", tmp_path / "kea.sock", lease)
    run = RunProcess(str(config), "--traffic", "20")
    processes.append(run)
    run.expect("DHCP4_STARTED")
    db.kill()
    assert run.finish() == 1
    assert "FATAL  DHCP4_FATAL_DB_RECONNECT_FAILED" in "\n".join(run.lines)
    assert run.lines[-1].endswith("end: exited with code 1, not serving, server state exited")


def test_config_set_reconnects_for_real_and_a_failed_one_is_answered(
    healthy_pg: PrivatePostgres, tmp_path: Path
) -> None:
    """config-set to another database: the old session ends and one opens on the new one.
    config-set to a port nobody listens on: Kea's failure answer, and commands still
    answered; a config-set back to a reachable database serves again."""
    pg = healthy_pg
    pg.create_database("dbfsm_other")
    socket = tmp_path / "kea.sock"
    lease = pg.database_map(**{"on-fail": "serve-retry-continue"})
    control = {"socket-type": "unix", "socket-name": str(socket)}
    settings = from_document({"Dhcp4": {"control-socket": control, "lease-database": lease}})
    records: list[Record] = []
    seen: dict[str, Any] = {}

    def config_set(database: dict[str, Any]) -> dict[str, Any]:
        request = {
            "command": "config-set",
            "arguments": {"Dhcp4": {"control-socket": control, "lease-database": database}},
        }
        result: dict[str, Any] = json.loads(ask(str(socket), request))
        return result

    async def operator(live: LiveRun) -> None:
        while not socket.exists():
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        name = lease["name"]
        seen["before"] = pg_sessions(pg, name), pg_sessions(pg, "dbfsm_other")
        other = {**lease, "name": "dbfsm_other"}
        seen["moved"] = await asyncio.to_thread(config_set, other)
        await asyncio.sleep(0.3)
        seen["after"] = pg_sessions(pg, name), pg_sessions(pg, "dbfsm_other")
        nowhere = {**lease, "port": free_port(), "connect-timeout": 2}
        seen["failed"] = await asyncio.to_thread(config_set, nowhere)
        status = await asyncio.to_thread(ask, str(socket), {"command": "status-get"})
        seen["status"] = json.loads(status)
        seen["back"] = await asyncio.to_thread(config_set, lease)
        await asyncio.sleep(0.3)
        seen["serving"] = live.engine.serving
        seen["sessions"] = pg_sessions(pg, name)
        await live.stop()

    async def main() -> int:
        live = LiveRun(settings, traffic=20, sink=records.append)
        task = asyncio.create_task(operator(live))
        try:
            return await live.run(until=60)
        finally:
            await task

    assert asyncio.run(main()) == 0
    assert seen["before"] == (1, 0)
    assert seen["moved"]["result"] == 0
    assert seen["after"] == (0, 1)
    assert seen["failed"]["result"] == 1
    assert seen["failed"]["text"].startswith("Unable to open database: ")
    assert seen["status"]["result"] == 0
    assert seen["back"]["result"] == 0
    assert seen["serving"] and seen["sessions"] == 1
    assert wait_for(lambda: pg_sessions(pg) == 0)
    assert not any(lease["password"] in json.dumps(r.to_json()) for r in records)


def test_control_socket_under_load(
    healthy_pg: PrivatePostgres, tmp_path: Path, processes: list[RunProcess]
) -> None:
    """`dbfsm run` serving traffic on a real database while 100 clients send commands in a
    loop and idle clients hold connections: every command answered (figures printed)."""
    socket = tmp_path / "kea.sock"
    config = write_config(tmp_path / "kea.json", socket, healthy_pg.database_map())
    run = RunProcess(str(config), "--traffic", "50")
    processes.append(run)
    run.expect("DHCP4_STARTED")
    load = asyncio.run(run_load(socket, clients=100, rounds=10, idle=10))
    print("\n" + load.describe(idle=10))
    check(load, RECEIVE_TIMEOUT)
    run.process.send_signal(signal.SIGTERM)
    assert run.finish() == 0


def test_config_reload_rereads_the_file_and_reconnects(
    healthy_pg: PrivatePostgres, tmp_path: Path, processes: list[RunProcess]
) -> None:
    pg = healthy_pg
    pg.create_database("dbfsm_reloaded")
    socket = tmp_path / "kea.sock"
    lease = pg.database_map()
    config = write_config(tmp_path / "kea.json", socket, lease)
    run = RunProcess(str(config), "--traffic", "20")
    processes.append(run)
    run.expect("DHCP4_STARTED")
    assert pg_sessions(pg, "dbfsm_reloaded") == 0
    write_config(config, socket, {**lease, "name": "dbfsm_reloaded"})
    answer = json.loads(ask(str(socket), {"command": "config-reload"}))
    assert answer["result"] == 0 and answer["text"] == "Configuration successful."
    run.expect("DHCP4_DYNAMIC_RECONFIGURATION_SUCCESS")
    assert wait_for(lambda: pg_sessions(pg, "dbfsm_reloaded") == 1)
    assert pg_sessions(pg, lease["name"]) == 0
    run.process.send_signal(signal.SIGTERM)
    assert run.finish() == 0


@pytest.mark.parametrize("probe", [True, False])
def test_idle_watch_notices_a_terminated_session(
    healthy_pg: PrivatePostgres, tmp_path: Path, processes: list[RunProcess], probe: bool
) -> None:
    """No traffic: with --probe-interval the server ending the session is noticed (and the
    first reconnect attempt succeeds); without it, as in Kea, nothing notices."""
    pg = healthy_pg
    lease = pg.database_map(**{"max-reconnect-tries": 3, "reconnect-wait-time": 500})
    config = write_config(tmp_path / "kea.json", tmp_path / "kea.sock", lease)
    watch = ["--probe-interval", "0.2"] if probe else []
    run = RunProcess(str(config), "--traffic", "0", "--until", "3", *watch)
    processes.append(run)
    run.expect("DHCP4_STARTED")
    assert pg.terminate_sessions() == 1
    assert run.finish() == 0
    text = "\n".join(run.lines)
    if probe:
        assert "DHCP4_DB_RECONNECT_LOST_CONNECTION" in text
        assert "attempt 1 of 3 on lease-database succeeded" in text
    else:
        assert "DHCP4_DB_RECONNECT_LOST_CONNECTION" not in text
