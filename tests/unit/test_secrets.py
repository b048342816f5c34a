"""Secrets: a password, and the content of a `password-file`, appear in no output but
`config-get` (and there only as Kea shows it).

Every command of the command line runs on configurations and scenarios that hold
recognisable secrets (in every kind of database map, in an inline configuration, in a
`config-set` inside a scenario, in bad input that is refused); everything it printed, every
file it wrote and every log record is scanned. A new command is one more line in
`INVOCATIONS`. The reprs of what holds a configuration, the messages of the errors raised on
bad input and their tracebacks are scanned too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from dbfsm import cli
from dbfsm.drivers.live import connect
from dbfsm.drivers.session import OpenError
from dbfsm.files import documents, reading
from dbfsm.fsm import logs
from dbfsm.fsm.errors import InputError
from dbfsm.fsm.records import to_jsonl
from dbfsm.simulation import scenario, simulate

PASSWORD = "pw-Kea-5ecret-7f3a"
FILE_SECRET = "pwfile-c0ntent-91be"
SECRETS = (PASSWORD, FILE_SECRET)


def database(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "mysql", "name": name, "user": "kea", "password": PASSWORD, **extra}


def configuration(password_file: Path) -> dict[str, Any]:
    return {
        "Dhcp4": {
            "config-control": {"config-databases": [database("cb")]},
            "lease-database": database(
                "kea", **{"max-reconnect-tries": 2, "reconnect-wait-time": 100}
            ),
            "hosts-databases": [
                database("h0", **{"on-fail": "serve-retry-continue", "retry-on-startup": True}),
                {"type": "postgresql", "name": "h1", "password-file": str(password_file)},
            ],
        }
    }


@dataclass
class World:
    """The files the commands read, in one temporary directory."""

    directory: Path
    files: dict[str, Path]

    def argv(self, template: list[str]) -> list[str]:
        return [
            str(self.files[part[1:-1]]) if part[1:-1] in self.files else part for part in template
        ]


@pytest.fixture
def world(tmp_path: Path) -> World:
    secret_file = tmp_path / "password"
    secret_file.write_text(FILE_SECRET + "\n")
    document = configuration(secret_file)
    config_path = tmp_path / "kea.json"
    config_path.write_text(json.dumps(document, indent=2))
    events = [
        {"at": 0, "down": "hosts-databases[0]"},
        {"at": 1, "up": "hosts-databases[0]"},
        {"at": 2, "down": "hosts-databases[0]"},
        {"at": 2, "use": "hosts-databases[0]"},
        {"at": 3, "command": {"command": "config-get"}},
        {"at": 4, "command": {"command": "config-set", "arguments": document}},
        {"at": 5, "command": {"command": "config-test", "arguments": document}},
        {"at": 6, "command": {"command": "config-reload"}},
        {"at": 7, "command": {"command": "status-get"}},
    ]
    bad_set = {"Dhcp4": {"lease-database": database("x", **{"port": PASSWORD})}}
    events.append({"at": 8, "command": {"command": "config-set", "arguments": bad_set}})
    scenario_path = tmp_path / "scenario.json"
    scenario_path.write_text(json.dumps({"config": "kea.json", "until": 10, "events": events}))
    inline_path = tmp_path / "inline.json"
    inline_path.write_text(json.dumps({"config": document, "until": 10, "events": events}))
    files = {"config": config_path, "scenario": scenario_path, "inline": inline_path}
    files["out"] = tmp_path / "out"
    files.update(_live_files(tmp_path, document, events))
    for name, text in BAD_INPUTS.items():
        files[name] = tmp_path / name
        files[name].write_text(text.replace("PASSWORD", PASSWORD))
    return World(tmp_path, files)


def unreachable(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with every database on 127.0.0.1 at a port nothing listens on (no server
    needed), and a control socket."""
    port = _dead_port()
    copy = json.loads(json.dumps(document))
    root = copy["Dhcp4"]
    maps = [
        root["lease-database"],
        *root["hosts-databases"],
        *root["config-control"]["config-databases"],
    ]
    for entry in maps:
        entry.update({"host": "127.0.0.1", "port": port, "connect-timeout": 1})
    return copy


def _dead_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


