"""Passwords: where a backend's comes from, and keeping it out of every text.

A backend gives its password inline (`password`) or in a file (`password-file`, read when
connecting; a trailing line end is not part of it). Client libraries build their messages
from what they were given, so a driver passes every text it did not write itself (exception
messages, reasons) through `redact` before it reaches a report, a log line or an exception of
its own. Kea prints `*****` the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dbfsm.drivers.session import OpenError

MASK = "*****"


def password(parameters: Mapping[str, Any]) -> str | None:
    """The password to connect with; `OpenError` if its file cannot be read."""
    if "password-file" in parameters:
        path = Path(parameters["password-file"])
        try:
            return path.read_text().removesuffix("\n").removesuffix("\r")
        except (OSError, UnicodeDecodeError) as e:
            raise OpenError(f"cannot read password-file {path}: {e.__class__.__name__}") from None
    value = parameters.get("password")
    return None if value is None else str(value)


def redact(text: str, parameters: Mapping[str, Any]) -> str:
    try:
        secret = password(parameters)
    except OpenError:
        secret = None
    for value in {secret, parameters.get("password")}:
        if isinstance(value, str) and value:
            text = text.replace(value, MASK)
    return text


def first_line(error: BaseException, parameters: Mapping[str, Any]) -> str:
    """An exception as one safe line (libpq's messages carry hints on further lines)."""
    message = str(error).strip().splitlines()
    return redact(message[0] if message else type(error).__name__, parameters)
