"""Keep passwords out of every text a driver produces.

Client libraries build their messages from what they were given; a driver passes every text
it did not write itself (exception messages, reasons) through `redact` before it reaches a
report, a log line or an exception of its own. Kea prints `*****` the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MASK = "*****"


def redact(text: str, parameters: Mapping[str, Any]) -> str:
    password = parameters.get("password")
    if isinstance(password, str) and password:
        return text.replace(password, MASK)
    return text


def first_line(error: BaseException, parameters: Mapping[str, Any]) -> str:
    """An exception as one safe line (libpq's messages carry hints on further lines)."""
    message = str(error).strip().splitlines()
    return redact(message[0] if message else type(error).__name__, parameters)
