"""`dbfsm command SOCKET JSON`: send one command to a running `dbfsm run` and print the answer.

The control channel's framing is Kea's: one JSON document each way, then the server closes.
Exit status 0 when an answer came (whatever its `result`), 1 when the socket cannot be
reached or closed without answering, 2 when JSON is not a JSON document.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import sys

from dbfsm.fsm.errors import InputError, shown

EXIT_UNREACHABLE = 1
DEFAULT_TIMEOUT = 60.0  # config-set answers only once the new backends have connected
MAX_TIMEOUT = 86_400.0  # a day; far beyond, the system's timeouts overflow
MAX_SOCKET_PATH = 107  # bytes of a unix socket's path (sun_path less its final NUL)


def ask(path: str, request: object, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """The server's answer to `request`, as the bytes it sent (empty if it sent none).

    OSError (including `TimeoutError`) when the socket cannot be reached or goes quiet.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        # Refused before it was all sent (too large)? The answer says why.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(json.dumps(request).encode())
        received = bytearray()
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break  # the server closed while we were still sending: what it said stands
            if not chunk:
                break
            received += chunk
        return bytes(received)


def _not_json(constant: str) -> object:
    raise ValueError(f"{constant} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        # Not the number itself: the argument may be a config-set with a password in it.
        raise ValueError(f"a number of {len(text)} characters is too large for a double")
    return number


def _request(argument: str) -> object:
    """The command as JSON data (NaN, Infinity and numbers too large for a double are not
    JSON that Kea reads: refused here rather than sent)."""
    try:
        text = sys.stdin.read() if argument == "-" else argument
    except UnicodeDecodeError:
        raise InputError("JSON argument: standard input is not UTF-8 text") from None
    try:
        return json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except ValueError as err:
        raise InputError(f"JSON argument: {err}") from None
    except RecursionError:
        raise InputError("JSON argument: nested too deeply") from None


def _check_socket_path(path: str) -> None:
    """Refuse, before connecting, a path no unix socket can have."""
    try:
        size = len(os.fsencode(path))
    except UnicodeEncodeError:
        size = -1
    if size <= 0 or "\x00" in path:
        raise InputError(f"{shown(path, quote=False)}: not a valid socket path")
    if size > MAX_SOCKET_PATH:
        raise InputError(
            f"{shown(path, quote=False)}: longer than the {MAX_SOCKET_PATH} bytes a unix socket "
            "path may have"
        )


def send(path: str, argument: str, timeout: float) -> int:
    """`dbfsm command`: the command `argument` (JSON text, or "-": standard input's) sent to
    the control socket `path`, the answer printed on stdout; the exit status."""
    if not (math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT):
        raise InputError(
            f"--timeout must be a number of seconds > 0 and <= {MAX_TIMEOUT:g}, not {timeout}"
        )
    _check_socket_path(path)
    request = _request(argument)
    try:
        answer = ask(path, request, timeout)
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        sys.stderr.write(f"dbfsm command: {path}: {reason}\n")
        return EXIT_UNREACHABLE
    if not answer:
        sys.stderr.write(f"dbfsm command: {path}: closed without an answer\n")
        return EXIT_UNREACHABLE
    sys.stdout.write(answer.decode("utf-8", errors="replace") + "\n")
    return 0