CLAUSES = """
clauses:
  - id: secret.case
    rule: kea.reconnect-disabled
    follows: kea
    why: the cases hold passwords
    cases:
      - name: a case whose configuration holds passwords
        config: CONFIG
        until: 10
        events: EVENTS
        expect: [{t: 0, serving: true}]
        end: {exit_code: null}
"""


def _live_files(tmp_path: Path, document: dict[str, Any], events: list[Any]) -> dict[str, Path]:
    """Files for spec, conform, run, command and db-version."""
    files: dict[str, Path] = {}
    live = unreachable(document)
    live["Dhcp4"]["lease-database"]["on-fail"] = "serve-retry-continue"
    live["Dhcp4"]["lease-database"]["retry-on-startup"] = True
    live["Dhcp4"]["control-socket"] = {"socket-type": "unix", "socket-name": str(tmp_path / "s")}
    files["unreachable"] = tmp_path / "unreachable.json"
    files["unreachable"].write_text(json.dumps(live))
    files["clauses"] = tmp_path / "clauses.yaml"
    text = CLAUSES.replace("CONFIG", json.dumps(document)).replace("EVENTS", json.dumps(events))
    files["clauses"].write_text(text)
    files["documentation"] = tmp_path / "documentation.txt"
    files["documentation"].write_text("Kea's documentation.\n")
    files["trace"] = tmp_path / "trace.jsonl"
    run = simulate.run(scenario.load(tmp_path / "scenario.json"))
    files["trace"].write_text(to_jsonl(run.timeline()))
    files["socket"] = tmp_path / "no-socket"
    return files


BAD_INPUTS = {
    # configurations
    "bad-key.json": '{"Dhcp4": {"lease-database": {"type": "mysql", "password": "PASSWORD", '
    '"pasword": "PASSWORD"}}}',
    "bad-type.json": '{"Dhcp4": {"lease-database": {"type": "mysql", "name": "k", '
    '"password": ["PASSWORD"]}}}',
    "bad-both.json": '{"Dhcp4": {"lease-database": {"type": "mysql", "name": "k", '
    '"password": "PASSWORD", "password-file": "/x"}}}',
    "bad-syntax.json": '{"Dhcp4": {"lease-database": {"type": "mysql", '
    '"password": "PASSWORD\x01"}}}',
    "bad-string.json": '{"Dhcp4": {"lease-database": {"type": "mysql", "password": "PASSWORD',
    # scenarios
    "bad-backend.yaml": "config: {Dhcp4: {}}\nevents: [{at: 1, down: {password: PASSWORD}}]\n",
    "bad-tag.yaml": "config: {Dhcp4: {lease-database: {type: mysql, password: !!int PASSWORD}}}\n",
    "bad-unknown-tag.yaml": "config: {Dhcp4: {lease-database: {type: mysql, "
    "password: !secret PASSWORD}}}\n",
    "bad-inline.yaml": "config: {Dhcp4: {lease-database: {type: mysql, password: PASSWORD, "
    "port: PASSWORD}}}\n",
    "bad-until.yaml": "config: {Dhcp4: {}}\nuntil: PASSWORD\n",
    "bad-version.yaml": "config: {Dhcp4: {}}\nevents: [{at: 1, schema: lease-database, "
    "version: {password: PASSWORD}}]\n",
    # clause files
    "bad-end.clauses": "clauses: [{id: x, rule: kea.reconnect-disabled, follows: kea, why: w, "
    "cases: [{name: c, config: {Dhcp4: {}}, until: 1, end: {state: {password: PASSWORD}}}]}]\n",
    "bad-exact.clauses": "clauses: [{id: x, rule: kea.reconnect-disabled, follows: kea, why: w, "
    "cases: [{name: c, config: {Dhcp4: {}}, until: 1, exact: [PASSWORD]}]}]\n",
    "bad-case.clauses": "clauses: [{id: x, rule: kea.reconnect-disabled, follows: kea, why: w, "
    "cases: [{name: c, config: {Dhcp4: {lease-database: {type: mysql, password: PASSWORD, "
    "port: PASSWORD}}}, until: 1, end: {serving: true}}]}]\n",
    # traces
    "bad-record.jsonl": '{"t": 0, "type": "PASSWORD", "serving": true}\n',
    "bad-time.jsonl": '{"t": "PASSWORD", "type": "serving", "serving": true}\n',
}

