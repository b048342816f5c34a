"""`dbfsm command SOCKET JSON`: send one command to a running `dbfsm run` and print the answer.

The control channel's framing is Kea's: one JSON document each way, then the server closes.
Exit status 0 when an answer came (whatever its `result`), 1 when the socket cannot be
reached or closed without answering, 2 when JSON is not a JSON document.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import socket
import sys

from fsm.errors import DbfsmError

EXIT_UNREACHABLE = 1
DEFAULT_TIMEOUT = 60.0  # config-set answers only once the new backends have connected


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("socket", metavar="SOCKET", help="the control socket's path")
    parser.add_argument(
        "request",
        metavar="JSON",
        help='the command, e.g. \'{"command": "status-get"}\'; "-" reads it from standard '
        "input (a config-set with a password then stays out of the process list)",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"give up after this long without an answer (default {DEFAULT_TIMEOUT:g})",
    )


def command(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise DbfsmError(f"--timeout must be a finite number > 0, not {args.timeout}")
    text = sys.stdin.read() if args.request == "-" else args.request
    try:
        request = json.loads(text)
    except ValueError as err:
        raise DbfsmError(f"JSON argument: {err}") from None
    except RecursionError:
        raise DbfsmError("JSON argument: nested too deeply") from None
    try:
        answer = ask(args.socket, request, args.timeout)
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        sys.stderr.write(f"dbfsm command: {args.socket}: {reason}\n")
        return EXIT_UNREACHABLE
    if not answer:
        sys.stderr.write(f"dbfsm command: {args.socket}: closed without an answer\n")
        return EXIT_UNREACHABLE
    sys.stdout.write(answer.decode("utf-8", errors="replace") + "\n")
    return 0
