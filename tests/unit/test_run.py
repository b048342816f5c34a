"""`dbfsm run` on the real clock with simulated databases: traffic, control, stopping."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from dbfsm import cli
from dbfsm.drivers.simulated import SimulatedDriver
from dbfsm.fsm.config import from_document
from dbfsm.fsm.events import Lost
from dbfsm.fsm.records import Record, to_text
from dbfsm.live.command import ask
from dbfsm.live.run import LiveRun, printer
from dbfsm.simulation.simulate import run as simulate

Body = Callable[[LiveRun], Awaitable[None]]


class CountingDriver(SimulatedDriver):
    """A simulated driver that counts requests and can make each one take a while."""

    def __init__(self, request_time: float = 0.0) -> None:
        super().__init__()
        self.uses: list[str] = []
        self.request_time = request_time
        self.closed_all = False

    async def use(self, backend: str, instance: int) -> Lost | None:
        self.uses.append(backend)
        if self.request_time:
            await asyncio.sleep(self.request_time)
        return await super().use(backend, instance)

    async def aclose(self) -> None:
        self.closed_all = True

    def open_connections(self) -> int:
        return sum(len(s.open_instances) for s in self.servers.values())


def lease_db(**overrides: Any) -> dict[str, Any]:
    db = {"type": "postgresql", "name": "kea", "password": "pw-never-shown"}
    return {**db, "max-reconnect-tries": 3, "reconnect-wait-time": 100, **overrides}


def settings(tmp_path: Path | None = None, **server: Any) -> Any:
    if tmp_path is not None:
        socket = {"socket-type": "unix", "socket-name": str(tmp_path / "ctl")}
        server = {"control-socket": socket, **server}
    return from_document({"Dhcp4": server})


def live(
    config: Any,
    driver: SimulatedDriver,
    body: Body | None = None,
    *,
    until: float | None = 5.0,
    traffic: float = 50.0,
    also: Callable[[Record], None] = lambda record: None,
    **options: Any,
) -> tuple[int, list[Record]]:
    """Run `dbfsm run`'s engine with `body(run)` alongside; the exit status and the records
    (each also given to `also` as it happens)."""
    records: list[Record] = []

    def sink(record: Record) -> None:
        records.append(record)
        also(record)

    async def main() -> int:
        run = LiveRun(config, traffic=traffic, sink=sink, driver=driver, **options)
        task = asyncio.create_task(body(run)) if body else None
        try:
            return await run.run(until)
        finally:
            if task is not None:
                await task  # its assertions count

    return asyncio.run(main()), records


def ids(records: list[Record]) -> list[str]:
    return [r.data["id"] for r in records if r.type == "log"]


def kinds(records: list[Record], kind: str) -> list[dict[str, Any]]:
    return [dict(r.data) for r in records if r.type == kind]


async def command(path: Path, request: dict[str, Any]) -> dict[str, Any]:
    answer = await asyncio.to_thread(ask, str(path), request, 10.0)
    result: dict[str, Any] = json.loads(answer)
    return result


# -- losses, noticed by traffic --------------------------------------------------------------


def test_a_loss_gives_the_simulated_timeline(tmp_path: Path) -> None:
    """The same log IDs, serving changes, attempts and exit as `dbfsm simulate` for the same
    configuration and fault, and Kea's timing between attempts."""
    config = settings(**{"lease-database": lease_db(**{"on-fail": "stop-retry-exit"})})
    driver = CountingDriver()

    async def outage(_: LiveRun) -> None:
        await asyncio.sleep(0.2)
        driver.set_up("lease-database", False)

    code, records = live(config, driver, outage)
    oracle = simulate_scenario(
        """
        config:
          Dhcp4:
            lease-database: {type: postgresql, name: kea, password: pw-never-shown,
              max-reconnect-tries: 3, reconnect-wait-time: 100, on-fail: stop-retry-exit}
        until: 10
        traffic: continuous
        events:
          - {at: 0.2, down: lease-database}
        """
    )
    assert code == 1
    assert ids(records) == ids(oracle)
    assert kinds(records, "serving") == kinds(oracle, "serving")
    assert kinds(records, "attempt") == kinds(oracle, "attempt")
    assert kinds(records, "exit") == [{"code": 1}]
    assert records[-1].type == "summary" and records[-1].data["exit_code"] == 1
    attempts = [r.t for r in records if r.type == "attempt"]
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert all(0.09 <= gap < 0.3 for gap in gaps), gaps
    lost = next(r.t for r in records if r.type == "serving" and not r.data["serving"])
    assert 0.2 <= lost < 0.35  # 50 requests a second notice the loss within a tick or two
    assert not any("pw-never-shown" in json.dumps(r.to_json()) for r in records)
    assert driver.open_connections() == 0 and driver.closed_all


