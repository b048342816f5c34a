"""Kea's log messages, as data: the IDs, severities and texts dbfsm emits.

Every entry is a `MessageTemplate` read from ISC Kea's source (git describe
`Kea-3.3.0-160-gd179a1e32a`, the version `kea-behaviour.md` was written against):

* the ID and the template text come from the message file (`*.mes`), whose `file:line` the
  entry keeps in `defined_at`;
* the severity comes from the call site (`LOG_INFO(...)`, `LOG_DEBUG(..., level, ...)`,
  `DB_LOG_WARN(...)`), whose `file:line` the entry keeps in `logged_at`. The message files
  carry no severity; where a `.mes` description disagrees with the call site, the call site
  wins (`DHCP4_SHUTDOWN`: described as debug level 40, logged with `LOG_INFO`).

Templates keep Kea's `%1`, `%2` ... placeholders. Formatting substitutes the arguments in
order exactly as Kea's `replacePlaceholder` does (`src/lib/log/log_formatter.cc`): every
occurrence of `%1` is replaced by the first argument, then `%2` by the second (searching the
whole string again), and so on. Arguments are converted to text as `boost::lexical_cast`
does for the types Kea passes: strings as they are, integers in decimal, `bool` as `1`/`0`.
A wrong number of arguments is a programming error: `ValueError` (Kea would append
`@@Missing logger placeholder ...@@` instead).

Four tables, four look-ups:

* `server(universe, name, *args)`: the kea-dhcp4/kea-dhcp6 messages (`DHCP4_*`/`DHCP6_*`),
  by name without the prefix. Most names are the same in both servers; the exceptions are
  `PACKET_DROP` (`DHCP4_PACKET_DROP_0008` / `DHCP6_PACKET_DROP_DHCP_DISABLED`) and
  `PACKET_PROCESS_FAIL` (`DHCP4_PACKET_DROP_0007`, 2 arguments / `DHCP6_PACKET_PROCESS_FAIL`,
  4 arguments).
* `backend(role, db_type, universe, name, *args)`: the per-backend hook messages
  (`MYSQL_LB_*`, `PGSQL_LB_*`, `MYSQL_HB_*`, `PGSQL_HB_*`, `MYSQL_CB_*4/6`, `PGSQL_CB_*4/6`,
  and `DHCPSRV_MEMFILE_DB` for memfile). Names are the lease/host spelling
  (`DB_RECONNECT_ATTEMPT_FAILED`, ...); the config backends' IDs drop the `DB_` and carry a
  4/6 suffix (`MYSQL_CB_RECONNECT_ATTEMPT_FAILED4`), which the table maps. A combination Kea
  never logs raises `KeyError` (PostgreSQL has no `NO_TLS`/`TLS_CIPHER`: it does no
  post-connect TLS check).
* `database(name, *args)`: messages of the shared libraries (`DATABASE_*` from
  `db_messages.mes`, the retry-on-startup `DHCPSRV_*`/`DCTL_*` ones), by full ID.
* `command(name, *args)`: the command manager's messages (`COMMAND_*`), by full ID.

`by_id(message_id, *args)` formats any catalogued message by its full ID and `catalogue()`
lists them all.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from dbfsm.fsm.settings import DbType, Role

__all__ = [
    "KEA_RELEASE",
    "KEA_VERSION",
    "LogMessage",
    "MessageTemplate",
    "Severity",
    "backend",
    "backend_template",
    "by_id",
    "catalogue",
    "command",
    "database",
    "server",
    "server_template",
]

# The Kea source the catalogue was read from (`git describe` of the checkout).
KEA_VERSION: Final = "Kea-3.3.0-160-gd179a1e32a"
# The release number Kea reports (DHCP4_STARTED, version-get).
KEA_RELEASE: Final = "3.3.0"


class Severity(StrEnum):
    """Kea's log severities (`src/lib/log/logger_level.h`)."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"
    FATAL = "FATAL"

    @property
    def logging_level(self) -> int:
        """The matching level of Python's `logging` (FATAL is CRITICAL, WARN is WARNING)."""
        return _LOGGING_LEVELS[self]


_LOGGING_LEVELS: Final[Mapping[Severity, int]] = MappingProxyType(
    {
        Severity.DEBUG: logging.DEBUG,
        Severity.INFO: logging.INFO,
        Severity.WARN: logging.WARNING,
        Severity.ERROR: logging.ERROR,
        Severity.FATAL: logging.CRITICAL,
    }
)


@dataclass(frozen=True)
class LogMessage:
    """One formatted Kea log message."""

    id: str
    severity: Severity
    text: str

    def __str__(self) -> str:
        # The "<ID> <text>" part of a Kea log line, as Kea's layout prints it.
        return f"{self.id} {self.text}"


_PLACEHOLDER: Final = re.compile(r"%(\d+)")


@dataclass(frozen=True)
class MessageTemplate:
    """A Kea message definition: ID, severity, text with `%N` placeholders, citations."""

    id: str
    severity: Severity
    template: str
    defined_at: str  # Kea `.mes` file:line defining the ID and text
    logged_at: str  # Kea source file:line of the (first) LOG_* call, giving the severity
    debug_level: int | None = None  # for DEBUG messages, the level Kea logs them at

    @functools.cached_property
    def arity(self) -> int:
        """Number of arguments the template takes (its highest placeholder)."""
        return max((int(n) for n in _PLACEHOLDER.findall(self.template)), default=0)

    def format(self, *args: object) -> LogMessage:
        """Substitute `args` for `%1`, `%2`, ... (Kea's order and rules)."""
        if len(args) != self.arity:
            raise ValueError(f"{self.id} takes {self.arity} argument(s), got {len(args)}: {args!r}")
        text = self.template
        for index, arg in enumerate(args, start=1):
            text = text.replace(f"%{index}", _as_text(arg))
        return LogMessage(self.id, self.severity, text)


def _as_text(arg: object) -> str:
    # boost::lexical_cast<std::string>: bool -> "1"/"0"; everything else as printed.
    if isinstance(arg, bool):
        return "1" if arg else "0"
    return str(arg)


DEBUG: Final = Severity.DEBUG
INFO: Final = Severity.INFO
WARN: Final = Severity.WARN
ERROR: Final = Severity.ERROR
FATAL: Final = Severity.FATAL


def _m(
    message_id: str,
    severity: Severity,
    template: str,
    defined_at: str,
    logged_at: str,
    debug_level: int | None = None,
) -> MessageTemplate:
    return MessageTemplate(message_id, severity, template, defined_at, logged_at, debug_level)


def _index(*templates: MessageTemplate) -> Mapping[str, MessageTemplate]:
    return MappingProxyType({t.id: t for t in templates})


PerUniverse = tuple[MessageTemplate, MessageTemplate]  # (DHCPv4 server, DHCPv6 server)


def _both(template: MessageTemplate) -> PerUniverse:
    return (template, template)


