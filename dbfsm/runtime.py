"""Runtimes: carry out the engine's actions on a virtual clock or on asyncio's real one.

The engine asks; a runtime does. `VirtualRuntime` keeps time as a number that jumps from
one scheduled thing to the next, so a simulated day runs in moments and every run is
reproducible. `AsyncioRuntime` does the same on the event loop for live drivers.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from drivers.base import Driver
from drivers.simulated import SimulatedDriver
from fsm.actions import Action, CancelTimer, Close, Open, Reply, StartTimer
from fsm.engine import Engine
from fsm.events import Event, Lost, TimerFired

Notify = Callable[[Action, float], None]

_REQUESTS = frozenset({Open, StartTimer, CancelTimer, Close})  # what a runtime carries out

CLOSE_GRACE = 5.0  # seconds a connection's requests may take to finish before it is closed


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# Things due at the same time run in this order: those scheduled before a feed began, then
# the fed ones (in feed order), then those scheduled since.
_BEFORE_FEED, _FED, _AFTER_FEED = 0, 1, 2


class VirtualRuntime:
    """Runs an engine against a simulated driver on a virtual clock."""

    def __init__(
        self, engine: Engine, driver: SimulatedDriver, clock: VirtualClock, notify: Notify
    ) -> None:
        self.engine = engine
        self.driver = driver
        self.clock = clock
        self.notify = notify
        self._agenda: list[tuple[float, int, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._group = _BEFORE_FEED
        self._feed: Iterator[tuple[float, Callable[[], None]]] = iter(())
        self._timers: dict[str, int] = {}  # timer name -> the ticket that is still armed

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
                self.at(now, functools.partial(self.deliver, self.driver.open_now(action)))
            elif kind is StartTimer:
                assert isinstance(action, StartTimer)
                self._arm(action.name, now + action.delay)
            elif kind is CancelTimer:
                assert isinstance(action, CancelTimer)
                self._timers.pop(action.name, None)
            else:
                assert isinstance(action, Close)
                self.driver.close_now(action)

    def _arm(self, name: str, t: float) -> None:
        armed = self._timers[name] = next(self._order)
        self.at(t, lambda: self._expire(name, armed))

    def _expire(self, name: str, armed: int) -> None:
        """Deliver a timer's expiry unless it was cancelled or re-armed since."""
        if self._timers.get(name) == armed:
            del self._timers[name]
            self.deliver(TimerFired(name))

    def run_until(self, end: float, after_step: Callable[[], None] | None = None) -> None:
        """Run everything scheduled up to `end` (inclusive), or until the server exits."""
        agenda, clock, engine = self._agenda, self.clock, self.engine
        while agenda and not engine.exited:
            t, group, _, thing = agenda[0]
            if t > end:
                break
            heapq.heappop(agenda)
            if group == _FED:
                self._draw()
            if t > clock.now:  # an equal time keeps its object: records of an instant share it
                clock.now = t
            thing()
            if after_step is not None:
                after_step()
        if not engine.exited:
            clock.now = max(clock.now, end)


class ServerExited(Exception):
    """The server exited before it answered a command: there is nobody left to answer."""


class AsyncioRuntime:
    """Runs an engine on the asyncio event loop with asynchronous drivers.

    Usage (inside a running loop): `runtime = AsyncioRuntime(engine, driver)`;
    `runtime.start()`; `await runtime.command({...})` answers a command;
    `await runtime.use(backend)` runs one request; `await runtime.wait_exit()`;
    `await runtime.aclose()` closes every connection once done.
    """

    def __init__(self, engine: Engine, driver: Driver, notify: Notify | None = None) -> None:
        self.engine = engine
        self.driver = driver
        self.notify = notify or (lambda action, t: None)
        self._loop = asyncio.get_running_loop()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._exited = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._opening: set[asyncio.Task[None]] = set()
        # Requests under way per connection (backend key, instance): closed only after them.
        self._using: dict[tuple[str, int], set[asyncio.Task[Lost | None]]] = {}

    def start(self) -> None:
        self.execute(self.engine.start())

    def deliver(self, event: Event) -> None:
        self.execute(self.engine.handle(event))

    def execute(self, actions: list[Action]) -> None:
        now = self._loop.time()
        for action in actions:
            match action:
                case Open():
                    opening = self._spawn(self._open(action))
                    self._opening.add(opening)
                    opening.add_done_callback(self._opening.discard)
                case Close():
                    self._spawn(self._close(action))
                case StartTimer(name, delay):
                    self._timers[name] = self._loop.call_later(delay, self._expire, name)
                case CancelTimer(name):
                    handle = self._timers.pop(name, None)
                    if handle is not None:
                        handle.cancel()
                case Reply(id, _, response):
                    future = self._replies.pop(id, None)
                    if future is not None and not future.done():
                        future.set_result(response)
                    self.notify(action, now)
                case _:
                    self.notify(action, now)
        if self.engine.exited and not self._exited.is_set():
            self._exited.set()
            for future in self._replies.values():  # answers the server will never give
                if not future.done():
                    future.set_exception(ServerExited())
            self._replies.clear()

    async def command(self, request: object) -> dict[str, Any]:
        """The engine's answer to `request`; `ServerExited` if the server exits first."""
        if self.engine.exited:
            raise ServerExited()
        id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._replies[id] = future
        try:
            self.execute(self.engine.command(request, id))
            return await future
        finally:
            self._replies.pop(id, None)

    async def use(self, backend: str) -> None:
        """Run one request on `backend`; a loss it finds goes into the engine."""
        b = self.engine.server.backends.get(backend)
        if b is None or b.state != "online":
            return
        using = self._using.setdefault((backend, b.instance), set())
        request = self._loop.create_task(self.driver.use(backend, b.instance))
        using.add(request)
        request.add_done_callback(using.discard)
        lost = await request
        if lost is not None:
            self.deliver(lost)

    async def wait_exit(self) -> int:
        await self._exited.wait()
        code = self.engine.exit_code
        return 0 if code is None else code

    async def aclose(self) -> None:
        """Stop: no more timers or driver calls, and every connection closed.

        The engine is left as it is (a stop is not a server exit); opens and requests still
        under way are cancelled, closes already asked for finish, then each backend's
        connection is closed and the driver shut down.
        """
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        requests = [r for using in self._using.values() for r in using]
        for task in [*self._opening, *requests]:
            task.cancel()
        await asyncio.gather(*self._tasks, *requests, return_exceptions=True)  # closes finish
        for key, backend in list(self.engine.server.backends.items()):
            await self.driver.close(Close(key, backend.instance))
        shutdown = getattr(self.driver, "aclose", None)
        if shutdown is not None:
            await shutdown()

    async def _open(self, request: Open) -> None:
        self.deliver(await self.driver.open(request))

    async def _close(self, request: Close) -> None:
        """Close once the requests using the connection are done (a client library must not
        have a connection closed under a query), cancelling those still running after
        `CLOSE_GRACE` seconds."""
        using = self._using.pop((request.backend, request.instance), set())
        if using:
            _, late = await asyncio.wait(using, timeout=CLOSE_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self.driver.close(request)

    def _expire(self, name: str) -> None:
        self._timers.pop(name, None)
        self.deliver(TimerFired(name))

    def _spawn(self, work: Any) -> asyncio.Task[None]:
        task = self._loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
