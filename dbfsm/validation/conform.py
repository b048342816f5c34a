"""`dbfsm conform`: is this recorded run one the model allows?

A trace (dbfsm's JSON Lines, or a kea-dhcp4/kea-dhcp6 log) shows what a server did, never why:
not when a database went down or came back, nor how long a connection attempt took. So the
check is a search for *some* sequence of inputs (losses noticed, answers to connection
attempts, timer expiries, commands) that makes the real engine emit what the trace shows, in
order. The engine decides; this module only proposes inputs and compares outputs.

What is compared is the lifecycle (`LIFECYCLE`, among the messages of `fsm.messages`):
startup, losses, attempts and their numbers, waits, giving up, exits, reconfigurations, and
for dbfsm's own records also serving changes, attempt records, command results and exit
codes. Everything else in a log is unrelated and skipped. A Kea log cannot show what Kea does
not log, and Kea may differ where dbfsm deliberately does (`differs_from_kea` in
`fsm.rules`): such a model message is optional (`_KEA_OPTIONAL`); Kea 2.x logs its exit
without a FATAL line (`_kea2_id`).

The search is depth first. Inputs are proposed by what they can show first, so a run is
usually explained in one pass; a hypothesis that fails is dropped and an earlier choice
revisited on a fresh engine that replays the inputs (the engine is deterministic). The
verdict names the deepest point any hypothesis reached.

Timers fire late, never early: an attempt that follows a wait conforms when it comes at least
`reconnect-wait-time` and at most that plus the tolerance after it was scheduled (within
`RESOLUTION`: most Kea timestamps show milliseconds only).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import math
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from dbfsm.files.reading import load_file, read_text
from dbfsm.fsm import messages
from dbfsm.fsm.actions import Action, CancelTimer, Close, Open, Reply, StartTimer, Transitioned
from dbfsm.fsm.engine import Engine, UnexpectedEvent
from dbfsm.fsm.errors import InputError
from dbfsm.fsm.errors import kind as describe
from dbfsm.fsm.events import Command, Event, Lost, Opened, OpenFailed, TimerFired
from dbfsm.fsm.graph import BACKEND, GRAPHS
from dbfsm.fsm.records import Record, record_of, to_text
from dbfsm.fsm.rules import RULES
from dbfsm.fsm.settings import MANAGER_IDS, DbType, Role, ServerSettings
from dbfsm.validation import kealog

RESOLUTION = 0.001  # seconds: most Kea timestamps show milliseconds only
DEFAULT_TOLERANCE = 0.5
SEARCH_BUDGET = 20_000  # hypotheses dropped before the search gives up on an explanation
# Inputs without any visible effect, per backend, before a hypothesis is dropped: each
# backend can be opened, answered and lost unseen while a configuration is applied.
_UNSEEN_LIMIT = 4

LIFECYCLE = re.compile(
    r"RECONNECT|_STARTED$|_INIT_FAIL$|_CONFIG_LOAD_FAIL$|_SHUTDOWN$|DYNAMIC_RECONFIGURATION"
    r"|CONFIG_UNRECOVERABLE_ERROR|WITH_RETRY_FAILED|^COMMAND_RECEIVED$"
)
# Model messages a Kea log may lack: startup failures go to the console before the file
# logger is configured; a failed reconfiguration of a lease or host database logs no FATAL
# line in Kea (doc.reconfig-fails-up differs_from_kea); a SIGHUP reloads without a command.
_KEA_OPTIONAL = re.compile(r"_INIT_FAIL$|_CONFIG_LOAD_FAIL$|CONFIG_UNRECOVERABLE_ERROR|^COMMAND_")
_NOT_IN_KEA_LOGS = frozenset({"serving", "attempt", "command", "exit"})

# What of a message's text must agree, by the end of its ID: the attempt numbers and the wait,
# the number of attempts made, the command's name.
_COMPARED_TEXT = {
    "_ATTEMPT_SCHEDULE": re.compile(r"attempt (\d+) of (\d+) in (\d+) milliseconds"),
    "_RECONNECT_FAILED": re.compile(r"attempts: (\d+), has been exhausted"),
    "COMMAND_RECEIVED": re.compile(r"command '([^']*)'"),
}
_MAX_PERIOD = re.compile(r"disabled for (\d+) seconds")
_MANAGER = re.compile(r"manager ID: (\d+)")
_LOOP_MESSAGES = (
    "DB_RECONNECT_ATTEMPT_FAILED",
    "DB_RECONNECT_ATTEMPT_SCHEDULE",
    "DB_RECONNECT_FAILED",
)
_DRIVER_ERROR = "(the driver's error)"  # a trace's error texts are not compared
_MANAGER_FAMILIES = {manager_id: family for family, manager_id in MANAGER_IDS.items()}


class Dialect(Enum):
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
    dialect: Dialect
    from_start: bool  # False for a log that begins after the server started (rotated)
    observations: tuple[Observation, ...]
    end: float
    exit_code: int | None
    last_line: int


# -- reading traces ---------------------------------------------------------------------------


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
        family = _MANAGER_FAMILIES.get(_integer(manager[1]) or 0)
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
    if record.type not in ("log", *_NOT_IN_KEA_LOGS):
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


_JSON_FIELDS: dict[str, dict[str, type]] = {
    "log": {"id": str, "severity": str, "text": str},
    "serving": {"serving": bool},
    "attempt": {"backend": str, "n": int, "of": int, "ok": bool},
    "command": {"command": str, "result": int, "text": str},
    "exit": {"code": int},
    "summary": {"serving": bool, "state": str},
}


def _json_record(raw: str, where: str) -> Record:
    try:
        item = json.loads(raw)
    except json.JSONDecodeError as err:
        raise InputError(f"{where}:{err.colno}: not JSON: {err.msg}") from None
    except ValueError:  # an integer past Python's digit limit
        raise InputError(f"{where}: not JSON: a number too long to read") from None
    except RecursionError:
        raise InputError(f"{where}: not JSON: nested too deeply") from None
    if not isinstance(item, dict):
        raise InputError(f"{where}: a record must be a JSON object")
    kind, t = item.get("type"), item.get("t")
    if not isinstance(kind, str) or kind not in _JSON_FIELDS:
        expected = ", ".join(_JSON_FIELDS)
        raise InputError(f"{where}: 'type' must be one of {expected}, not {describe(kind)}")
    seconds = _seconds(t)
    if seconds is None:
        raise InputError(f"{where}: 't' must be a number of seconds, not {describe(t)}")
    for name, kind_of in _JSON_FIELDS[kind].items():
        value = item.get(name)
        if not isinstance(value, kind_of) or (kind_of is int and isinstance(value, bool)):
            raise InputError(f"{where}: {kind} record needs {name!r} ({kind_of.__name__})")
    data = {k: v for k, v in item.items() if k not in ("t", "type")}
    return Record(seconds, kind, data)


def _seconds(t: object) -> float | None:
    """`t` as a time of the run: a finite number >= 0 (an integer too large for a float or
    NaN is none), else None."""
    if not isinstance(t, int | float) or isinstance(t, bool):
        return None
    try:
        seconds = float(t)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _integer(digits: str) -> int | None:
    """A number a message's text states; None past any count a run can reach (and past
    what Python converts from text)."""
    return int(digits) if digits.isdigit() and len(digits) <= 18 else None


def _number_or_text(text: str) -> int | str:
    number = _integer(text)
    return text if number is None else number


def _read_jsonl(text: str, name: str, settings: ServerSettings) -> Trace:
    observations: list[Observation] = []
    end, exit_code, last, previous = 0.0, None, 0, 0.0
    for number, raw in enumerate(kealog.split_lines(text), start=1):
        if not raw.strip():
            continue
        where = f"{name}:{number}"
        record = _json_record(raw, where)
        if record.t < previous:
            raise InputError(f"{where}: time goes backwards ({record.t} after {previous})")
        previous, last = record.t, number
        if record.type == "summary":
            end, exit_code = record.t, record.data.get("exit_code")
            if exit_code is not None and (type(exit_code) is not int):
                raise InputError(f"{where}: summary record needs 'exit_code' (int or null)")
            continue
        found = observe(record, settings, number)
        if found is not None:
            observations.append(found)
    if last == 0:
        raise InputError(f"{name}:1: the trace is empty")
    end = max(end, previous)
    return Trace(name, Dialect.DBFSM, True, tuple(observations), end, exit_code, last)


def _read_kea_log(text: str, name: str, settings: ServerSettings, known: frozenset[str]) -> Trace:
    log = kealog.read(text, settings.universe, name)
    observations: list[Observation] = []
    for line in log.lines:
        found = observe(line.record, settings, line.number)
        if found is None:
            continue
        if found.kind == "COMMAND_RECEIVED" and found.details[:1] and found.details[0] not in known:
            continue  # a command dbfsm does not model (hooks' lease commands, ...)
        observations.append(replace(found, shown=line.written))
    dialect = Dialect.KEA2 if log.version == 2 else Dialect.KEA3
    last = log.lines[-1].number
    return Trace(name, dialect, log.from_start, tuple(observations), log.end, None, last)


def read_trace(path: str, settings: ServerSettings) -> Trace:
    text = read_text(path, "the trace")  # bounded in size and time (a FIFO), UTF-8
    lines = kealog.split_lines(text)
    first = next((line for line in lines if line.strip()), "")
    if first.lstrip().startswith("{"):
        return _read_jsonl(text, path, settings)
    if not any(kealog.looks_like_kea_log(line) for line in lines):
        raise InputError(f"{path}:1: neither dbfsm JSON Lines nor a Kea log")
    return _read_kea_log(text, path, settings, _known_commands(settings))


def _known_commands(settings: ServerSettings) -> frozenset[str]:
    """The commands the engine answers, as it lists them itself."""
    for action in Engine(settings).command({"command": "list-commands"}):
        if isinstance(action, Reply):
            return frozenset(action.response.get("arguments", []))
    return frozenset()


# -- the search -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """When the outputs of a timer may show: from its due time to the tolerance after."""

    armed: float
    due: float
    latest: float

    def holds(self, t: float) -> bool:
        return self.due - RESOLUTION <= t <= self.latest + RESOLUTION


@dataclass(frozen=True)
class Expected:
    """An observation the model made that the trace must show next (unless optional)."""

    obs: Observation
    rules: tuple[str, ...]  # the rules of the transitions that led to it, latest last
    optional: bool
    window: Window | None  # when a timer caused it: the times it may show


@dataclass(frozen=True)
class Failure:
    """Where a hypothesis stopped explaining the trace, what it allowed there, and why."""

    at: int  # index of the trace observation the model cannot explain (len: the trace's end)
    allowed: tuple[str, ...]
    rules: tuple[str, ...]
    reason: str = ""

    def merged(self, other: Failure) -> Failure:
        """The deeper of two failures; at the same point, everything either allowed."""
        if other.at != self.at:
            return self if self.at > other.at else other
        allowed = tuple(dict.fromkeys((*self.allowed, *other.allowed)))
        rules = tuple(dict.fromkeys((*self.rules, *other.rules)))
        return Failure(self.at, allowed, rules, self.reason or other.reason)


@dataclass(frozen=True)
class Candidate:
    """An input to try next: what, when, and for a timer the window its outputs must fit."""

    t: float
    event: Event
    window: Window | None = None


@dataclass(frozen=True)
class Timer:
    """A timer the engine asked for: when it was started and when it is due."""

    armed: float
    due: float
    backend: str | None  # whose reconnect timer it is, if a backend's

    def window(self, tolerance: float) -> Window:
        return Window(self.armed, self.due, self.due + tolerance)

    def fire(self, name: str, t: float, tolerance: float) -> Candidate:
        """Fire at `t` if the timer may (late, never early), else as near `t` as it may."""
        window = self.window(tolerance)
        return Candidate(min(max(t, window.due), window.latest), TimerFired(name), window)


@dataclass(frozen=True)
class Context:
    """What every hypothesis shares: the configuration, the trace, the user's tolerances."""

    settings: ServerSettings
    config_path: str
    trace: Trace
    tolerance: float
    exit_code: int | None

    def engine(self) -> tuple[Engine, Clock]:
        clock = Clock()
        loader = functools.partial(load_file, self.config_path)
        return Engine(self.settings, clock=clock, loader=loader), clock


