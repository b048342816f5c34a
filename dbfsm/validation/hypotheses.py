"""One hypothesis of `dbfsm conform`'s search: the model replayed against a trace.

A trace shows what a server did, never why: not when a database went down or came back, nor
how long a connection attempt took. So a `Branch` proposes inputs (losses noticed, answers to
connection attempts, timer expiries, commands) to the real engine, on a virtual clock set to
each input's time, and matches what the engine emits against the trace's observations, in
order. The engine decides; a branch only proposes inputs and compares outputs. Inputs are
proposed by what they can show first, so a run is usually explained in one pass; a branch
forks onto a fresh engine that replays its inputs (the engine is deterministic) for each
choice it leaves to try. `dbfsm.validation.conform` runs the search over the branches.

A Kea log cannot show what Kea does not log, and Kea may differ where dbfsm deliberately does
(`differs_from_kea` in `fsm.rules`): such a model message is optional (`_KEA_OPTIONAL`); Kea
2.x logs its exit without a FATAL line (`_kea2_id`).

Timers fire late, never early: an attempt that follows a wait conforms when it comes at least
`reconnect-wait-time` and at most that plus the tolerance after it was scheduled (within
`RESOLUTION`: most Kea timestamps show milliseconds only).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from dbfsm.files.reading import load_file
from dbfsm.fsm.actions import Action, CancelTimer, Close, Open, StartTimer, Transitioned
from dbfsm.fsm.engine import Engine, UnexpectedEvent
from dbfsm.fsm.events import Command, Event, Lost, Opened, OpenFailed, TimerFired
from dbfsm.fsm.graph import BACKEND, GRAPHS
from dbfsm.fsm.records import record_of
from dbfsm.fsm.settings import ServerSettings
from dbfsm.simulation.virtual import VirtualClock
from dbfsm.validation.observations import (
    NOT_IN_KEA_LOGS,
    Observation,
    Trace,
    TraceFormat,
    integer,
    observe,
)

RESOLUTION = 0.001  # seconds: most Kea timestamps show milliseconds only
# Inputs without any visible effect, per backend, before a hypothesis is dropped: each
# backend can be opened, answered and lost unseen while a configuration is applied.
_UNSEEN_LIMIT = 4
# Model messages a Kea log may lack: startup failures go to the console before the file
# logger is configured; a failed reconfiguration of a lease or host database logs no FATAL
# line in Kea (doc.reconfig-fails-up differs_from_kea); a SIGHUP reloads without a command.
_KEA_OPTIONAL = re.compile(r"_INIT_FAIL$|_CONFIG_LOAD_FAIL$|CONFIG_UNRECOVERABLE_ERROR|^COMMAND_")
_MAX_PERIOD = re.compile(r"disabled for (\d+) seconds")
_DRIVER_ERROR = "(the driver's error)"  # a trace's error texts are not compared


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
class ArmedTimer:
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

    def engine(self) -> tuple[Engine, VirtualClock]:
        clock = VirtualClock()
        loader = functools.partial(load_file, self.config_path)
        return Engine(self.settings, clock=clock, loader=loader), clock


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
    clock: VirtualClock
    inputs: list[tuple[float, Event]] = field(default_factory=list)
    at: int = 0
    expected: list[Expected] = field(default_factory=list)
    opens: dict[tuple[str, int], Open] = field(default_factory=dict)
    timers: dict[str, ArmedTimer] = field(default_factory=dict)
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
                    self.timers[name] = ArmedTimer(now, now + delay, owner)
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
            and self.ctx.trace.format is not TraceFormat.DBFSM
        ):
            name = "config-reload"  # SIGHUP
        elif o.kind.endswith("_SHUTDOWN") and self.ctx.trace.format is not TraceFormat.DBFSM:
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
                seconds = None if period is None else integer(period[1])
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
    """What a model observation requires of a trace of its format. A log that begins after
    the server started (a rotated file) need not show the startup."""
    if trace.format is TraceFormat.DBFSM:
        return Expected(found, rules, False, window)
    if found.kind in NOT_IN_KEA_LOGS:
        return None
    if trace.format is TraceFormat.KEA2:
        found = replace(found, kind=_kea2_id(found.kind))
    optional = bool(_KEA_OPTIONAL.search(found.kind))
    optional |= not trace.from_start and found.kind.endswith("_STARTED")
    return Expected(found, rules, optional, window)


def _kea2_id(message_id: str) -> str:
    """Kea 2.x logs the end of a reconnect loop under an exit mode without a FATAL line
    (kea-2x-log-facts.md): DHCP4_FATAL_DB_RECONNECT_FAILED is DHCP4_DB_RECONNECT_FAILED."""
    return message_id.replace("_FATAL_DB_RECONNECT_", "_DB_RECONNECT_")
