"""Kea's control channel: one JSON command over the server's UNIX socket, one answer."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TIMEOUT = 15.0


def send(path: Path, command: Mapping[str, Any], timeout: float = TIMEOUT) -> dict[str, Any]:
    """The answer to `command` (Kea closes the connection once it has answered); a socket
    that cannot be reached, or no answer in time, is an answer with result 1 saying so."""
    deadline = time.monotonic() + timeout
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall(json.dumps(command).encode())
            data = b""
            while time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                try:
                    answer = json.loads(data)
                except ValueError:
                    continue
                return answer[0] if isinstance(answer, list) else dict(answer)
    except OSError as err:
        return {"result": 1, "text": f"control socket {path}: {err}"}
    return {"result": 1, "text": f"control socket {path}: no answer within {timeout:g}s"}