class Clock:
    """The engine's clock: set to the time of each input before it is handed over."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Counts:
    """What the explanation of a trace contains, for the verdict's one line."""

    losses: int = 0
    attempts: int = 0
    reconfigurations: int = 0

    def count(self, step: Transitioned) -> None:
        self.losses += step.trigger == "lost" and step.dest in _EPISODES
        self.reconfigurations += step.trigger == "reconfigure"


@dataclass
class Branch:
    """One hypothesis: the inputs so far, the engine they drove, what it still owes."""

    ctx: Context
    engine: Engine
    clock: Clock
    inputs: list[tuple[float, Event]] = field(default_factory=list)
    at: int = 0
    expected: list[Expected] = field(default_factory=list)
    opens: dict[tuple[str, int], Open] = field(default_factory=dict)
    timers: dict[str, Timer] = field(default_factory=dict)
    instances: dict[str, int] = field(default_factory=dict)  # each backend's latest connection
    causes: tuple[str, ...] = ()  # the inputs applied since the last observation matched
    rules: tuple[str, ...] = ()
    counts: Counts = field(default_factory=Counts)

    @classmethod
    def start(cls, ctx: Context) -> Branch:
        engine, clock = ctx.engine()
        branch = cls(ctx, engine, clock)
        branch._absorb(engine.start(), None)
        return branch

    def fork(self) -> Branch:
        """The same hypothesis on a fresh engine: the engine is deterministic, so replaying
        the inputs at their times rebuilds its state exactly."""
        engine, clock = self.ctx.engine()
        engine.start()
        for t, event in self.inputs:
            clock.now = t
            engine.handle(event)
        counts = replace(self.counts)
        return Branch(
            self.ctx,
            engine,
            clock,
            list(self.inputs),
            self.at,
            list(self.expected),
            dict(self.opens),
            dict(self.timers),
            dict(self.instances),
            self.causes,
            self.rules,
            counts,
        )

    # -- driving the engine ---------------------------------------------------------------------

    def apply(self, candidate: Candidate) -> None:
        event = candidate.event
        self.clock.now = candidate.t
        self.inputs.append((candidate.t, event))
        self.causes = (*self.causes, _cause(event))
        if isinstance(event, Opened | OpenFailed):
            request = self.opens.pop((event.backend, event.instance))
            self.counts.attempts += request.attempt is not None
        elif isinstance(event, TimerFired):
            self.timers.pop(event.name, None)
        self._absorb(self.engine.handle(event), candidate.window)

    def _absorb(self, actions: list[Action], window: Window | None) -> None:
        now, owner = self.clock.now, None
        rules: tuple[str, ...] = ()  # the transitions of this call so far
        for action in actions:
            match action:
                case Transitioned(machine, trigger, _, _, index) if trigger != "close":
                    # (closing a connection is housekeeping of the transition that asked
                    # for it: it explains nothing by itself)
                    graph = GRAPHS["server" if machine == "server" else "backend"]
                    rule = graph.transitions[index].rule
                    owner = None if machine == "server" else machine
                    rules = (*(r for r in rules if r != rule), rule)
                    self.rules = rules
                    self.counts.count(action)
                case Open(backend, instance):
                    self.opens[(backend, instance)] = action
                    self.instances[backend] = instance
                case Close(backend, instance):
                    self.opens.pop((backend, instance), None)
                case StartTimer(name, delay):
                    self.timers[name] = Timer(now, now + delay, owner)
                case CancelTimer(name):
                    self.timers.pop(name, None)
                case _:
                    record = record_of(action, now)
                    found = None if record is None else observe(record, self.ctx.settings)
                    if found is None:
                        continue
                    if owner is not None and found.backends is not None:
                        found = replace(found, backends=frozenset({owner}))
                    expected = _expectation(found, self.ctx.trace, rules, window)
                    if expected is not None:
                        self.expected.append(expected)

    # -- comparing ------------------------------------------------------------------------------

    def advance(self) -> Failure | list[Candidate] | None:
        """Match what the model owes against the trace; then the inputs that could come
        next (a list), a failure, or None when the whole trace is explained."""
        observations = self.ctx.trace.observations
        while self.expected and self.at < len(observations):
            o = observations[self.at]
            found = self._find(o)
            if isinstance(found, Failure):
                return found
            if found is None:
                if any(not e.optional for e in self.expected):
                    return self._owed(self.at)
                self.expected.clear()
                break
            index, left_out = found
            before = self.expected[:index]
            kept = [e for e in before if not e.optional] if left_out else before
            self.expected = kept + self.expected[index + 1 :]
            self.at += 1
            self.causes = ()
        if self.at == len(observations):
            return self._finish()
        o = observations[self.at]
        if self.engine.exited:
            code = self.engine.exit_code
            return self._fail(self.at, f"nothing: the server has exited with code {code}")
        candidates = self._candidates(o)
        if not candidates or len(self.causes) > _UNSEEN_LIMIT * len(self.instances):
            return self._fail(self.at, self._idle())
        return candidates

    def _find(self, o: Observation) -> tuple[int, bool] | Failure | None:
        """Which owed observation `o` is, and whether the optional ones before it were left
        out (rather than still to come). In order, except that observations of different
        backends made in one step may interleave, and an optional message may come out of
        order (Kea logs a failed reconfiguration's FATAL line before the reload's errors)."""
        blocked = False
        for index, e in enumerate(self.expected):
            if e.obs.agrees(o) and (e.optional or not blocked):
                if e.window is not None and not e.window.holds(o.t):
                    return self._mistimed(e, e.window, o)
                return index, not blocked
            if blocked or e.optional:
                continue
            apart = e.obs.backends and o.backends and not (e.obs.backends & o.backends)
            blocked = not apart
        return None

    def _fail(
        self, at: int, allowed: str, rules: tuple[str, ...] | None = None, reason: str = ""
    ) -> Failure:
        """A failure of this hypothesis; what it allowed says after which inputs, if the
        trace has shown nothing since."""
        if self.causes:
            allowed += f" (after: {', then '.join(self.causes)})"
        return Failure(at, (allowed,), self.rules if rules is None else rules, reason)

    def _owed(self, at: int) -> Failure:
        first = next(e for e in self.expected if not e.optional)
        return self._fail(at, first.obs.shown, first.rules)

    def _mistimed(self, e: Expected, window: Window, o: Observation) -> Failure:
        when = "early" if o.t < window.due else "late"
        reason = (
            f"{when}: {o.t - window.armed:.3f}s after the timer was started at "
            f"{window.armed:.3f}s; the model waits {window.due - window.armed:.3f}s "
            f"(reconnect-wait-time) and a timer fires at most {self.ctx.tolerance:g}s late"
        )
        shown = f"{e.obs.shown} between {window.due:.3f}s and {window.latest:.3f}s"
        return self._fail(self.at, shown, e.rules, reason)

    def _idle(self) -> str:
        states = ", ".join(f"{k} {s}" for k, s in self.engine.backend_states().items())
        return f"nothing more on its own (server {self.engine.state}; {states or 'no backends'})"

    def _candidates(self, o: Observation) -> list[Candidate]:
        """Every input that could come next, those that can explain `o` first; when none
        can, all of them, so that a failure reports everything the model allowed."""
        overdue = self._overdue(o.t)
        if overdue is not None:
            return [overdue]
        likely: list[Candidate] = [Candidate(o.t, c) for c in self._commands(o)]
        unlikely: list[Candidate] = []
        for name, timer in self.timers.items():
            fired = timer.fire(name, o.t, self.ctx.tolerance)
            lost_again = timer.backend is None or _about(o, "_LOST_CONNECTION", timer.backend)
            (likely if lost_again else unlikely).append(fired)
        for (backend, instance), request in self.opens.items():
            opened = Candidate(o.t, Opened(backend, instance))
            failed = Candidate(o.t, OpenFailed(backend, instance, _DRIVER_ERROR))
            if request.attempt is None:  # answers while configuring may go unseen
                mismatch = Candidate(o.t, OpenFailed(backend, instance, _DRIVER_ERROR, True))
                likely += [opened, failed, mismatch]
                continue
            (likely if _answers_attempt(o, backend, True) else unlikely).append(opened)
            (likely if _answers_attempt(o, backend, False) else unlikely).append(failed)
        if o.kind.endswith("_LOST_CONNECTION") or not self._configured():
            for backend, state in self.engine.backend_states().items():
                if state in _NOTICEABLE and (o.backends is None or backend in o.backends):
                    likely.append(Candidate(o.t, Lost(backend, self.instances[backend])))
        return likely or unlikely

    def _overdue(self, t: float) -> Candidate | None:
        """The first timer that must have fired before `t`, fired as late as it may."""
        tolerance = self.ctx.tolerance
        late = [(timer.window(tolerance).latest, name) for name, timer in self.timers.items()]
        due = sorted((latest, name) for latest, name in late if latest < t - RESOLUTION)
        if not due:
            return None
        latest, name = due[0]
        return self.timers[name].fire(name, latest, tolerance)

    def _configured(self) -> bool:
        return self.engine.state in ("serving", "not_serving")

    def _commands(self, o: Observation) -> list[Command]:
        """The command (or signal) that the observation shows arriving."""
        if o.kind in ("COMMAND_RECEIVED", "command"):
            if not o.details:  # a log line cut before the command's name: none to propose
                return []
            name = str(o.details[0])
        elif (
            o.kind.endswith("_DYNAMIC_RECONFIGURATION")
            and self.ctx.trace.dialect is not Dialect.DBFSM
        ):
            name = "config-reload"  # SIGHUP
        elif o.kind.endswith("_SHUTDOWN") and self.ctx.trace.dialect is not Dialect.DBFSM:
            return [Command({"command": "shutdown", "arguments": {"exit-value": 0}})]  # SIGTERM
        else:
            return []
        arguments: dict[str, Any] = {}
        if name in ("config-set", "config-test"):
            arguments = dict(self.ctx.settings.document)
        elif name == "shutdown":
            arguments = {"exit-value": self.ctx.exit_code or 0}
        elif name == "dhcp-disable":
            arguments = self._disable_arguments()
        return [Command({"command": name, "arguments": arguments})]

    def _disable_arguments(self) -> dict[str, Any]:
        """A dhcp-disable's max-period, as its answer (in dbfsm's records) states it."""
        for o in self.ctx.trace.observations[self.at :]:
            if o.kind == "command" and o.details[0] == "dhcp-disable":
                period = _MAX_PERIOD.search(o.text)
                seconds = None if period is None else _integer(period[1])
                return {} if seconds is None else {"max-period": seconds}
        return {}

    def _finish(self) -> Failure | list[Candidate] | None:
        """The trace has ended: the model may owe nothing more, and must end the same way."""
        at = len(self.ctx.trace.observations)
        if any(not e.optional for e in self.expected):
            return self._owed(at)
        self.expected.clear()
        end = self.ctx.trace.end
        overdue = None if self.engine.exited else self._overdue(end)
        if overdue is not None:
            return [overdue]
        wanted = self.ctx.exit_code
        if wanted is None or self.engine.exit_code == wanted:
            return None
        if self.engine.exited:
            shown = f"exit code {self.engine.exit_code}"
            return self._fail(at, shown, reason=f"the run ended with exit code {wanted}")
        candidates = [Candidate(end, OpenFailed(b, i, _DRIVER_ERROR)) for b, i in self.opens]
        candidates += [Candidate(end, Opened(b, i)) for b, i in self.opens]
        if candidates:
            return candidates
        return self._fail(at, self._idle(), reason=f"the run ended with exit code {wanted}")

    def children(self, candidates: list[Candidate]) -> Iterator[Branch]:
        """One branch per candidate; the last one reuses this branch's engine."""
        for index, candidate in enumerate(candidates):
            branch = self if index == len(candidates) - 1 else self.fork()
            try:
                branch.apply(candidate)
            except UnexpectedEvent:
                continue  # the graph takes no such input here: it explains nothing
            yield branch


