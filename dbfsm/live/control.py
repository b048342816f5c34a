"""The control channel: Kea's JSON commands on a unix socket, one command per connection.

Kea's framing (`unix_command_mgr.cc`): a client connects and sends one JSON document; the
server notices where the document ends (it does not wait for the client to close), answers
one JSON document and closes. A connection that has not delivered a whole command within the
receive timeout gets Kea's timeout answer; a command over `MAX_COMMAND_BYTES` is refused; a
document that is not JSON gets an error answer (result 1) naming where it is broken. Every
connection is served by its own task, so a silent or slow client holds up no one; beyond
`MAX_CONNECTIONS` at once, a new connection is refused with an error answer.

The socket file is made where nobody else can reach it (a private 0700 directory next to the
wanted path), given mode 0600, and only then linked into place and listened on: there is no
moment when it is world-accessible. An existing path is replaced only when it is a stale
socket (one nobody listens on); the file is removed on close if it is still ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import stat
import tempfile
from collections.abc import Awaitable, Callable, Mapping

from dbfsm.fsm import jsonc
from dbfsm.fsm.answers import ERROR, Answer, answer
from dbfsm.fsm.errors import ConfigError, InputError
from dbfsm.fsm.settings import ServerSettings
from dbfsm.live.runtime import ServerExited

# Kea's TIMEOUT_DHCP_SERVER_RECEIVE_COMMAND: a whole command must arrive within 10 seconds.
RECEIVE_TIMEOUT = 10.0
# Far above any real configuration sent with config-set; keeps a hostile client's cost bounded.
MAX_COMMAND_BYTES = 4 * 1024 * 1024
# Connections served at once; more are answered at once with an error and closed, so that a
# flood of idle clients cannot take every file descriptor (the database connections need some).
MAX_CONNECTIONS = 512
_CHUNK = 32768  # Kea's BUF_SIZE

Answerer = Callable[[object], Awaitable[Answer]]


# -- where the socket is ---------------------------------------------------------------------


def socket_name(settings: ServerSettings) -> str | None:
    """The path of the configuration's unix control socket, or None when it has none.

    Kea 2.x spells it `control-socket` (a map); later versions `control-sockets` (a list).
    dbfsm serves one unix socket: any other `socket-type` is refused.
    """
    server = settings.document.get(settings.root, {})
    if not isinstance(server, Mapping):
        return None
    root: jsonc.Path = (settings.root,)
    entries: list[tuple[jsonc.Path, object]] = []
    if "control-socket" in server:
        entries.append(((*root, "control-socket"), server["control-socket"]))
    if "control-sockets" in server:
        listed = server["control-sockets"]
        if not isinstance(listed, list):
            raise _config_error(
                settings, "control-sockets must be a list", (*root, "control-sockets")
            )
        entries += [((*root, "control-sockets", i), e) for i, e in enumerate(listed)]
    if not entries:
        return None
    if len(entries) > 1:
        raise _config_error(settings, "dbfsm serves one control socket", entries[1][0])
    path, entry = entries[0]
    if not isinstance(entry, Mapping):
        raise _config_error(settings, "a control socket must be a map", path)
    kind = entry.get("socket-type")
    if kind is None:
        raise _config_error(settings, "Mandatory 'socket-type' parameter missing", path)
    if kind != "unix":
        shown = kind if isinstance(kind, str) else json.dumps(kind)
        text = f"Invalid 'socket-type' parameter value {shown}: dbfsm serves only 'unix'"
        raise _config_error(settings, text, (*path, "socket-type"))
    name = entry.get("socket-name")
    if name is None:
        raise _config_error(settings, "Mandatory 'socket-name' parameter missing", path)
    if not isinstance(name, str) or not name or "\x00" in name:
        text = "'socket-name' parameter expected to be a non-empty string"
        raise _config_error(settings, text, (*path, "socket-name"))
    return name


def _config_error(settings: ServerSettings, message: str, path: jsonc.Path) -> ConfigError:
    """Locate the error as `FILE:LINE:COL` when the configuration came from a file."""
    where = ".".join(str(p) for p in path)
    if settings.source is not None:
        where = settings.source
        with (
            contextlib.suppress(OSError, UnicodeDecodeError, InputError),
            open(settings.source, encoding="utf-8-sig") as handle,
        ):
            where = jsonc.parse(handle.read(), settings.source).where(path)
    return ConfigError(message, where)


# -- making the socket -----------------------------------------------------------------------


def _clear_stale(path: str) -> None:
    """Remove `path` if it is a socket nobody listens on; refuse anything else that exists."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as err:
        raise InputError(f"control socket {path}: {err.strerror}") from None
    if not stat.S_ISSOCK(mode):
        raise InputError(f"control socket {path}: exists and is not a socket; not replacing it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)  # stale: left behind by a server that is gone
        return
    except OSError as err:
        raise InputError(f"control socket {path}: {err.strerror or err}") from None
    finally:
        probe.close()
    raise InputError(f"control socket {path}: another server is listening on it")


def bind_private(path: str) -> tuple[socket.socket, tuple[int, int]]:
    """A unix socket bound at `path` with mode 0600, not yet listening; and its file's id.

    Bound inside a fresh 0700 directory, chmod-ed, then hard-linked into place (`link` fails
    rather than replace a path that appeared meanwhile).
    """
    _clear_stale(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        private = tempfile.mkdtemp(prefix=".dbfsm-", dir=directory)
    except OSError as err:
        raise InputError(f"control socket {path}: {err.strerror or err}") from None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bound = os.path.join(private, "s")
    try:
        sock.bind(bound)
        os.chmod(bound, 0o600)
        os.link(bound, path)
        info = os.lstat(path)
    except OSError as err:
        sock.close()
        raise InputError(f"control socket {path}: {err.strerror or err}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(bound)
        os.rmdir(private)
    return sock, (info.st_dev, info.st_ino)


# -- framing ---------------------------------------------------------------------------------

_OUTSIDE = re.compile(rb'["{}\[\]]')
_INSIDE = re.compile(rb'["\\]')
_BLANKS = b" \t\r\n"


class Malformed(Exception):
    """The bytes cannot be the start of a JSON command (Kea's JSONFeed error)."""


class JsonFrame:
    """Finds where one JSON document ends in a byte stream, chunk by chunk, in linear time.

    Only strings and brackets are tracked (as Kea's JSONFeed does); whether the document is
    valid JSON is for the parser to say once it is complete.
    """

    def __init__(self) -> None:
        self.size = 0  # bytes taken so far (the document, once complete)
        self._started = False
        self._depth = 0
        self._in_string = False
        self._escaped = False

    def feed(self, chunk: bytes) -> int | None:
        """Take `chunk`; the offset in it just past the document's end, or None for more."""
        pos = 0
        if not self._started:
            pos = len(chunk) - len(chunk.lstrip(_BLANKS))
            if pos == len(chunk):
                self.size += len(chunk)
                return None
            first = chunk[pos]
            if first not in b"{[":
                shown = chr(first) if 32 < first < 127 else f"\\x{first:02x}"
                raise Malformed(f"invalid first character {shown}")
            self._started = True
        end = self._scan(chunk, pos)
        self.size += len(chunk) if end is None else end
        return end

    def _scan(self, chunk: bytes, pos: int) -> int | None:
        while True:
            if self._escaped:
                if pos >= len(chunk):
                    return None
                pos += 1
                self._escaped = False
            match = (_INSIDE if self._in_string else _OUTSIDE).search(chunk, pos)
            if match is None:
                return None
            char, pos = match.group(), match.end()
            if self._in_string:
                self._escaped = char == b"\\"
                self._in_string = self._escaped
            elif char == b'"':
                self._in_string = True
            elif char in (b"{", b"["):
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 0:
                    return pos


def parse_command(document: bytes) -> object:
    """The command a complete document holds; `Malformed` with the reason if it is not JSON."""
    try:
        text = document.decode("utf-8")
    except UnicodeDecodeError as err:
        raise Malformed(f"<command>: invalid UTF-8 at byte {err.start}") from None
    try:
        return jsonc.parse(text, "<command>").value
    except InputError as err:
        raise Malformed(str(err)) from None


def timed_out(partial: int) -> Answer:
    """Kea's answer to a connection that did not deliver a whole command in time."""
    text = "Connection over control channel timed out"
    if partial:
        text += f", discarded partial command of {partial} bytes"
    return answer(ERROR, text)


def too_large(limit: int) -> Answer:
    return answer(ERROR, f"command too large: more than {limit} bytes; refused")


def too_many(limit: int) -> Answer:
    return answer(ERROR, f"too many control connections (at most {limit} at once); try again")


# -- the server ------------------------------------------------------------------------------

# After answering, unread input (the rest of a refused command) is read and dropped for up to
# this long before closing: closing a unix socket with unread data resets the connection, and
# the client would lose the answer.
DRAIN_GRACE = 1.0


async def _discard_input(reader: asyncio.StreamReader, grace: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(grace):
            while await reader.read(_CHUNK):
                pass


class ControlChannel:
    """Serves commands on a unix socket: `await start()`, then `await close()`."""

    def __init__(
        self,
        path: str,
        answerer: Answerer,
        *,
        timeout: float = RECEIVE_TIMEOUT,
        max_bytes: int = MAX_COMMAND_BYTES,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.path = path
        self.answerer = answerer
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_connections = max_connections
        self._server: asyncio.AbstractServer | None = None
        self._identity: tuple[int, int] | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._receiving: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        sock, self._identity = bind_private(self.path)
        try:
            self._server = await asyncio.start_unix_server(self._accepted, sock=sock)
        except BaseException:
            sock.close()
            self._remove()
            raise

    async def close(self, grace: float = 1.0) -> None:
        """Stop listening and remove the socket file if still ours. Connections still
        receiving are dropped; those with a whole command get `grace` seconds to be answered
        (the answer to `shutdown` is sent even though the server is going away)."""
        if self._server is not None:
            self._server.close()
            for task in self._receiving:
                task.cancel()
            if self._connections:
                await asyncio.wait(list(self._connections), timeout=grace)
            for task in self._connections:
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
        self._remove()

    def _remove(self) -> None:
        if self._identity is None:
            return
        with contextlib.suppress(OSError):
            info = os.lstat(self.path)
            if (info.st_dev, info.st_ino) == self._identity:
                os.unlink(self.path)
        self._identity = None

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        crowded = len(self._connections) >= self.max_connections
        self._connections.add(task)
        try:
            response = (
                too_many(self.max_connections) if crowded else await self._respond(reader, task)
            )
            if response is not None:
                writer.write(json.dumps(response).encode())
                writer.write_eof()
                async with asyncio.timeout(self.timeout):
                    await writer.drain()
                await _discard_input(reader, min(self.timeout, DRAIN_GRACE))
        except (OSError, TimeoutError):
            pass  # the client went away or does not read its answer: nothing more to do
        except asyncio.CancelledError:
            pass  # the channel is closing: this connection ends without more ado
        finally:
            self._connections.discard(task)
            self._receiving.discard(task)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _respond(
        self, reader: asyncio.StreamReader, task: asyncio.Task[None]
    ) -> Answer | None:
        """The answer for this connection, or None to close without one (as Kea does when
        the client closes before a whole command arrived)."""
        frame = JsonFrame()
        received = bytearray()
        self._receiving.add(task)
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    chunk = await reader.read(_CHUNK)
                    if not chunk:
                        return None
                    end = frame.feed(chunk)
                    received += chunk if end is None else chunk[:end]
                    if len(received) > self.max_bytes:
                        return too_large(self.max_bytes)
                    if end is not None:
                        break
            request = parse_command(bytes(received))
        except TimeoutError:
            return timed_out(len(received.strip(_BLANKS)))
        except Malformed as err:
            return answer(ERROR, str(err))
        finally:
            self._receiving.discard(task)
        try:
            return await self.answerer(request)
        except ServerExited:
            return None
