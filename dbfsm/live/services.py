"""Services: a service's own database work under Kea's lifecycle.

A service declares its databases as Kea does (a Kea configuration, or just its database
maps) and gets Kea's behaviour when they go away: it stops serving, keeps serving or exits
as `on-fail` says, and reconnects on Kea's schedule, with no retry code of its own.

    with Lifecycle.from_config("kea-dhcp4.json") as life:      # Kea's startup rules
        with life.connection("lease-database") as conn:         # a psycopg / PyMySQL connection
            conn.execute("INSERT ...")

How it works. The engine runs on an asyncio loop (the service's own for `AsyncLifecycle`, a
private thread's for `Lifecycle`) with the live driver, whose connection per backend is the
one Kea would keep: it is opened and schema-checked at startup and on every reconnect
attempt, and watched while idle when `probe_interval` is given. The connections handed to
the service are its own, opened with the same parameters and reused while the backend stays
connected. Before any I/O a request is admitted or refused from the engine's state alone
(`NotServing`, `BackendUnavailable`); an error inside the block is judged by the driver's
loss rules, and a loss goes to the engine once per connection epoch, however many threads
or tasks hit it.

Threads (sync `Lifecycle`): the engine, its timers, the reconnect attempts, `on_restored` and
`on_exit` run on the lifecycle's own thread ("dbfsm-lifecycle"); `connection()`, `guard()`,
`serving` and `health()` may be used from any other thread. Where Kea would exit and no
`on_exit` is given, the lifecycle closes its connections and ends the whole process with
Kea's exit code (`os._exit`, from that thread: `sys.exit` there would end only the thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import inspect
import logging
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar

from dbfsm.drivers import service as clients
from dbfsm.fsm.actions import Action, AttemptResult, Exit, Log, ServingChanged, Transitioned
from dbfsm.fsm.config import from_document
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.errors import ConfigError, Error, UsageError
from dbfsm.fsm.events import Lost
from dbfsm.fsm.logs import forward
from dbfsm.fsm.messages import Severity
from dbfsm.fsm.settings import BackendSettings, ServerSettings

log = logging.getLogger("dbfsm.services")

Source = str | os.PathLike[str] | Mapping[str, Any]
OnExit = Callable[[int], object]
Restored = Callable[[], object]
T = TypeVar("T")

# Sections of a Kea server's map that hold databases: a bare mapping of these is a server.
_DATABASE_SECTIONS = frozenset(
    {"lease-database", "hosts-database", "hosts-databases", "config-control"}
)


# -- errors ----------------------------------------------------------------------------------


class Unavailable(Error):
    """The request cannot be served now; `retry_after` is the seconds until the next
    scheduled reconnect attempt (None when none is scheduled), for a `Retry-After`."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotServing(Unavailable):
    """The server does not serve (Kea drops the packet unread); raised before any I/O."""


class BackendUnavailable(Unavailable):
    """The server serves, but this backend is not connected (a serve-retry mode recovering,
    or given up); raised before any I/O."""

    def __init__(self, backend: str, state: str, retry_after: float | None) -> None:
        super().__init__(f"backend {backend} is {state}", retry_after)
        self.backend = backend
        self.state = state


class ConnectionLost(Error):
    """The connection was lost inside the block; the engine has been told and recovers on
    Kea's schedule. `__cause__` is the client library's exception."""

    def __init__(self, backend: str, reason: str) -> None:
        super().__init__(f"connection to {backend} lost: {reason}")
        self.backend = backend


class StartupFailed(Error):
    """Kea would not start with this configuration: `message_id` and `reason` are what its
    log says, `exit_code` its exit status."""

    def __init__(self, message_id: str, reason: str, exit_code: int) -> None:
        super().__init__(f"{message_id} {reason}")
        self.message_id = message_id
        self.reason = reason
        self.exit_code = exit_code


# -- configuration -----------------------------------------------------------------------------