def simulate_scenario(text: str) -> list[Record]:
    from dbfsm.simulation import scenario

    parsed = scenario.parse(textwrap.dedent(text), "<test>", Path("."))
    return list(simulate(parsed).timeline())


def test_requests_only_while_serving_at_the_rate_asked() -> None:
    driver = CountingDriver()
    config = settings(**{"lease-database": lease_db()})
    code, _ = live(config, driver, until=1.0, traffic=20)
    assert code == 0
    assert 12 <= len(driver.uses) <= 21  # 20 a second (a loaded machine may skip a few)

    driver = CountingDriver()
    driver.set_up("lease-database", False)
    config = settings(**{"lease-database": lease_db(**{"retry-on-startup": True})})
    live(config, driver, until=0.5, traffic=50)
    assert driver.uses == []  # never serving: requests are dropped unread


def test_one_request_per_backend_at_a_time() -> None:
    """A backend that takes long to answer is not sent a pile of requests."""
    driver = CountingDriver(request_time=0.25)
    config = settings(**{"lease-database": lease_db(), "hosts-database": lease_db()})
    live(config, driver, until=0.6, traffic=100)
    assert sorted(set(driver.uses)) == ["hosts-database", "lease-database"]
    assert driver.uses.count("lease-database") <= 3


def test_a_request_stops_at_the_first_lost_backend() -> None:
    """Two host databases lost at once, the first under serve-retry-continue: one request
    notices the first loss only (the packet is dropped); a later one, the second."""
    driver = CountingDriver()
    continues = lease_db(**{"on-fail": "serve-retry-continue", "reconnect-wait-time": 5000})
    config = settings(**{"hosts-databases": [continues, lease_db(type="mysql")]})

    async def outage(_: LiveRun) -> None:
        await asyncio.sleep(0.1)
        driver.set_up("hosts-databases[0]", False)
        driver.set_up("hosts-databases[1]", False)

    _, records = live(config, driver, outage, until=0.6, traffic=10)
    losses = [r for r in records if r.type == "log" and r.data["id"].endswith("LOST_CONNECTION")]
    first, second = losses[0], losses[1]
    assert "PgSqlHostMgr" in first.data["text"] and "MySqlHostMgr" in second.data["text"]
    assert second.t - first.t >= 0.05  # the next tick's request, not the same one


def test_no_traffic_never_notices_a_loss() -> None:
    driver = CountingDriver()

    async def outage(_: LiveRun) -> None:
        await asyncio.sleep(0.05)
        driver.set_up("lease-database", False)

    config = settings(**{"lease-database": lease_db()})
    code, records = live(config, driver, outage, until=0.3, traffic=0)
    assert code == 0 and driver.uses == []
    assert kinds(records, "serving") == [{"serving": True}]


def test_config_backends_are_polled() -> None:
    """No client traffic: the configuration poll notices a lost config backend."""
    driver = CountingDriver()
    control = {"config-databases": [lease_db(type="mysql")], "config-fetch-wait-time": 1}

    async def outage(_: LiveRun) -> None:
        await asyncio.sleep(0.1)
        driver.set_up("config-databases[0]", False)

    code, records = live(
        settings(**{"config-control": control}), driver, outage, until=1.5, traffic=0
    )
    assert code == 1  # stop-retry-exit: 3 attempts 100 ms apart after the poll at 1 s
    assert driver.uses == ["config-databases[0]"]
    assert kinds(records, "attempt")[0] == {
        "backend": "config-databases[0]",
        "n": 1,
        "of": 3,
        "ok": False,
    }


def test_idle_watch_reports_from_any_thread() -> None:
    """A loss the driver's idle watch finds (on its own thread) reaches the engine."""
    driver = CountingDriver()

    async def watch(run: LiveRun) -> None:
        await asyncio.sleep(0.1)
        driver.set_up("lease-database", False)
        instance = run.engine.server.backends["lease-database"].instance
        lost = Lost("lease-database", instance, "server closed the connection unexpectedly")
        thread = threading.Thread(target=run._lost_while_idle, args=(lost,))
        thread.start()
        thread.join()

    config = settings(**{"lease-database": lease_db(**{"on-fail": "stop-retry-exit"})})
    code, records = live(config, driver, watch, traffic=0)
    assert code == 1
    assert "DHCP4_DB_RECONNECT_LOST_CONNECTION" in ids(records)


# -- the control channel ---------------------------------------------------------------------


