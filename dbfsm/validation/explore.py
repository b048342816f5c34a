"""One engine in a bounded world, stepped one event at a time: what `dbfsm verify` explores.

The world is the one `dbfsm simulate` runs with `traffic: none`: simulated database servers
(`drivers.simulated`) that go down and come back, a request that notices a broken connection
only when a `use` event makes one, reconnect timers, and the control channel. A `WorldStep` is one
thing that can happen next; `World.enabled()` lists them and `World.apply()` performs one.
As in `dbfsm simulate`, the driver answers every `Open` as the server is at that moment, and
the answers run before anything later; events of the same instant, though, all come before
the answers they cause: after a request or a command, more events of that instant may come
(another command, a fault) before the step `answer` delivers them.

Time. Every reconnect timer has the same delay, so timers fire in the order they were armed;
`fire` always fires the first. Other steps take an instant of their own, as short as needed:
the state records only the order of pending timers and which of them were armed at the same
instant (those fire together: nothing can come between them). `t_ms` is the time the reconnect
loop sees (the instant of the last timer fired); `dbfsm.counterexample` gives every step of a
path its exact time. The checker (`dbfsm.invariants`) watches every call into the engine.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from dbfsm.drivers.simulated import SimulatedDriver
from dbfsm.fsm import forks
from dbfsm.fsm.actions import Action, CancelTimer, Close, Open, StartTimer
from dbfsm.fsm.backend import Backend
from dbfsm.fsm.config import from_document
from dbfsm.fsm.engine import Engine, UnexpectedEvent
from dbfsm.fsm.errors import InputError
from dbfsm.fsm.events import Command, Event, TimerFired
from dbfsm.fsm.graph import BACKEND
from dbfsm.fsm.settings import DB_CONNECTION_ORIGIN, Role, ServerSettings
from dbfsm.validation.invariants import LifecycleChecker

Request = Callable[[Mapping[str, Any]], dict[str, Any]]


def _invalid(document: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration with an `on-fail` value Kea rejects: config-set must refuse it."""
    root = next(iter(document))
    server = dict(document[root])
    server["lease-database"] = {**server.get("lease-database", {}), "on-fail": "retry-forever"}
    return {root: server}


# The commands a run may send, by name; each gets the configuration under test.
COMMANDS: Mapping[str, Request] = {
    "config-set": lambda doc: {"command": "config-set", "arguments": dict(doc)},
    "config-set-invalid": lambda doc: {"command": "config-set", "arguments": _invalid(doc)},
    "dhcp-disable": lambda doc: {"command": "dhcp-disable"},
    "dhcp-enable": lambda doc: {"command": "dhcp-enable"},
    "shutdown": lambda doc: {"command": "shutdown"},
}


class WorldStep(NamedTuple):
    """`start`; `down`/`up`/`use` of a backend; `fire` of the first timer (named by its
    backend); `command` by its name in `COMMANDS`; `answer`: the driver's answers due.
    A tuple: the explorer hashes one for every edge of the state graph."""

    kind: str
    target: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.target}".strip()

    @property
    def drives_engine(self) -> bool:
        """Whether the step calls the engine (`down` and `up` change only the servers)."""
        return self.kind not in ("down", "up")

    @property
    def rank(self) -> int:
        """Steps in this order leave the state unchanged first, and shutdown last: the
        explorer tries them on one world for as long as they lead back to the same state."""
        return _RANKS.get(self.target if self.kind == "command" else self.kind, 4)


_RANKS = {
    "down": 0,
    "up": 0,
    "config-set-invalid": 1,
    "dhcp-enable": 2,
    "dhcp-disable": 3,
    "config-set": 5,
    "shutdown": 6,
}


_USED = BACKEND.used_by_requests

START = WorldStep("start")
ANSWER = WorldStep("answer")
EXTERNAL = frozenset({"down", "up", "use", "command"})


class Summary(NamedTuple):
    """What the checks after exploration read of a state."""

    state: str
    serving: bool
    backends: tuple[tuple[str, str, int], ...]  # key, state, retries left
    command_origins: bool
    exit_cause: str
    down: tuple[str, ...]


