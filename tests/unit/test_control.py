"""The control channel: Kea's framing and answers, the socket file's safety, the client."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import socket
import stat
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dbfsm import cli
from dbfsm.files.reading import load_file
from dbfsm.fsm.config import from_document
from dbfsm.fsm.errors import ConfigError, InputError
from dbfsm.live import command as control_client
from dbfsm.live import control
from dbfsm.live.control import ControlChannel, JsonFrame, Malformed, socket_name
from dbfsm.live.runtime import ServerExited

COMMAND = b'{"command": "config-set", "arguments": {"a": "} ] \\" {", "b": [1, {"c": []}]}}'


# -- framing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cut", range(len(COMMAND) + 1))
def test_frame_finds_the_end_wherever_the_chunks_are_cut(cut: int) -> None:
    """Braces and escaped quotes inside strings do not end the document; trailing bytes
    after it are not part of it."""
    frame = JsonFrame()
    stream = b"  \n" + COMMAND + b"  trailing"
    first, second = stream[: cut + 3], stream[cut + 3 :]
    end = frame.feed(first)
    if end is None:
        end = frame.feed(second)
        assert end == len(second) - len(b"  trailing")
    assert frame.size == len(b"  \n" + COMMAND)


def test_frame_byte_by_byte() -> None:
    frame = JsonFrame()
    ends = [frame.feed(COMMAND[i : i + 1]) for i in range(len(COMMAND))]
    assert ends[:-1] == [None] * (len(COMMAND) - 1)
    assert ends[-1] == 1


@pytest.mark.parametrize(("start", "shown"), [(b"hello", "h"), (b"\x00{}", "\\x00"), (b"1", "1")])
def test_frame_refuses_what_cannot_start_a_command(start: bytes, shown: str) -> None:
    with pytest.raises(Malformed, match=re.escape(f"invalid first character {shown}")):
        JsonFrame().feed(start)


def test_parse_command_locates_the_error_without_quoting_it() -> None:
    with pytest.raises(Malformed) as caught:
        control.parse_command(b'{"command": "x", "password": s3cret}')
    assert str(caught.value).startswith("<command>:1:")
    assert "s3cret" not in str(caught.value)
    with pytest.raises(Malformed, match="invalid UTF-8 at byte 2"):
        control.parse_command(b'{"\xff": 1}')
    with pytest.raises(Malformed, match="nesting deeper than"):
        control.parse_command(b"[" * 5000 + b"]" * 5000)


# -- where the socket is ---------------------------------------------------------------------


def _settings(server: dict[str, Any]) -> Any:
    return from_document({"Dhcp4": server})


def test_socket_name_from_either_spelling() -> None:
    assert socket_name(_settings({})) is None
    unix = {"socket-type": "unix", "socket-name": "/run/kea/ctl"}
    assert socket_name(_settings({"control-socket": unix})) == "/run/kea/ctl"
    assert socket_name(_settings({"control-sockets": [unix]})) == "/run/kea/ctl"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"socket-type": "http", "socket-name": "x"}, "Invalid 'socket-type' parameter value http"),
        ({"socket-name": "x"}, "Mandatory 'socket-type' parameter missing"),
        ({"socket-type": "unix"}, "Mandatory 'socket-name' parameter missing"),
        ({"socket-type": "unix", "socket-name": 7}, "'socket-name' parameter expected"),
        ("unix", "a control socket must be a map"),
    ],
)
def test_socket_name_refuses(entry: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        socket_name(_settings({"control-socket": entry}))


def test_socket_errors_point_into_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kea.json"
    path.write_text(
        '{"Dhcp4": {\n  "control-socket": {\n    "socket-type": "http",\n'
        '    "socket-name": "x"}}}\n'
    )
    with pytest.raises(ConfigError) as caught:
        socket_name(load_file(path))
    assert caught.value.where == f"{path}:3:20"


# -- a channel on a socket -------------------------------------------------------------------


async def _echo(request: object) -> dict[str, Any]:
    return {"result": 0, "arguments": request}


def _serve(
    path: Path,
    answerer: Callable[[object], Awaitable[dict[str, Any]]] = _echo,
    **options: Any,
) -> Callable[[Callable[[ControlChannel], Awaitable[None]]], None]:
    """Run `body(channel)` while a channel serves `path` on the same loop."""

    def run(body: Callable[[ControlChannel], Awaitable[None]]) -> None:
        async def main() -> None:
            channel = ControlChannel(str(path), answerer, **options)
            await channel.start()
            try:
                await body(channel)
            finally:
                await channel.close()

        asyncio.run(main())

    return run


async def _exchange(path: Path, data: bytes, *, close_write: bool = False) -> bytes:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(data)
    if close_write:
        writer.write_eof()
    try:
        return await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        writer.close()


def _answer(data: bytes) -> Any:
    return json.loads(data)


def test_one_command_one_answer_then_closed(tmp_path: Path) -> None:
    """The server answers as soon as the document is complete (the client keeps its end
    open, as socat does) and then closes."""
    path = tmp_path / "ctl"

    async def body(_: ControlChannel) -> None:
        got = _answer(await _exchange(path, b'  {"command": "status-get"}'))
        assert got == {"result": 0, "arguments": {"command": "status-get"}}

    _serve(path)(body)


def test_kea_answers_for_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "ctl"

    async def body(_: ControlChannel) -> None:
        got = _answer(await _exchange(path, b'{"command": status}'))
        assert got["result"] == 1 and got["text"].startswith("<command>:1:13:")
        got = _answer(await _exchange(path, b"status-get"))
        assert got == {"result": 1, "text": "invalid first character s"}
        got = _answer(await _exchange(path, b"[" + b" " * 200))
        assert got["text"] == (
            "Connection over control channel timed out, discarded partial command of 1 bytes"
        )
        got = _answer(await _exchange(path, b""))
        assert got == {"result": 1, "text": "Connection over control channel timed out"}
        big = b'{"command": "x", "arguments": {"k": "' + b"a" * 5000 + b'"}}'
        got = _answer(await _exchange(path, big))
        assert got == {"result": 1, "text": "command too large: more than 4096 bytes; refused"}

    _serve(path, timeout=0.3, max_bytes=4096)(body)


def test_half_message_then_close_gets_no_answer(tmp_path: Path) -> None:
    """As Kea: a client that closes before its command is whole is just dropped."""
    path = tmp_path / "ctl"

    async def body(_: ControlChannel) -> None:
        assert await _exchange(path, b'{"command": ', close_write=True) == b""

    _serve(path)(body)


def test_a_silent_client_blocks_no_one(tmp_path: Path) -> None:
    path = tmp_path / "ctl"

    async def body(_: ControlChannel) -> None:
        loop = asyncio.get_running_loop()
        silent = [await asyncio.open_unix_connection(str(path)) for _ in range(5)]
        half = await asyncio.open_unix_connection(str(path))
        half[1].write(b'{"command": "sta')
        start = loop.time()
        got = _answer(await _exchange(path, b'{"command": "list-commands"}'))
        assert got["result"] == 0
        assert loop.time() - start < 1.0  # the receive timeout is 5 s
        for _, writer in [*silent, half]:
            writer.close()

    _serve(path, timeout=5.0)(body)


def test_connections_beyond_the_limit_are_refused_not_queued(tmp_path: Path) -> None:
    path = tmp_path / "ctl"

    async def body(_: ControlChannel) -> None:
        idle = [await asyncio.open_unix_connection(str(path)) for _ in range(3)]
        await asyncio.sleep(0.05)
        got = _answer(await _exchange(path, b'{"command": "x"}'))
        assert got == {
            "result": 1,
            "text": "too many control connections (at most 3 at once); try again",
        }
        for _, writer in idle:
            writer.close()
        await asyncio.sleep(0.05)
        assert _answer(await _exchange(path, b'{"command": "x"}'))["result"] == 0

    _serve(path, max_connections=3)(body)


def test_server_exited_closes_without_answer(tmp_path: Path) -> None:
    path = tmp_path / "ctl"

    async def gone(_: object) -> dict[str, Any]:
        raise ServerExited()

    async def body(_: ControlChannel) -> None:
        assert await _exchange(path, b'{"command": "status-get"}') == b""

    _serve(path, gone)(body)


# -- the socket file -------------------------------------------------------------------------


def test_socket_is_0600_before_it_is_reachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the moment the socket appears at its path it already has mode 0600, it was made in
    a directory only we can enter, and it is not listening yet."""
    path = tmp_path / "ctl"
    seen: list[tuple[int, int]] = []
    real_link = os.link

    def link(src: str, dst: str) -> None:
        seen.append(
            (stat.S_IMODE(os.stat(src).st_mode), stat.S_IMODE(os.stat(Path(src).parent).st_mode))
        )
        probe = socket.socket(socket.AF_UNIX)
        with pytest.raises(ConnectionRefusedError):
            probe.connect(src)
        probe.close()
        real_link(src, dst)

    monkeypatch.setattr(os, "link", link)

    async def body(_: ControlChannel) -> None:
        info = os.lstat(path)
        assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600

    _serve(path)(body)
    assert seen == [(0o600, 0o700)]
    assert not path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no private directory left


