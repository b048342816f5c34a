"""Exceptions for bad input.

Everything a user can get wrong (a configuration file, a `config-set` document, a scenario)
raises a `DbfsmError`; the CLI prints `str(err)` as one line and exits 2, so no input ever
produces a traceback.
"""

from __future__ import annotations


class DbfsmError(Exception):
    """Bad input; the CLI prints str(err) as one line and exits 2."""


class ConfigError(DbfsmError):
    """A configuration Kea would refuse (or that dbfsm cannot read).

    `where` is `FILE:LINE:COL` (1-based) for text, or a JSON path such as
    `arguments.Dhcp4.lease-database.port` for documents that did not come from text.
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(message, where)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message