def _any_universe(table: Mapping[str, MessageTemplate]) -> Mapping[str, PerUniverse]:
    return MappingProxyType({name: _both(t) for name, t in table.items()})


# ---------------------------------------------------------------------------------------------
# Server messages: name (without DHCP4_/DHCP6_) -> (DHCPv4 template, DHCPv6 template).
# Texts: src/bin/dhcp4/dhcp4_messages.mes, src/bin/dhcp6/dhcp6_messages.mes.

_SERVER: Final[Mapping[str, PerUniverse]] = MappingProxyType(
    {
        # Database connection recovery: the server's lost/recovered/failed callbacks
        # (ctrl_dhcp4_srv.cc dbLostCallback, dbRecoveredCallback, dbFailedCallback).
        "DB_RECONNECT_LOST_CONNECTION": (
            _m(
                "DHCP4_DB_RECONNECT_LOST_CONNECTION",
                INFO,
                "database connection lost: manager ID: %1, timer: %2.",
                "src/bin/dhcp4/dhcp4_messages.mes:255",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:1899",
            ),
            _m(
                "DHCP6_DB_RECONNECT_LOST_CONNECTION",
                INFO,
                "database connection lost: manager ID: %1, timer: %2.",
                "src/bin/dhcp6/dhcp6_messages.mes:236",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:1686",
            ),
        ),
        "DB_RECONNECT_SUCCEEDED": (
            _m(
                "DHCP4_DB_RECONNECT_SUCCEEDED",
                INFO,
                "database connection recovered: manager ID: %1, timer: %2.",
                "src/bin/dhcp4/dhcp4_messages.mes:266",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:1941",
            ),
            _m(
                "DHCP6_DB_RECONNECT_SUCCEEDED",
                INFO,
                "database connection recovered: manager ID: %1, timer: %2.",
                "src/bin/dhcp6/dhcp6_messages.mes:247",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:1728",
            ),
        ),
        "DB_RECONNECT_DISABLED": (
            _m(
                "DHCP4_DB_RECONNECT_DISABLED",
                ERROR,
                "database reconnect is disabled: retries left: %1, reconnect wait time: %2, "
                "manager "
                "ID: %3, timer: %4",
                "src/bin/dhcp4/dhcp4_messages.mes:243",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:1915",
            ),
            _m(
                "DHCP6_DB_RECONNECT_DISABLED",
                ERROR,
                "database reconnect is disabled: retries left: %1, reconnect wait time: %2, "
                "manager "
                "ID: %3, timer: %4",
                "src/bin/dhcp6/dhcp6_messages.mes:224",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:1702",
            ),
        ),
        "FATAL_DB_RECONNECT_DISABLED": (
            _m(
                "DHCP4_FATAL_DB_RECONNECT_DISABLED",
                FATAL,
                "database reconnect is disabled: retries left: %1, reconnect wait time: %2, "
                "manager "
                "ID: %3, timer: %4",
                "src/bin/dhcp4/dhcp4_messages.mes:433",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:1908",
            ),
            _m(
                "DHCP6_FATAL_DB_RECONNECT_DISABLED",
                FATAL,
                "database reconnect is disabled: retries left: %1, reconnect wait time: %2, "
                "manager "
                "ID: %3, timer: %4",
                "src/bin/dhcp6/dhcp6_messages.mes:408",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:1695",
            ),
        ),
        "DB_RECONNECT_FAILED": (
            _m(
                "DHCP4_DB_RECONNECT_FAILED",
                ERROR,
                "maximum number of database reconnect attempts: %1, has been exhausted without "
                "success, manager ID: %2, timer: %3",
                "src/bin/dhcp4/dhcp4_messages.mes:249",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:1965",
            ),
            _m(
                "DHCP6_DB_RECONNECT_FAILED",
                ERROR,
                "maximum number of database reconnect attempts: %1, has been exhausted without "
                "success, manager ID: %2, timer: %3",
                "src/bin/dhcp6/dhcp6_messages.mes:230",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:1752",
            ),
        ),
        "FATAL_DB_RECONNECT_FAILED": (
            _m(
                "DHCP4_FATAL_DB_RECONNECT_FAILED",
                FATAL,
                "maximum number of database reconnect attempts: %1, has been exhausted without "
                "success, manager ID: %2, timer: %3",
                "src/bin/dhcp4/dhcp4_messages.mes:440",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:1959",
            ),
            _m(
                "DHCP6_FATAL_DB_RECONNECT_FAILED",
                FATAL,
                "maximum number of database reconnect attempts: %1, has been exhausted without "
                "success, manager ID: %2, timer: %3",
                "src/bin/dhcp6/dhcp6_messages.mes:415",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:1746",
            ),
        ),
        "DB_RECONNECT_NO_DB_CTL": (
            _m(
                "DHCP4_DB_RECONNECT_NO_DB_CTL",
                ERROR,
                "unexpected error in database reconnect",
                "src/bin/dhcp4/dhcp4_messages.mes:260",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:1889",
            ),
            _m(
                "DHCP6_DB_RECONNECT_NO_DB_CTL",
                ERROR,
                "unexpected error in database reconnect",
                "src/bin/dhcp6/dhcp6_messages.mes:241",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:1676",
            ),
        ),
        # Configuration: startup (-c file), config-set, config-reload / SIGHUP, config-test.
        "CONFIG_LOAD_FAIL": (
            _m(
                "DHCP4_CONFIG_LOAD_FAIL",
                ERROR,
                "configuration error using file: %1, reason: %2",
                "src/bin/dhcp4/dhcp4_messages.mes:203",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:193",
            ),
            _m(
                "DHCP6_CONFIG_LOAD_FAIL",
                ERROR,
                "configuration error using file: %1, reason: %2",
                "src/bin/dhcp6/dhcp6_messages.mes:177",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:196",
            ),
        ),
        "INIT_FAIL": (
            _m(
                "DHCP4_INIT_FAIL",
                ERROR,
                "failed to initialize Kea server: %1",
                "src/bin/dhcp4/dhcp4_messages.mes:626",
                "src/bin/dhcp4/main.cc:302",
            ),
            _m(
                "DHCP6_INIT_FAIL",
                ERROR,
                "failed to initialize Kea server: %1",
                "src/bin/dhcp6/dhcp6_messages.mes:590",
                "src/bin/dhcp6/main.cc:302",
            ),
        ),
        "DYNAMIC_RECONFIGURATION": (
            _m(
                "DHCP4_DYNAMIC_RECONFIGURATION",
                INFO,
                "initiate server reconfiguration using file: %1, after receiving SIGHUP signal or "
                "config-reload command",
                "src/bin/dhcp4/dhcp4_messages.mes:414",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:251",
            ),
            _m(
                "DHCP6_DYNAMIC_RECONFIGURATION",
                INFO,
                "initiate server reconfiguration using file: %1, after receiving SIGHUP signal or "
                "config-reload command",
                "src/bin/dhcp6/dhcp6_messages.mes:396",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:254",
            ),
        ),
        "DYNAMIC_RECONFIGURATION_SUCCESS": (
            _m(
                "DHCP4_DYNAMIC_RECONFIGURATION_SUCCESS",
                INFO,
                "dynamic server reconfiguration succeeded with file: %1",
                "src/bin/dhcp4/dhcp4_messages.mes:422",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:253",
            ),
            _m(
                "DHCP6_DYNAMIC_RECONFIGURATION_SUCCESS",
                INFO,
                "dynamic server reconfiguration succeeded with file: %1",
                "src/bin/dhcp6/dhcp6_messages.mes:404",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:256",
            ),
        ),
        "DYNAMIC_RECONFIGURATION_FAIL": (
            _m(
                "DHCP4_DYNAMIC_RECONFIGURATION_FAIL",
                ERROR,
                "dynamic server reconfiguration failed with file: %1",
                "src/bin/dhcp4/dhcp4_messages.mes:418",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:267",
            ),
            _m(
                "DHCP6_DYNAMIC_RECONFIGURATION_FAIL",
                ERROR,
                "dynamic server reconfiguration failed with file: %1",
                "src/bin/dhcp6/dhcp6_messages.mes:400",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:270",
            ),
        ),
        "FATAL_DYNAMIC_RECONFIGURATION_FAIL": (
            _m(
                "DHCP4_FATAL_DYNAMIC_RECONFIGURATION_FAIL",
                FATAL,
                "dynamic server reconfiguration failed with file: %1",
                "src/bin/dhcp4/dhcp4_messages.mes:447",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:256",
            ),
            _m(
                "DHCP6_FATAL_DYNAMIC_RECONFIGURATION_FAIL",
                FATAL,
                "dynamic server reconfiguration failed with file: %1",
                "src/bin/dhcp6/dhcp6_messages.mes:422",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:259",
            ),
        ),
        "CONFIG_UNRECOVERABLE_ERROR": (
            _m(
                "DHCP4_CONFIG_UNRECOVERABLE_ERROR",
                FATAL,
                "DHCPv4 server new configuration failed with an error which cannot be recovered",
                "src/bin/dhcp4/dhcp4_messages.mes:229",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:467",
            ),
            _m(
                "DHCP6_CONFIG_UNRECOVERABLE_ERROR",
                FATAL,
                "DHCPv6 server new configuration failed with an error which cannot be recovered",
                "src/bin/dhcp6/dhcp6_messages.mes:203",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:470",
            ),
        ),
        "CONFIG_UNSUPPORTED_OBJECT": (
            _m(
                "DHCP4_CONFIG_UNSUPPORTED_OBJECT",
                ERROR,
                "DHCPv4 server configuration includes an unsupported object: %1",
                "src/bin/dhcp4/dhcp4_messages.mes:239",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:386",
            ),
            _m(
                "DHCP6_CONFIG_UNSUPPORTED_OBJECT",
                ERROR,
                "DHCPv6 server configuration includes an unsupported object: %1",
                "src/bin/dhcp6/dhcp6_messages.mes:213",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:389",
            ),
        ),
        # Sic: only the DHCPv6 text has a colon after "configuration".
        "CONFIG_RECEIVED": (
            _m(
                "DHCP4_CONFIG_RECEIVED",
                DEBUG,
                "received configuration %1",
                "src/bin/dhcp4/dhcp4_messages.mes:214",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:1438",
                10,
            ),
            _m(
                "DHCP6_CONFIG_RECEIVED",
                DEBUG,
                "received configuration: %1",
                "src/bin/dhcp6/dhcp6_messages.mes:188",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:1205",
                10,
            ),
        ),
        "CONFIG_START": (
            _m(
                "DHCP4_CONFIG_START",
                DEBUG,
                "DHCPv4 server is processing the following configuration: %1",
                "src/bin/dhcp4/dhcp4_messages.mes:219",
                "src/bin/dhcp4/json_config_parser.cc:756",
                10,
            ),
            _m(
                "DHCP6_CONFIG_START",
                DEBUG,
                "DHCPv6 server is processing the following configuration: %1",
                "src/bin/dhcp6/dhcp6_messages.mes:193",
                "src/bin/dhcp6/json_config_parser.cc:874",
                10,
            ),
        ),
        "CONFIG_COMPLETE": (
            _m(
                "DHCP4_CONFIG_COMPLETE",
                INFO,
                "DHCPv4 server has completed configuration: %1",
                "src/bin/dhcp4/dhcp4_messages.mes:191",
                "src/bin/dhcp4/json_config_parser.cc:1029",
            ),
            _m(
                "DHCP6_CONFIG_COMPLETE",
                INFO,
                "DHCPv6 server has completed configuration: %1",
                "src/bin/dhcp6/dhcp6_messages.mes:165",
                "src/bin/dhcp6/json_config_parser.cc:1150",
            ),
        ),
        "PARSER_FAIL": (
            _m(
                "DHCP4_PARSER_FAIL",
                ERROR,
                "failed to create or run parser for configuration element %1: %2",
                "src/bin/dhcp4/dhcp4_messages.mes:942",
                "src/bin/dhcp4/json_config_parser.cc:728",
            ),
            _m(
                "DHCP6_PARSER_FAIL",
                ERROR,
                "failed to create or run parser for configuration element %1: %2",
                "src/bin/dhcp6/dhcp6_messages.mes:852",
                "src/bin/dhcp6/json_config_parser.cc:846",
            ),
        ),
        "PARSER_EXCEPTION": (
            _m(
                "DHCP4_PARSER_EXCEPTION",
                ERROR,
                "failed to create or run parser for configuration element %1",
                "src/bin/dhcp4/dhcp4_messages.mes:934",
                "src/bin/dhcp4/json_config_parser.cc:733",
            ),
            _m(
                "DHCP6_PARSER_EXCEPTION",
                ERROR,
                "failed to create or run parser for configuration element %1",
                "src/bin/dhcp6/dhcp6_messages.mes:839",
                "src/bin/dhcp6/json_config_parser.cc:851",
            ),
        ),
        "PARSER_COMMIT_FAIL": (
            _m(
                "DHCP4_PARSER_COMMIT_FAIL",
                ERROR,
                "parser failed to commit changes: %1",
                "src/bin/dhcp4/dhcp4_messages.mes:928",
                "src/bin/dhcp4/json_config_parser.cc:880",
            ),
            _m(
                "DHCP6_PARSER_COMMIT_FAIL",
                ERROR,
                "parser failed to commit changes: %1",
                "src/bin/dhcp6/dhcp6_messages.mes:833",
                "src/bin/dhcp6/json_config_parser.cc:998",
            ),
        ),
        "PARSER_COMMIT_EXCEPTION": (
            _m(
                "DHCP4_PARSER_COMMIT_EXCEPTION",
                ERROR,
                "parser failed to commit changes",
                "src/bin/dhcp4/dhcp4_messages.mes:922",
                "src/bin/dhcp4/json_config_parser.cc:885",
            ),
            _m(
                "DHCP6_PARSER_COMMIT_EXCEPTION",
                ERROR,
                "parser failed to commit changes",
                "src/bin/dhcp6/dhcp6_messages.mes:827",
                "src/bin/dhcp6/json_config_parser.cc:1003",
            ),
        ),
        # Process life cycle: main.cc, shutdown command.
        "START_INFO": (
            _m(
                "DHCP4_START_INFO",
                DEBUG,
                "pid: %1, server port: %2, client port: %3, verbose: %4",
                "src/bin/dhcp4/dhcp4_messages.mes:1203",
                "src/bin/dhcp4/main.cc:255",
                0,
            ),
            _m(
                "DHCP6_START_INFO",
                DEBUG,
                "pid: %1, server port: %2, client port: %3, verbose: %4",
                "src/bin/dhcp6/dhcp6_messages.mes:1189",
                "src/bin/dhcp6/main.cc:255",
                0,
            ),
        ),
        "STARTING": (
            _m(
                "DHCP4_STARTING",
                INFO,
                "Kea DHCPv4 server version %1 (%2) starting",
                "src/bin/dhcp4/dhcp4_messages.mes:1198",
                "src/bin/dhcp4/main.cc:261",
            ),
            _m(
                "DHCP6_STARTING",
                INFO,
                "Kea DHCPv6 server version %1 (%2) starting",
                "src/bin/dhcp6/dhcp6_messages.mes:1184",
                "src/bin/dhcp6/main.cc:261",
            ),
        ),
        "STARTED": (
            _m(
                "DHCP4_STARTED",
                INFO,
                "Kea DHCPv4 server version %1 started",
                "src/bin/dhcp4/dhcp4_messages.mes:1193",
                "src/bin/dhcp4/main.cc:320",
            ),
            _m(
                "DHCP6_STARTED",
                INFO,
                "Kea DHCPv6 server version %1 started",
                "src/bin/dhcp6/dhcp6_messages.mes:1179",
                "src/bin/dhcp6/main.cc:320",
            ),
        ),
        "MULTI_THREADING_INFO": (
            _m(
                "DHCP4_MULTI_THREADING_INFO",
                INFO,
                "enabled: %1, number of threads: %2, queue size: %3",
                "src/bin/dhcp4/dhcp4_messages.mes:660",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:199",
            ),
            _m(
                "DHCP6_MULTI_THREADING_INFO",
                INFO,
                "enabled: %1, number of threads: %2, queue size: %3",
                "src/bin/dhcp6/dhcp6_messages.mes:673",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:202",
            ),
        ),
        "SHUTDOWN_REQUEST": (
            _m(
                "DHCP4_SHUTDOWN_REQUEST",
                DEBUG,
                "shutdown of server requested",
                "src/bin/dhcp4/dhcp4_messages.mes:1162",
                "src/bin/dhcp4/dhcp4_srv.cc:786",
                40,
            ),
            _m(
                "DHCP6_SHUTDOWN_REQUEST",
                DEBUG,
                "shutdown of server requested",
                "src/bin/dhcp6/dhcp6_messages.mes:1154",
                "src/bin/dhcp6/dhcp6_srv.cc:374",
                40,
            ),
        ),
        # The .mes descriptions say "debug log level 40"; main.cc logs both with LOG_INFO.
        "SHUTDOWN": (
            _m(
                "DHCP4_SHUTDOWN",
                INFO,
                "server shutdown",
                "src/bin/dhcp4/dhcp4_messages.mes:1158",
                "src/bin/dhcp4/main.cc:325",
            ),
            _m(
                "DHCP6_SHUTDOWN",
                INFO,
                "server shutdown",
                "src/bin/dhcp6/dhcp6_messages.mes:1150",
                "src/bin/dhcp6/main.cc:325",
            ),
        ),
        "NOT_RUNNING": (
            _m(
                "DHCP4_NOT_RUNNING",
                WARN,
                "DHCPv4 server is not running",
                "src/bin/dhcp4/dhcp4_messages.mes:672",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:215",
            ),
            _m(
                "DHCP6_NOT_RUNNING",
                WARN,
                "IPv6 DHCP server is not running",
                "src/bin/dhcp6/dhcp6_messages.mes:677",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:218",
            ),
        ),
        "SERVER_FAILED": (
            _m(
                "DHCP4_SERVER_FAILED",
                FATAL,
                "server failed: %1",
                "src/bin/dhcp4/dhcp4_messages.mes:1127",
                "src/bin/dhcp4/main.cc:351",
            ),
            _m(
                "DHCP6_SERVER_FAILED",
                FATAL,
                "server failed: %1",
                "src/bin/dhcp6/dhcp6_messages.mes:1146",
                "src/bin/dhcp6/main.cc:351",
            ),
        ),
        "ALREADY_RUNNING": (
            _m(
                "DHCP4_ALREADY_RUNNING",
                FATAL,
                "%1 already running? %2",
                "src/bin/dhcp4/dhcp4_messages.mes:31",
                "src/bin/dhcp4/main.cc:336",
            ),
            _m(
                "DHCP6_ALREADY_RUNNING",
                FATAL,
                "%1 already running? %2",
                "src/bin/dhcp6/dhcp6_messages.mes:74",
                "src/bin/dhcp6/main.cc:336",
            ),
        ),
        # While the service is disabled / config backend polling.
        # Sic: the DHCPv4 text says "dhcp6 service".
        "RECLAIM_EXPIRED_LEASES_SKIPPED": (
            _m(
                "DHCP4_RECLAIM_EXPIRED_LEASES_SKIPPED",
                DEBUG,
                "dhcp6 service is currently disabled. Try again in %1 seconds.",
                "src/bin/dhcp4/dhcp4_messages.mes:971",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:1863",
                40,
            ),
            _m(
                "DHCP6_RECLAIM_EXPIRED_LEASES_SKIPPED",
                DEBUG,
                "dhcp6 service is currently disabled. Try again in %1 seconds.",
                "src/bin/dhcp6/dhcp6_messages.mes:991",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:1650",
                40,
            ),
        ),
        "CB_PERIODIC_FETCH_UPDATES_FAIL": (
            _m(
                "DHCP4_CB_PERIODIC_FETCH_UPDATES_FAIL",
                ERROR,
                "error on periodic attempt to fetch configuration updates from the configuration "
                "backend(s): %1",
                "src/bin/dhcp4/dhcp4_messages.mes:74",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:2005",
            ),
            _m(
                "DHCP6_CB_PERIODIC_FETCH_UPDATES_FAIL",
                ERROR,
                "error on periodic attempt to fetch configuration updates from the configuration "
                "backend(s): %1",
                "src/bin/dhcp6/dhcp6_messages.mes:112",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:1792",
            ),
        ),
        "CB_PERIODIC_FETCH_UPDATES_RETRIES_EXHAUSTED": (
            _m(
                "DHCP4_CB_PERIODIC_FETCH_UPDATES_RETRIES_EXHAUSTED",
                ERROR,
                "maximum number of configuration fetch attempts: 10, has been exhausted without "
                "success",
                "src/bin/dhcp4/dhcp4_messages.mes:81",
                "src/bin/dhcp4/ctrl_dhcp4_srv.cc:2013",
            ),
            _m(
                "DHCP6_CB_PERIODIC_FETCH_UPDATES_RETRIES_EXHAUSTED",
                ERROR,
                "maximum number of configuration fetch attempts: 10, has been exhausted without "
                "success",
                "src/bin/dhcp6/dhcp6_messages.mes:119",
                "src/bin/dhcp6/ctrl_dhcp6_srv.cc:1800",
            ),
        ),
        # Packet processing: dropped while the service is disabled; failed (e.g. DB error).
        "PACKET_DROP": (
            _m(
                "DHCP4_PACKET_DROP_0008",
                DEBUG,
                "%1: DHCP service is globally disabled",
                "src/bin/dhcp4/dhcp4_messages.mes:751",
                "src/bin/dhcp4/dhcp4_srv.cc:1310",
                15,
            ),
            _m(
                "DHCP6_PACKET_DROP_DHCP_DISABLED",
                DEBUG,
                "%1: DHCP service is globally disabled",
                "src/bin/dhcp6/dhcp6_messages.mes:699",
                "src/bin/dhcp6/dhcp6_srv.cc:774",
                15,
            ),
        ),
        # Different IDs and arities: v4 (label, reason), v6 (label, type, remote address, reason).
        "PACKET_PROCESS_FAIL": (
            _m(
                "DHCP4_PACKET_DROP_0007",
                DEBUG,
                "%1: failed to process packet: %2",
                "src/bin/dhcp4/dhcp4_messages.mes:743",
                "src/bin/dhcp4/dhcp4_srv.cc:1655",
                15,
            ),
            _m(
                "DHCP6_PACKET_PROCESS_FAIL",
                DEBUG,
                "%1: processing of %2 message received from %3 failed: %4",
                "src/bin/dhcp6/dhcp6_messages.mes:766",
                "src/bin/dhcp6/dhcp6_srv.cc:1223",
                40,
            ),
        ),
    }
)