def test_refuses_to_replace_a_file(tmp_path: Path) -> None:
    path = tmp_path / "ctl"
    path.write_text("precious")
    with pytest.raises(InputError, match="exists and is not a socket"):
        control.bind_private(str(path))
    assert path.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ctl"]


def test_replaces_a_stale_socket_but_not_a_live_one(tmp_path: Path) -> None:
    path = tmp_path / "ctl"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # bound, never listening: what a crashed server leaves

    async def body(_: ControlChannel) -> None:
        with pytest.raises(InputError, match="another server is listening on it"):
            control.bind_private(str(path))
        assert _answer(await _exchange(path, b'{"command": "x"}'))["result"] == 0

    _serve(path)(body)
    assert not path.exists()


def test_close_leaves_a_path_that_is_no_longer_ours(tmp_path: Path) -> None:
    path = tmp_path / "ctl"

    async def body(_: ControlChannel) -> None:
        path.unlink()
        path.write_text("someone else's")

    _serve(path)(body)
    assert path.read_text() == "someone else's"


# -- the client ------------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Path]:
    """A channel answering with an echo on a background loop, for the synchronous client."""
    path = tmp_path / "ctl"
    ready = threading.Event()
    stop: list[Callable[[], None]] = []

    async def main() -> None:
        channel = ControlChannel(str(path), _echo)
        await channel.start()
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        stop.append(lambda: loop.call_soon_threadsafe(done.set))
        ready.set()
        await done.wait()
        await channel.close()

    thread = threading.Thread(target=asyncio.run, args=(main(),))
    thread.start()
    assert ready.wait(5)
    yield path
    stop[0]()
    thread.join(5)