# Where a backend goes when a loss starts a recovery episode (or ends it at once).
_EPISODES = frozenset({"reconnecting", "fatal", "abandoned"})
# Backend states in which a request can find the connection broken.
_NOTICEABLE = BACKEND.used_by_requests


def _cause(event: Event) -> str:
    """An input, as a report names it."""
    match event:
        case Opened(backend):
            return f"{backend} opens"
        case OpenFailed(backend, _, _, True):
            return f"{backend} has another schema version"
        case OpenFailed(backend):
            return f"{backend} cannot be reached"
        case Lost(backend):
            return f"a request finds {backend} lost"
        case TimerFired(name):
            return f"timer {name} fires"
        case Command(request):
            command = request.get("command") if isinstance(request, dict) else None
            return f"command {command}"
    return str(event)


def _about(o: Observation, suffix: str, backend: str) -> bool:
    return suffix in o.kind and (o.backends is None or backend in o.backends)


def _answers_attempt(o: Observation, backend: str, ok: bool) -> bool:
    """Whether `o` can be the first thing a reconnect attempt's outcome shows."""
    if o.kind == "attempt":
        return o.details[0] == backend and o.details[3] == ok
    return _about(o, "_DB_RECONNECT_SUCCEEDED" if ok else "RECONNECT_ATTEMPT_FAILED", backend)


