"""The engine: runs the declared graphs (compiled into tables), events in, actions out.

Sans-I/O in the manner of h11: the engine never sleeps, reads no clock of its own and opens
nothing. Each call (`start`, `handle`, `command`) runs to completion: a trigger's effects may
post further triggers, which run in order before the call returns the actions it produced.
The same engine therefore serves the simulator, the property tests and a live runtime.

Posted work: Kea runs database recovery as jobs posted to its one IOService thread, one job
per lost backend in the order the losses were found, and a job runs the lost callback and
the first reconnect attempt (a synchronous open) before the next job starts. The engine keeps
those jobs in `_jobs`; while the backend of the job that ran last awaits its driver's answer
(a state the graph marks `awaits_driver`), the next job waits, whatever call it came from.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from dbfsm.fsm import forks
from dbfsm.fsm.actions import Action, Reply, ServingChanged, Stayed, Transitioned
from dbfsm.fsm.backend import Backend
from dbfsm.fsm.commands import Control, dispatch
from dbfsm.fsm.compiled import Table, Tables
from dbfsm.fsm.errors import UsageError
from dbfsm.fsm.events import Command, Event, Lost, Opened, OpenFailed, TimerFired
from dbfsm.fsm.graph import BACKEND, SERVER, Graph
from dbfsm.fsm.server import Server
from dbfsm.fsm.settings import ServerSettings

Listener = Callable[[Action], None]
Loader = Callable[[], ServerSettings]


class UnexpectedEvent(UsageError):
    """An event the graph has no transition for in the current state (a caller's bug)."""


def check_model(graph: Graph, model_class: type) -> None:
    """Fail at import if a model and its graph disagree: every declared effect must be a
    method of the model, every transition must use declared effects and guards, and no
    trigger may be shadowed by a model attribute (the `transitions` library, which runs
    the same declaration in the differential test, would silently skip it)."""
    for name in graph.effects:
        if not callable(getattr(model_class, name, None)):
            raise TypeError(f"{model_class.__name__} lacks effect {name!r} of {graph.name}")
    for t in graph.transitions:
        unknown = [e for e in t.effects if e not in graph.effects]
        unknown += [g for g in (*t.when, *t.unless) if g not in graph.guards]
        if unknown:
            raise TypeError(f"{graph.name}: {t.trigger} uses undeclared {unknown}")
    for trigger in graph.triggers:
        if hasattr(model_class, trigger):
            raise TypeError(f"{model_class.__name__}.{trigger} shadows a {graph.name} trigger")


check_model(BACKEND, Backend)
check_model(SERVER, Server)

_SERVER_TABLES = Tables(SERVER, Server)
_BACKEND_TABLES = Tables(BACKEND, Backend)
_AWAITING = BACKEND.awaiting
_SERVING_NOTICES = {serving: ServingChanged(serving) for serving in (True, False)}


class Engine:
    """One Kea server: its configuration, its backends, and what it does when they fail."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        clock: Callable[[], float] = lambda: 0.0,
        loader: Loader | None = None,
        pid: int = 0,
        transitions: bool = True,
    ) -> None:
        """`transitions`: whether the actions include `Transitioned` and `Stayed` (a runtime
        that only writes records can do without them)."""
        self.clock = clock
        self.loader = loader
        self.pid = pid
        self._announce = transitions
        self.started_at = clock()
        self._queue: deque[tuple[Any, str]] = deque()
        self._jobs: dict[tuple[Backend, str], None] = {}  # posted work, in order, once each
        self._holding: Backend | None = None  # ran the last job; awaits its driver's answer
        self._out: list[Action] = []
        # A tuple, replaced on (un)subscribing: a listener may unsubscribe while called.
        self._listeners: tuple[Listener, ...] = ()
        self._last_serving: bool | None = None
        self._started = False
        # Each machine's table and name (as in `Transitioned`), looked up on every trigger.
        self._machines: dict[Any, tuple[Table, str]] = {}
        # Functions of the server's state, kept as plain attributes: a server embedding the
        # engine asks `serving` on every request.
        self.serving = False
        self.exited = False
        self.server = Server(self, settings)
        self._machines[self.server] = (_SERVER_TABLES.for_model(self.server), "server")

    # -- public API ---------------------------------------------------------------------------

    @property
    def announces_transitions(self) -> bool:
        """Whether the actions include `Transitioned` and `Stayed` (the `transitions` flag)."""
        return self._announce

    @property
    def state(self) -> str:
        return self.server.state

    @property
    def exit_code(self) -> int | None:
        return self.server.exit_code if self.exited else None

    @property
    def settings(self) -> ServerSettings:
        """The configuration in force, or the one being applied if none is yet."""
        return self.server.current or self.server.pending

    @property
    def committed_at(self) -> float | None:
        return self.server.committed_at

    @property
    def backends(self) -> Mapping[str, Backend]:
        """The backends of the configuration being applied or in force, by key, in the
        configuration's order: to read (a driver's runtime looks up a backend's state and
        connection instance here), never to change. A reconfiguration replaces them."""
        return self.server.backends

    def backend_states(self) -> dict[str, str]:
        return {key: b.state for key, b in self.server.backends.items()}

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every action as it is produced; returns an unsubscriber."""
        self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            listeners = list(self._listeners)
            listeners.remove(listener)
            self._listeners = tuple(listeners)

        return unsubscribe

    def start(self) -> list[Action]:
        """Apply the configuration given at construction: open its backends."""
        if self._started:
            raise UnexpectedEvent("the engine has already been started")
        self._started = True
        return self._call(self._fire, self.server, "start")

    def handle(self, event: Event) -> list[Action]:
        if self.exited:
            return []
        if isinstance(event, TimerFired):
            return self._call(self._timer, event.name)
        if isinstance(event, Command):
            return self._call(dispatch, self, event)
        backend = self.server.backends.get(event.backend)
        if backend is None or backend.instance != event.instance or backend.state == "closed":
            return []  # a report about a connection closed since: stale
        if isinstance(event, Opened):
            backend.tls_missing = event.tls_missing
            return self._call(self._fire, backend, "opened")
        if isinstance(event, OpenFailed):
            backend.last_error = event.reason
            backend.schema_mismatch = event.schema_mismatch
            return self._call(self._fire, backend, "open_failed")
        if isinstance(event, Lost):
            backend.last_error = event.reason
            return self._call(self.post_job, backend, "lost")
        raise TypeError(f"not an event: {event!r}")

    def command(self, request: object, id: int = 0) -> list[Action]:
        return self.handle(Command(request, id))

    def posted_work(self) -> tuple[str | None, tuple[tuple[str, str, str], ...]]:
        """The backend whose job ran last while it awaits its driver (None if none does), and
        the work posted after it, in order, as (backend, its state, trigger): what a call
        leaves behind that decides what later calls do, which a model checker must see."""
        holding = self._holding
        held = holding.key if holding is not None and holding.state in _AWAITING else None
        return held, tuple((b.key, b.state, trigger) for b, trigger in self._jobs)

    def fork(self, clock: Callable[[], float]) -> Engine:
        """An independent engine in the same state, on `clock` and with no listeners: what a
        model checker branches on instead of replaying the path to a state. Only between
        calls (a call runs to completion, so nothing is queued then)."""
        if self._queue:
            raise UsageError("an engine can only be forked between calls")
        twin = forks.twin(self)
        twin.clock = clock
        twin._listeners = ()
        twin._out = []
        twin._queue = deque()
        twin.server, twins = self.server.fork(twin)
        # Work posted for a backend a reconfiguration closed since names the original: a
        # closed backend is final (the graph's `final`), so both engines may share it.
        twin._jobs = {(twins.get(b, b), trigger): None for b, trigger in self._jobs}
        holding = self._holding
        twin._holding = None if holding is None else twins.get(holding, holding)
        twin._machines = {twin.server: self._machines[self.server]}
        twin._machines.update((twins[b], self._machines[b]) for b in self.server.backends.values())
        return twin

    def close(self) -> None:
        """Let this engine go: it, its server and its backends refer to one another, so
        without this only Python's cycle collector frees them, which costs a model checker
        that drops thousands of forks a second a quarter of its time. Afterwards the engine
        and its server have no attributes left: neither can be used again."""
        self.server.close()
        self.__dict__.clear()

    # -- used by the models (fsm.server.Machinery) ---------------------------------------------

    def now(self) -> float:
        return self.clock()

    def post(self, model: Any, trigger: str) -> None:
        self._queue.append((model, trigger))

    def post_job(self, backend: Backend, trigger: str) -> None:
        """Post recovery work for `backend` (Kea's startRecoverDbConnection): it runs once
        the work posted before it has run, including that work's first reconnect attempt.
        Work already posted for the same backend and trigger is not posted twice."""
        if (backend.state, trigger) not in self._machine(backend)[0]:
            raise UnexpectedEvent(
                f"{backend.key}: no transition for {trigger!r} in {backend.state}"
            )
        self._jobs[(backend, trigger)] = None

    def emit(self, action: Action) -> None:
        self._out.append(action)
        for listener in self._listeners:
            listener(action)

    def attach(self, backend: Backend) -> None:
        """Keep the backend's table (the one for its settings) and name at hand."""
        self._machines[backend] = (_BACKEND_TABLES.for_model(backend), backend.key)

    def detach(self, backend: Backend) -> None:
        self._machines.pop(backend, None)

    def reply(self, id: int, command: str, response: dict[str, Any]) -> None:
        self.emit(Reply(id, command, response))

    def fire(self, model: Any, trigger: str) -> bool:
        """Run one trigger now (inside a call); False if the graph has no transition for it."""
        try:
            self._fire(model, trigger)
        except UnexpectedEvent:
            return False
        return True

    # -- internals ----------------------------------------------------------------------------

    def _timer(self, name: str) -> None:
        owner = self.server.timers.pop(name, None)
        if isinstance(owner, Backend):
            self._fire(owner, "timer_fired")
        elif owner is not None:
            self.server.enable_origin(owner.origin)

    def _call(self, step: Callable[..., object], *args: Any) -> list[Action]:
        """Run `step(*args)`, then the triggers it posted and the posted work it let run."""
        self._out = []
        step(*args)
        while not self.exited:
            if self._queue:
                self._fire(*self._queue.popleft())
                continue
            job = self._next_job() if self._jobs else None
            if job is None:
                break
            self._fire(*job)
        self._queue.clear()
        if self.exited:
            self._jobs.clear()
        return self._out

    def _next_job(self) -> tuple[Backend, str] | None:
        """The posted work to run now: none while the backend of the last job awaits its
        driver; jobs of backends closed since (a reconfiguration) are dropped."""
        holding = self._holding
        if holding is not None and holding.state in _AWAITING:
            return None
        self._holding = None
        while self._jobs:
            job = next(iter(self._jobs))
            del self._jobs[job]
            backend, trigger = job
            if (backend.state, trigger) in self._machine(backend)[0]:
                self._holding = backend
                return job
        return None

    def _machine(self, model: Any) -> tuple[Table, str]:
        """The model's table and name; a backend closed by a reconfiguration (posted work
        may still name it) is looked up from its settings."""
        machine = self._machines.get(model)
        if machine is None:
            return _BACKEND_TABLES.for_model(model), str(model.key)
        return machine

    def _fire(self, model: Any, trigger: str) -> None:
        """Take the one transition of `trigger` whose guards hold: announce it
        (`Transitioned`, then a serving notice if serving changes), enter its destination,
        then run its effects in order."""
        state = model.state
        server = model is self.server
        table, name = self._machines.get(model) or self._machine(model)
        steps = table.get((state, trigger))
        if steps is None:
            raise UnexpectedEvent(f"{name}: no transition for {trigger!r} in {state}")
        for step in steps:
            guard = step.guard
            if guard is None or guard(model):
                break
        else:
            raise UnexpectedEvent(f"{name}: no guard of {trigger!r} holds in {state}")
        dest = step.dest
        if dest is None:
            if self._announce:
                self.emit(Stayed(name, trigger, state, step.index))
        else:
            if self._announce:
                self.emit(Transitioned(name, trigger, state, dest, step.index))
            if server:
                self._server_leaves(dest)
            model.state = dest
            if server:
                self.serving = dest == "serving"
                self.exited = dest == "exited"
        for effect in step.effects:
            effect(model)

    def _server_leaves(self, dest: str) -> None:
        # Serving is a function of the server's state: the first notice when startup ends,
        # then one on every change, always before what the transition goes on to do.
        serving = dest == "serving"
        if serving != self._last_serving:
            self._last_serving = serving
            self.emit(_SERVING_NOTICES[serving])


if TYPE_CHECKING:  # the command handlers get the engine as what they may use, no more

    def _control(engine: Engine) -> Control:
        return engine