# ---------------------------------------------------------------------------------------------
# Backend messages: (role, database type) -> name -> (DHCPv4 template, DHCPv6 template).
# Lease and host backends log the same ID in both servers; config backends have one ID per
# server (suffix 4/6, and no "DB_" after the prefix).

_BACKEND: Final[Mapping[tuple[Role, DbType], Mapping[str, PerUniverse]]] = MappingProxyType(
    {
        (Role.LEASE, DbType.MYSQL): _any_universe(
            {
                "DB": _m(
                    "MYSQL_LB_DB",
                    INFO,
                    "opening MySQL lease database: %1",
                    "src/hooks/dhcp/mysql/mysql_lb_messages.mes:33",
                    "src/hooks/dhcp/mysql/mysql_lease_mgr.cc:5588",
                ),
                "DB_RECONNECT_ATTEMPT_FAILED": _m(
                    "MYSQL_LB_DB_RECONNECT_ATTEMPT_FAILED",
                    ERROR,
                    "database reconnect failed: %1",
                    "src/hooks/dhcp/mysql/mysql_lb_messages.mes:39",
                    "src/hooks/dhcp/mysql/mysql_lease_mgr.cc:2368",
                ),
                "DB_RECONNECT_ATTEMPT_SCHEDULE": _m(
                    "MYSQL_LB_DB_RECONNECT_ATTEMPT_SCHEDULE",
                    INFO,
                    "scheduling attempt %1 of %2 in %3 milliseconds",
                    "src/hooks/dhcp/mysql/mysql_lb_messages.mes:42",
                    "src/hooks/dhcp/mysql/mysql_lease_mgr.cc:2398",
                ),
                "DB_RECONNECT_FAILED": _m(
                    "MYSQL_LB_DB_RECONNECT_FAILED",
                    ERROR,
                    "maximum number of database reconnect attempts: %1, has been exhausted without "
                    "success",
                    "src/hooks/dhcp/mysql/mysql_lb_messages.mes:47",
                    "src/hooks/dhcp/mysql/mysql_lease_mgr.cc:2385",
                ),
                "NO_TLS": _m(
                    "MYSQL_LB_NO_TLS",
                    ERROR,
                    "TLS was required but is not used",
                    "src/hooks/dhcp/mysql/mysql_lb_messages.mes:263",
                    "src/hooks/dhcp/mysql/mysql_lease_mgr.cc:2434",
                ),
                "TLS_CIPHER": _m(
                    "MYSQL_LB_TLS_CIPHER",
                    DEBUG,
                    "TLS cipher: %1",
                    "src/hooks/dhcp/mysql/mysql_lb_messages.mes:333",
                    "src/hooks/dhcp/mysql/mysql_lease_mgr.cc:2437",
                    40,
                ),
            }
        ),
        (Role.LEASE, DbType.POSTGRESQL): _any_universe(
            {
                "DB": _m(
                    "PGSQL_LB_DB",
                    INFO,
                    "opening PostgreSQL lease database: %1",
                    "src/hooks/dhcp/pgsql/pgsql_lb_messages.mes:33",
                    "src/hooks/dhcp/pgsql/pgsql_lease_mgr.cc:4542",
                ),
                "DB_RECONNECT_ATTEMPT_FAILED": _m(
                    "PGSQL_LB_DB_RECONNECT_ATTEMPT_FAILED",
                    ERROR,
                    "database reconnect failed: %1",
                    "src/hooks/dhcp/pgsql/pgsql_lb_messages.mes:39",
                    "src/hooks/dhcp/pgsql/pgsql_lease_mgr.cc:1908",
                ),
                "DB_RECONNECT_ATTEMPT_SCHEDULE": _m(
                    "PGSQL_LB_DB_RECONNECT_ATTEMPT_SCHEDULE",
                    INFO,
                    "scheduling attempt %1 of %2 in %3 milliseconds",
                    "src/hooks/dhcp/pgsql/pgsql_lb_messages.mes:42",
                    "src/hooks/dhcp/pgsql/pgsql_lease_mgr.cc:1938",
                ),
                "DB_RECONNECT_FAILED": _m(
                    "PGSQL_LB_DB_RECONNECT_FAILED",
                    ERROR,
                    "maximum number of database reconnect attempts: %1, has been exhausted without "
                    "success",
                    "src/hooks/dhcp/pgsql/pgsql_lb_messages.mes:47",
                    "src/hooks/dhcp/pgsql/pgsql_lease_mgr.cc:1925",
                ),
            }
        ),
        (Role.LEASE, DbType.MEMFILE): _any_universe(
            {
                "DB": _m(
                    "DHCPSRV_MEMFILE_DB",
                    INFO,
                    "opening memory file lease database: %1",
                    "src/lib/dhcpsrv/dhcpsrv_messages.mes:537",
                    "src/lib/dhcpsrv/memfile_lease_mgr.cc:3848",
                ),
            }
        ),
        (Role.HOSTS, DbType.MYSQL): _any_universe(
            {
                "DB": _m(
                    "MYSQL_HB_DB",
                    INFO,
                    "opening MySQL hosts database: %1",
                    "src/hooks/dhcp/mysql/mysql_hb_messages.mes:9",
                    "src/hooks/dhcp/mysql/mysql_host_data_source.cc:4284",
                ),
                "DB_READONLY": _m(
                    "MYSQL_HB_DB_READONLY",
                    INFO,
                    "MySQL host database opened for read access only",
                    "src/hooks/dhcp/mysql/mysql_hb_messages.mes:20",
                    "src/hooks/dhcp/mysql/mysql_host_data_source.cc:3076",
                ),
                "DB_RECONNECT_ATTEMPT_FAILED": _m(
                    "MYSQL_HB_DB_RECONNECT_ATTEMPT_FAILED",
                    ERROR,
                    "database reconnect failed: %1",
                    "src/hooks/dhcp/mysql/mysql_hb_messages.mes:26",
                    "src/hooks/dhcp/mysql/mysql_host_data_source.cc:3122",
                ),
                "DB_RECONNECT_ATTEMPT_SCHEDULE": _m(
                    "MYSQL_HB_DB_RECONNECT_ATTEMPT_SCHEDULE",
                    INFO,
                    "scheduling attempt %1 of %2 in %3 milliseconds",
                    "src/hooks/dhcp/mysql/mysql_hb_messages.mes:29",
                    "src/hooks/dhcp/mysql/mysql_host_data_source.cc:3152",
                ),
                "DB_RECONNECT_FAILED": _m(
                    "MYSQL_HB_DB_RECONNECT_FAILED",
                    ERROR,
                    "maximum number of database reconnect attempts: %1, has been exhausted without "
                    "success",
                    "src/hooks/dhcp/mysql/mysql_hb_messages.mes:34",
                    "src/hooks/dhcp/mysql/mysql_host_data_source.cc:3139",
                ),
                "NO_TLS": _m(
                    "MYSQL_HB_NO_TLS",
                    ERROR,
                    "TLS was required but is not used",
                    "src/hooks/dhcp/mysql/mysql_hb_messages.mes:38",
                    "src/hooks/dhcp/mysql/mysql_host_data_source.cc:3051",
                ),
                "TLS_CIPHER": _m(
                    "MYSQL_HB_TLS_CIPHER",
                    DEBUG,
                    "TLS cipher: %1",
                    "src/hooks/dhcp/mysql/mysql_hb_messages.mes:42",
                    "src/hooks/dhcp/mysql/mysql_host_data_source.cc:3054",
                    40,
                ),
            }
        ),
        (Role.HOSTS, DbType.POSTGRESQL): _any_universe(
            {
                "DB": _m(
                    "PGSQL_HB_DB",
                    INFO,
                    "opening PostgreSQL hosts database: %1",
                    "src/hooks/dhcp/pgsql/pgsql_hb_messages.mes:9",
                    "src/hooks/dhcp/pgsql/pgsql_host_data_source.cc:3391",
                ),
                "DB_READONLY": _m(
                    "PGSQL_HB_DB_READONLY",
                    INFO,
                    "PostgreSQL host database opened for read access only",
                    "src/hooks/dhcp/pgsql/pgsql_hb_messages.mes:20",
                    "src/hooks/dhcp/pgsql/pgsql_host_data_source.cc:2389",
                ),
                "DB_RECONNECT_ATTEMPT_FAILED": _m(
                    "PGSQL_HB_DB_RECONNECT_ATTEMPT_FAILED",
                    ERROR,
                    "database reconnect failed: %1",
                    "src/hooks/dhcp/pgsql/pgsql_hb_messages.mes:26",
                    "src/hooks/dhcp/pgsql/pgsql_host_data_source.cc:2433",
                ),
                "DB_RECONNECT_ATTEMPT_SCHEDULE": _m(
                    "PGSQL_HB_DB_RECONNECT_ATTEMPT_SCHEDULE",
                    INFO,
                    "scheduling attempt %1 of %2 in %3 milliseconds",
                    "src/hooks/dhcp/pgsql/pgsql_hb_messages.mes:29",
                    "src/hooks/dhcp/pgsql/pgsql_host_data_source.cc:2463",
                ),
                "DB_RECONNECT_FAILED": _m(
                    "PGSQL_HB_DB_RECONNECT_FAILED",
                    ERROR,
                    "maximum number of database reconnect attempts: %1, has been exhausted without "
                    "success",
                    "src/hooks/dhcp/pgsql/pgsql_hb_messages.mes:34",
                    "src/hooks/dhcp/pgsql/pgsql_host_data_source.cc:2450",
                ),
            }
        ),
        (Role.CONFIG, DbType.MYSQL): {
            "DB_RECONNECT_ATTEMPT_FAILED": (
                _m(
                    "MYSQL_CB_RECONNECT_ATTEMPT_FAILED4",
                    ERROR,
                    "database reconnect failed: %1",
                    "src/hooks/dhcp/mysql/mysql_cb_messages.mes:727",
                    "src/hooks/dhcp/mysql/mysql_cb_dhcp4.cc:2977",
                ),
                _m(
                    "MYSQL_CB_RECONNECT_ATTEMPT_FAILED6",
                    ERROR,
                    "database reconnect failed: %1",
                    "src/hooks/dhcp/mysql/mysql_cb_messages.mes:730",
                    "src/hooks/dhcp/mysql/mysql_cb_dhcp6.cc:3372",
                ),
            ),
            "DB_RECONNECT_ATTEMPT_SCHEDULE": (
                _m(
                    "MYSQL_CB_RECONNECT_ATTEMPT_SCHEDULE4",
                    INFO,
                    "scheduling attempt %1 of %2 in %3 milliseconds",
                    "src/hooks/dhcp/mysql/mysql_cb_messages.mes:733",
                    "src/hooks/dhcp/mysql/mysql_cb_dhcp4.cc:3011",
                ),
                _m(
                    "MYSQL_CB_RECONNECT_ATTEMPT_SCHEDULE6",
                    INFO,
                    "scheduling attempt %1 of %2 in %3 milliseconds",
                    "src/hooks/dhcp/mysql/mysql_cb_messages.mes:738",
                    "src/hooks/dhcp/mysql/mysql_cb_dhcp6.cc:3406",
                ),
            ),
            "DB_RECONNECT_FAILED": (
                _m(
                    "MYSQL_CB_RECONNECT_FAILED4",
                    ERROR,
                    "maximum number of database reconnect attempts: %1, has been exhausted without "
                    "success",
                    "src/hooks/dhcp/mysql/mysql_cb_messages.mes:743",
                    "src/hooks/dhcp/mysql/mysql_cb_dhcp4.cc:2997",
                ),
                _m(
                    "MYSQL_CB_RECONNECT_FAILED6",
                    ERROR,
                    "maximum number of database reconnect attempts: %1, has been exhausted without "
                    "success",
                    "src/hooks/dhcp/mysql/mysql_cb_messages.mes:747",
                    "src/hooks/dhcp/mysql/mysql_cb_dhcp6.cc:3392",
                ),
            ),
            "NO_TLS": _both(
                _m(
                    "MYSQL_CB_NO_TLS",
                    ERROR,
                    "TLS was required but is not used",
                    "src/hooks/dhcp/mysql/mysql_cb_messages.mes:723",
                    "src/hooks/dhcp/mysql/mysql_cb_impl.cc:81",
                )
            ),
            "TLS_CIPHER": _both(
                _m(
                    "MYSQL_CB_TLS_CIPHER",
                    DEBUG,
                    "TLS cipher: %1",
                    "src/hooks/dhcp/mysql/mysql_cb_messages.mes:759",
                    "src/hooks/dhcp/mysql/mysql_cb_impl.cc:84",
                    40,
                )
            ),
        },
        (Role.CONFIG, DbType.POSTGRESQL): {
            "DB_RECONNECT_ATTEMPT_FAILED": (
                _m(
                    "PGSQL_CB_RECONNECT_ATTEMPT_FAILED4",
                    ERROR,
                    "database reconnect failed: %1",
                    "src/hooks/dhcp/pgsql/pgsql_cb_messages.mes:723",
                    "src/hooks/dhcp/pgsql/pgsql_cb_dhcp4.cc:2815",
                ),
                _m(
                    "PGSQL_CB_RECONNECT_ATTEMPT_FAILED6",
                    ERROR,
                    "database reconnect failed: %1",
                    "src/hooks/dhcp/pgsql/pgsql_cb_messages.mes:726",
                    "src/hooks/dhcp/pgsql/pgsql_cb_dhcp6.cc:3136",
                ),
            ),
            "DB_RECONNECT_ATTEMPT_SCHEDULE": (
                _m(
                    "PGSQL_CB_RECONNECT_ATTEMPT_SCHEDULE4",
                    INFO,
                    "scheduling attempt %1 of %2 in %3 milliseconds",
                    "src/hooks/dhcp/pgsql/pgsql_cb_messages.mes:729",
                    "src/hooks/dhcp/pgsql/pgsql_cb_dhcp4.cc:2849",
                ),
                _m(
                    "PGSQL_CB_RECONNECT_ATTEMPT_SCHEDULE6",
                    INFO,
                    "scheduling attempt %1 of %2 in %3 milliseconds",
                    "src/hooks/dhcp/pgsql/pgsql_cb_messages.mes:734",
                    "src/hooks/dhcp/pgsql/pgsql_cb_dhcp6.cc:3170",
                ),
            ),
            "DB_RECONNECT_FAILED": (
                _m(
                    "PGSQL_CB_RECONNECT_FAILED4",
                    ERROR,
                    "maximum number of database reconnect attempts: %1, has been exhausted without "
                    "success",
                    "src/hooks/dhcp/pgsql/pgsql_cb_messages.mes:739",
                    "src/hooks/dhcp/pgsql/pgsql_cb_dhcp4.cc:2835",
                ),
                _m(
                    "PGSQL_CB_RECONNECT_FAILED6",
                    ERROR,
                    "maximum number of database reconnect attempts: %1, has been exhausted without "
                    "success",
                    "src/hooks/dhcp/pgsql/pgsql_cb_messages.mes:743",
                    "src/hooks/dhcp/pgsql/pgsql_cb_dhcp6.cc:3156",
                ),
            ),
        },
    }
)

