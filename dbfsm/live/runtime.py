"""The asyncio runtime: the engine's actions carried out on the event loop's real clock.

The engine asks; a runtime does. `AsyncioRuntime` opens and closes connections through an
asynchronous driver, arms timers on the loop and runs client requests as tasks;
`dbfsm.simulation.virtual` is its twin on a virtual clock.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any

from dbfsm.drivers.base import Driver
from dbfsm.fsm.actions import Action, CancelTimer, Close, Notify, Open, Reply, StartTimer
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.events import Event, Lost, TimerFired

CLOSE_GRACE = 5.0  # seconds a connection's requests may take to finish before it is closed


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
        if not engine.pid:
            # The pure core has no process; this runtime runs the server in this one, so
            # status-get answers this pid (as Kea answers its own), not the core's 0.
            engine.pid = os.getpid()
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

    async def use(self, backend: str) -> bool:
        """Run one request on `backend`; a loss it finds goes into the engine. Whether it
        found one (a client request stops at the first: `dbfsm run`'s traffic)."""
        b = self.engine.backends.get(backend)
        if b is None or b.state != "online":
            return False
        using = self._using.setdefault((backend, b.instance), set())
        request = self._loop.create_task(self.driver.use(backend, b.instance))
        using.add(request)
        request.add_done_callback(using.discard)
        lost = await request
        if lost is None:
            return False
        self.deliver(lost)
        return True

    def timer_due(self, name: str) -> float | None:
        """When the timer `name` fires, in the loop's time; None if it is not armed."""
        handle = self._timers.get(name)
        return None if handle is None else handle.when()

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
        for key, backend in list(self.engine.backends.items()):
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