def test_shutdown_exits_with_its_value_and_cleans_up(tmp_path: Path) -> None:
    driver = CountingDriver()
    path = tmp_path / "ctl"
    answers: list[dict[str, Any]] = []

    async def shut(_: LiveRun) -> None:
        await asyncio.sleep(0.1)
        answers.append(await command(path, {"command": "shutdown", "arguments": {"exit-value": 3}}))

    code, records = live(settings(tmp_path, **{"lease-database": lease_db()}), driver, shut)
    assert answers == [{"result": 0, "text": "Shutting down."}]
    assert code == 3
    assert kinds(records, "exit") == [{"code": 3}]
    assert not path.exists()
    assert driver.open_connections() == 0 and driver.closed_all


def test_until_and_stop_exit_0_and_close_everything(tmp_path: Path) -> None:
    driver = CountingDriver()
    code, records = live(settings(tmp_path, **{"lease-database": lease_db()}), driver, until=0.2)
    assert code == 0
    assert records[-1].data == {"exit_code": None, "serving": True, "state": "serving"}
    assert 0.2 <= records[-1].t < 0.6
    assert driver.open_connections() == 0 and driver.closed_all
    assert not (tmp_path / "ctl").exists()

    driver = CountingDriver()

    async def stop(run: LiveRun) -> None:
        await asyncio.sleep(0.1)
        await run.stop()

    code, records = live(settings(**{"lease-database": lease_db()}), driver, stop, until=None)
    assert code == 0 and records[-1].t < 1.0
    assert driver.open_connections() == 0


def test_commands_answered_while_recovering_and_after_a_failed_config_set(
    tmp_path: Path,
) -> None:
    """status-get while the reconnect loop runs; a config-set whose database is down fails
    with Kea's answer and changes nothing; the server still answers; once the database is
    back, config-set connects for real (a new connection) and the server serves."""
    driver = CountingDriver()
    path = tmp_path / "ctl"
    lease = lease_db(**{"on-fail": "serve-retry-continue", "max-reconnect-tries": 1000})
    config = settings(tmp_path, **{"lease-database": lease})
    new = {"Dhcp4": {"lease-database": lease_db(name="other")}}
    seen: dict[str, Any] = {}

    async def operator(run: LiveRun) -> None:
        await asyncio.sleep(0.1)
        driver.set_up("lease-database", False)
        await asyncio.sleep(0.3)
        seen["recovering"] = await command(path, {"command": "status-get"})
        seen["failed"] = await command(path, {"command": "config-set", "arguments": new})
        seen["after"] = await command(path, {"command": "status-get"})
        seen["state"] = run.engine.state
        driver.set_up("lease-database", True)
        before = set(driver.server("lease-database").open_instances)
        seen["applied"] = await command(path, {"command": "config-set", "arguments": new})
        seen["new connection"] = driver.server("lease-database").open_instances - before
        seen["config"] = await command(path, {"command": "config-get"})
        await asyncio.sleep(0.1)
        seen["serving"] = run.engine.serving
        await run.stop()

    code, _ = live(config, driver, operator, until=10)
    assert code == 0
    recovering = seen["recovering"]["arguments"]["dhcp-state"]
    assert recovering["disabled-by-db-connection"] == []  # serve-retry: still serving
    assert seen["failed"]["result"] == 1
    assert seen["failed"]["text"].startswith("Unable to open database: ")
    assert seen["after"]["result"] == 0
    assert seen["applied"]["result"] == 0
    assert seen["applied"]["text"] == "Configuration successful."
    assert len(seen["new connection"]) == 1
    lease_shown = seen["config"]["arguments"]["Dhcp4"]["lease-database"]
    assert lease_shown["name"] == "other" and lease_shown["password"] == "*****"
    assert seen["serving"]


# -- output and command line -----------------------------------------------------------------


def test_printed_records_are_simulate_s(tmp_path: Path) -> None:
    driver = CountingDriver()
    text, jsonl = io.StringIO(), io.StringIO()

    def both(record: Record) -> None:
        printer("text", text)(record)
        printer("json", jsonl)(record)

    code, records = live(settings(**{"lease-database": lease_db()}), driver, until=0.1, also=both)
    assert code == 0
    assert text.getvalue() == to_text(records)
    lines = [json.loads(line) for line in jsonl.getvalue().splitlines()]
    assert lines == [r.to_json() for r in records]
    assert lines[-1]["type"] == "summary"