def load_config(source: Source) -> ServerSettings:
    """A Kea configuration file, a `{"Dhcp4": ...}` / `{"Dhcp6": ...}` document, or a bare
    mapping of database sections (read as a DHCPv4 server's); `ConfigError` if Kea would
    refuse it, with the text `dbfsm check` prints."""
    if isinstance(source, Mapping):
        if source and set(source) <= _DATABASE_SECTIONS:
            try:
                return from_document({"Dhcp4": dict(source)}, "")
            except ConfigError as error:  # located in the caller's map, not in the wrapper
                where = (error.where or "").removeprefix("Dhcp4").lstrip(".") or None
                raise ConfigError(error.message, where) from None
        return from_document(source, "config")
    from dbfsm.files.reading import load_file

    return load_file(source)


# -- what both lifecycles share ----------------------------------------------------------------


class _Lifecycle:
    """The engine on a loop, the gate, loss reports, pooled connections, health."""

    def __init__(
        self, settings: ServerSettings, on_exit: OnExit | None, probe_interval: float | None
    ) -> None:
        self.settings = settings
        self.serving = False  # a plain attribute: the check costs an attribute read
        self._on_exit = on_exit
        self._probe_interval = probe_interval
        self._engine: Engine | None = None
        self._runtime: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._closed = False
        self._lock = threading.Lock()
        self._reported: set[tuple[str, int]] = set()  # (backend, epoch) losses told
        # Each backend's connection epoch while it is online (absent while it is not): a new
        # number each time it comes online. The engine's `instance` is the backend's, for
        # its whole configuration: it stays the same across reconnects.
        # A judged loss closes the gate at once (the engine hears of it on its loop, which may
        # wait for the GIL behind the very threads that would pile onto the dead server);
        # `_latest` keeps the epoch for the loss report.
        self._epochs: dict[str, int] = {}
        self._latest: dict[str, int] = {}
        self._epoch_count = 0
        self._idle: dict[str, list[tuple[int, Any]]] = {}  # reusable connections by epoch
        self._in_use: dict[int, Any] = {}  # id -> connection handed out now
        self._restored: dict[str, list[Restored]] = {}
        self._attempts: dict[str, AttemptResult] = {}
        self._changed_at: dict[str, float] = {}  # backend -> wall time of its last change
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._last_error: Log | None = None
        self._unforward: Callable[[], None] | None = None
        self._exit_task: asyncio.Task[None] | None = None

    # -- state --------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """The server's state (`starting`, `serving`, `not_serving`, ..., `exited`)."""
        return "unstarted" if self._engine is None else self._engine.state

    @property
    def alive(self) -> bool:
        """False once the lifecycle has exited (Kea's process would be gone): liveness."""
        return self._engine is not None and not self._engine.exited

    @property
    def engine(self) -> Engine:
        """The started lifecycle's engine, to observe (`dbfsm.live.metrics.Metrics(life.engine)`,
        `engine.subscribe`): its listeners run on the lifecycle's loop; drive it only through
        the lifecycle."""
        return self._require_engine()

    def backends(self) -> dict[str, dict[str, Any]]:
        """Each backend's state, reconnect attempts made and allowed, and last error (no
        password: the drivers' texts are redacted)."""
        engine = self._require_engine()
        out: dict[str, dict[str, Any]] = {}
        for key, b in engine.server.backends.items():
            attempt = self._attempts.get(key)
            out[key] = {
                "type": str(b.settings.type),
                "state": b.state,
                "attempts": attempt.n if attempt is not None else 0,
                "allowed": b.settings.max_reconnect_tries,
                "last_error": b.last_error or None,
            }
        return out

    def health(self) -> dict[str, Any]:
        """The IETF "Health Check Response Format for HTTP APIs" document: `pass` while
        serving with every backend connected, `warn` while serving without one (the policy
        says serve), `fail` while not serving (answer 503)."""
        engine = self._require_engine()
        serving = self.serving
        checks: dict[str, list[dict[str, Any]]] = {}
        everything_up = True
        for key, b in engine.server.backends.items():
            up = b.state == "online"
            everything_up &= up
            check = {
                "componentId": key,
                "componentType": "datastore",
                "observedValue": b.state,
                "status": "pass" if up else "warn" if serving else "fail",
                "time": _iso(self._changed_at.get(key)),
            }
            checks[f"{key}:connection"] = [check]
        status = "fail" if not serving else "pass" if everything_up else "warn"
        document: dict[str, Any] = {"status": status, "checks": checks}
        if status != "pass":
            document["output"] = f"server {engine.state}"
        return document

    # -- the gate -----------------------------------------------------------------------------

    def _require_engine(self) -> Engine:
        if self._engine is None or not self._started:
            raise UsageError("the lifecycle is not started: use it as a context manager")
        return self._engine

    def _admit(self, backend: str) -> tuple[BackendSettings, int]:
        """The backend's settings and connection epoch, or the reason not to try: no I/O."""
        if self._engine is not None and self._engine.exited:
            # Kea exited (on_exit chose to keep the process): not the caller's mistake.
            raise NotServing("the server has exited", None)
        if self._closed:
            raise UsageError("the lifecycle is closed")
        engine = self._require_engine()
        b = engine.server.backends.get(backend)
        if b is None:
            known = ", ".join(engine.server.backends) or "none"
            raise UsageError(f"no backend {backend!r}: known: {known}")
        if not self.serving:
            raise NotServing(f"the server is {engine.state}", self._retry_after(None))
        epoch = self._epochs.get(backend)
        if b.state != "online" or epoch is None:
            state = "lost" if b.state == "online" else b.state  # lost, not yet told
            raise BackendUnavailable(backend, state, self._retry_after(backend))
        return b.settings, epoch

    def _retry_after(self, backend: str | None) -> float | None:
        """Seconds until the next armed reconnect timer (of `backend`, or of any backend)."""
        engine, runtime, loop = self._engine, self._runtime, self._loop
        if engine is None or runtime is None or loop is None:
            return None
        dues = [
            runtime.timer_due(b.timer_name)
            for key, b in engine.server.backends.items()
            if backend is None or key == backend
        ]
        armed = [due for due in dues if due is not None]
        return None if not armed else max(0.0, round(min(armed) - loop.time(), 3))

    def _judge(
        self,
        backend: str,
        instance: int,
        settings: BackendSettings,
        error: BaseException,
        conn: object,
    ) -> ConnectionLost | None:
        """A `ConnectionLost` to raise if `error` means the connection is gone (the engine is
        told, once per epoch); None for an ordinary error, which passes through."""
        cause: BaseException = error
        orig = getattr(error, "orig", None)  # SQLAlchemy wraps the driver's error
        if isinstance(orig, BaseException):
            cause = orig
        lost = bool(getattr(error, "connection_invalidated", False))
        if not lost and _pool_timeout(cause):
            return None  # a saturated pool is not a lost server
        if not (lost or clients.is_loss(settings, cause, conn)):
            return None
        reason = clients.reason(settings, cause)
        with self._lock:
            first = (backend, instance) not in self._reported
            self._reported.add((backend, instance))
            if self._epochs.get(backend) == instance:
                del self._epochs[backend]  # refused from now on, before the engine is told
        if first and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._deliver_loss, backend, instance, reason)
        return ConnectionLost(backend, reason)

    def _raise_if_lost(
        self, backend: str, epoch: int, settings: BackendSettings, error: BaseException
    ) -> None:
        """Raise `ConnectionLost` from `error` if it means the connection is gone; return
        (for the caller to re-raise `error`) if it is an ordinary error."""
        lost = self._judge(backend, epoch, settings, error, None)
        if lost is not None:
            raise lost from error

    def _deliver_loss(self, backend: str, epoch: int, reason: str) -> None:
        """A loss in the backend's current epoch goes to the engine; one in an epoch that has
        ended since is part of an outage the engine already heard of."""
        engine = self._engine
        if engine is None or self._latest.get(backend) != epoch:
            return
        b = engine.server.backends.get(backend)
        if b is not None and b.state == "online":
            self._deliver(Lost(backend, b.instance, reason))

    def _deliver(self, lost: Lost) -> None:
        if self._runtime is not None and self._engine is not None and not self._engine.exited:
            self._runtime.deliver(lost)

    # -- pooled connections -------------------------------------------------------------------

    def _take(self, backend: str, instance: int) -> Any:
        """A reusable connection of this epoch, or None; older epochs' are returned to close."""
        stale: list[Any] = []
        found = None
        with self._lock:
            idle = self._idle.get(backend, [])
            while idle:
                epoch, conn = idle.pop()
                if epoch == instance:
                    found = conn
                    break
                stale.append(conn)
            if found is not None:
                self._in_use[id(found)] = found
        self._discard(stale)
        return found

    def _lend(self, conn: Any) -> None:
        with self._lock:
            self._in_use[id(conn)] = conn

    def _give_back(self, backend: str, instance: int, conn: Any) -> bool:
        """Keep `conn` for reuse; False when it must be closed instead (the lifecycle closed,
        or the backend reconnected since: a new epoch gets new connections)."""
        with self._lock:
            self._in_use.pop(id(conn), None)
            b = None if self._engine is None else self._engine.server.backends.get(backend)
            if (
                self._closed
                or b is None
                or self._epochs.get(backend) != instance
                or getattr(conn, "closed", False)
            ):
                return False
            self._idle.setdefault(backend, []).append((instance, conn))
            return True

    def _forget(self, conn: Any) -> None:
        with self._lock:
            self._in_use.pop(id(conn), None)

    def _drain(self) -> list[Any]:
        """Every idle connection, taken out to be closed."""
        with self._lock:
            conns = [conn for idle in self._idle.values() for _, conn in idle]
            self._idle.clear()
        return conns

    def _discard(self, conns: list[Any]) -> None:
        raise NotImplementedError

    # -- the engine's side (on the loop) ------------------------------------------------------

    def _attach(self) -> None:
        """Build the engine and its runtime on the running loop, and start them."""
        from dbfsm.drivers.live import LiveDriver
        from dbfsm.live.runtime import AsyncioRuntime

        loop = self._loop = asyncio.get_running_loop()
        engine = self._engine = Engine(self.settings, clock=loop.time, pid=os.getpid())
        self._unforward = forward(engine)
        driver = LiveDriver(probe_interval=self._probe_interval, on_lost=self._lost_while_idle)
        self._runtime = AsyncioRuntime(engine, driver, self._notify)
        self._runtime.start()

    def _lost_while_idle(self, lost: Lost) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._deliver, lost)

    def _notify(self, action: Action, now: float) -> None:
        kind = type(action)
        if kind is ServingChanged:
            assert isinstance(action, ServingChanged)
            self.serving = action.serving
        elif kind is Transitioned:
            assert isinstance(action, Transitioned)
            if action.machine != "server":
                self._changed_at[action.machine] = _wall_now()
                with self._lock:
                    if action.dest == "online" and action.source != "online":
                        self._epoch_count += 1
                        self._epochs[action.machine] = self._epoch_count
                        self._latest[action.machine] = self._epoch_count
                    elif action.dest != "online":
                        self._epochs.pop(action.machine, None)
                if action.dest == "online" and action.source == "reconnecting":
                    self._call_restored(action.machine)
        elif kind is AttemptResult:
            assert isinstance(action, AttemptResult)
            self._attempts[action.backend] = action
        elif kind is Log:
            assert isinstance(action, Log)
            if action.message.severity in (Severity.ERROR, Severity.FATAL):
                self._last_error = action
        elif kind is Exit:
            assert isinstance(action, Exit)
            self.serving = False
            if self._started and self._exit_task is None:
                assert self._loop is not None
                self._exit_task = self._loop.create_task(self._exited(action.code))
        self._wake()

    def _wake(self) -> None:
        if not self._waiters:
            return
        still = []
        for holds, future in self._waiters:
            if future.done():
                continue
            if holds():
                future.set_result(None)
            else:
                still.append((holds, future))
        self._waiters = still

    async def _until(self, holds: Callable[[], bool], timeout: float | None) -> None:
        """Wait on the loop until `holds()` (checked on every engine notification)."""
        if holds():
            return
        assert self._loop is not None
        future: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append((holds, future))
        try:
            await asyncio.wait_for(future, timeout)
        finally:
            future.cancel()

    async def _start(self) -> None:
        """Kea's startup: open every backend; `StartupFailed` where Kea would not start."""
        self._attach()
        engine = self._engine
        assert engine is not None
        await self._until(lambda: engine.state != "starting", None)
        if engine.exited:
            await self._shutdown()
            last = self._last_error
            code = engine.exit_code or 1
            if last is None:
                raise StartupFailed("INIT_FAIL", "the server did not start", code)
            raise StartupFailed(last.message.id, last.message.text, code)
        self._started = True

    def _call_restored(self, backend: str) -> None:
        for callback in self._restored.get(backend, ()):
            self._run_restored(backend, callback)

    def _run_restored(self, backend: str, callback: Restored) -> None:
        raise NotImplementedError

    def _on_restored(self, backend: str, callback: Restored | None) -> None:
        if callback is None:
            return
        with self._lock:
            callbacks = self._restored.setdefault(backend, [])
            if callback not in callbacks:
                callbacks.append(callback)

    async def _exited(self, code: int) -> None:
        """Where Kea exits: close everything, then `on_exit(code)` or end the process."""
        await self._shutdown()
        if self._on_exit is not None:
            outcome = self._on_exit(code)
            if inspect.isawaitable(outcome):
                await outcome
            return
        log.critical("the lifecycle exits the process with code %d, as Kea would", code)
        for handler in logging.getLogger().handlers:
            with contextlib.suppress(Exception):
                handler.flush()
        os._exit(code)

    async def _shutdown(self) -> None:
        """Close the pooled connections, the engine's connections and its timers."""
        self._closed = True
        await self._close_all(self._drain())
        if self._runtime is not None:
            await self._runtime.aclose()
        if self._unforward is not None:
            self._unforward()
            self._unforward = None

    async def _close_all(self, conns: list[Any]) -> None:
        raise NotImplementedError

    async def _command(self, request: object) -> dict[str, Any]:
        if self._runtime is None:
            raise UsageError("the lifecycle is not started: use it as a context manager")
        answer: dict[str, Any] = await self._runtime.command(request)
        return answer