def test_command_prints_the_answer(served: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["command", str(served), '{"command": "version-get"}']) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == {"result": 0, "arguments": {"command": "version-get"}}


def test_command_from_standard_input(
    served: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"command": "config-get"}'))
    assert cli.main(["command", str(served), "-"]) == 0
    assert json.loads(capsys.readouterr().out)["arguments"] == {"command": "config-get"}


def test_command_too_large_is_answered_to_the_client(served: Path) -> None:
    """The server stops reading at its limit, answers, and drains the rest before closing,
    so the client gets the answer rather than a reset connection."""
    request = {"command": "config-test", "arguments": {"pad": "x" * (6 * 1024 * 1024)}}
    answer = json.loads(control_client.ask(str(served), request, 10.0))
    assert answer == {
        "result": 1,
        "text": f"command too large: more than {control.MAX_COMMAND_BYTES} bytes; refused",
    }


def test_command_unreachable_and_bad_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing"
    assert cli.main(["command", str(missing), '{"command": "x"}']) == 1
    err = capsys.readouterr().err
    assert err == f"dbfsm command: {missing}: No such file or directory\n"
    assert cli.main(["command", str(missing), '{"command": ']) == 2
    err = capsys.readouterr().err
    assert err.startswith("dbfsm command: JSON argument: ") and err.count("\n") == 1
