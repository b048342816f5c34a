"""What `dbfsm conform` compares: a run's observations, in terms a trace and the model share.

A trace (dbfsm's JSON Lines, or a kea-dhcp4/kea-dhcp6 log) and the engine both say what a
server did as records; `observe` keeps the comparable part of one. What is compared is the
lifecycle (`LIFECYCLE`, among the messages of `fsm.messages`): startup, losses, attempts and
their numbers, waits, giving up, exits, reconfigurations, and for dbfsm's own records also
serving changes, attempt records, command results and exit codes (`NOT_IN_KEA_LOGS`).
Everything else in a log is unrelated and skipped. The trace readers
(`dbfsm.validation.traces`) and the model's side of the search
(`dbfsm.validation.hypotheses`) both speak these terms, and only these.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import re
from dataclasses import dataclass
from enum import Enum

from dbfsm.fsm import messages
from dbfsm.fsm.records import Record, to_text
from dbfsm.fsm.settings import MANAGER_IDS, DbType, Role, ServerSettings

LIFECYCLE = re.compile(
    r"RECONNECT|_STARTED$|_INIT_FAIL$|_CONFIG_LOAD_FAIL$|_SHUTDOWN$|DYNAMIC_RECONFIGURATION"
    r"|CONFIG_UNRECOVERABLE_ERROR|WITH_RETRY_FAILED|^COMMAND_RECEIVED$"
)
NOT_IN_KEA_LOGS = frozenset({"serving", "attempt", "command", "exit"})  # dbfsm's own records

# What of a message's text must agree, by the end of its ID: the attempt numbers and the wait,
# the number of attempts made, the command's name.
_COMPARED_TEXT = {
    "_ATTEMPT_SCHEDULE": re.compile(r"attempt (\d+) of (\d+) in (\d+) milliseconds"),
    "_RECONNECT_FAILED": re.compile(r"attempts: (\d+), has been exhausted"),
    "COMMAND_RECEIVED": re.compile(r"command '([^']*)'"),
}
_MANAGER = re.compile(r"manager ID: (\d+)")
_LOOP_MESSAGES = (
    "DB_RECONNECT_ATTEMPT_FAILED",
    "DB_RECONNECT_ATTEMPT_SCHEDULE",
    "DB_RECONNECT_FAILED",
)
_MANAGER_FAMILIES = {manager_id: family for family, manager_id in MANAGER_IDS.items()}


class TraceFormat(Enum):
    """Who wrote the trace, which decides what it can show."""

    DBFSM = "dbfsm JSON Lines"
    KEA3 = "Kea 3.x log"
    KEA2 = "Kea 2.x log"


@dataclass(frozen=True)
class Observation:
    """One thing a run did, in the terms both a trace and the model can state."""

    t: float
    kind: str  # a Kea message ID, or serving / attempt / command / exit
    details: tuple[object, ...]  # the numbers and names that must agree
    backends: frozenset[str] | None  # which backends it can be about (None: any, or none)
    line: int  # where in the trace; 0 for the model's
    shown: str
    text: str  # the record's text (a message's, a command answer's), not compared

    def agrees(self, other: Observation) -> bool:
        if self.kind != other.kind or self.details != other.details:
            return False
        return (
            self.backends is None or other.backends is None or bool(self.backends & other.backends)
        )


@dataclass(frozen=True)
class Trace:
    """A recorded run, read: what it shows, in order, and how it ended."""

    name: str
    format: TraceFormat
    from_start: bool  # False for a log that begins after the server started (rotated)
    observations: tuple[Observation, ...]
    end: float
    exit_code: int | None
    last_line: int


def _details(record: Record) -> tuple[object, ...]:
    d = record.data
    match record.type:
        case "serving":
            return (d["serving"],)
        case "attempt":
            return (d["backend"], d["n"], d["of"], d["ok"])
        case "command":
            return (d["command"], d["result"])
        case "exit":
            return (d["code"],)
    message_id = str(d["id"])
    for suffix, pattern in _COMPARED_TEXT.items():
        found = pattern.search(str(d["text"])) if message_id.endswith(suffix) else None
        if found:
            return tuple(map(_number_or_text, found.groups()))
    return ()


def _backends(record: Record, settings: ServerSettings) -> frozenset[str] | None:
    """The backends of the configuration a record can be about: an attempt names its
    backend; a backend hook's message ID and a server message's manager ID say its kind."""
    if record.type == "attempt":
        return frozenset({record.data["backend"]})
    if record.type != "log":
        return None
    manager = _MANAGER.search(record.data["text"])
    family = _loop_families(settings.universe).get(record.data["id"])
    if family is None and manager is not None:
        family = _MANAGER_FAMILIES.get(integer(manager[1]) or 0)
    if family is None:
        return None
    return frozenset(b.key for b in settings.backends if (b.role, b.type) == family)


@functools.cache
def _loop_families(universe: int) -> dict[str, tuple[Role, DbType]]:
    """The kind of backend behind each message ID of the reconnect loop, from the catalogue."""
    found = {}
    for (role, db), name in itertools.product(MANAGER_IDS, _LOOP_MESSAGES):
        with contextlib.suppress(KeyError):  # a kind Kea has no such message for
            found[messages.backend_template(role, db, universe, name).id] = (role, db)
    return found


def _compared(message_id: str) -> bool:
    """A lifecycle message of the catalogue: the reconnect messages of hooks dbfsm does not
    model (the forensic log's, say) are unrelated lines."""
    return message_id in messages.catalogue() and LIFECYCLE.search(message_id) is not None


def _shown(record: Record) -> str:
    """How dbfsm's timeline shows a record (without its time), on one line."""
    return to_text([record]).split("s  ", 1)[1].splitlines()[0]


def observe(record: Record, settings: ServerSettings, line: int = 0) -> Observation | None:
    """The comparable part of a record; None for what the lifecycle does not include."""
    if record.type == "log" and not _compared(str(record.data["id"])):
        return None
    if record.type not in ("log", *NOT_IN_KEA_LOGS):
        return None
    kind = str(record.data["id"]) if record.type == "log" else record.type
    return Observation(
        record.t,
        kind,
        _details(record),
        _backends(record, settings),
        line,
        _shown(record),
        str(record.data.get("text", "")),
    )


def integer(digits: str) -> int | None:
    """A number a message's text states; None past any count a run can reach (and past
    what Python converts from text)."""
    return int(digits) if digits.isdigit() and len(digits) <= 18 else None


def _number_or_text(text: str) -> int | str:
    number = integer(text)
    return text if number is None else number