def test_bad_input_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "kea.json"
    config.write_text(
        '{"Dhcp4": {"control-socket": {"socket-type": "https",\n "socket-name": "x"}}}'
    )
    cases = [
        ([str(tmp_path / "missing.json")], "cannot read configuration file"),
        ([str(config)], f"{config}:1:46: Invalid 'socket-type' parameter value https"),
        ([str(config), "--until", "-1"], "--until must be a finite number > 0"),
        ([str(config), "--traffic", "nan"], "traffic must be 0 or from 0.001 to 1000"),
        ([str(config), "--traffic", "1e-300"], "requests a second, not 1e-300"),
        ([str(config), "--traffic", "-1"], "traffic must be 0 or from"),
        ([str(config), "--probe-interval", "0"], "--probe-interval must be"),
    ]
    for argv, message in cases:
        assert cli.main(["run", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


def test_refuses_to_replace_a_file_at_the_socket_path(tmp_path: Path) -> None:
    (tmp_path / "ctl").write_text("precious")
    driver = CountingDriver()
    with pytest.raises(Exception, match="exists and is not a socket"):
        live(settings(tmp_path, **{"lease-database": lease_db()}), driver, until=0.1)
    assert (tmp_path / "ctl").read_text() == "precious"
    assert driver.open_connections() == 0


@pytest.mark.parametrize("stop_after", [0.5, 0.0])
def test_a_connection_is_closed_only_after_its_requests(tmp_path: Path, stop_after: float) -> None:
    """config-set closes the old connection; a request still running on it finishes first
    (a client library must not have a connection closed under a query). A stop meanwhile
    cancels the request, and the connection is still closed."""
    events: list[str] = []

    class Slow(CountingDriver):
        async def use(self, backend: str, instance: int) -> Lost | None:
            events.append(f"use {instance}")
            await asyncio.sleep(0.2)
            events.append(f"used {instance}")
            return None

        async def close(self, request: Any) -> None:
            events.append(f"close {request.instance}")
            await super().close(request)

    path = tmp_path / "ctl"
    new = {"Dhcp4": {"lease-database": lease_db(name="other")}}

    async def reconfigure(run: LiveRun) -> None:
        while "use 1" not in events:
            await asyncio.sleep(0.01)
        assert (await command(path, {"command": "config-set", "arguments": new}))["result"] == 0
        await asyncio.sleep(stop_after)
        await run.stop()

    driver = Slow()
    live(settings(tmp_path, **{"lease-database": lease_db()}), driver, reconfigure, traffic=50)
    assert events.index("use 1") < events.index("close 1")
    if stop_after:
        assert events.index("used 1") < events.index("close 1")
    assert driver.open_connections() == 0


def test_a_broken_sink_stops_the_run_cleanly() -> None:
    """A closed pipe (say): the run stops, closes everything, then reports the error."""
    driver = CountingDriver()
    printed: list[Record] = []

    def sink(record: Record) -> None:
        if len(printed) == 2:
            raise BrokenPipeError("closed")
        printed.append(record)

    async def main() -> int:
        return await LiveRun(
            settings(**{"lease-database": lease_db()}), sink=sink, driver=driver
        ).run(5)

    with pytest.raises(BrokenPipeError):
        asyncio.run(main())
    assert len(printed) == 2
    assert driver.open_connections() == 0 and driver.closed_all


def test_a_driver_bug_is_one_log_line_and_the_run_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    class Buggy(CountingDriver):
        async def use(self, backend: str, instance: int) -> Lost | None:
            raise RuntimeError("password=pw-never-shown")

    code, records = live(settings(**{"lease-database": lease_db()}), Buggy(), until=0.2)
    assert code == 0 and records[-1].data["state"] == "serving"
    errors = [r.getMessage() for r in caplog.records if r.name == "dbfsm.run"]
    assert errors and errors[0] == "a request on lease-database failed unexpectedly: RuntimeError"
    assert not any("pw-never-shown" in e for e in errors)


@pytest.mark.parametrize("ending", ["SIGINT", "SIGTERM", "shutdown"])
def test_the_command_line_ends_as_kea_does(tmp_path: Path, ending: str) -> None:
    """`dbfsm run` as a process, on a memfile lease database (no server needed): SIGINT and
    SIGTERM end it with 0, `shutdown` with its exit-value; the socket is gone after."""
    socket = tmp_path / "ctl"
    control = {"socket-type": "unix", "socket-name": str(socket)}
    config = tmp_path / "kea.json"
    config.write_text(json.dumps({"Dhcp4": {"control-socket": control}}))
    process = subprocess.Popen(
        [sys.executable, "-m", "dbfsm", "run", str(config), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if json.loads(line).get("id") == "DHCP4_STARTED":
                break
        if ending == "shutdown":
            request = {"command": "shutdown", "arguments": {"exit-value": 5}}
            assert json.loads(ask(str(socket), request))["result"] == 0
        else:
            process.send_signal(getattr(signal, ending))
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()
    assert err == ""
    assert process.returncode == (5 if ending == "shutdown" else 0)
    assert json.loads(out.splitlines()[-1])["type"] == "summary"
    assert not socket.exists()
