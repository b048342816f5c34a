"""`dbfsm simulate`: a scenario against simulated backends on a virtual clock.

A loss is noticed only when the backend is next used, as in Kea: client requests use the
lease and host databases (continuously, periodically, or only at `use` events), and only
while the server serves (a server that does not serve drops requests unread). A request
reaches the lease database, then the host databases in order, and the first broken one
drops it: one loss per request, the next broken backend noticed by a later request; config
backends are used by the configuration poll every `config-fetch-wait-time` seconds and by
`use` events. A broken connection that Kea keeps (reconnect disabled under
serve-retry-continue) is hit again by every later use: at each periodic request or poll, at
each `use` event, and with continuous traffic at each later instant at which anything happens.

Black holes (events `black-hole` and `black-hole-end` of a backend's database server, from
a scenario file or from `dbfsm availability`): a request that reaches an online backend
behind one blocks the server (`VirtualRuntime.block`) for the driver's request timeout, then
the loss is noticed; a black hole that ends first lets the request complete when it ends
(TCP's retransmission gets through: simplified to that instant), with no loss. Opens block
for connect-timeout the same way. While blocked the server serves nothing, whatever on-fail
says (`Simulation.serving`): its `serving` records say so (not serving from the moment it
blocks, serving again once the call has returned, if the engine serves), and the timeline
marks each blocked call, how it ended, and each timer or event that ran late because of it.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

from dbfsm.drivers.simulated import SimulatedDriver, call_limit
from dbfsm.fsm.actions import Action, Notify, ServingChanged, Transitioned
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.graph import BACKEND
from dbfsm.fsm.records import JsonLines, Record, describe, record_of, summary, text_line
from dbfsm.fsm.settings import BackendSettings, Role
from dbfsm.simulation.scenario import Scenario, ScenarioEvent
from dbfsm.simulation.virtual import (
    BLOCKED,
    CLEARED,
    RETURNED,
    Outside,
    Stall,
    VirtualClock,
    VirtualRuntime,
)

_IN_USE = BACKEND.used_by_requests
_KEPT = "abandoned"
_SERVERS_OWN = frozenset({"use", "command"})  # scenario events the server itself handles
_ONLINE = "online"  # the one state with a live connection a black hole can stall
_CONFIG = Role.CONFIG


Sink = Callable[[Record], None]


class NoticeSink(Protocol):
    """A sink that also writes notifications from their actions, without making records of
    them first (`json_sink`: the hot path of a long simulation)."""

    def __call__(self, record: Record, /) -> None: ...
    def notice(self, action: Action, t: float, /) -> None: ...


class Output(Protocol):
    """Where a sink writes: standard output, a file, any text stream."""

    def write(self, text: str, /) -> object: ...


@dataclass(frozen=True)
class Result:
    """How a run ended; with the records and state changes when they were collected."""

    records: tuple[Record, ...]  # including `scenario` markers and the final summary
    transitions: tuple[tuple[float, Transitioned], ...]
    exit_code: int | None
    serving: bool
    state: str

    def timeline(self) -> tuple[Record, ...]:
        """The records of the JSON schema: everything but the scenario markers."""
        return tuple(r for r in self.records if r.type != "scenario")


class Simulation:
    """One run of a scenario. Without a `sink` every record and state change is collected
    into the `Result`; with one, each record goes to the sink as it happens and nothing is
    kept, so a run of any length takes the same memory; a `NoticeSink` is given the
    notifications as actions, to write without records made of them first. Without `markers`,
    no record is made of the scenario's own events (JSON output leaves them out). `observe`,
    if given, is called once startup has settled and after every later step, to read the
    engine and the driver as they are (`dbfsm availability` integrates its state over time).
    Without `repeats`, a broken connection that the engine keeps, once noticed, is not used
    again: every later use would log the loss again and change no state, which is all that
    a run reading only the state (availability) would spend its time on."""

    def __init__(
        self,
        scenario: Scenario,
        sink: Sink | None = None,
        *,
        markers: bool = True,
        observe: Callable[[], None] | None = None,
        repeats: bool = True,
    ):
        self.scenario = scenario
        self.clock = VirtualClock()
        self.driver = SimulatedDriver()
        self._collect = sink is None
        self.engine = Engine(
            scenario.settings,
            clock=self.clock,
            loader=scenario.load_config,
            transitions=self._collect,
        )
        notice = getattr(sink, "notice", None)  # a NoticeSink's
        self.runtime = VirtualRuntime(self.engine, self.driver, self.clock, notice or self._notify)
        self.records: list[Record] = []
        self.transitions: list[tuple[float, Transitioned]] = []
        self._write: Sink = self.records.append if sink is None else sink
        self._markers = markers
        self._request_pending = False
        self._poll_pending = False
        self._last_request = -math.inf
        self._last_poll = -math.inf
        self._used_at: dict[str, float] = {}  # backend -> when a use last found it broken
        self._repeats = repeats
        self._commands = 0
        self._observe = observe
        self._shown_serving: bool | None = None  # the last serving record written
        if any(event.kind == "black-hole" for event in scenario.events):
            self.runtime.notify = self._blockable(self.runtime.notify)
            self.runtime.watcher = self

    def run(self) -> Result:
        scenario = self.scenario
        at_start = [e for e in scenario.events if e.at == 0 and e.kind != "command"]
        for event in at_start:
            self._apply(event)
        self.runtime.execute(self.engine.start())
        self.runtime.run_until(0.0)  # startup settles first: t=0 commands find it done
        observe = self._observe
        if observe is not None:
            observe()
        self.runtime.feed(
            (event.at, self._scheduled(event)) for event in scenario.events if event not in at_start
        )
        self.runtime.run_until(scenario.until, self._observed if observe else self._notice_losses)
        engine = self.engine
        end = self.clock.now
        self._write(summary(end, engine.exit_code, self.serving, engine.state))
        return Result(
            tuple(self.records),
            tuple(self.transitions),
            engine.exit_code,
            self.serving,
            engine.state,
        )

    @property
    def serving(self) -> bool:
        """Whether the server serves clients now: its engine serves and it is not blocked in
        a database call."""
        return self.engine.serving and self.runtime.stall is None

    def _observed(self) -> None:
        self._notice_losses()
        assert self._observe is not None
        self._observe()

    # -- scenario events ----------------------------------------------------------------------

    def _scheduled(self, event: ScenarioEvent) -> Callable[[], None]:
        """The event as the runtime runs it: a request or a command is the server's to
        handle, held while it is blocked; anything else happens to the databases, on time."""
        apply = functools.partial(self._apply, event)
        return apply if event.kind in _SERVERS_OWN else Outside(apply)

    def _apply(self, event: ScenarioEvent) -> None:
        if self._markers:
            self._mark(event.describe() + _lateness(event.at, self.clock.now))
        match event.kind:
            case "down" | "up" | "file-error" | "file-ok":  # a memfile file fails as a server
                assert event.backend is not None
                self.driver.set_up(event.backend, event.kind in ("up", "file-ok"))
            case "schema":
                assert event.backend is not None
                self.driver.set_schema(event.backend, event.version)
            case "black-hole" | "black-hole-end":
                assert event.backend is not None
                self.driver.set_black_hole(event.backend, event.kind == "black-hole")
                if event.kind == "black-hole-end":
                    self.runtime.unblock(event.backend)
            case "tls" | "no-tls":  # read at the next open: a session keeps what it agreed
                assert event.backend is not None
                self.driver.server(event.backend).tls = event.kind == "tls"
            case "use":
                assert event.backend is not None
                self._use(event.backend, client=not event.backend.startswith("config"))
            case "command":
                self._commands += 1
                self.runtime.execute(self.engine.command(event.command, self._commands))

    def _mark(self, text: str) -> None:
        self._write(Record(self.clock.now, "scenario", {"event": text}))

    def _notify(self, action: Action, t: float) -> None:
        if type(action) is Transitioned:  # only while collecting: see the engine's
            self.transitions.append((t, action))
            return
        record = record_of(action, t)
        if record is not None:
            self._write(record)

    # -- blocked calls (black holes) ---------------------------------------------------------

    def _blockable(self, notify: Notify) -> Notify:
        """`notify`, but with the engine's serving changes shown as the server's: not while it
        is blocked in a call, and not twice the same (a stall already showed the stop)."""

        def notified(action: Action, t: float) -> None:
            if type(action) is ServingChanged:
                assert isinstance(action, ServingChanged)
                self._show_serving(action.serving and self.runtime.stall is None, t)
            else:
                notify(action, t)

        return notified

    def _show_serving(self, serving: bool, t: float) -> None:
        if serving != self._shown_serving:
            self._shown_serving = serving
            self._write(Record(t, "serving", {"serving": serving}))

    def stalled(self, stall: Stall, phase: str) -> None:
        """A blocked call begins, ends, or has returned: a marker, and the serving it makes
        (nothing before the engine's first serving notice: startup is not done)."""
        if self._markers and phase != RETURNED:
            self._mark(_stall_words(stall, phase, self.clock.now, self._settings_of(stall)))
        if self._shown_serving is not None and phase in (BLOCKED, RETURNED):
            self._show_serving(self.serving, self.clock.now)

    def late(self, name: str, due: float) -> None:
        if self._markers:
            self._mark(f"timer {name} fires{_lateness(due, self.clock.now)}")

    def _settings_of(self, stall: Stall) -> BackendSettings | None:
        backend = self.engine.server.backends.get(stall.backend)
        return None if backend is None else backend.settings

    # -- noticing losses ----------------------------------------------------------------------

    def _unnoticed(self, config_backends: bool) -> list[str]:
        """Backends whose connection is broken but still in use as if it were fine, or online
        behind a black hole, in the configuration's order. Found from the broken connections
        and the black holes, which are few: a step never goes through every backend."""
        backends = self.engine.server.backends
        found = []
        for key, instance in self.driver.broken_connections:
            b = backends.get(key)
            if (
                b is not None
                and b.instance == instance
                and b.state in _IN_USE
                and (b.settings.role is _CONFIG) == config_backends
            ):
                found.append(key)
        for key in self.driver.black_holes:
            b = backends.get(key)
            if (
                b is not None
                and b.state == _ONLINE
                and (b.settings.role is _CONFIG) == config_backends
                and not self.driver.broken(key, b.instance)
            ):
                found.append(key)
        if len(found) > 1:
            order = {key: i for i, key in enumerate(backends)}
            found.sort(key=order.__getitem__)
        return found

    def _use(self, key: str, client: bool) -> None:
        backend = self.engine.server.backends.get(key)
        if backend is None or backend.state not in _IN_USE:
            return
        if client and not self.engine.serving:
            return
        instance = backend.instance
        if self._lost(key, instance) or backend.state != _ONLINE:
            return
        seconds = self.driver.stall(key, backend.settings, opening=False)
        if seconds is not None:
            timed_out = functools.partial(self._timed_out, key, instance, backend.settings)
            self.runtime.block(
                key, seconds, timed_out, functools.partial(self._lost, key, instance)
            )

    def _lost(self, key: str, instance: int) -> bool:
        """Use the connection; a loss it finds goes to the engine."""
        lost = self.driver.use_now(key, instance)
        if lost is None:
            return False
        self._used_at[key] = self.clock.now
        self.runtime.deliver(lost)
        return True

    def _timed_out(self, key: str, instance: int, settings: BackendSettings) -> None:
        self._used_at[key] = self.clock.now
        self.runtime.deliver(self.driver.use_timed_out(key, instance, settings))

    def _to_use(self, config_backends: bool) -> list[str]:
        """The broken backends the next request (or poll) would use, in order. Without
        `repeats`, a kept connection already noticed is left out, and a request that would
        reach one first uses nothing: its packet is dropped there without a trace."""
        keys = self._unnoticed(config_backends)
        if self._repeats or not keys:
            return keys
        backends = self.engine.server.backends
        # A broken connection still in use once its loss was heard: the backend was given up
        # with it (reconnection disabled under serve-retry-continue).
        noticed = [backends[key].state == _KEPT for key in keys]
        if config_backends:
            return [key for key, seen in zip(keys, noticed, strict=True) if not seen]
        return [] if noticed[0] else keys

    def _notice_losses(self) -> None:
        driver = self.driver
        if not driver.broken_connections and not driver.black_holes:
            return
        if self.engine.exited or self.runtime.stall is not None:
            return
        traffic = self.scenario.traffic
        now = self.clock.now
        serving = self.engine.serving
        if serving and traffic.kind == "continuous":
            self._packets_now()
        periodic = serving and traffic.kind == "periodic" and not self._request_pending
        if periodic and self._to_use(config_backends=False):
            self._request_pending = True
            t = _next_tick(now, traffic.start, traffic.every, self._last_request)
            self.runtime.at(t, self._request)
        configured = self.engine.state in ("serving", "not_serving")
        period = self.engine.settings.config_fetch_wait_time  # 0: Kea schedules no poll
        polls = period > 0 and configured and not self._poll_pending
        if polls and self._to_use(config_backends=True):
            self._poll_pending = True
            self.runtime.at(_next_tick(now, 0.0, period, self._last_poll), self._poll)

    def _packet(self) -> None:
        """One client request: it reaches the lease database, then the host databases in
        the configuration's order, and the first broken one's error drops the packet, so
        the backends after it are not queried (a real Kea 2.2 logs one loss per packet)."""
        unnoticed = self._to_use(config_backends=False)
        if unnoticed:
            self._use(unnoticed[0], client=True)

    def _packets_now(self) -> None:
        """Continuous traffic: packets back to back at this instant, until one gets through
        or blocks the server, the server stops serving, or the next one would be dropped by
        a backend that a packet of this instant has already found broken (a kept broken
        connection)."""
        now = self.clock.now
        while self.engine.serving and not self.engine.exited:
            unnoticed = self._to_use(config_backends=False)
            if not unnoticed or self._used_at.get(unnoticed[0]) == now:
                return
            self._use(unnoticed[0], client=True)
            if self._used_at.get(unnoticed[0]) != now:  # nothing found: no second packet
                return

    def _request(self) -> None:
        self._request_pending = False
        self._last_request = self.clock.now
        self._packet()

    def _poll(self) -> None:
        self._poll_pending = False
        self._last_poll = self.clock.now
        for key in self._to_use(config_backends=True):
            if self.runtime.stall is not None:
                return  # blocked in one: the next poll reaches the others
            self._use(key, client=False)


def _lateness(due: float, now: float) -> str:
    """How late something due at `due` runs at `now` ("" when on time)."""
    if now <= due:
        return ""
    return f" ({now - due:g} s late, due at {due:g}s: the server was blocked)"


def _stall_words(stall: Stall, phase: str, now: float, settings: BackendSettings | None) -> str:
    """The timeline's line for a blocked call beginning (`BLOCKED`) or ending."""
    if phase == BLOCKED:
        where = "opening it" if stall.opening else "in a request to it"
        return (
            f"{stall.backend} does not answer: the server is blocked {where}, serving nothing, "
            f"for up to {_limit(stall, settings)} or until the black hole ends"
        )
    call, waited = "open" if stall.opening else "request", f"{now - stall.since:g} s"
    if phase == CLEARED:
        return f"{stall.backend} answers again: the blocked {call} completes after {waited}"
    return f"{stall.backend}: the {call} times out after {waited}"


def _limit(stall: Stall, settings: BackendSettings | None) -> str:
    """How long a blocked call may last, and what says so (`call_limit`)."""
    if settings is None:
        return f"{stall.seconds:g} s"
    return f"{stall.seconds:g} s ({call_limit(settings, opening=stall.opening)[1]})"


def _next_tick(now: float, start: float, every: float, last: float = -math.inf) -> float:
    """The first time `start + k * every` (k >= 0) that is not before `now` and comes after
    `last` (the tick that already ran: a kept broken connection is used once per tick)."""
    if now <= start and start > last:
        return start
    k = math.ceil((now - start) / every - 1e-9)
    t = start + max(k, 0) * every
    return t + every if t <= last else t


def run(scenario: Scenario, sink: Sink | None = None, *, markers: bool = True) -> Result:
    """Run `scenario`; records are collected into the result, or passed to `sink`."""
    return Simulation(scenario, sink, markers=markers).run()


def builtin_example(name: str) -> str:
    """The example's path, relative to the working directory when it lies below it."""
    path = str(resources.files("dbfsm") / "examples" / f"{name}.yaml")
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


class _JsonSink:
    def __init__(self, out: Output) -> None:
        self._write = out.write
        self._lines = JsonLines()

    def __call__(self, record: Record) -> None:
        if record.type != "scenario":
            self._write(self._lines.line(record))

    def notice(self, action: Action, t: float) -> None:
        line = self._lines.notice(action, t)
        if line is not None:
            self._write(line)


def json_sink(out: Output) -> NoticeSink:
    """Write each record of the JSON schema (scenario markers are not) as a JSON line."""
    return _JsonSink(out)


def text_sink(out: Output, *, collapse_repeats: bool = False) -> Sink:
    """Write each record as a line of the timeline; with `collapse_repeats`, an instant whose
    lines repeat those of the instant before is counted instead of written."""
    if collapse_repeats:
        return _CollapsingSink(out)
    write = out.write

    def sink(record: Record) -> None:
        write(text_line(record))

    return sink


class _CollapsingSink:
    """Lines are held per instant; an instant that says what the one before said (a kept
    broken connection logging its loss at every request) adds to a count, written as one
    line when something else happens, and at the end."""

    def __init__(self, out: Output) -> None:
        self._write = out.write
        self._instant: list[Record] = []
        self._shown: list[str] = []  # the last instant written, without its times
        self._repeats = 0
        self._last_repeat = 0.0

    def __call__(self, record: Record) -> None:
        if self._instant and record.t != self._instant[0].t:
            self._close_instant()
        if record.type == "summary":  # the last record: not part of any instant's lines
            self._close_instant()
            self._flush_repeats()
            self._write(text_line(record))
            return
        self._instant.append(record)

    def _close_instant(self) -> None:
        if not self._instant:
            return
        lines = [describe(r) for r in self._instant]
        if lines == self._shown:
            self._repeats += 1
            self._last_repeat = self._instant[0].t
        else:
            self._flush_repeats()
            self._write("".join(map(text_line, self._instant)))
            self._shown = lines
        self._instant = []

    def _flush_repeats(self) -> None:
        if self._repeats:
            n, times = len(self._shown), "time" if self._repeats == 1 else "times"
            above = "the line above" if n == 1 else f"the {n} lines above"
            self._write(
                f"{self._last_repeat:9.3f}s  ... {above} repeated {self._repeats} more "
                f"{times}, the last at {self._last_repeat:g}s\n"
            )
            self._repeats = 0
