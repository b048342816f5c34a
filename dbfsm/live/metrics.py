"""Prometheus metrics of one lifecycle, kept from the engine's notifications.

A `Metrics` subscribes to an `Engine` and turns what it announces (`ServingChanged`,
`Transitioned`, `AttemptResult`, `Exit`) into Prometheus series, so that a service embedding
the engine, or `dbfsm run --metrics-port`, shows whether it serves, which backends are
connected, how often they were lost and how long recovery took. Nothing here runs on a
request's path: a request the engine does not hear about costs nothing, and a scrape reads
only what the notifications left (the not-serving time is brought up to date by the clock
at scrape time, so it never waits for the next change).

Labels hold backend keys only (`lease-database`, `hosts-databases[0]`): never a database
name, host or password. prometheus_client is an optional dependency (`dbfsm[metrics]`); it
is imported here and nowhere else.

    metrics = Metrics(engine)            # its own registry: two lifecycles never clash
    server = metrics.serve(9547)         # http://127.0.0.1:9547/metrics
    ...
    server.close()
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from wsgiref.simple_server import WSGIServer

from dbfsm.fsm.actions import Action, AttemptResult, Exit, ServingChanged, Transitioned
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.errors import InputError, UsageError

EXTRA = "dbfsm[metrics]"


class MetricsUnavailable(InputError, ImportError):
    """prometheus_client is not installed. An `InputError` so that the command line says so in
    one line; an `ImportError` so that a caller probing for the extra can catch that."""


try:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
    from prometheus_client import start_http_server as _start_http_server
    from prometheus_client.core import CounterMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as error:  # pragma: no cover - the test environment has it
    raise MetricsUnavailable(
        f"metrics need prometheus_client, which is not installed: pip install '{EXTRA}'"
    ) from error

__all__ = ["EXTRA", "Metrics", "MetricsServer", "MetricsUnavailable"]

LOSS_TRIGGER = "lost"  # fsm.graph BACKEND: the trigger that takes a backend out of "online"
ONLINE = "online"
CLOSED = "closed"  # a reconfiguration or shutdown: a loss still open ends without recovery

# Seconds from a loss to the backend's return: Kea's reconnect-wait-time is often seconds,
# max-reconnect-tries times that can reach minutes or an hour.
RECOVERY_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class Metrics:
    """The Prometheus series of one engine, in `registry` (a new private one by default, so
    two lifecycles in one process, or one test, never register the same names twice).

    `clock` (seconds; default: the engine's own) times the not-serving total and recoveries.
    The engine must announce its transitions (`Engine(..., transitions=True)`, the default):
    connected backends, losses and recoveries are read from them."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], float] | None = None,
        *,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if not engine.announces_transitions:
            raise UsageError("metrics need an engine built with transitions=True")
        self.engine = engine
        self.clock: Callable[[], float] = clock or engine.clock
        self.registry = CollectorRegistry() if registry is None else registry
        self.serving = Gauge(
            "dbfsm_serving",
            "1 while the server serves clients, else 0",
            registry=self.registry,
        )
        self.connected = Gauge(
            "dbfsm_backend_connected",
            "1 while the backend is online (connected and in use), else 0",
            ["backend"],
            registry=self.registry,
        )
        self.losses = Counter(
            "dbfsm_backend_losses_total",
            "times the backend's connection was lost while it was online",
            ["backend"],
            registry=self.registry,
        )
        self.attempts = Counter(
            "dbfsm_reconnect_attempts_total",
            "reconnect attempts, by result (success or failure)",
            ["backend", "result"],
            registry=self.registry,
        )
        self.recovery = Histogram(
            "dbfsm_recovery_seconds",
            "seconds from a backend's loss to its return online",
            ["backend"],
            buckets=RECOVERY_BUCKETS,
            registry=self.registry,
        )
        self._lock = threading.Lock()  # the not-serving interval: notified here, read by scrapes
        self._not_serving_total = 0.0
        self._not_serving_since: float | None = None if engine.serving else self.clock()
        self._ended = False
        self._lost_at: dict[str, float] = {}
        self._known: set[str] = set()
        self.serving.set(1 if engine.serving else 0)
        for key, state in engine.backend_states().items():
            self._know(key)
            self.connected.labels(key).set(1 if state == ONLINE else 0)
        self.registry.register(_NotServing(self))
        self._unsubscribe: Callable[[], None] | None = engine.subscribe(self._on_action)

    # -- public API ---------------------------------------------------------------------------

    def text(self) -> str:
        """The registry in Prometheus' text exposition format, as a scrape would get it."""
        return generate_latest(self.registry).decode("utf-8")

    def serve(self, port: int, host: str = "127.0.0.1") -> MetricsServer:
        """Serve `/metrics` over HTTP on a daemon thread, on loopback unless `host` says
        otherwise (the series say which databases are down: not for everyone to read).
        `port` 0 picks a free port (`MetricsServer.port`). Close the result to stop it."""
        try:
            server, thread = _start_http_server(port, addr=host, registry=self.registry)
        except OSError as error:
            raise InputError(f"cannot serve metrics on {host} port {port}: {error}") from error
        return MetricsServer(server, thread)

    def not_serving_seconds(self) -> float:
        """Seconds the server has not served since these metrics began, up to now (up to its
        exit if it exited)."""
        with self._lock:
            since = self._not_serving_since
            running = 0.0 if since is None else max(0.0, self.clock() - since)
            return self._not_serving_total + running

    def close(self) -> None:
        """Stop listening to the engine; the series keep their last values."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # -- internals ----------------------------------------------------------------------------

    def _know(self, key: str) -> None:
        """Create a backend's series at zero when it first appears, so a rate or an alert on
        them has a start rather than a gap."""
        if key in self._known:
            return
        self._known.add(key)
        self.connected.labels(key)
        self.losses.labels(key)
        self.attempts.labels(key, "success")
        self.attempts.labels(key, "failure")
        self.recovery.labels(key)

    def _on_action(self, action: Action) -> None:
        match action:
            case Transitioned(machine="server"):
                pass
            case Transitioned(machine=key, trigger=trigger, source=source, dest=dest):
                self._backend_moved(key, trigger, source, dest)
            case ServingChanged(serving=serving):
                self.serving.set(1 if serving else 0)
                self._serving_changed(serving)
            case AttemptResult(backend=key, ok=ok):
                self._know(key)
                self.attempts.labels(key, "success" if ok else "failure").inc()
            case Exit():
                self.serving.set(0)
                with self._lock:
                    self._close_interval()
                    self._ended = True

    def _backend_moved(self, key: str, trigger: str, source: str, dest: str) -> None:
        self._know(key)
        self.connected.labels(key).set(1 if dest == ONLINE else 0)
        if source == ONLINE and trigger == LOSS_TRIGGER and dest != ONLINE:
            self.losses.labels(key).inc()
            self._lost_at.setdefault(key, self.clock())
        elif dest == ONLINE:
            lost_at = self._lost_at.pop(key, None)
            if lost_at is not None:
                self.recovery.labels(key).observe(max(0.0, self.clock() - lost_at))
        elif dest == CLOSED:
            self._lost_at.pop(key, None)

    def _serving_changed(self, serving: bool) -> None:
        with self._lock:
            if self._ended:
                return
            if serving:
                self._close_interval()
            elif self._not_serving_since is None:
                self._not_serving_since = self.clock()

    def _close_interval(self) -> None:
        since = self._not_serving_since
        if since is not None:
            self._not_serving_total += max(0.0, self.clock() - since)
            self._not_serving_since = None


class _NotServing(Collector):
    """`dbfsm_not_serving_seconds_total`, computed when scraped so that it is current while
    the server stays down (a plain counter would only move on the next change)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        family.add_metric([], self.metrics.not_serving_seconds())
        return [family]

    @staticmethod
    def _family() -> CounterMetricFamily:
        return CounterMetricFamily(
            "dbfsm_not_serving_seconds",
            "seconds the server did not serve clients (starting, not serving, unconfigured)",
        )


@dataclass
class MetricsServer:
    """The HTTP server `Metrics.serve` started; `close()` (or leaving a `with`) stops it."""

    server: WSGIServer
    thread: threading.Thread
    _closed: bool = field(default=False, repr=False)

    @property
    def host(self) -> str:
        return str(self.server.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