@dataclass(frozen=True)
class Setup:
    """What a world is made of: the configuration, the commands that may be sent, and how many
    more events may come in the instant of a request or command before the driver's answers
    to it (a bound: each one multiplies the states)."""

    settings: ServerSettings
    document: Mapping[str, Any]
    commands: tuple[str, ...] = tuple(COMMANDS)
    same_instant: int = 1

    @classmethod
    def of(cls, document: Mapping[str, Any], **options: Any) -> Setup:
        return cls(from_document(document), document, **options)


class Violation(Exception):
    """An invariant broken by a step (or an error the engine raised on it)."""


@dataclass(frozen=True)
class PendingTimer:
    """A reconnect timer armed and not yet fired or cancelled: its place among the others."""

    due_ms: int
    order: int  # arming order: the first armed fires first among equal due times
    instant: int  # timers armed at the same instant fire together


@dataclass
class StepLog:
    """The timers one step armed and ended (fired or cancelled), for timing a path."""

    step: WorldStep
    armed: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    together: bool = False  # at the same instant as the step before


class World:
    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.keys = tuple(b.key for b in setup.settings.backends)
        self.t_ms = 0
        self.engine = Engine(setup.settings, clock=self._now)
        self.driver = SimulatedDriver()
        self.checker = LifecycleChecker()
        self.calls = 0
        self.started = False
        self.log: list[StepLog] = []
        self._timers: dict[str, PendingTimer] = {}
        self._order = 0  # timers armed so far
        self._instants = 0  # instants begun so far; the current one is `_instant`
        self._instant = 0
        self._expiring: int | None = None  # arming instant of the timers expiring now
        self._ids = 0
        self._answers: deque[Event] = deque()  # the driver's answers not yet delivered
        self._events_since = 0  # events that came after the step whose answers are due
        self.engine.subscribe(self._on_action)

    def fork(self) -> World:
        """A world in the same state that shares nothing either one changes later: how the
        explorer branches, instead of replaying the path to a state on a new world."""
        twin = forks.twin(self)
        twin.engine = self.engine.fork(clock=twin._now)
        twin.engine.subscribe(twin._on_action)
        twin.driver = SimulatedDriver()
        twin.driver.restore(self.driver.snapshot())
        twin.checker = self.checker.fork()
        twin.log = list(self.log)  # a step's log is complete once the step is: shared
        twin._timers = dict(self._timers)
        twin._answers = deque(self._answers)
        return twin

    def close(self) -> None:
        """Let this world go (the explorer is done with it): its engine is freed at once
        instead of by the cycle collector (`Engine.close`). The world cannot be used again."""
        self.engine.close()

    def _now(self) -> float:
        return self.t_ms / 1000

    @property
    def now_ms(self) -> int:
        return self.t_ms

    @property
    def answers_due(self) -> bool:
        """Whether the driver's answers of this instant are still to be delivered."""
        return bool(self._answers)

    # -- what can happen next -----------------------------------------------------------------

    def enabled(self) -> list[WorldStep]:
        if not self.started:
            return [*(WorldStep("down", k) for k in self.keys if self.driver.server(k).up), START]
        if self.engine.exited:
            return []
        first = self._first_timer()
        fire = [WorldStep("fire", self._owner(first))] if first is not None else []
        if first is not None and self._due_now(first):
            return fire  # armed with the one just fired: it fires before anything else
        if self._answers:  # more events of this instant, or the answers
            more = self._events_since < self.setup.same_instant
            return [*(self._external() if more else ()), ANSWER]
        return [*self._external(), *fire]

    def _external(self) -> list[WorldStep]:
        steps = [WorldStep("up" if not self.driver.server(k).up else "down", k) for k in self.keys]
        steps += [WorldStep("use", k) for k in self._noticeable()]
        return [*steps, *(WorldStep("command", name) for name in self.setup.commands)]

    def peek(self, step: WorldStep) -> tuple[object, ...]:
        """The key after a step that only changes the database servers, leaving this world
        as it was: no engine call, so it is tried without a fork."""
        assert not step.drives_engine
        saved = (
            self.driver.snapshot(),
            self._expiring,
            self._instant,
            self._instants,
            self._events_since,
        )
        self.apply(step)
        after = self.key()
        (
            servers,
            self._expiring,
            self._instant,
            self._instants,
            self._events_since,
        ) = saved
        self.driver.restore(servers)
        self.log.pop()
        return after

    def apply(self, step: WorldStep) -> None:
        """Perform one step; raises `Violation` when an invariant breaks."""
        self.log.append(StepLog(step))
        try:
            self._apply(step)
        except AssertionError as err:
            raise Violation(str(err)) from None
        except (InputError, UnexpectedEvent) as err:
            raise Violation(f"engine: {type(err).__name__}: {err}") from None
        except Exception as err:  # a crash is a finding too, with the path that leads to it
            raise Violation(f"crash: {type(err).__name__}: {err}") from err
        self._check_progress()

    def _apply(self, step: WorldStep) -> None:
        expiring, self._expiring = self._expiring, None
        together = bool(self._answers)  # events and answers of the instant still going on
        self.log[-1].together = together
        if step.kind in EXTERNAL:
            self._events_since = self._events_since + 1 if together else 0
        if step.kind in EXTERNAL and not together:
            self._new_instant()
        match step.kind:
            case "start":
                self.started = True
                self._call("start", self.engine.start)
                self._answer()
            case "answer":
                self._answer()
            case "down" | "up":
                self.driver.set_up(step.target, step.kind == "up")
            case "use":
                backend = self.engine.server.backends[step.target]
                lost = self.driver.use_now(step.target, backend.instance)
                assert lost is not None, f"model: {step} finds nothing broken"
                self._deliver(lost)
            case "fire":
                name, timer = self._first_timer_item()
                del self._timers[name]
                self.log[-1].ended.append(name)
                self.t_ms = max(self.t_ms, timer.due_ms)
                if expiring != timer.instant:
                    self._new_instant()
                self._expiring = timer.instant
                self._deliver(TimerFired(name))
                following = self._first_timer()
                if following is None or not self._due_now(following):
                    self._answer()  # else the timers due now all fire before any answer
            case "command":
                self._ids += 1
                request = COMMANDS[step.target](self.setup.document)
                self._deliver(Command(request, self._ids))
            case _:
                raise ValueError(f"unknown step {step}")

    # -- the abstract state -------------------------------------------------------------------

    def key(self) -> tuple[object, ...]:
        """The state without time: two worlds with equal keys have the same futures."""
        e = self.engine
        if e.exited:
            return ("exited", e.exit_code, self.checker.exit_cause)
        server = e.server
        backends = tuple(
            (
                k,
                b.state,
                b.retries_left,
                b.config_applied,
                b.startup_retry,
                b.schema_mismatch,
                self.driver.broken(k, b.instance),
            )
            for k, b in server.backends.items()
        )
        timers: list[tuple[str, bool]] = []
        previous: PendingTimer | None = None
        ordered = self._ordered_timers()
        for name, timer in ordered:
            tied = previous is not None and previous.instant == timer.instant
            timers.append((self._owner(name), tied))
            previous = timer
        first = ordered[0][0] if ordered else None
        return (
            self.started,
            e.state,
            backends,
            tuple(k for k in self.keys if not self.driver.server(k).up),
            tuple(sorted(server.origins.items())),
            tuple(timers),
            first is not None and self._due_now(first),
            tuple(self._pending_answer(a) for a in self._answers),
            self._events_since if self._answers else 0,
            server.current is not None,
            server.reply is not None,
            e.posted_work(),
            self.checker.fingerprint(e),
        )

    def summary(self) -> Summary:
        e = self.engine
        backends = tuple((k, b.state, b.retries_left) for k, b in e.server.backends.items())
        return Summary(
            e.state,
            e.serving,
            backends,
            any(o < DB_CONNECTION_ORIGIN for o in e.server.origins.values()),
            self.checker.exit_cause,
            tuple(k for k in self.keys if not self.driver.server(k).up),
        )

    # -- internals ----------------------------------------------------------------------------

    def _check_progress(self) -> None:
        """No deadlock: once the step's answers are in, nothing waits for what cannot come."""
        e = self.engine
        if not self.started or e.exited or self._answers:
            return
        problem = _progress_problem(e, set(self._timers))
        if problem:
            raise Violation(f"no deadlock: {problem}")

    def _pending_answer(self, answer: Event) -> tuple[str, str]:
        backend = self.engine.server.backends.get(getattr(answer, "backend", ""))
        current = backend is not None and backend.instance == getattr(answer, "instance", -1)
        return (type(answer).__name__, backend.key if backend and current else "stale")

    def _noticeable(self) -> list[str]:
        """Backends a `use` event would find broken: lease and host databases only while the
        server serves (a server that does not serve drops requests unread); abandoned ones
        too while they keep a broken connection (each use logs the loss again)."""
        e = self.engine
        return [
            k
            for k, b in e.server.backends.items()
            if b.state in _USED
            and self.driver.broken(k, b.instance)
            and (e.serving or b.settings.role is Role.CONFIG)
        ]

    def _ordered_timers(self) -> list[tuple[str, PendingTimer]]:
        return sorted(self._timers.items(), key=lambda item: (item[1].due_ms, item[1].order))

    def _first_timer_item(self) -> tuple[str, PendingTimer]:
        return self._ordered_timers()[0]

    def _first_timer(self) -> str | None:
        return self._first_timer_item()[0] if self._timers else None

    def _due_now(self, name: str) -> bool:
        return self._timers[name].instant == self._expiring

    def _new_instant(self) -> None:
        self._instants += 1
        self._instant = self._instants

    def _owner(self, name: str) -> str:
        owner = self.engine.server.timers.get(name)
        return owner.key if isinstance(owner, Backend) else name

    def _deliver(self, event: Event) -> None:
        self._call(event, lambda: self.engine.handle(event))

    def _answer(self) -> None:
        """Deliver the driver's answers in order, and those they cause, until none is left."""
        while self._answers and not self.engine.exited:
            self._deliver(self._answers.popleft())
        self._answers.clear()

    def _call(self, what: object, call: Callable[[], list[Action]]) -> None:
        """One call into the engine, watched by the checker; its Opens answered (later)."""
        self.calls += 1
        self.checker.before_call(self, what)
        actions = call()
        for action in actions:
            match action:
                case Open():
                    self._answers.append(self.driver.open_now(action))
                case Close():
                    self.driver.close_now(action)
                case StartTimer(name, delay):
                    self._order += 1
                    due = self.t_ms + round(delay * 1000)
                    self._timers[name] = PendingTimer(due, self._order, self._instant)
                    self.log[-1].armed.append(name)
                case CancelTimer(name):
                    if self._timers.pop(name, None) is not None:
                        self.log[-1].ended.append(name)
        self.checker.after_call(self, what, actions)

    def _on_action(self, action: Action) -> None:
        self.checker.on_action(self, action)


def _progress_problem(engine: Engine, armed: set[str]) -> str:
    server = engine.server
    if engine.state in ("starting", "reconfiguring"):
        return f"the server is still {engine.state} with no answer to wait for"
    held, jobs = engine.posted_work()
    if jobs and held is None:
        return f"posted work {jobs[0][2]!r} of {jobs[0][0]} never runs"
    for key, b in server.backends.items():
        if b.state in ("configured", "connecting", "reconnecting"):
            return f"{key} is still {b.state} with no answer to wait for"
        if b.state == "waiting" and b.timer_name not in armed:
            return f"{key} is waiting for a reconnect timer that is not armed"
    return ""


def replay(setup: Setup, path: list[WorldStep]) -> World:
    """A new world with `path` applied: how a state is reached again when no world stands
    in it to fork (`World.fork`)."""
    world = World(setup)
    for step in path:
        world.apply(step)
    return world