# (label, argv with {file} placeholders). One line per way of running a command.
INVOCATIONS: list[tuple[str, list[str]]] = [
    ("check", ["check", "{config}"]),
    ("simulate text", ["simulate", "{scenario}"]),
    ("simulate json", ["simulate", "{scenario}", "--format", "json"]),
    ("simulate inline", ["simulate", "{inline}", "--format", "json"]),
    ("simulate --config", ["simulate", "{inline}", "--config", "{config}"]),
    ("diagram --highlight", ["diagram", "--highlight", "{scenario}"]),
    ("diagram all views", ["diagram", "--view", "all", "--format", "dot", "--highlight",
                           "{inline}", "-o", "{out}"]),
    ("diagram svg", ["diagram", "--format", "svg", "--highlight", "{scenario}", "-o", "{out}"]),
    *((f"check {name}", ["check", f"{{{name}}}"]) for name in BAD_INPUTS if name.endswith("json")),
    *((f"simulate {name}", ["simulate", f"{{{name}}}"]) for name in BAD_INPUTS),
    *((f"simulate --config {name}", ["simulate", "{scenario}", "--config", f"{{{name}}}"])
      for name in BAD_INPUTS if name.endswith("json")),
    *((f"diagram {name}", ["diagram", "--highlight", f"{{{name}}}"])
      for name in BAD_INPUTS if name.endswith("yaml")),
    ("spec run", ["spec", "run", "{clauses}", "--documentation", "{documentation}", "--junit",
                  "{out}"]),
    ("spec coverage", ["spec", "coverage", "{clauses}", "--documentation", "{documentation}"]),
    *((f"spec run {name}", ["spec", "run", f"{{{name}}}", "--documentation", "{documentation}"])
      for name in BAD_INPUTS if name.endswith("clauses")),
    ("conform", ["conform", "{trace}", "--config", "{config}"]),
    ("conform unreachable", ["conform", "{trace}", "--config", "{unreachable}"]),
    *((f"conform {name}", ["conform", f"{{{name}}}", "--config", "{config}"])
      for name in BAD_INPUTS if name.endswith("jsonl")),
    *((f"conform --config {name}", ["conform", "{trace}", "--config", f"{{{name}}}"])
      for name in BAD_INPUTS if name.endswith("json")),
    ("run text", ["run", "{unreachable}", "--until", "1.5", "--traffic", "20"]),
    ("run json", ["run", "{unreachable}", "--until", "1.5", "--format", "json"]),
    *((f"run {name}", ["run", f"{{{name}}}", "--until", "0.1"])
      for name in BAD_INPUTS if name.endswith("json")),
    ("command unreachable", ["command", "{socket}", json.dumps(
        {"command": "config-set", "arguments": {"Dhcp4": {"lease-database": database("k")}}})]),
    ("command bad JSON", ["command", "{socket}", '{"command": "config-set", "arguments": '
                          '{"password": "' + PASSWORD + '", NaN}']),
    ("db-version", ["db-version", "{unreachable}"]),
    ("db-version password-file", ["db-version", "{unreachable}", "hosts-databases[1]"]),
    ("db-version config backend", ["db-version", "{unreachable}", "config-databases[0]"]),
    *((f"db-version {name}", ["db-version", f"{{{name}}}"])
      for name in BAD_INPUTS if name.endswith("json")),
]  # fmt: skip
# Commands whose exit status 1 is an answer, not a failure: the run ended with the server's
# exit, the trace leaves the model, the database or socket cannot be reached.
MAY_EXIT_1 = ("conform", "run", "command", "db-version", "spec coverage")


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