def _expectation(
    found: Observation,
    trace: Trace,
    rules: tuple[str, ...],
    window: Window | None,
) -> Expected | None:
    """What a model observation requires of a trace of its dialect. A log that begins after
    the server started (a rotated file) need not show the startup."""
    if trace.dialect is Dialect.DBFSM:
        return Expected(found, rules, False, window)
    if found.kind in _NOT_IN_KEA_LOGS:
        return None
    if trace.dialect is Dialect.KEA2:
        found = replace(found, kind=_kea2_id(found.kind))
    optional = bool(_KEA_OPTIONAL.search(found.kind))
    optional |= not trace.from_start and found.kind.endswith("_STARTED")
    return Expected(found, rules, optional, window)


def _kea2_id(message_id: str) -> str:
    """Kea 2.x logs the end of a reconnect loop under an exit mode without a FATAL line
    (kea-2x-log-facts.md): DHCP4_FATAL_DB_RECONNECT_FAILED is DHCP4_DB_RECONNECT_FAILED."""
    return message_id.replace("_FATAL_DB_RECONNECT_", "_DB_RECONNECT_")


# -- the verdict ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The outcome: no failure means the run conforms (with what explained it)."""

    trace: Trace
    failure: Failure | None
    counts: Counts
    exit_code: int | None
    exhausted: bool  # the search stopped at its budget
    # The inputs that explained the run, at their times (empty if none did): replayed on a
    # fresh engine, they give the model's own records and path (`dbfsm report` draws them).
    inputs: tuple[tuple[float, Event], ...] = ()


