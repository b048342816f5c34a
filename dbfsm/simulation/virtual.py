"""The virtual runtime: the engine's actions carried out on a clock that jumps.

`VirtualRuntime` keeps time as a number that jumps from one scheduled thing to the next, so a
simulated day runs in moments and every run is reproducible. `dbfsm.live.runtime` does the
same on asyncio's real clock for live drivers.

Kea is single-threaded: while one of its database calls blocks (a server behind a black
hole, see `drivers.simulated`), it does nothing else. The runtime keeps that as a `Stall`:
until the call's timeout, or the end of the black hole if that comes first, everything due
for the server (timers, requests, commands, the driver's other answers) is held, and runs
late, in its order, once the call has returned; only what happens `Outside` the server (a
database server failing or coming back) goes on on time. The engine itself never knows: it
simply gets its answer later, as from any slow driver.
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from dbfsm.drivers.simulated import SimulatedDriver
from dbfsm.fsm.actions import Action, CancelTimer, Close, Notify, Open, StartTimer
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.events import Event, TimerFired

_REQUESTS = frozenset({Open, StartTimer, CancelTimer, Close})  # what a runtime carries out


class VirtualClock:
    """The engine's clock as a number: whoever drives the engine (`VirtualRuntime`,
    `dbfsm conform`'s search) sets `now` to the time of each input before handing it over."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# Things due at the same time run in this order: those scheduled before a feed began, then
# the fed ones (in feed order), then those scheduled since.
_BEFORE_FEED, _FED, _AFTER_FEED = 0, 1, 2

_Entry = tuple[float, int, int, Callable[[], None]]


class Outside:
    """Something that happens outside the server (a database server fails or recovers, a
    black hole ends, a blocked call's timeout expires): it happens on time, stall or not."""

    __slots__ = ("_thing",)

    def __init__(self, thing: Callable[[], None]) -> None:
        self._thing = thing

    def __call__(self) -> None:
        self._thing()


@dataclass(eq=False)
class Stall:
    """A database call the server is blocked in: it ends with `timed_out` at its timeout,
    or with `cleared` when the black hole on `backend` ends first."""

    backend: str
    timed_out: Callable[[], object]
    cleared: Callable[[], object]
    opening: bool = False  # an open (connect-timeout), else a request on a connection
    seconds: float = 0.0  # how long it blocks unless the black hole ends first
    since: float = 0.0


# What a `StallWatcher` is told, in this order: the call blocks, it ends (before its answer
# is delivered), and its answer has been handled (the server runs again).
BLOCKED, TIMED_OUT, CLEARED, RETURNED = "blocked", "timed-out", "cleared", "returned"


class StallWatcher(Protocol):
    """Told of each stall as it goes (a timeline shows them), and of each timer that came
    due while the server was blocked and so fires late (`name`, when it was due)."""

    def stalled(self, stall: Stall, phase: str, /) -> None: ...
    def late(self, name: str, due: float, /) -> None: ...