# ---------------------------------------------------------------------------------------------
# Shared-library messages, by full ID: src/lib/database/db_messages.mes (logged through
# db_log.cc's short names, e.g. MYSQL_FATAL_ERROR -> DATABASE_MYSQL_FATAL_ERROR),
# src/lib/dhcpsrv/dhcpsrv_messages.mes, src/lib/process/process_messages.mes.

_DATABASE: Final[Mapping[str, MessageTemplate]] = _index(
    _m(
        "DATABASE_MYSQL_FATAL_ERROR",
        ERROR,
        "Unrecoverable MySQL error occurred: %1 for <%2>, reason: %3 (error code: %4).",
        "src/lib/database/db_messages.mes:24",
        "src/lib/mysql/mysql_connection.h:710",
    ),
    _m(
        "DATABASE_PGSQL_FATAL_ERROR",
        ERROR,
        "Unrecoverable PostgreSQL error occurred: Statement: <%1>, reason: %2 (error code: %3).",
        "src/lib/database/db_messages.mes:81",
        "src/lib/pgsql/pgsql_connection.cc:592",
    ),
    _m(
        "DATABASE_MYSQL_INITIAL_CONNECTION_FAIL",
        WARN,
        "The connection to the MySQL server is not yet established. Reason: %1",
        "src/lib/database/db_messages.mes:35",
        "src/lib/mysql/mysql_connection.cc:447",
    ),
    _m(
        "DATABASE_PGSQL_INITIAL_CONNECTION_FAIL",
        WARN,
        "The connection to the PostgreSQL server is not yet established. Reason: %1",
        "src/lib/database/db_messages.mes:92",
        "src/lib/pgsql/pgsql_connection.cc:217",
    ),
    _m(
        "DATABASE_MYSQL_INITIALIZE_SCHEMA",
        INFO,
        "Initializing the MySQL schema with command: %1.",
        "src/lib/database/db_messages.mes:31",
        "src/lib/mysql/mysql_connection.cc:508",
    ),
    _m(
        "DATABASE_PGSQL_INITIALIZE_SCHEMA",
        INFO,
        "Initializing the PostgreSQL schema with command: %1.",
        "src/lib/database/db_messages.mes:88",
        "src/lib/pgsql/pgsql_connection.cc:279",
    ),
    _m(
        "DATABASE_MYSQL_NO_INIT_NO_ADMIN",
        WARN,
        "Not attempting to initialize the MySQL schema. kea-admin seems to be missing.",
        "src/lib/database/db_messages.mes:40",
        "src/lib/mysql/mysql_connection.cc:496",
    ),
    _m(
        "DATABASE_PGSQL_NO_INIT_NO_ADMIN",
        WARN,
        "Not attempting to initialize the PostgreSQL schema. kea-admin seems to be missing.",
        "src/lib/database/db_messages.mes:97",
        "src/lib/pgsql/pgsql_connection.cc:266",
    ),
    _m(
        "DATABASE_MYSQL_NO_INIT_NO_PASSWORD",
        WARN,
        "Not attempting to initialize the MySQL schema. Kea database password is not available.",
        "src/lib/database/db_messages.mes:43",
        "src/lib/mysql/mysql_connection.cc:489",
    ),
    _m(
        "DATABASE_PGSQL_NO_INIT_NO_PASSWORD",
        WARN,
        "Not attempting to initialize the PostgreSQL schema. Kea database password is not "
        "available.",
        "src/lib/database/db_messages.mes:100",
        "src/lib/pgsql/pgsql_connection.cc:259",
    ),
    _m(
        "DATABASE_MYSQL_NO_INIT_READONLY",
        WARN,
        "Not attempting to initialize the MySQL schema. Kea has the database configured as "
        "readonly.",
        "src/lib/database/db_messages.mes:47",
        "src/lib/mysql/mysql_connection.cc:483",
    ),
    _m(
        "DATABASE_PGSQL_NO_INIT_READONLY",
        WARN,
        "Not attempting to initialize the PostgreSQL schema. Kea has the database configured as "
        "readonly.",
        "src/lib/database/db_messages.mes:104",
        "src/lib/pgsql/pgsql_connection.cc:253",
    ),
    _m(
        "DATABASE_PGSQL_TCP_USER_TIMEOUT_UNSUPPORTED",
        WARN,
        "tcp_user_timeout is not supported in this PostgreSQL version",
        "src/lib/database/db_messages.mes:125",
        "src/lib/pgsql/pgsql_connection.cc:462",
    ),
    _m(
        "DATABASE_INVALID_ACCESS",
        ERROR,
        "invalid database access string: %1",
        "src/lib/database/db_messages.mes:13",
        "src/lib/database/database_connection.cc:82",
    ),
    _m(
        "DHCPSRV_LEASE_MGR_DB_OPEN_CONNECTION_WITH_RETRY_FAILED",
        INFO,
        "Failed to connect to database: %1 with error: %2",
        "src/lib/dhcpsrv/dhcpsrv_messages.mes:470",
        "src/lib/dhcpsrv/cfg_db_access.cc:71",
    ),
    _m(
        "DHCPSRV_HOST_MGR_DB_OPEN_CONNECTION_WITH_RETRY_FAILED",
        INFO,
        "Failed to connect to database: %1 with error: %2",
        "src/lib/dhcpsrv/dhcpsrv_messages.mes:413",
        "src/lib/dhcpsrv/cfg_db_access.cc:95",
    ),
    _m(
        "DCTL_OPEN_CONFIG_DB",
        INFO,
        "Opening configuration database: %1",
        "src/lib/process/process_messages.mes:92",
        "src/lib/process/cb_ctl_base.h:148",
    ),
    _m(
        "DCTL_DB_OPEN_CONNECTION_WITH_RETRY_FAILED",
        INFO,
        "Failed to connect to database: %1 with error: %2",
        "src/lib/process/process_messages.mes:58",
        "src/lib/process/cb_ctl_base.h:153",
    ),
    _m(
        "DCTL_CONFIG_FETCH",
        INFO,
        "Fetching configuration data from config backends.",
        "src/lib/process/process_messages.mes:44",
        "src/lib/process/cb_ctl_base.h:194",
    ),
)