def _pool_timeout(error: BaseException) -> bool:
    return type(error).__name__ == "PoolTimeout" and type(error).__module__.startswith(
        "psycopg_pool"
    )


def _wall_now() -> float:
    return datetime.datetime.now(datetime.UTC).timestamp()


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.datetime.fromtimestamp(t, datetime.UTC).isoformat(timespec="milliseconds")


def _not_in_a_loop(what: str) -> None:
    if asyncio.events._get_running_loop() is not None:
        raise UsageError(f"Lifecycle.{what} blocks: in asyncio code use AsyncLifecycle")


# -- sync ---------------------------------------------------------------------------------------


class Lifecycle(_Lifecycle):
    """Kea's lifecycle for threaded code: the engine runs on its own thread.

    `with Lifecycle.from_config(source) as life:` starts it (raising `StartupFailed` where
    Kea would not start) and closes every connection it opened on the way out.
    """

    @classmethod
    def from_config(
        cls, source: Source, *, on_exit: OnExit | None = None, probe_interval: float | None = None
    ) -> Lifecycle:
        """`on_exit(code)` is called (on the lifecycle's thread) where Kea would exit;
        `probe_interval` seconds between checks of each idle engine connection (None: a
        loss is noticed by the next request, as in Kea)."""
        return cls(load_config(source), on_exit, probe_interval)

    def __init__(
        self, settings: ServerSettings, on_exit: OnExit | None, probe_interval: float | None
    ) -> None:
        super().__init__(settings, on_exit, probe_interval)
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    def __enter__(self) -> Lifecycle:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        _not_in_a_loop("start")
        if self._thread is not None:
            raise UsageError("the lifecycle is already started")
        loop = self._thread_loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=loop.run_forever, name="dbfsm-lifecycle", daemon=True
        )
        self._thread.start()
        try:
            self._on_loop(self._start())
        except BaseException:
            self._stop_loop(loop)
            raise

    def close(self) -> None:
        """Close every connection (pooled and the engine's); idempotent."""
        loop, thread = self._thread_loop, self._thread
        if loop is None or thread is None or loop.is_closed():
            self._closed = True
            return
        if threading.current_thread() is thread:  # from on_exit: the loop closes itself
            self._closed = True
            return
        if loop.is_running():
            with contextlib.suppress(Exception):
                self._on_loop(self._shutdown())
        self._stop_loop(loop)

    def _stop_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        if not loop.is_running():
            loop.close()

    def _on_loop(self, work: Awaitable[T]) -> T:
        """Run `work` on the lifecycle's thread and wait for its result."""
        loop = self._thread_loop
        if loop is None or loop.is_closed():
            raise UsageError("the lifecycle is not started")

        async def run() -> T:
            return await work

        return asyncio.run_coroutine_threadsafe(run(), loop).result()

    def wait_serving(self, timeout: float | None = None) -> bool:
        """Block until the server serves (True) or `timeout` seconds pass (False). Wakes
        on the transition itself, not by polling."""
        _not_in_a_loop("wait_serving")
        if self.serving:
            return True
        self._require_engine()
        with contextlib.suppress(TimeoutError):
            self._on_loop(self._until(lambda: self.serving or not self.alive, timeout))
        return self.serving

    def command(self, request: object) -> dict[str, Any]:
        """Kea's answer to a control command, as `dbfsm run` gives it."""
        _not_in_a_loop("command")
        return self._on_loop(self._command(request))

    @contextlib.contextmanager
    def connection(self, backend: str) -> Iterator[Any]:
        """A connection of the service's own to `backend`: new, or reused from this epoch.

        Committed when the block returns, rolled back when it raises. `NotServing` /
        `BackendUnavailable` before any I/O; `ConnectionLost` (the library's error as its
        cause) when the connection is lost inside; any other error passes through.
        """
        _not_in_a_loop("connection")
        settings, instance = self._admit(backend)
        conn = self._take(backend, instance)
        if conn is None:
            try:
                conn = clients.open_sync(settings)
            except Exception as error:
                self._raise_if_lost(backend, instance, settings, error)
                raise
            self._lend(conn)
        try:
            yield conn
            clients.finish_sync(conn, commit=True)
        except BaseException as error:
            lost = self._judge(backend, instance, settings, error, conn)
            if lost is not None:
                self._forget(conn)
                clients.close_sync(conn)
                raise lost from error
            self._end_after_error(backend, instance, conn)
            raise
        if not self._give_back(backend, instance, conn):
            clients.close_sync(conn)

    def _end_after_error(self, backend: str, instance: int, conn: Any) -> None:
        try:
            clients.finish_sync(conn, commit=False)
        except Exception:
            self._forget(conn)
            clients.close_sync(conn)
            return
        if not self._give_back(backend, instance, conn):
            clients.close_sync(conn)

    @contextlib.contextmanager
    def guard(self, backend: str, *, on_restored: Restored | None = None) -> Iterator[None]:
        """The gate and the loss rules around a connection from the service's own pool.

        `on_restored()` is called (in a worker thread) each time a reconnect attempt brings
        the backend back, so the pool can drop the connections the outage broke.
        """
        _not_in_a_loop("guard")
        self._on_restored(backend, on_restored)
        settings, instance = self._admit(backend)
        try:
            yield
        except BaseException as error:
            self._raise_if_lost(backend, instance, settings, error)
            raise

    def _discard(self, conns: list[Any]) -> None:
        for conn in conns:
            clients.close_sync(conn)

    async def _close_all(self, conns: list[Any]) -> None:
        assert self._loop is not None
        await self._loop.run_in_executor(None, self._discard, conns)

    def _run_restored(self, backend: str, callback: Restored) -> None:
        assert self._loop is not None
        self._loop.run_in_executor(None, _safely, backend, callback)


