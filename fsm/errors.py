"""The exceptions dbfsm raises on purpose, under one root: `Error`.

`InputError`: everything a user can get wrong (a configuration file, a `config-set` document,
a scenario); the CLI prints `str(err)` as one line and exits 2, so no input ever produces a
traceback. The one-line promise is kept here, not by every caller: `str(err)` escapes control
characters (a key holding a newline cannot split the line) and cuts a message that grew past
`MAX_MESSAGE` because it quotes a huge piece of input. `ConfigError` is the input error of a
configuration. `UsageError`: a bug of the program embedding dbfsm (an event the engine cannot
take, say), never bad input: no exit status 2 for it. The drivers' errors
(`dbfsm.drivers.session.DriverError`) are the third kind: a database said no.
"""

from __future__ import annotations

import re

MAX_MESSAGE = 1000  # characters of one error line
MAX_SHOWN = 80  # characters of one quoted piece of input

# Control characters, line separators and unpaired surrogates (which no output can encode).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text` with control characters escaped (`\\n`, `\\x01`) and cut to `limit` characters."""
    text = _CONTROL.sub(_escape, text)
    if len(text) > limit:
        keep = limit - 5
        text = f"{text[: keep // 2]} ... {text[len(text) - keep // 2 :]}"
    return text


def _escape(match: re.Match[str]) -> str:
    return match.group(0).encode("unicode_escape", "backslashreplace").decode("ascii")


def shown(value: object, *, quote: bool = True) -> str:
    """A piece of input as an error message may quote it: a string escaped, cut to `MAX_SHOWN`
    and (with `quote`) in quotes; a number as it is; a map or a list only by its kind, because
    it may hold a password (a database map put where a name belongs)."""
    if isinstance(value, bool) or value is None:
        return "true" if value is True else "false" if value is False else "null"
    if isinstance(value, int):
        digits = len(str(abs(value))) if abs(value) < 10**100 else None
        return str(value) if digits is not None else "a very large integer"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        text = one_line(value, MAX_SHOWN)
        return f"'{text}'" if quote else text
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def kind(value: object) -> str:
    """What a value is, for an error about a value of the wrong kind: a number as it is, a
    string only as "a string" (it may be a password put in the wrong place)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return shown(value)
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "null" if value is None else shown(value)


class Error(Exception):
    """The root of every error dbfsm raises on purpose: catch this to catch them all."""


class InputError(Error):
    """Bad input; the CLI prints str(err) as one line and exits 2."""

    def __str__(self) -> str:
        return one_line(super().__str__())


class UsageError(Error):
    """A programming error by the code embedding dbfsm (a caller's bug), not bad input: it is
    never mapped to exit status 2."""


class ConfigError(InputError):
    """A configuration Kea would refuse (or that dbfsm cannot read).

    `where` is `FILE:LINE:COL` (1-based) for text, or a JSON path such as
    `arguments.Dhcp4.lease-database.port` for documents that did not come from text.
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(message, where)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return one_line(f"{self.where}: {self.message}" if self.where else self.message)