# ---------------------------------------------------------------------------------------------
# Command manager messages, by full ID: src/lib/config/config_messages.mes.

_COMMAND: Final[Mapping[str, MessageTemplate]] = _index(
    _m(
        "COMMAND_RECEIVED",
        INFO,
        "Received command '%1'",
        "src/lib/config/config_messages.mes:69",
        "src/lib/config/base_command_mgr.cc:129",
    ),
    _m(
        "COMMAND_PROCESS_ERROR1",
        WARN,
        "Error while processing command: %1",
        "src/lib/config/config_messages.mes:57",
        "src/lib/config/unix_command_mgr.cc:388",
    ),
    _m(
        "COMMAND_PROCESS_ERROR2",
        WARN,
        "Error while processing command: %1",
        "src/lib/config/config_messages.mes:62",
        "src/lib/config/base_command_mgr.cc:156",
    ),
)


def _all_templates() -> Mapping[str, MessageTemplate]:
    found: dict[str, MessageTemplate] = {}
    tables: list[MessageTemplate] = [t for pair in _SERVER.values() for t in pair]
    tables += [t for names in _BACKEND.values() for pair in names.values() for t in pair]
    tables += list(_DATABASE.values()) + list(_COMMAND.values())
    for template in tables:
        if found.setdefault(template.id, template) != template:
            raise AssertionError(f"{template.id} is catalogued twice, differently")
    return MappingProxyType(found)


