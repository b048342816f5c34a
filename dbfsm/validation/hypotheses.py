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

Kea is single-threaded: a database call it waits in blocks the whole server (a backend behind
a black hole, `dbfsm.simulation.virtual`). A `Stall` is that hypothesis: the server is blocked
in a request on a backend's connection (`Blocks`) or in opening it, for at most the call's limit
as the simulated driver computes it (`call_limit`), serving nothing, showing nothing of its
own; it then times out (the loss, at the limit; the failed open) or
returns earlier (`Returns`; the open's answer), and the timers that came due meanwhile fire
then. In dbfsm's records a stall shows as the server not serving while the engine serves;
a Kea log shows none of it, so a stall is also tried where a timer fires too late to explain
otherwise. Every open is answered within its connect-timeout (plus the tolerance); Kea opens
one backend at a time, so a pending open's time counts from the end of the call before it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from dbfsm.drivers.simulated import call_limit, request_timeout
from dbfsm.files.reading import load_file
from dbfsm.fsm.actions import (
    Action,
    CancelTimer,
    Close,
    Open,
    ServingChanged,
    StartTimer,
    Transitioned,
)
from dbfsm.fsm.engine import Engine, UnexpectedEvent
from dbfsm.fsm.events import Command, Event, Lost, Opened, OpenFailed, TimerFired
from dbfsm.fsm.graph import BACKEND, GRAPHS
from dbfsm.fsm.records import Record, record_of
from dbfsm.fsm.settings import DbType, Role, ServerSettings
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
    """When the outputs of a timer (or of a blocked call's end) may show: from its due time
    to the tolerance after; `since` and `wait` say, in a report, what it counts from."""

    armed: float
    due: float
    latest: float
    since: str = "the timer was started"
    wait: str = ""

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
class Blocks:
    """The server blocks in a call to `backend` that its database server does not answer:
    a request on the connection `instance`, or (`opening`) the open of it it is making."""

    backend: str
    instance: int
    opening: bool = False


@dataclass(frozen=True)
class Returns:
    """The request the server is blocked in completes (the black hole ended first)."""

    backend: str


@dataclass(frozen=True)
class Stall:
    """The call the server is blocked in since `since`, for at most `limit` seconds."""

    backend: str
    instance: int
    opening: bool
    since: float
    limit: float
    parameter: str  # what sets the limit, for a report
    # Whether the records show it (the server seen to stop serving); a stall they do not show
    # (any in a Kea log) must show its end: a request's, only by timing out (the loss).
    shown: bool = False

    @property
    def deadline(self) -> float:
        return self.since + self.limit

    def ended_by(self, event: Event) -> bool:
        """Whether `event` is the call's end: the open's answer, the request's loss."""
        if not isinstance(event, Opened | OpenFailed | Lost):
            return False
        return (event.backend, event.instance) == (self.backend, self.instance)

    def window(self, tolerance: float, timed_out: bool) -> Window:
        """When what the call's end makes may show: a timeout at its limit, else any time
        before (an open's answer, a black hole's end), at most the tolerance late."""
        call = "opening" if self.opening else "in a request to"
        verb = "the open" if self.opening else "the request"
        limit = f"{verb} times out after {self.limit:g}s ({self.parameter})"
        if timed_out:
            wait = f"{limit}, no sooner: its loss shows at most {tolerance:g}s later"
        else:
            wait = f"{limit}: the server is blocked at most that long, plus {tolerance:g}s"
        due = self.deadline if timed_out else self.since
        since = f"the server blocked {call} {self.backend}"
        return Window(self.since, due, self.deadline + tolerance, since, wait)


Input = Event | Blocks | Returns


@dataclass(frozen=True)
class Candidate:
    """An input to try next: what, when, and for a timer the window its outputs must fit;
    `then_blocks`: the server then blocks in the open the input makes it ask for."""

    t: float
    event: Input
    window: Window | None = None
    then_blocks: bool = False


class _NoSuchStep(Exception):
    """A candidate that turns out to explain nothing (no open to block in)."""


@dataclass(frozen=True)
class ArmedTimer:
    """A timer the engine asked for: when it was started and when it is due, and if it came
    due while the server was blocked, when the server was free again (it fires after that)."""

    armed: float
    due: float
    backend: str | None  # whose reconnect timer it is, if a backend's
    held: float | None = None

    def window(self, tolerance: float) -> Window:
        wait = (
            f"the model waits {self.due - self.armed:.3f}s (reconnect-wait-time) and a timer "
            f"fires at most {tolerance:g}s late"
        )
        if self.held is None:
            return Window(self.armed, self.due, self.due + tolerance, wait=wait)
        wait += f", here once the server was free again at {self.held:.3f}s"
        return Window(self.armed, self.due, max(self.due, self.held) + tolerance, wait=wait)

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
    # When each pending open could begin: when it was asked for, or the server was free again.
    begun: dict[tuple[str, int], float] = field(default_factory=dict)
    stall: Stall | None = None  # the call the server is blocked in, if any
    shown_serving: bool | None = None  # as the records show it: the engine's, unless blocked

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
        clock.now = self.clock.now  # a stall may have begun or ended since the last input
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
            replace(self.counts),
            dict(self.begun),
            self.stall,
            self.shown_serving,
        )

    # -- driving the engine ---------------------------------------------------------------------

    def apply(self, candidate: Candidate) -> None:
        event = candidate.event
        self.clock.now = candidate.t
        self.causes = (*self.causes, _cause(event))
        if isinstance(event, Blocks):
            self._block(event)
            self._show_serving(candidate.window)
            return
        if isinstance(event, Returns):
            self._unblock()
            self._show_serving(candidate.window)
            return
        self.inputs.append((candidate.t, event))
        if self.stall is not None and self.stall.ended_by(event):
            self._unblock()  # the call returns: a server running again handles its end
        if isinstance(event, Opened | OpenFailed):
            request = self.opens.pop((event.backend, event.instance))
            self.begun.pop((event.backend, event.instance), None)
            self.counts.attempts += request.attempt is not None
            self._free()  # one call at a time: the other opens come after this one
        elif isinstance(event, TimerFired):
            self.timers.pop(event.name, None)
        asked = set(self.opens)
        self._absorb(self.engine.handle(event), candidate.window)
        if candidate.then_blocks:
            new = [key for key in self.opens if key not in asked]
            if not new:
                raise _NoSuchStep
            self._block(Blocks(*new[0], opening=True))
        self._show_serving(candidate.window)

    def _block(self, blocks: Blocks) -> None:
        """The server is blocked in a call from now on, for at most the call's limit."""
        settings = self.engine.backends[blocks.backend].settings
        limit, parameter = call_limit(settings, opening=blocks.opening)
        now, shown = self.clock.now, self._serving_shown() and self.engine.serving
        self.stall = Stall(
            blocks.backend, blocks.instance, blocks.opening, now, limit, parameter, shown
        )

    def _unblock(self) -> None:
        """The call the server was blocked in has returned: what came due meanwhile runs now."""
        self.stall = None
        now = self.clock.now
        for name, timer in self.timers.items():
            if timer.due < now:
                self.timers[name] = replace(timer, held=now)
        self._free()

    def _free(self) -> None:
        """The server is free for its next call now: a pending open begins no earlier."""
        now = self.clock.now
        for key, begun in self.begun.items():
            self.begun[key] = max(begun, now)

    def _serving_shown(self) -> bool:
        """Whether the trace shows the server serving now (only dbfsm's records show it)."""
        return self.ctx.trace.format is TraceFormat.DBFSM and self.shown_serving is True

    def _show_serving(self, window: Window | None) -> None:
        """A serving record if what the records show has changed (a stall began or ended)."""
        if self.shown_serving is None:  # startup is not done: nothing to change yet
            return
        self._serving_record(self.engine.serving, None, self.rules, window)

    def _serving_record(
        self, serving: bool, owner: str | None, rules: tuple[str, ...], window: Window | None
    ) -> None:
        """A serving record if what the records show changes: the engine's `serving`, but a
        server blocked in a call does not serve."""
        shown = serving and self.stall is None
        if shown != self.shown_serving:
            self.shown_serving = shown
            record = record_of(ServingChanged(shown), self.clock.now)
            assert record is not None
            self._expect(record, owner, rules, window)

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
                    self.begun[(backend, instance)] = now
                    self.instances[backend] = instance
                case Close(backend, instance):
                    self.opens.pop((backend, instance), None)
                    self.begun.pop((backend, instance), None)
                case StartTimer(name, delay):
                    self.timers[name] = ArmedTimer(now, now + delay, owner)
                case CancelTimer(name):
                    self.timers.pop(name, None)
                case ServingChanged(serving):
                    self._serving_record(serving, owner, rules, window)
                case _:
                    record = record_of(action, now)
                    if record is not None:
                        self._expect(record, owner, rules, window)

    def _expect(
        self, record: Record, owner: str | None, rules: tuple[str, ...], window: Window | None
    ) -> None:
        found = observe(record, self.ctx.settings)
        if found is None:
            return
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
            f"{when}: {o.t - window.armed:.3f}s after {window.since} at {window.armed:.3f}s; "
            f"{window.wait}"
        )
        shown = f"{e.obs.shown} between {window.due:.3f}s and {window.latest:.3f}s"
        return self._fail(self.at, shown, e.rules, reason)

    def _idle(self) -> str:
        states = ", ".join(f"{k} {s}" for k, s in self.engine.backend_states().items())
        stall = self.stall
        if stall is not None:
            call = "opening" if stall.opening else "in a request to"
            states += f"; blocked {call} {stall.backend} since {stall.since:.3f}s"
        return f"nothing more on its own (server {self.engine.state}; {states or 'no backends'})"

    def _candidates(self, o: Observation) -> list[Candidate]:
        """Every input that could come next, those that can explain `o` first; when none
        can, all of them, so that a failure reports everything the model allowed."""
        if self.stall is not None:  # blocked: nothing happens before the call returns
            return self._stall_ends(o.t, o)
        overdue = self._overdue(o.t, o)
        if overdue is not None:
            return overdue
        likely: list[Candidate] = [Candidate(o.t, c) for c in self._commands(o)]
        unlikely: list[Candidate] = []
        if o.kind == "serving" and o.details == (False,) and self.engine.serving:
            likely += self._blocks(o.t)  # not serving while the engine serves: blocked
        for name, timer in self.timers.items():
            fired = timer.fire(name, o.t, self.ctx.tolerance)
            lost_again = timer.backend is None or _about(o, "_LOST_CONNECTION", timer.backend)
            (likely if lost_again else unlikely).append(fired)
        for (backend, instance), request in self.opens.items():
            opened, failed, mismatch = self._answers(backend, instance, o.t)
            if request.attempt is None:  # answers while configuring may go unseen
                likely += [opened, failed, mismatch]
                continue
            (likely if _answers_attempt(o, backend, True) else unlikely).append(opened)
            (likely if _answers_attempt(o, backend, False) else unlikely).append(failed)
        if o.kind.endswith("_LOST_CONNECTION") or not self._configured():
            for backend, state in self.engine.backend_states().items():
                if state in _NOTICEABLE and (o.backends is None or backend in o.backends):
                    likely.append(Candidate(o.t, Lost(backend, self.instances[backend])))
        return likely or unlikely

    def _answers(self, backend: str, instance: int, t: float) -> list[Candidate]:
        """A pending open's answers (it opens; it fails; another schema version) at `t`, or
        if that is too late, as late as they may come: within connect-timeout. (Not at
        once: `dbfsm run`'s runtime opens without blocking, and serves meanwhile.)"""
        window = self._open_window(backend, instance)
        at = max(self.clock.now, min(t, window.latest))
        return [
            Candidate(at, Opened(backend, instance), window),
            Candidate(at, OpenFailed(backend, instance, _DRIVER_ERROR), window),
            Candidate(at, OpenFailed(backend, instance, _DRIVER_ERROR, True), window),
        ]

    def _open_window(self, backend: str, instance: int) -> Window:
        begun = self.begun[(backend, instance)]
        limit, parameter = call_limit(self.opens[(backend, instance)].settings, opening=True)
        since = f"the open of {backend} began"
        tolerance = self.ctx.tolerance
        wait = f"an open times out after {limit:g}s ({parameter}): answered within that, "
        wait += f"plus {tolerance:g}s"
        return Window(begun, begun, begun + limit + tolerance, since, wait)

    def _blocks(self, t: float, o: Observation | None = None) -> list[Candidate]:
        """The calls the server can block in from `t`: a request on a connection that is up
        (a client's to the lease and host databases while it serves, the configuration
        poll's to a config backend) unless it is in an open (one asked for just now waits
        for the request), or the open it has just asked for. A request that `o` shows
        timing out (its loss) began its limit before, if that is after `now`."""
        found = []
        now = self.clock.now
        opening = any(begun < now for begun in self.begun.values())  # in an open since then
        for key, backend in () if opening else self.engine.backends.items():
            if backend.state != _ONLINE or backend.settings.type is DbType.MEMFILE:
                continue
            if backend.settings.role is not Role.CONFIG and not self.engine.serving:
                continue
            begins = t
            if o is not None and _about(o, "_LOST_CONNECTION", key):
                begins = max(self.clock.now, min(t, o.t - request_timeout(backend.settings)))
            window = Window(
                begins, begins, begins + self.ctx.tolerance, "the server blocked", _SEEN
            )
            found.append(Candidate(begins, Blocks(key, backend.instance), window))
        for (key, instance), request in self.opens.items():
            if request.settings.type is DbType.MEMFILE or self.begun[(key, instance)] != now:
                continue  # (an open that other inputs came after was not blocking them)
            window = Window(now, now, now + self.ctx.tolerance, "the server blocked", _SEEN)
            found.append(Candidate(now, Blocks(key, instance, opening=True), window))
        return found

    def _stall_ends(self, t: float, o: Observation | None) -> list[Candidate]:
        """How the call the server is blocked in can end, by `t` (the next observation's
        time, or the trace's end) or at its limit: an open is answered; a request times out
        (the loss, at its limit; the server may then block in the attempt it makes) or
        completes (the black hole ended first)."""
        stall = self.stall
        assert stall is not None
        tolerance = self.ctx.tolerance
        at = max(self.clock.now, min(t, stall.deadline))
        key = (stall.backend, stall.instance)
        if stall.opening:
            window = stall.window(tolerance, timed_out=False)
            answers = [
                Candidate(at, Opened(*key), window),
                Candidate(at, OpenFailed(*key, _DRIVER_ERROR), window),
            ]
            if self.opens[key].attempt is None:
                answers.append(Candidate(at, OpenFailed(*key, _DRIVER_ERROR, True), window))
            elif o is not None and _answers_attempt(o, stall.backend, False):
                answers.reverse()
            return answers
        lost = Lost(*key)
        window = stall.window(tolerance, timed_out=True)
        timeouts = [
            Candidate(stall.deadline, lost, window, then_blocks=True),
            Candidate(stall.deadline, lost, window),
        ]
        if not stall.shown:  # nothing would show that it ever happened
            return timeouts[::-1]
        returns = [Candidate(at, Returns(stall.backend), stall.window(tolerance, False))]
        if o is not None and _about(o, "_LOST_CONNECTION", stall.backend):
            return timeouts + returns
        return returns + timeouts

    def _overdue(self, t: float, o: Observation | None = None) -> list[Candidate] | None:
        """What must have happened before `t`, as late as it may: the first timer due, fired
        (or instead a call that blocked the server from when it came due, holding it); or
        the answer to an open, or instead the server blocking in it (so it may take longer)."""
        tolerance = self.ctx.tolerance
        late: list[tuple[float, str, str, int]] = [
            (timer.window(tolerance).latest, "timer", name, 0)
            for name, timer in self.timers.items()
        ]
        late += [(self._open_window(*key).latest, "open", *key) for key in self.opens]
        due = sorted(entry for entry in late if entry[0] < t - RESOLUTION)
        if not due:
            return None
        latest, what, name, instance = due[0]
        if what == "open":
            blocks = Blocks(name, instance, opening=True)
            answers = self._answers(name, instance, latest)
            if self.opens[(name, instance)].attempt is not None:
                answers = answers[:2]
            return answers + [c for c in self._blocks(self.clock.now) if c.event == blocks]
        timer = self.timers[name]
        fired = timer.fire(name, latest, tolerance)
        if timer.held is not None:
            return [fired]
        return [fired, *self._blocks(max(self.clock.now, timer.due), o)]

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
        stall = self.stall
        if stall is not None and not self.engine.exited:
            if stall.deadline < end - RESOLUTION:  # the call has returned by then
                return self._stall_ends(end, None)
        else:
            overdue = None if self.engine.exited else self._overdue(end)
            if overdue is not None:
                return overdue
        wanted = self.ctx.exit_code
        if wanted is None or self.engine.exit_code == wanted:
            return None
        if self.engine.exited:
            shown = f"exit code {self.engine.exit_code}"
            return self._fail(at, shown, reason=f"the run ended with exit code {wanted}")
        if stall is not None:
            return self._stall_ends(end, None)
        candidates = [c for b, i in self.opens for c in self._answers(b, i, end)[1::-1]]
        if candidates:
            return candidates
        return self._fail(at, self._idle(), reason=f"the run ended with exit code {wanted}")

    def children(self, candidates: list[Candidate]) -> Iterator[Branch]:
        """One branch per candidate; the last one reuses this branch's engine."""
        for index, candidate in enumerate(candidates):
            branch = self if index == len(candidates) - 1 else self.fork()
            try:
                branch.apply(candidate)
            except (UnexpectedEvent, _NoSuchStep):
                continue  # the graph takes no such input here: it explains nothing
            yield branch


# Where a backend goes when a loss starts a recovery episode (or ends it at once).
_EPISODES = frozenset({"reconnecting", "fatal", "abandoned"})
# Backend states in which a request can find the connection broken.
_NOTICEABLE = BACKEND.used_by_requests
_ONLINE = "online"  # the one state with a live connection a request can block on
_SEEN = "a server that blocks stops serving at once"


def _cause(event: Input) -> str:
    """An input, as a report names it."""
    match event:
        case Blocks(backend, _, True):
            return f"the server blocks opening {backend}"
        case Blocks(backend):
            return f"the server blocks in a request to {backend}"
        case Returns(backend):
            return f"the request to {backend} completes"
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
