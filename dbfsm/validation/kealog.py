"""Read a kea-dhcp4 / kea-dhcp6 log into the record vocabulary of `fsm.records`.

Kea's default layout is `DATE TIME SEVERITY [LOGGER/PID.TID] MESSAGE_ID text`, the time with
milliseconds (console) or milliseconds and microseconds (file). A message may run over several
lines (libpq's errors do): lines without that header continue the message above. Lines of other
programs (kea-ctrl-agent, kea-dhcp-ddns, the other DHCP server) sharing the file are skipped.

Kea 2.x spells the backends' reconnect messages `DHCPSRV_PGSQL_LEASE_DB_...`,
`DHCPSRV_MYSQL_HOST_DB_...`; Kea 3.x moved them into the backend hooks as `PGSQL_LB_...`,
`MYSQL_HB_...`. Records always carry the 3.x ID (dbfsm's own vocabulary); `KeaLog.version`
says which Kea wrote the log, since 2.x also *behaves* differently (no FATAL line before an
exit: `dbfsm.conform` knows that).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from dbfsm.fsm.errors import InputError
from dbfsm.fsm.records import Record

_HEADER = re.compile(
    r"(?P<stamp>[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3})"
    r"(?:\.(?P<us>[0-9]{3}))?\s+"
    r"(?P<severity>DEBUG|INFO|WARN|ERROR|FATAL)\s+"
    r"\[(?P<logger>[^\]/]+)/(?P<pid>[0-9]{1,10})(?:\.[0-9]+)?\]\s+"
    r"(?P<id>[A-Z][A-Z0-9_]*)(?: (?P<text>.*))?$"
)

# Kea 2.x reconnect IDs of the lease and host backends, and their 3.x names.
_KEA2_BACKEND_ID = re.compile(r"DHCPSRV_(?P<db>MYSQL|PGSQL)_(?P<role>LEASE|HOST)_(?P<rest>DB_.+)")
_KEA3_ROLE = {"LEASE": "LB", "HOST": "HB"}
# Messages only Kea 2.x logs: the "opening ... database" lines of the built-in backends.
_KEA2_ONLY = frozenset({"DHCPSRV_MYSQL_DB", "DHCPSRV_PGSQL_DB"})
_STARTED_VERSION = re.compile(r"version (\d+)\.")
# The messages of a server's start: STARTING reaches only the console (the file logger is
# configured later), STARTED the file too.
_START = ("STARTING", "STARTED")


@dataclass(frozen=True)
class Line:
    """One message of the log: where it starts in the file, and what it says."""

    number: int  # 1-based line number of its header
    record: Record
    written: str  # severity, ID and first line of text as the log has them, for reports


@dataclass(frozen=True)
class KeaLog:
    lines: tuple[Line, ...]
    version: int  # Kea's major version: 2 or 3
    from_start: bool  # whether the process's start (DHCPn_STARTING or _STARTED) is in it
    pid: int
    end: float  # seconds from the first line to the last one


def split_lines(text: str) -> list[str]:
    """A trace's lines as the file has them: split at line feeds only (a record's text may
    hold a form feed or U+2028, which `str.splitlines` would also split at), CR stripped."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def looks_like_kea_log(line: str) -> bool:
    return _HEADER.match(line) is not None


def canonical_id(message_id: str) -> str:
    """The Kea 3.x ID of a message (2.x backend IDs renamed, every other ID unchanged)."""
    found = _KEA2_BACKEND_ID.fullmatch(message_id)
    if found is None:
        return message_id
    return f"{found['db']}_{_KEA3_ROLE[found['role']]}_{found['rest']}"


def _written_by_kea2(message_id: str, text: str) -> bool:
    if message_id in _KEA2_ONLY or _KEA2_BACKEND_ID.fullmatch(message_id):
        return True
    if message_id.endswith(("_STARTING", "_STARTED")):
        version = _STARTED_VERSION.search(text)
        return version is not None and version.group(1) == "2"
    return False


def _seconds(stamp: str, microseconds: str | None, where: str) -> float:
    try:
        when = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f")
        return when.timestamp() + int(microseconds or 0) / 1e6
    except (ValueError, OverflowError, OSError):  # OverflowError, OSError: out of the clock's range
        raise InputError(f"{where}: not a valid timestamp: {stamp}") from None


def read(text: str, universe: int, name: str) -> KeaLog:
    """The messages of the first kea-dhcp<universe> process in `text`, times relative to its
    first line. A second process of that server (a restart) is another run: bad input."""
    server = f"kea-dhcp{universe}"
    lines: list[Line] = []
    pid: int | None = None
    start = 0.0
    version = 3
    from_start = False
    current: tuple[int, float, str, str, list[str], str] | None = None
    others = 0

    def finish() -> None:
        if current is not None:
            number, t, severity, message_id, parts, written = current
            data = {"id": canonical_id(message_id), "severity": severity, "text": "\n".join(parts)}
            lines.append(Line(number, Record(t, "log", data), written))

    for number, raw in enumerate(split_lines(text), start=1):
        header = _HEADER.match(raw)
        if header is None:
            if current is not None:
                current[4].append(raw)
            continue
        finish()
        current = None
        logger = header["logger"]
        if logger != server and not logger.startswith(server + "."):
            others += 1
            continue
        where = f"{name}:{number}"
        t = _seconds(header["stamp"], header["us"], where)
        if pid is None:
            pid, start = int(header["pid"]), t
        elif int(header["pid"]) != pid:
            raise InputError(
                f"{where}: a second {server} process (pid {header['pid']}) starts here; "
                f"a trace is one run: split the log at this line"
            )
        message_id, body = header["id"], header["text"] or ""
        if _written_by_kea2(message_id, body):
            version = 2
        from_start = from_start or message_id in (f"DHCP{universe}_{m}" for m in _START)
        written = f"{header['severity']} {message_id} {body}".strip()
        current = (number, t - start, header["severity"], message_id, [body], written)
    finish()
    if pid is None:
        found = f"{others} line(s) of other programs" if others else "no Kea log line"
        raise InputError(f"{name}:1: no {server} message in this log ({found})")
    end = lines[-1].record.t
    return KeaLog(tuple(lines), version, from_start, pid, end)
