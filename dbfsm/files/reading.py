"""Reading a file a user named (a configuration, a scenario, a clause file, a trace), safely.

The file is opened without blocking and read within bounds of time and memory, so a FIFO
nobody writes to, a device that never ends or a huge file is one line of error naming the
file, never a hang. The core takes text (`fsm.config.parse_text`); this is where the tools
turn a file into that text.
"""

from __future__ import annotations

import errno
import os
import select
import stat

from dbfsm.fsm.config import parse_text
from dbfsm.fsm.errors import ConfigError
from dbfsm.fsm.settings import ServerSettings

__all__ = ["MAX_FILE_BYTES", "STREAM_TIMEOUT", "load_file", "read_text"]

MAX_FILE_BYTES = 64 * 1024 * 1024
# Seconds a FIFO or device may stay silent: a person or a script expects an answer from a
# command reading one file within 5 s, and start-up (about 0.2 s, more on a loaded machine)
# comes first.
STREAM_TIMEOUT = 3.0


def load_file(path: str | os.PathLike[str]) -> ServerSettings:
    """Read and validate a Kea configuration file (JSON with `//`, `#` and `/* */` comments)."""
    name = os.fspath(path)
    return parse_text(read_text(name, "configuration file"), name)


def read_text(path: str | os.PathLike[str], what: str) -> str:
    """The UTF-8 text of a file a user named, read within bounds of time and memory.

    Refuses a directory, a file over `MAX_FILE_BYTES`, and a FIFO or device that gives no data
    for `STREAM_TIMEOUT` seconds (so a FIFO nobody writes to cannot hang the reader); a
    byte-order mark is skipped. `what` names the file in errors ("scenario", ...).
    """
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot read {what}: {_reason(err)}", name) from None
    try:
        data = _read_all(fd, name, what)
    except OSError as err:
        raise ConfigError(f"cannot read {what}: {_reason(err)}", name) from None
    finally:
        os.close(fd)
    return _decode(data, name)


def _reason(err: Exception) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return "not a valid file name" if isinstance(err, ValueError) else str(err)


def _read_all(fd: int, name: str, what: str) -> bytes:
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"cannot read {what}: {os.strerror(errno.EISDIR)}", name)
    regular = stat.S_ISREG(info.st_mode)
    if regular:
        os.set_blocking(fd, True)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    chunks: list[bytes] = []
    size = 0
    while True:
        if not regular and not poller.poll(STREAM_TIMEOUT * 1000):
            message = f"cannot read {what}: no data for {STREAM_TIMEOUT:g} s (nothing writes to it)"
            raise ConfigError(message, name)
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_FILE_BYTES:
            limit = MAX_FILE_BYTES >> 20
            raise ConfigError(f"cannot read {what}: larger than the limit of {limit} MiB", name)
        chunks.append(chunk)


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise ConfigError("file is not valid UTF-8", f"{name}:{line}:{column}") from None
