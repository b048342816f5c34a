"""Writing a file a user named (`diagram -o`, `spec run --junit`), safely.

The file is opened without blocking, so a FIFO nobody reads is refused at once instead of
waited on for ever; any name the system refuses (too long, a NUL byte, a directory) is one
line of error naming the file.
"""

from __future__ import annotations

import os

from dbfsm.fsm.errors import InputError


def write_file(path: str, data: bytes, what: str) -> None:
    """Write `data` to `path`; `what` names the content in errors ("JUnit XML", ...)."""
    try:
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK | os.O_CLOEXEC, 0o666
        )
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not a valid file name"
        raise _refused(path, f"cannot write {what}: {reason}") from None
    try:
        os.set_blocking(fd, True)
        with os.fdopen(fd, "wb", closefd=False) as handle:
            handle.write(data)
    except OSError as err:
        raise _refused(path, f"cannot write {what}: {err.strerror or err}") from None
    finally:
        os.close(fd)


def _refused(path: str, message: str) -> InputError:
    """Bad input (a file that cannot be written), `PATH: MESSAGE` on one line."""
    return InputError(f"{path}: {message}" if path else message)