def conform(
    settings: ServerSettings,
    config_path: str,
    trace: Trace,
    tolerance: float = DEFAULT_TOLERANCE,
    exit_code: int | None = None,
) -> Verdict:
    """Search for inputs that make the engine emit what the trace shows."""
    wanted = trace.exit_code if exit_code is None else exit_code
    ctx = Context(settings, config_path, trace, tolerance, wanted)
    stack: list[Iterator[Branch]] = [iter([Branch.start(ctx)])]
    best: Failure | None = None
    dead_ends = 0
    while stack and dead_ends < SEARCH_BUDGET:
        branch = next(stack[-1], None)
        if branch is None:
            stack.pop()
            continue
        step = branch.advance()
        if step is None:
            code = branch.engine.exit_code
            return Verdict(trace, None, branch.counts, code, False, tuple(branch.inputs))
        if isinstance(step, Failure):
            best = step if best is None else best.merged(step)
            dead_ends += 1
            continue
        stack.append(branch.children(step))
    if best is None:  # the budget ran out before any hypothesis failed
        best = Failure(0, ("(no hypothesis was followed to its end)",), ())
    return Verdict(trace, best, Counts(), None, bool(stack))


def report(verdict: Verdict) -> str:
    trace = verdict.trace
    if verdict.failure is None:
        c = verdict.counts
        ending = "still running" if verdict.exit_code is None else f"exit {verdict.exit_code}"
        return (
            f"{trace.name}: conforms ({trace.dialect.value}, {len(trace.observations)} "
            f"observations compared: losses {c.losses}, reconnect attempts {c.attempts}, "
            f"reconfigurations {c.reconfigurations}; {ending})\n"
        )
    f = verdict.failure
    if f.at < len(trace.observations):
        o = trace.observations[f.at]
        head = f"{trace.name}:{o.line}: leaves the model at {o.t:.3f}s: {o.shown}"
    else:
        head = f"{trace.name}:{trace.last_line}: leaves the model where the trace ends"
    lines = [head]
    if f.reason:
        lines.append(f"  {f.reason}")
    lines.append("  the model allows here: " + " | ".join(f.allowed))
    for rule_id in f.rules[-2:]:
        lines.append(f'  why: {rule_id}: "{RULES[rule_id].text}"')
    if verdict.exhausted:
        lines.append(
            f"  (the search stopped after dropping {SEARCH_BUDGET} hypotheses: the run may "
            "still be one the model allows)"
        )
    return "\n".join(lines) + "\n"


# -- command line ----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace", metavar="TRACE", help="dbfsm JSON Lines, or a kea-dhcp4/6 log")
    parser.add_argument(
        "--config", metavar="CONFIG", required=True, help="the Kea configuration the run used"
    )
    parser.add_argument(
        "--exit-code", type=int, metavar="N", help="the exit status the run ended with, if it did"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        metavar="SECONDS",
        default=DEFAULT_TOLERANCE,
        help="how late a timer may fire (default 0.5)",
    )


def command(args: argparse.Namespace) -> int:
    if not math.isfinite(args.tolerance) or args.tolerance < 0:
        raise InputError(f"--tolerance must be a number of seconds >= 0, not {args.tolerance}")
    settings = load_file(args.config)
    trace = read_trace(os.fspath(args.trace), settings)
    verdict = conform(settings, args.config, trace, args.tolerance, args.exit_code)
    sys.stdout.write(report(verdict))
    return 0 if verdict.failure is None else 1