# -- asyncio ------------------------------------------------------------------------------------


class AsyncLifecycle(_Lifecycle):
    """Kea's lifecycle for asyncio code, on the running loop.

    `async with AsyncLifecycle.from_config(source) as life:`; `life.connection(backend)` is
    an async context manager yielding a `psycopg.AsyncConnection` for PostgreSQL and a
    `dbfsm.drivers.service.AsyncMySQLConnection` (PyMySQL in its own worker thread) for
    MySQL/MariaDB.
    """

    @classmethod
    def from_config(
        cls, source: Source, *, on_exit: OnExit | None = None, probe_interval: float | None = None
    ) -> AsyncLifecycle:
        """As `Lifecycle.from_config`; `on_exit` runs on the loop and may be a coroutine."""
        return cls(load_config(source), on_exit, probe_interval)

    async def __aenter__(self) -> AsyncLifecycle:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        if self._engine is not None:
            raise UsageError("the lifecycle is already started")
        await self._start()

    async def aclose(self) -> None:
        """Close every connection (pooled and the engine's); idempotent."""
        if self._engine is not None and not (self._closed and self._runtime is None):
            await self._shutdown()
            self._runtime = None
        self._closed = True

    async def wait_serving(self, timeout: float | None = None) -> bool:
        if self.serving:
            return True
        self._require_engine()
        with contextlib.suppress(TimeoutError):
            await self._until(lambda: self.serving or not self.alive, timeout)
        return self.serving

    async def command(self, request: object) -> dict[str, Any]:
        return await self._command(request)

    @contextlib.asynccontextmanager
    async def connection(self, backend: str) -> AsyncIterator[Any]:
        """As `Lifecycle.connection`, for asyncio (see the class for what it yields)."""
        settings, instance = self._admit(backend)
        conn = self._take(backend, instance)
        if conn is None:
            try:
                conn = await clients.open_async(settings)
            except Exception as error:
                self._raise_if_lost(backend, instance, settings, error)
                raise
            self._lend(conn)
        try:
            yield conn
            await clients.finish_async(conn, commit=True)
        except BaseException as error:
            lost = self._judge(backend, instance, settings, error, conn)
            if lost is not None:
                self._forget(conn)
                await clients.close_async(conn)
                raise lost from error
            await self._end_after_error(backend, instance, conn)
            raise
        if not self._give_back(backend, instance, conn):
            await clients.close_async(conn)

    async def _end_after_error(self, backend: str, instance: int, conn: Any) -> None:
        try:
            await clients.finish_async(conn, commit=False)
        except Exception:
            self._forget(conn)
            await clients.close_async(conn)
            return
        if not self._give_back(backend, instance, conn):
            await clients.close_async(conn)

    @contextlib.asynccontextmanager
    async def guard(
        self, backend: str, *, on_restored: Restored | None = None
    ) -> AsyncIterator[None]:
        """As `Lifecycle.guard`; `on_restored` runs on the loop and may be a coroutine."""
        self._on_restored(backend, on_restored)
        settings, instance = self._admit(backend)
        try:
            yield
        except BaseException as error:
            self._raise_if_lost(backend, instance, settings, error)
            raise

    def _discard(self, conns: list[Any]) -> None:
        if conns and self._loop is not None:
            for conn in conns:
                self._loop.create_task(clients.close_async(conn))

    async def _close_all(self, conns: list[Any]) -> None:
        await asyncio.gather(*(clients.close_async(c) for c in conns))

    def _run_restored(self, backend: str, callback: Restored) -> None:
        try:
            outcome = callback()
        except Exception:
            log.exception("on_restored of %s failed", backend)
            return
        if inspect.isawaitable(outcome) and self._loop is not None:
            self._loop.create_task(_awaited(backend, outcome))


def _safely(backend: str, callback: Restored) -> None:
    try:
        callback()
    except Exception:
        log.exception("on_restored of %s failed", backend)


async def _awaited(backend: str, outcome: Awaitable[object]) -> None:
    try:
        await outcome
    except Exception:
        log.exception("on_restored of %s failed", backend)


__all__ = [
    "AsyncLifecycle",
    "BackendUnavailable",
    "ConnectionLost",
    "Lifecycle",
    "NotServing",
    "StartupFailed",
    "Unavailable",
    "load_config",
]
