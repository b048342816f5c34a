"""A test runtime: one engine, a simulated driver, a virtual clock, every action recorded.

Unlike `dbfsm.simulation.virtual.VirtualRuntime`, driver answers are not automatic: each
`Open` waits in `pending` until the test answers it (`answer`, `settle`), so that answers can
come late, out of order, after a reconfiguration (stale) or fail transiently. Time is kept in
integer milliseconds so that the reconnect loop's spacing can be checked exactly; the engine sees
seconds. Timers fire only when the test advances time (`fire_next_timer`, `advance`).
"""

from __future__ import annotations

from collections.abc import Callable

from dbfsm.drivers.simulated import SimulatedDriver
from dbfsm.fsm.actions import Action, CancelTimer, Close, Open, StartTimer
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.events import Command, Event, OpenFailed, TimerFired
from dbfsm.fsm.settings import ServerSettings
from dbfsm.validation.invariants import Observer, Stamped


class Harness:
    def __init__(
        self,
        settings: ServerSettings,
        loader: Callable[[], ServerSettings] | None = None,
        observer: Observer | None = None,
        *,
        driver: SimulatedDriver | None = None,
        now_ms: int = 0,
    ) -> None:
        """`driver` and `now_ms`: the database servers and the time a restarted process
        finds (by default fresh servers, all up, at time 0)."""
        self.now_ms = now_ms
        self.driver = driver or SimulatedDriver()
        self.engine = Engine(settings, clock=self.clock, loader=loader, pid=4242)
        self.observer = observer or Observer()
        self.timers: dict[str, int] = {}  # armed timer -> due time (ms)
        self.pending: list[Open] = []  # Open actions not yet answered by the driver
        self.record: list[Stamped] = []
        self.calls = 0
        self._ids = 0
        self.engine.subscribe(self._on_action)

    # -- time -------------------------------------------------------------------------------------

    def clock(self) -> float:
        return self.now_ms / 1000

    def next_due(self) -> int | None:
        return min(self.timers.values(), default=None)

    def fire_next_timer(self) -> None:
        """Jump to the earliest armed timer and fire it (the earliest armed first on ties)."""
        due = self.next_due()
        if due is None:
            return
        name = min(self.timers, key=lambda n: (self.timers[n], n))
        del self.timers[name]
        self.now_ms = max(self.now_ms, due)
        self.deliver(TimerFired(name))

    def advance(self, ms: int) -> None:
        """Let `ms` milliseconds pass, firing every timer that falls due on the way."""
        end = self.now_ms + ms
        while not self.engine.exited and (due := self.next_due()) is not None and due <= end:
            self.fire_next_timer()
        self.now_ms = max(self.now_ms, end)

    # -- calls into the engine --------------------------------------------------------------------

    def start(self) -> list[Action]:
        return self._call("start", self.engine.start)

    def deliver(self, event: Event) -> list[Action]:
        return self._call(event, lambda: self.engine.handle(event))

    def command(self, request: object) -> tuple[int, list[Action]]:
        self._ids += 1
        id = self._ids
        return id, self.deliver(Command(request, id))

    def answer(self, index: int = 0, *, transient: bool = False) -> list[Action]:
        """The driver answers the `index`-th pending Open: as the simulated database server
        is now, or with a transient failure (a timeout) whatever the server's state."""
        request = self.pending.pop(index)
        if transient:
            reason = "connect timeout expired (simulated)"
            return self.deliver(OpenFailed(request.backend, request.instance, reason))
        return self.deliver(self.driver.open_now(request))

    def settle(self, limit: int = 64) -> None:
        """Answer every pending Open, and those their answers cause, as the servers are."""
        for _ in range(limit):
            if not self.pending or self.engine.exited:
                return
            self.answer(0)

    def broken_online(self) -> list[str]:
        """Backends in use whose connection is really broken: a request would notice."""
        return sorted(
            key
            for key, b in self.engine.server.backends.items()
            if b.state == "online" and self.driver.broken(key, b.instance)
        )

    def notice_loss(self, key: str) -> list[Action]:
        b = self.engine.server.backends[key]
        lost = self.driver.use_now(key, b.instance)
        assert lost is not None, f"harness: {key} is not broken"
        return self.deliver(lost)

    # -- internals --------------------------------------------------------------------------------

    def _call(self, what: object, call: Callable[[], list[Action]]) -> list[Action]:
        self.calls += 1
        self.observer.before_call(self, what)
        actions = call()
        for action in actions:
            match action:
                case Open():
                    self.pending.append(action)
                case Close():
                    self.driver.close_now(action)
                case StartTimer(name, delay):
                    self.timers[name] = self.now_ms + round(delay * 1000)
                case CancelTimer(name):
                    self.timers.pop(name, None)
        self.observer.after_call(self, what, actions)
        return actions

    def _on_action(self, action: Action) -> None:
        self.record.append(Stamped(self.now_ms, self.calls, action))
        self.observer.on_action(self, action)