@pytest.mark.parametrize("label,template", INVOCATIONS, ids=[i[0] for i in INVOCATIONS])
def test_no_command_shows_a_secret(
    label: str,
    template: list[str],
    world: World,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    code = cli.main(world.argv(template))
    out, err = capsys.readouterr()
    assert code in ((0, 1, 2) if label.startswith(MAY_EXIT_1) else (0, 2)), (label, err)
    if "bad-" in label:
        assert code == 2, (label, out, err)
    assert not leaks(out) and not leaks(err), (label, out[-500:], err)
    for record in caplog.records:
        assert not leaks(record.getMessage()), (label, record.getMessage())
    written = [p for p in world.files["out"].rglob("*")] if world.files["out"].is_dir() else []
    if world.files["out"].is_file():
        written.append(world.files["out"])
    for path in written:
        assert not leaks(path.read_bytes().decode("utf-8", "replace")), (label, path)


def test_the_scan_finds_a_secret_where_there_is_one(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """config-get is the one place the configuration is shown; the scan would see it there."""
    settings = reading.load_file(world.files["config"])
    assert leaks(json.dumps(dict(settings.document))) == [PASSWORD]
    cli.main(["check", str(world.files["config"])])
    out, _ = capsys.readouterr()
    assert '"*****"' in out  # the password's place in check's output, hidden


def test_logging_of_an_embedded_engine_shows_no_secret(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """`fsm.logs.forward` (what an embedding service uses) on a run with every outage."""
    caplog.set_level(logging.DEBUG)
    loaded = scenario.load(world.files["scenario"])
    sim = simulate.Simulation(loaded)
    logs.forward(sim.engine)
    result = sim.run()
    assert caplog.records and result.records
    assert result.exit_code is None  # every event happened: the server did not exit
    for record in caplog.records:
        assert not leaks(record.getMessage())
        assert not leaks(repr(record.__dict__))


def test_reprs_of_what_holds_a_configuration(world: World) -> None:
    loaded = scenario.load(world.files["inline"])
    sim = simulate.Simulation(loaded)
    result = sim.run()
    held: list[object] = [
        loaded,
        loaded.settings,
        *loaded.settings.backends,
        *loaded.events,
        sim.engine.settings,
        *sim.engine.server.backends.values(),
        result,
    ]
    for thing in held:
        assert not leaks(repr(thing)), type(thing).__name__


def test_errors_and_their_tracebacks(world: World) -> None:
    """Every refusal of bad input: its message, its repr and its whole traceback (causes and
    contexts included) name no secret."""
    refusals = 0
    for name in BAD_INPUTS:
        path = world.files[name]
        read = reading.load_file if name.endswith("json") else scenario.load
        with pytest.raises(InputError) as info:
            read(path)
        error = info.value
        text = "".join(traceback.format_exception(error))
        assert not leaks(str(error)) and not leaks(repr(error)), (name, str(error))
        assert not leaks(text), (name, text[-1500:])
        refusals += 1
    assert refusals == len(BAD_INPUTS)


def test_run_and_command_on_a_control_socket(world: World) -> None:
    """`dbfsm run` (a process of its own, as in service) answering `dbfsm command` with
    config-set, config-test, status-get and a refused config-set, all holding the password:
    nothing the run printed or the client printed shows it."""
    socket_path = world.directory / "s"
    document = json.loads(world.files["unreachable"].read_text())
    del document["Dhcp4"]["config-control"]  # a config backend that cannot open ends the run
    for entry in (document["Dhcp4"]["lease-database"], *document["Dhcp4"]["hosts-databases"]):
        entry.update({"on-fail": "serve-retry-continue", "retry-on-startup": True})
    path = world.directory / "served.json"
    path.write_text(json.dumps(document))
    run = subprocess.Popen(
        [sys.executable, "-m", "dbfsm", "run", str(path), "--until", "6",
         "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 5
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        bad = {"Dhcp4": {"lease-database": database("x", port=PASSWORD)}}
        requests = [
            {"command": "config-test", "arguments": document},
            {"command": "config-set", "arguments": document},
            {"command": "config-set", "arguments": bad},
            {"command": "status-get"},
        ]
        for request in requests:
            client = subprocess.run(
                [sys.executable, "-m", "dbfsm", "command", str(socket_path), "-"],
                input=json.dumps(request),
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert client.returncode == 0, client.stderr
            assert not leaks(client.stdout + client.stderr), (request["command"], client.stdout)
        out, err = run.communicate(timeout=30)
    finally:
        run.kill() if run.poll() is None else None
        run.wait()
    assert run.returncode == 0, err
    assert '"command": "config-set"' in out and not leaks(out) and not leaks(err), err


@pytest.mark.parametrize("backend", ["lease-database", "hosts-databases[0]", "hosts-databases[1]"])
def test_drivers_errors_name_no_password(world: World, backend: str) -> None:
    """Both drivers, inline password and password-file, on a port nothing listens on: the
    OpenError's message, repr and traceback name no secret."""
    settings = reading.load_file(world.files["unreachable"]).backend(backend)
    with pytest.raises(OpenError) as info:
        asyncio.run(connect(settings))
    text = "".join(traceback.format_exception(info.value))
    assert not leaks(str(info.value)) and not leaks(repr(info.value)), str(info.value)
    assert not leaks(text), text[-1500:]


# -- a password that YAML reads as a tag (issue 20, item 3) ------------------------------------

TAG_SECRET = "MyRealPw-42"
TAG_CONFIGS = {
    "local tag": "{Dhcp4: {lease-database: {type: mysql, name: kea, password: !MyRealPw-42 }}}",
    "verbatim tag": "{Dhcp4: {lease-database: {type: mysql, name: kea, "
    "password: !<tag:MyRealPw-42> x}}}",
    "!! tag": "{Dhcp4: {lease-database: {type: mysql, name: kea, password: !!MyRealPw-42 x}}}",
    "tag on a map": "{Dhcp4: {lease-database: !MyRealPw-42 {type: mysql, name: kea}}}",
    "tag handle": "{Dhcp4: {lease-database: {type: mysql, name: kea, password: !MyRealPw-42!x y}}}",
}


def _tag_files(tmp_path: Path, config: str) -> dict[str, Path]:
    files = {
        "scenario": tmp_path / "scenario.yaml",
        "kea": tmp_path / "kea.yaml",
        "clauses": tmp_path / "clauses.yaml",
        "documentation": tmp_path / "documentation.txt",
    }
    files["scenario"].write_text(f"config: {config}\nuntil: 5\n")
    files["kea"].write_text(config + "\n")
    files["clauses"].write_text(CLAUSES.replace("CONFIG", config).replace("EVENTS", "[]"))
    files["documentation"].write_text("Kea's documentation.\n")
    return files


@pytest.mark.parametrize("case", TAG_CONFIGS)
@pytest.mark.parametrize(
    "command",
    [
        ["simulate", "{scenario}"],
        ["diagram", "--highlight", "{scenario}"],
        ["spec", "run", "{clauses}", "--documentation", "{documentation}"],
        ["check", "{kea}"],
        ["simulate", "{scenario}", "--config", "{kea}"],
    ],
    ids=["simulate", "diagram --highlight", "spec run", "check", "simulate --config"],
)
def test_a_password_read_as_a_yaml_tag_is_not_shown(
    case: str, command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The error says where (file:line:col and, for YAML, the key) and what kind of thing is
    wrong, never the tag's text."""
    files = _tag_files(tmp_path, TAG_CONFIGS[case])
    argv = [str(files[part[1:-1]]) if part.startswith("{") else part for part in command]
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert TAG_SECRET not in out + err, err
    assert re.search(r":\d+:\d+: ", err), err
    if command[0] != "check" and "--config" not in command and case != "tag handle":
        assert "lease-database" in err and "tag" in err, err


@pytest.mark.parametrize("case", TAG_CONFIGS)
def test_the_pure_python_yaml_reader_quotes_no_tag_either(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without libyaml, PyYAML's own messages quote tag handles: not through dbfsm."""
    monkeypatch.setattr(documents, "_Loader", yaml.SafeLoader)
    with pytest.raises(InputError) as info:
        documents.parse(f"config: {TAG_CONFIGS[case]}\n", "s.yaml")
    assert TAG_SECRET not in str(info.value), str(info.value)


def test_a_command_argument_s_number_is_not_quoted(capsys: pytest.CaptureFixture[str]) -> None:
    """`dbfsm command` refuses a number no double holds without printing it: the argument may
    be a config-set whose password is all digits."""
    secret = "9" * 400
    request = json.dumps({"command": "config-set", "arguments": {"password": 0}})
    request = request.replace("0}", f"{secret}e9}}")
    code = cli.main(["command", "/nonexistent/ctl", request])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert (
        err
        == "dbfsm command: JSON argument: a number of 402 characters is too large for a double\n"
    )
