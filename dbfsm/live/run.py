"""`dbfsm run`: the engine live, on the real clock, against the configured databases.

Client traffic is what makes a loss noticed, as in Kea: `traffic` requests a second, each
using the lease database, then the host databases in order (those online), and only while
the server serves (a server that does not serve drops requests unread). The first backend
that turns out lost drops the request, so the ones after it are not used: one loss per
request. Config backends are used by the configuration poll every `config-fetch-wait-time`
seconds while a configuration is in force. A request still running (a query waiting on a hung
server) holds its backends: the next tick does not double them, as a busy Kea thread would not.

The records are those of `dbfsm simulate` (`t` in seconds since the run started), given to
`sink` as they happen, the `summary` last. The run ends when the engine exits the server
(the exit status is Kea's: 1 after a fatal database failure, the `exit-value` of `shutdown`),
or on `stop()` / `until` (exit status 0: the engine did not exit; the summary says where it
was). Either way every connection is closed and the control socket removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import TextIO

from dbfsm.drivers.base import Driver
from dbfsm.files.reading import load_file
from dbfsm.fsm.actions import Action
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.errors import InputError
from dbfsm.fsm.events import Lost
from dbfsm.fsm.records import Record, record_of, summary, to_jsonl, to_text
from dbfsm.fsm.settings import Role, ServerSettings
from dbfsm.live.control import RECEIVE_TIMEOUT, ControlChannel, socket_name
from dbfsm.live.runtime import AsyncioRuntime

Sink = Callable[[Record], None]

log = logging.getLogger("dbfsm.run")

# Requests a second: one every 1000 s at least, one a millisecond at most (the event loop's
# timer granularity; a busier client would only queue behind the request under way).
MIN_TRAFFIC, MAX_TRAFFIC = 0.001, 1000.0


class LiveRun:
    """One live run of a configuration; `await run()` returns the exit status."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        traffic: float = 10.0,
        probe_interval: float | None = None,
        sink: Sink | None = None,
        driver: Driver | None = None,
        control_timeout: float = RECEIVE_TIMEOUT,
    ) -> None:
        if not (traffic == 0 or MIN_TRAFFIC <= traffic <= MAX_TRAFFIC):
            raise InputError(
                f"traffic must be 0 or from {MIN_TRAFFIC:g} to {MAX_TRAFFIC:g} requests a "
                f"second, not {traffic}"
            )
        self.settings = settings
        self.traffic = traffic
        self.socket_path = socket_name(settings)
        self.sink: Sink = sink or (lambda record: None)
        self.driver: Driver = driver or _live_driver(probe_interval, self._lost_while_idle)
        self.engine = Engine(
            settings, clock=time.monotonic, loader=_loader(settings), pid=os.getpid()
        )
        self.control_timeout = control_timeout
        self.runtime: AsyncioRuntime | None = None
        self.control: ControlChannel | None = None
        self._start = 0.0
        self._stop = asyncio.Event()  # set before run() starts, the run ends at once
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy: set[str] = set()
        self._requests: set[asyncio.Task[None]] = set()
        self._sink_error: Exception | None = None

    async def run(self, until: float | None = None) -> int:
        """Run until the server exits, `stop()` is called or `until` seconds have passed."""
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()
        runtime = self.runtime = AsyncioRuntime(self.engine, self.driver, self._notify)
        if self.socket_path is not None:
            self.control = ControlChannel(
                self.socket_path, runtime.command, timeout=self.control_timeout
            )
            await self.control.start()
        loops = [self._loop.create_task(self._client_traffic())]
        loops.append(self._loop.create_task(self._config_polls()))
        end = 0.0
        try:
            runtime.start()
            await self._until_end(runtime, until)
            end = self._elapsed()
        finally:
            for task in [*loops, *self._requests]:
                task.cancel()
            await asyncio.gather(*loops, *self._requests, return_exceptions=True)
            if self.control is not None:
                await self.control.close()
            await runtime.aclose()
        if self._sink_error is not None:
            raise self._sink_error
        engine = self.engine
        self.sink(summary(end, engine.exit_code, engine.serving, engine.state))
        return 0 if engine.exit_code is None else engine.exit_code

    async def stop(self) -> None:
        """End the run (as SIGTERM does): it closes everything and returns 0."""
        self.request_stop()

    def request_stop(self) -> None:
        """`stop()` for callers that cannot await (a signal handler, on the run's loop)."""
        self._stop.set()

    # -- internals ----------------------------------------------------------------------------

    async def _until_end(self, runtime: AsyncioRuntime, until: float | None) -> None:
        ends = [
            asyncio.ensure_future(runtime.wait_exit()),
            asyncio.ensure_future(self._stop.wait()),
        ]
        try:
            await asyncio.wait(ends, timeout=until, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for end in ends:
                end.cancel()
            await asyncio.gather(*ends, return_exceptions=True)

    def _elapsed(self) -> float:
        assert self._loop is not None
        return self._loop.time() - self._start

    def _notify(self, action: Action, now: float) -> None:
        record = record_of(action, now - self._start)
        if record is not None and self._sink_error is None:
            try:
                self.sink(record)
            except Exception as error:  # a closed pipe, say: stop cleanly, then report it
                self._sink_error = error
                self.request_stop()

    def _lost_while_idle(self, lost: Lost) -> None:
        """The driver's idle watch found a connection gone: the engine hears it on the loop."""
        if self._loop is not None and self.runtime is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.runtime.deliver, lost)

    def _backends(self, role: Callable[[Role], bool]) -> list[str]:
        """Keys of the online backends whose role passes `role`, not already busy."""
        return [
            key
            for key, b in self.engine.backends.items()
            if b.state == "online" and role(b.settings.role) and key not in self._busy
        ]

    def _request(self, keys: list[str]) -> None:
        """One request using `keys` in turn, until one of them turns out lost."""
        assert self._loop is not None
        if not keys:
            return
        self._busy.update(keys)
        task = self._loop.create_task(self._use_in_turn(keys))
        self._requests.add(task)
        task.add_done_callback(functools.partial(self._request_done, keys))

    async def _use_in_turn(self, keys: list[str]) -> None:
        assert self.runtime is not None
        for key in keys:
            if await self.runtime.use(key):
                return

    def _request_done(self, keys: list[str], task: asyncio.Task[None]) -> None:
        self._busy.difference_update(keys)
        self._requests.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:  # a driver bug; only the type: its text might hold a secret
            log.error(
                "a request on %s failed unexpectedly: %s", ", ".join(keys), type(error).__name__
            )

    async def _client_traffic(self) -> None:
        if self.traffic == 0:
            return
        await _ticks(1.0 / self.traffic, self._client_tick)

    def _client_tick(self) -> None:
        if self.engine.serving:
            self._request(self._backends(lambda role: role is not Role.CONFIG))

    async def _config_polls(self) -> None:
        """Every `config-fetch-wait-time` of the configuration in force (0: Kea schedules no
        poll; a later configuration may set one)."""
        while True:
            period = self.engine.settings.config_fetch_wait_time
            await asyncio.sleep(period if period > 0 else 1.0)
            if period > 0:
                self._config_tick()

    def _config_tick(self) -> None:
        if self.engine.state in ("serving", "not_serving"):
            for key in self._backends(lambda role: role is Role.CONFIG):  # each its own poll
                self._request([key])


