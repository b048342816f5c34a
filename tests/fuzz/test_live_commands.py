"""The commands that reach out (`dbfsm run`, `command`, `db-init`, `db-version`, `db-upgrade`)
with hostile arguments and configuration files: each is refused with exit status 2 and one
line BEFORE anything connects to a database or a socket, within `hostile.SECONDS`.

The drivers' `connect` and the control client's `ask` are replaced by recorders: bad input
must never reach them.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbfsm.files import reading
from dbfsm.fsm.errors import InputError
from dbfsm.live import command as control_client

from . import hostile

CONFIG = {
    "Dhcp4": {
        "lease-database": {"type": "mysql", "name": "kea", "host": "127.0.0.1", "port": 9},
        "hosts-databases": [{"type": "memfile"}, {"type": "postgresql", "name": "h"}],
    }
}
ADMIN = ("db-init", "db-version", "db-upgrade")


class Reached(list[str]):
    """What tried to connect: the drivers' connect (databases), the client's ask (socket)."""


@pytest.fixture
def reached(monkeypatch: pytest.MonkeyPatch) -> Iterator[Reached]:
    calls = Reached()

    async def connect(settings: object) -> object:
        from dbfsm.drivers.session import OpenError

        calls.append("database")
        raise OpenError("not connected: this test connects nowhere")

    def ask(path: str, request: object, timeout: float = 0) -> bytes:
        calls.append("socket")
        raise OSError("not connected: this test connects nowhere")

    monkeypatch.setattr("dbfsm.drivers.live.connect", connect)  # db-*: looked up to connect
    monkeypatch.setattr(control_client, "ask", ask)
    monkeypatch.setattr(reading, "STREAM_TIMEOUT", 0.5)
    yield calls


def _readable(path: str) -> bool:
    try:
        reading.load_file(path)
    except InputError:
        return False
    return True


def _refused(argv: list[str], label: str, reached: Reached) -> None:
    """Exit 2, one line, and nothing connected."""
    run = hostile.survive_cli(argv, label, verdicts=())
    assert run.code == 2 and not reached, (label, run, reached)


@pytest.mark.parametrize("label", hostile.HOSTILE_PATHS)
def test_hostile_configuration_paths(label: str, tmp_path: Path, reached: Reached) -> None:
    path = hostile.HOSTILE_PATHS[label](tmp_path)
    if _readable(path):  # root reads a file without read permission: then it is used
        return
    for argv in (["run", path, "--until", "0.1"], *([name, path] for name in ADMIN)):
        _refused(argv, label, reached)


@pytest.mark.parametrize(
    "label,text", hostile.HOSTILE_TEXTS, ids=[t[0] for t in hostile.HOSTILE_TEXTS]
)
def test_hostile_configuration_texts(
    label: str, text: bytes, tmp_path: Path, reached: Reached
) -> None:
    path = tmp_path / "kea.json"
    path.write_bytes(text)
    if _readable(str(path)):  # a configuration Kea takes (duplicate keys: the last wins)
        return
    for argv in (["run", str(path), "--until", "0.1"], *([name, str(path)] for name in ADMIN)):
        _refused(argv, label, reached)


CONTROL_SOCKETS: dict[str, object] = {
    "not a map": "unix",
    "an http socket": {"socket-type": "http", "socket-name": "x"},
    "no name": {"socket-type": "unix"},
    "an empty name": {"socket-type": "unix", "socket-name": ""},
    "a NUL in the name": {"socket-type": "unix", "socket-name": "a\x00b"},
    "a name that is a list": {"socket-type": "unix", "socket-name": ["x"]},
    "in a missing directory": {"socket-type": "unix", "socket-name": "/nonexistent/dir/s"},
    "an existing directory": {"socket-type": "unix", "socket-name": "{tmp}"},
    "an existing file": {"socket-type": "unix", "socket-name": "{tmp}/kea.json"},
}


@pytest.mark.parametrize("label", CONTROL_SOCKETS)
def test_run_with_a_hostile_control_socket(label: str, tmp_path: Path, reached: Reached) -> None:
    entry = json.loads(json.dumps(CONTROL_SOCKETS[label]).replace("{tmp}", str(tmp_path)))
    document = json.loads(json.dumps(CONFIG))
    document["Dhcp4"]["control-socket"] = entry
    path = tmp_path / "kea.json"
    path.write_text(json.dumps(document))
    _refused(["run", str(path), "--until", "0.1"], label, reached)


BAD_NUMBERS = ("nan", "inf", "-1", "0", "1e999", "-inf", "x", "9" * 5000)


@pytest.mark.parametrize(
    "option,value",
    [
        *(("--until", v) for v in BAD_NUMBERS),
        *(("--traffic", v) for v in (*BAD_NUMBERS[:3], "1e999", "5000", "x")),
        *(("--probe-interval", v) for v in BAD_NUMBERS),
        ("--format", "xml"),
    ],
    ids=lambda v: v[:12],
)
def test_run_with_hostile_options(
    option: str, value: str, tmp_path: Path, reached: Reached
) -> None:
    path = tmp_path / "kea.json"
    path.write_text(json.dumps(CONFIG))
    if option == "--traffic" and value == "0":
        return
    _refused(["run", str(path), option, value, "--until", "0.1"], f"{option} {value}", reached)


@pytest.mark.parametrize(
    "backend",
    ["", "nope", "hosts-databases[1", "hosts-databases[9999]", "hosts-databases[0]",
     "hosts-databases[-1]", "x" * 100_000, "lease-database\n", "lease\x00database",
     "hosts-databases[" + "9" * 5000 + "]", "config-databases[0]"],
    ids=lambda b: repr(b[:20]),
)  # fmt: skip
def test_admin_with_a_hostile_backend_name(backend: str, tmp_path: Path, reached: Reached) -> None:
    """A name no backend has, or a memfile backend (no schema): refused, nothing connects."""
    path = tmp_path / "kea.json"
    path.write_text(json.dumps(CONFIG))
    for name in ADMIN:
        _refused([name, str(path), backend], repr(backend[:20]), reached)


@pytest.mark.parametrize(
    "label,text", hostile.HOSTILE_TEXTS, ids=[t[0] for t in hostile.HOSTILE_TEXTS]
)
def test_command_with_hostile_json(label: str, text: bytes, reached: Reached) -> None:
    """Not JSON (NaN, Infinity, nesting too deep, a 5000-digit number, ...): refused before
    the socket; JSON the server must judge (a list, null, duplicate keys) is sent."""
    try:
        json.loads(text, parse_constant=lambda c: 1 / 0, parse_float=lambda f: 1 / (f != "1e999"))
        is_json = b"-1e999" not in text
    except (ValueError, RecursionError, ZeroDivisionError):
        is_json = False
    request = text.decode("utf-8", "surrogateescape")
    run = _unreachable_or_refused(["command", "/run/dbfsm-none", request], label)
    assert (run.code == 2) == (not is_json) and bool(reached) == is_json, (label, run)
    reached.clear()


def _unreachable_or_refused(argv: list[str], label: str) -> hostile.CliRun:
    """`dbfsm command`: exit 1 (the socket cannot be reached) or 2 (bad input), one line."""
    run = hostile.run_cli(argv)
    assert run.code in (1, 2) and run.out == "", (label, run)
    assert run.err.startswith("dbfsm command: ") and run.err.count("\n") == 1, (label, run)
    hostile.TALLY[("dbfsm command", "refused" if run.code == 2 else "accepted")] += 1
    return run


@pytest.mark.parametrize(
    "path", ["", "a\x00b", "s" * 200, "/tmp/" + "d/" * 60 + "s", "\udcff" * 120],
    ids=["empty", "NUL", "200 bytes", "deep", "undecodable"],
)  # fmt: skip
def test_command_with_a_socket_path_no_socket_can_have(path: str, reached: Reached) -> None:
    _refused(["command", path, '{"command": "status-get"}'], repr(path[:20]), reached)


@pytest.mark.parametrize("label", hostile.HOSTILE_PATHS)
def test_command_to_paths_that_are_no_socket(label: str, tmp_path: Path) -> None:
    """Through the real client: a path that exists but is no socket, or is missing, cannot be
    reached (exit 1, one line); a path no socket can have is bad input (exit 2)."""
    path = hostile.HOSTILE_PATHS[label](tmp_path)
    run = _unreachable_or_refused(["command", path, "{}", "--timeout", "2"], label)
    assert run.code == (
        2
        if label
        in ("a name too long", "a path too long", "a NUL byte in the name", "an empty name")
        else 1
    ), (label, run)


@pytest.mark.parametrize("value", ["nan", "0", "-1", "inf", "1e300", "x"])
def test_command_with_a_hostile_timeout(value: str, reached: Reached) -> None:
    _refused(["command", "/run/x", "{}", "--timeout", value], value, reached)


def test_command_from_undecodable_standard_input(
    monkeypatch: pytest.MonkeyPatch, reached: Reached
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b'{"command": "\xff"}'), encoding="utf-8")
    monkeypatch.setattr("sys.stdin", stdin)
    _refused(["command", "/run/x", "-"], "stdin", reached)