class VirtualRuntime:
    """Runs an engine against a simulated driver on a virtual clock."""

    def __init__(
        self, engine: Engine, driver: SimulatedDriver, clock: VirtualClock, notify: Notify
    ) -> None:
        self.engine = engine
        self.driver = driver
        self.clock = clock
        self.notify = notify
        self._agenda: list[_Entry] = []
        self._order = itertools.count()
        self._group = _BEFORE_FEED
        self._feed: Iterator[tuple[float, Callable[[], None]]] = iter(())
        self._timers: dict[str, int] = {}  # timer name -> the ticket that is still armed
        self.stall: Stall | None = None  # the call the server is blocked in, if any
        self._held: list[_Entry] = []  # what came due for the server meanwhile, in order
        self.watcher: StallWatcher | None = None

    def at(self, t: float, thing: Callable[[], None]) -> int:
        ticket = next(self._order)
        heapq.heappush(self._agenda, (t, self._group, ticket, thing))
        return ticket

    def feed(self, things: Iterable[tuple[float, Callable[[], None]]]) -> None:
        """Schedule `things` (in order of time), drawing each only when the one before it is
        due: a long scenario never sits in the agenda whole. They run as if all had been
        scheduled now with `at`."""
        self._group = _AFTER_FEED
        self._feed = iter(things)
        self._draw()

    def _draw(self) -> None:
        """Put the next fed thing in the agenda (when the one before it comes due)."""
        item = next(self._feed, None)
        if item is not None:
            heapq.heappush(self._agenda, (item[0], _FED, next(self._order), item[1]))

    def deliver(self, event: Event) -> None:
        self.execute(self.engine.handle(event))

    def execute(self, actions: list[Action]) -> None:
        now, notify = self.clock.now, self.notify
        for action in actions:
            kind = type(action)  # the hot path of a simulation: no structural match here
            if kind not in _REQUESTS:  # a notification: most of what the engine says
                notify(action, now)
            elif kind is Open:
                assert isinstance(action, Open)
                self._open(action)
            elif kind is StartTimer:
                assert isinstance(action, StartTimer)
                self._arm(action.name, now + action.delay)
            elif kind is CancelTimer:
                assert isinstance(action, CancelTimer)
                self._timers.pop(action.name, None)
            else:
                assert isinstance(action, Close)
                self.driver.close_now(action)

    def _open(self, request: Open) -> None:
        """Open now, or block for as long as the driver says the open takes."""
        driver, now = self.driver, self.clock.now
        if self.stall is not None:  # one blocking call at a time: this one comes after
            self.at(now, functools.partial(self._open, request))
            return
        seconds = driver.stall(request.backend, request.settings, opening=True)
        if seconds is None:
            self.at(now, functools.partial(self.deliver, driver.open_now(request)))
            return
        self.block(
            request.backend,
            seconds,
            lambda: self.deliver(driver.open_timed_out(request)),
            lambda: self.deliver(driver.open_now(request)),
            opening=True,
        )

    # -- stalls -------------------------------------------------------------------------------

    def block(
        self,
        backend: str,
        seconds: float,
        timed_out: Callable[[], object],
        cleared: Callable[[], object],
        *,
        opening: bool = False,
    ) -> None:
        """The server is blocked in a call to `backend` for `seconds` (then `timed_out`),
        unless its black hole ends first (`unblock`: then `cleared`)."""
        now = self.clock.now
        stall = self.stall = Stall(backend, timed_out, cleared, opening, seconds, now)
        self.at(now + seconds, Outside(lambda: self._end(stall, TIMED_OUT)))
        if self.watcher is not None:
            self.watcher.stalled(stall, BLOCKED)

    def unblock(self, backend: str) -> None:
        """The black hole on `backend` has ended: a call blocked on it completes now."""
        stall = self.stall
        if stall is not None and stall.backend == backend:
            self._end(stall, CLEARED)

    def _end(self, stall: Stall, how: str) -> None:
        """The call returns (`how`: timed out or cleared), then what was held runs, late but
        in its order (its times are past, so it comes before anything due now)."""
        if self.stall is not stall:
            return  # it ended already: the black hole ended before the timeout
        self.stall = None
        for entry in self._held:
            heapq.heappush(self._agenda, entry)
        self._held = []
        watcher = self.watcher
        if watcher is not None:
            watcher.stalled(stall, how)
        (stall.timed_out if how == TIMED_OUT else stall.cleared)()
        if watcher is not None:
            watcher.stalled(stall, RETURNED)

    def _arm(self, name: str, t: float) -> None:
        armed = self._timers[name] = next(self._order)
        self.at(t, lambda: self._expire(name, armed, t))

    def _expire(self, name: str, armed: int, due: float) -> None:
        """Deliver a timer's expiry unless it was cancelled or re-armed since."""
        if self._timers.get(name) == armed:
            del self._timers[name]
            if self.watcher is not None and self.clock.now > due:  # held by a stall
                self.watcher.late(name, due)
            self.deliver(TimerFired(name))

    def run_until(self, end: float, after_step: Callable[[], None] | None = None) -> None:
        """Run everything scheduled up to `end` (inclusive), or until the server exits."""
        agenda, clock, engine = self._agenda, self.clock, self.engine
        while agenda and not engine.exited:
            entry = agenda[0]
            t, group, _, thing = entry
            if t > end:
                break
            heapq.heappop(agenda)
            if group == _FED:  # a held fed thing draws again when it runs: one more ahead
                self._draw()
            if self.stall is not None and type(thing) is not Outside:
                self._held.append(entry)
                continue
            if t > clock.now:  # an equal time keeps its object: records of an instant share it
                clock.now = t
            thing()
            if after_step is not None:
                after_step()
        if not engine.exited:
            clock.now = max(clock.now, end)