async def _ticks(every: float, tick: Callable[[], None]) -> None:
    """Call `tick` every `every` seconds without drift (a late tick does not shift the rest)."""
    loop = asyncio.get_running_loop()
    due = loop.time()
    while True:
        due += every
        await asyncio.sleep(max(0.0, due - loop.time()))
        due = max(due, loop.time() - every)  # after a stall, do not fire a burst to catch up
        tick()


def _loader(settings: ServerSettings) -> Callable[[], ServerSettings] | None:
    """`config-reload` rereads the file the configuration came from."""
    source = settings.source
    return None if source is None else functools.partial(load_file, source)


def _live_driver(probe_interval: float | None, on_lost: Callable[[Lost], None]) -> Driver:
    from dbfsm.drivers.live import LiveDriver

    return LiveDriver(probe_interval=probe_interval, on_lost=on_lost)


# -- `dbfsm run` ------------------------------------------------------------------------------


def _positive(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise InputError(f"{name} must be a finite number > 0, not {value}")


def printer(form: str, out: TextIO) -> Sink:
    """Print each record as it happens, in `dbfsm simulate`'s formats, flushed."""
    render = to_jsonl if form == "json" else to_text

    def sink(record: Record) -> None:
        out.write(render([record]))
        out.flush()

    return sink


def run_file(
    config: str,
    *,
    traffic: float,
    form: str,
    until: float | None,
    probe_interval: float | None,
    metrics_port: int | None,
    metrics_host: str,
    report: str | None,
) -> int:
    """`dbfsm run`: the configuration file `config` run live, each record printed on stdout in
    `form` as it happens, Prometheus metrics served on `metrics_port` (None: not served), the
    run's HTML page written to `report` at its end; the exit status."""
    _positive("--until", until)
    _positive("--probe-interval", probe_interval)
    settings = load_file(config)
    live = LiveRun(
        settings,
        traffic=traffic,
        probe_interval=probe_interval,
        sink=printer(form, sys.stdout),
    )
    if report:
        from dbfsm.report.build import LiveReport

        LiveReport(report, settings).attach(live)
    if metrics_port is None:
        return asyncio.run(_main(live, until))
    if not 0 <= metrics_port <= 65535:
        raise InputError(f"--metrics-port must be from 0 to 65535, not {metrics_port}")
    from dbfsm.live.metrics import Metrics  # prometheus_client: only when asked for

    with Metrics(live.engine).serve(metrics_port, metrics_host) as server:
        sys.stderr.write(f"dbfsm run: metrics at {server.url}\n")
        sys.stderr.flush()
        return asyncio.run(_main(live, until))


async def _main(live: LiveRun, until: float | None) -> int:
    """The run, ended by SIGINT or SIGTERM as by `stop()`."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, live.request_stop)
    try:
        return await live.run(until)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signum)
