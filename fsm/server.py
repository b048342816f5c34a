"""The model of the server machine: configuration, backends, disabling origins, effects.

The server owns the backends of the configuration being applied or in force, Kea's
NetworkState (the set of origins that disable the service) and the reply owed to a
configuration command. Which effect runs when is decided by `fsm.graph.SERVER`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from dbfsm.fsm import forks, messages
from dbfsm.fsm.actions import Action, CancelTimer, Exit, Log, Reply, StartTimer
from dbfsm.fsm.answers import answer, config_hash
from dbfsm.fsm.backend import Backend
from dbfsm.fsm.graph import BACKEND, SERVER
from dbfsm.fsm.settings import DB_CONNECTION_ORIGIN, ServerSettings


class Machinery(Protocol):
    """What the server needs from the engine that runs the machines."""

    def now(self) -> float: ...
    def post(self, model: Any, trigger: str) -> None: ...
    def post_job(self, backend: Backend, trigger: str) -> None: ...
    def emit(self, action: Action) -> None: ...
    def attach(self, backend: Backend) -> None: ...
    def detach(self, backend: Backend) -> None: ...
    def fire(self, model: Any, trigger: str) -> bool: ...


@dataclass(frozen=True)
class DelayedEnable:
    """The owner of a `dhcp-disable` max-period timer: the origin it enables again (data,
    not a closure, so that a forked server's timers are its own)."""

    origin: int


TimerOwner = Backend | DelayedEnable


@dataclass(frozen=True)
class PendingReply:
    """The command that started a reconfiguration, answered once it settles."""

    id: int
    command: str
    source: str | None


class Server:
    def __init__(self, machinery: Machinery, settings: ServerSettings) -> None:
        self.state = SERVER.initial  # changed only by the engine, as the graph says
        self.machinery = machinery
        self.emit: Callable[[Action], None] = machinery.emit  # what backends emit, directly
        self.current: ServerSettings | None = None  # the committed configuration
        self.pending: ServerSettings = settings  # the configuration being applied
        self.backends: dict[str, Backend] = {}
        # Kea's NetworkState: origin number per owner (a backend key, or "origin N" for a
        # command), so that two backends sharing Kea's origin number are still told apart.
        self.origins: dict[str, int] = {}
        self.timers: dict[str, TimerOwner] = {}
        self.backend_unreachable = False
        self.failure = ""  # why the configuration being applied failed
        self.reply: PendingReply | None = None
        self.exit_code: int | None = None
        self.committed_at: float | None = None
        self._instances = 0

    def fork(self, machinery: Machinery) -> tuple[Server, dict[Backend, Backend]]:
        """A copy in the same state for a forked engine, and its backends by the originals:
        the copy shares nothing that either one changes later."""
        twin = forks.twin(self)
        twin.machinery = machinery
        twin.emit = machinery.emit
        twin.origins = dict(self.origins)
        twins = {b: b.fork(twin) for b in self.backends.values()}
        twin.backends = {key: twins[b] for key, b in self.backends.items()}
        twin.timers = {
            name: twins.get(owner, owner) if isinstance(owner, Backend) else owner
            for name, owner in self.timers.items()
        }
        return twin, twins

    def close(self) -> None:
        """Drop every reference, to the engine and to the backends (which refer back to
        this server): see `Engine.close`. A backend keeps its own state."""
        self.__dict__.clear()

    @property
    def universe(self) -> int:
        return (self.current or self.pending).universe

    @property
    def starts_disabled(self) -> bool:
        """Whether a configuration that settles now must not serve: a command disabled the
        service (origins that survive the commit), or a stop-retry-exit backend waits for
        its recovery under retry-on-startup (it stops the service as soon as it starts)."""
        if any(o < DB_CONNECTION_ORIGIN for o in self.origins.values()):
            return True
        stops = BACKEND.guards["stops_service_on_loss"].holds
        return any(b.state == "retry_pending" and stops(b) for b in self.backends.values())

    # -- Host protocol, used by backends -------------------------------------------------------

    def log(self, name: str, *args: object) -> None:
        self.emit(Log(messages.server(self.universe, name, *args)))

    def disable_service(self, origin: int, owner: str) -> None:
        self.origins[owner] = origin
        self.machinery.post(self, "service_changed")

    def enable_service(self, owner: str) -> None:
        if self.origins.pop(owner, None) is not None:
            self.machinery.post(self, "service_changed")

    def enable_origin(self, origin: int) -> None:
        """dhcp-enable with origin-id: lifts every owner of that origin number."""
        for owner in [k for k, o in self.origins.items() if o == origin]:
            self.enable_service(owner)

    def backend_settled(self, backend: Backend) -> None:
        if backend.state == "unreachable":
            self.backend_unreachable = True
            self.failure = f"Unable to open database: {backend.last_error}"
            self.machinery.post(self, "settled")
        else:
            self.open_next()

    def post_recovery(self, backend: Backend) -> None:
        self.machinery.post_job(backend, "lost")

    def exit_for_backend(self) -> None:
        self.exit_code = 1
        self.machinery.post(self, "backend_fatal")

    def arm_timer(self, name: str, delay: float, owner: TimerOwner) -> None:
        self.timers[name] = owner
        self.emit(StartTimer(name, delay))

    def disarm_timer(self, name: str) -> None:
        if self.timers.pop(name, None) is not None:
            self.emit(CancelTimer(name))

    # -- configuration ------------------------------------------------------------------------

    def open_next(self) -> None:
        for backend in self.backends.values():
            if backend.state == "configured":
                self.machinery.post(backend, "open")
                return
        self.machinery.post(self, "settled")

    def _replace_backends(self, settings: ServerSettings) -> None:
        self.backend_unreachable = False
        self.failure = ""
        self.backends = {}
        for b in settings.backends:
            self._instances += 1
            backend = Backend(self, b, self._instances)
            self.backends[b.key] = backend
            self.machinery.attach(backend)

    def _answer(self, response: dict[str, Any]) -> None:
        if self.reply is not None:
            self.emit(Reply(self.reply.id, self.reply.command, response))
            self.reply = None

    @property
    def _reloading(self) -> bool:
        return self.reply is not None and self.reply.command == "config-reload"

    # -- effects (named in fsm.graph.SERVER) ---------------------------------------------------

    def open_backends(self, _: Any = None) -> None:
        self._replace_backends(self.pending)
        self.open_next()

    def close_backends(self, _: Any = None) -> None:
        for name in list(self.timers):  # Kea unregisters every timer when reconfiguring
            self.disarm_timer(name)
        for backend in self.backends.values():
            if backend.state != "closed":
                self.machinery.fire(backend, "close")
            self.machinery.detach(backend)
        self.backends = {}

    def fail_startup(self, _: Any = None) -> None:
        source = self.pending.source or "<inline>"
        self.log("CONFIG_LOAD_FAIL", source, self.failure)
        self.log("INIT_FAIL", f"configuration error using file '{source}': {self.failure}")
        self.exit_code = 1

    def commit(self, _: Any = None) -> None:
        starting = self.current is None
        self.current = self.pending
        self.committed_at = self.machinery.now()
        for owner in [k for k, o in self.origins.items() if o >= DB_CONNECTION_ORIGIN]:
            del self.origins[owner]
        for backend in self.backends.values():
            backend.config_applied = True
        self.log("CONFIG_COMPLETE", _summary(self.current))
        if starting:
            self.log("STARTED", messages.KEA_RELEASE)
        if self._reloading:
            self.log("DYNAMIC_RECONFIGURATION_SUCCESS", self.current.source or "<inline>")
        hash_ = config_hash(self.current.document)
        self._answer(answer(0, "Configuration successful.", {"hash": hash_}))
        for backend in self.backends.values():  # Kea posted their recovery while connecting
            if backend.state == "retry_pending":
                self.machinery.post(backend, "recovery_posted")

    def fail_reconfiguration(self, _: Any = None) -> None:
        text = self.failure
        if self._reloading:
            source = self.pending.source or "<inline>"
            self.log("CONFIG_LOAD_FAIL", source, self.failure)
            self.log("DYNAMIC_RECONFIGURATION_FAIL", source)
            text = f"Config reload failed: configuration error using file '{source}': {text}"
        self.log("CONFIG_UNRECOVERABLE_ERROR")
        self._answer(answer(1, text))

    def exit(self, _: Any = None) -> None:
        code = 0 if self.exit_code is None else self.exit_code
        self.exit_code = code
        for name in list(self.timers):
            self.disarm_timer(name)
        if self.current is not None:  # Kea's main logs this once run() returns
            self.log("SHUTDOWN")
        self.emit(Exit(code))


def _summary(settings: ServerSettings) -> str:
    """Kea's configuration summary: the number of subnets, and DDNS."""
    server = settings.document.get(settings.root, {})
    family = "IPv4" if settings.universe == 4 else "IPv6"
    subnets = server.get(f"subnet{settings.universe}", [])
    for network in server.get("shared-networks", []):
        subnets = [*subnets, *network.get(f"subnet{settings.universe}", [])]
    counted = f"added {family} subnets: {len(subnets)}" if subnets else f"no {family} subnets!"
    ddns = server.get("dhcp-ddns", {}).get("enable-updates", False)
    return f"{counted}; DDNS: {'enabled' if ddns else 'disabled'}"
