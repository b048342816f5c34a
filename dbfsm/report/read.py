"""The input of `dbfsm report`: dbfsm's JSON Lines or a Kea log, read into records.

Whatever the input holds, it is either read or refused with one line (`InputError`, exit
status 2): an empty file, a file that is neither JSON Lines nor a Kea log, a record of a type
the schema does not have, a record missing a field. One thing is forgiven: a last line cut
short (a run killed while writing, a file copied while it grew) is left out and the page says
so, since everything before it is still worth seeing.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta

from dbfsm.files.reading import MAX_FILE_BYTES, read_text
from dbfsm.fsm.errors import InputError
from dbfsm.fsm.records import Record
from dbfsm.fsm.settings import ServerSettings
from dbfsm.validation import kealog
from dbfsm.validation.traces import record_of_json

STDIN = "-"

DBFSM, KEA2, KEA3 = "dbfsm JSON Lines", "Kea 2.x log", "Kea 3.x log"


@dataclass(frozen=True)
class Source:
    """An input, read: its records in order, who wrote them, and what the page must note."""

    name: str
    dialect: str  # DBFSM, KEA2 or KEA3
    records: tuple[Record, ...]
    notes: tuple[str, ...] = ()
    wall_start: datetime | None = None  # the wall-clock time of t = 0, when known
    lines: tuple[int, ...] = ()  # each record's line in the input, for a Kea log
    written: tuple[str, ...] = ()  # each record's message ID as a Kea log writes it (2.x's)

    @property
    def kea(self) -> bool:
        return self.dialect != DBFSM


def read_input(path: str, settings: ServerSettings | None = None) -> Source:
    """Read `path` (`-`: standard input) as JSON Lines or as a Kea log."""
    text, name = input_text(path)
    return parse(text, name, settings)


def input_text(path: str) -> tuple[str, str]:
    """The text of `path` (`-`: standard input) and the name errors give it."""
    if path == STDIN:
        return _stdin(), "<stdin>"
    return read_text(path, "the input"), path


def _stdin() -> str:
    """Standard input to its end, bounded as a file is (no timeout: a pipe from a long run
    is meant to be waited on)."""
    data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"<stdin>: larger than the limit of {MAX_FILE_BYTES >> 20} MiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"<stdin>: not UTF-8 text (byte {err.start + 1})") from None


def parse(text: str, name: str, settings: ServerSettings | None = None) -> Source:
    """`text` as records: JSON Lines when its first line is a JSON object, else a Kea log."""
    lines = kealog.split_lines(text)
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise InputError(f"{name}:1: the input is empty")
    if first.lstrip().startswith("{"):
        return _json_lines(lines, name)
    if not any(kealog.looks_like_kea_log(line) for line in lines):
        raise InputError(f"{name}:1: neither dbfsm JSON Lines nor a Kea log")
    return _kea_log(text, lines, name, settings)


def _json_lines(lines: list[str], name: str) -> Source:
    numbered = [(n, raw) for n, raw in enumerate(lines, start=1) if raw.strip()]
    records: list[Record] = []
    notes: list[str] = []
    previous = 0.0
    for index, (number, raw) in enumerate(numbered):
        where = f"{name}:{number}"
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as err:
            if index == len(numbered) - 1 and records:
                notes.append(f"line {number}, the last, is cut short ({err.msg}): left out")
                break
            raise InputError(f"{where}:{err.colno}: not JSON: {err.msg}") from None
        except (ValueError, RecursionError):  # a number past Python's digits, deep nesting
            raise InputError(f"{where}: not JSON that a record can be") from None
        record = record_of_json(item, where)
        if record.t < previous:
            raise InputError(f"{where}: time goes backwards ({record.t} after {previous})")
        previous = record.t
        records.append(record)
    return Source(name, DBFSM, tuple(records), tuple(notes))


def _kea_log(text: str, lines: list[str], name: str, settings: ServerSettings | None) -> Source:
    universe = settings.universe if settings is not None else _universe(text)
    log = kealog.read(text, universe, name)
    first = lines[log.lines[0].number - 1]
    return Source(
        name,
        KEA2 if log.version == 2 else KEA3,
        tuple(line.record for line in log.lines),
        () if log.from_start else ("the log begins after the server started (a rotated file?)",),
        _stamp(first),
        tuple(line.number for line in log.lines),
        tuple(line.written.split(" ", 2)[1] for line in log.lines),
    )


def _universe(text: str) -> int:
    """DHCPv6 when the log has kea-dhcp6 lines and no kea-dhcp4 ones, else DHCPv4."""
    return 6 if "[kea-dhcp6" in text and "[kea-dhcp4" not in text else 4


def _stamp(line: str) -> datetime | None:
    """The wall-clock time a Kea log line was written, as the log writes it (local time)."""
    try:
        when = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f")
    except ValueError:
        return None
    micro = line[23:27]
    if micro.startswith(".") and micro[1:].isdigit():
        when += timedelta(microseconds=int(micro[1:]))
    return when