_ALL: Final = _all_templates()


def _universe_slot(universe: int) -> int:
    if universe == 4:
        return 0
    if universe == 6:
        return 1
    raise ValueError(f"universe must be 4 or 6, not {universe!r}")


def server_template(universe: int, name: str) -> MessageTemplate:
    """The DHCPv4 (`universe=4`) or DHCPv6 (`universe=6`) server message called `name`."""
    slot = _universe_slot(universe)
    try:
        return _SERVER[name][slot]
    except KeyError:
        raise KeyError(f"no server message {name!r}") from None


def server(universe: int, name: str, *args: object) -> LogMessage:
    """Format a server message: `server(4, "STARTED", "3.0.0")` is `DHCP4_STARTED ...`."""
    return server_template(universe, name).format(*args)


def backend_template(role: Role, db_type: DbType, universe: int, name: str) -> MessageTemplate:
    """The message `name` of the backend hook serving `role` with `db_type`."""
    slot = _universe_slot(universe)
    try:
        return _BACKEND[(role, db_type)][name][slot]
    except KeyError:
        raise KeyError(
            f"Kea logs no {name!r} message for a {db_type.value} {role.value} backend"
        ) from None


def backend(role: Role, db_type: DbType, universe: int, name: str, *args: object) -> LogMessage:
    """Format a backend message, e.g. `MYSQL_LB_DB_RECONNECT_ATTEMPT_SCHEDULE`."""
    return backend_template(role, db_type, universe, name).format(*args)


def database(name: str, *args: object) -> LogMessage:
    """Format a shared-library message by full ID, e.g. `DATABASE_MYSQL_FATAL_ERROR`."""
    try:
        template = _DATABASE[name]
    except KeyError:
        raise KeyError(f"no database message {name!r}") from None
    return template.format(*args)


def command(name: str, *args: object) -> LogMessage:
    """Format a command manager message by full ID, e.g. `COMMAND_RECEIVED`."""
    try:
        template = _COMMAND[name]
    except KeyError:
        raise KeyError(f"no command message {name!r}") from None
    return template.format(*args)


def by_id(message_id: str, *args: object) -> LogMessage:
    """Format any catalogued message by its full Kea ID."""
    try:
        template = _ALL[message_id]
    except KeyError:
        raise KeyError(f"{message_id!r} is not in the catalogue") from None
    return template.format(*args)


def catalogue() -> Mapping[str, MessageTemplate]:
    """Every catalogued message, by full ID."""
    return _ALL
