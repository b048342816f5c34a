"""The lifecycle invariants, checked on every action the engine emits and after every call.

One checker serves both the property tests (random runs) and `dbfsm verify` (every reachable
state of a bounded space): whoever drives an engine implements `Run` and calls the
`Observer` hooks around each call into it.

Each assertion message starts with the number and name of the invariant it checks (the
numbering of the property-test brief):

 1 stop-retry-exit stops service: never serving while a stop-retry-exit backend recovers
 2 serve-retry keeps service: losses of serve-retry-* backends alone never stop service
 3 exits only by rule: code 1 after a FATAL/ERROR log (startup failure, reconnect disabled,
   retries exhausted under *-exit), or the shutdown command's exit-value
 4 reconnect loop: at most max-reconnect-tries attempts per loss episode, the first at the
   instant of the loss, each next one exactly reconnect-wait-time ms after the last failure
 5 restored means serving: every backend online and no command origin => serving
 6 one reply per command while the process is up (config-set/reload: once settled)
 7 failed reconfiguration: never exits, never serves until a later one succeeds
 8 recovery needs startup: no attempt, no LOST_CONNECTION before the backend's configuration
   was applied, and a backend that never connected retries only under retry-on-startup
 9 serving notices agree with `engine.serving` and alternate
10 passwords never appear in a log text or a reply

Where a check restates a rule (reconnect disabled = 0 tries, 0 wait or memfile; exit modes)
it is written from the specification (kea-database-connectivity.txt, kea-behaviour.md §2),
not by calling the engine's guards.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from dbfsm.fsm import forks
from dbfsm.fsm.actions import (
    Action,
    AttemptResult,
    Exit,
    Log,
    Open,
    Reply,
    ServingChanged,
    Transitioned,
)
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.events import Command, TimerFired
from dbfsm.fsm.messages import Severity
from dbfsm.fsm.settings import DB_CONNECTION_ORIGIN, BackendSettings, DbType, OnFail

# Every configuration a checked run uses carries this in each password, so that a password
# leaking into a log text or a command reply is found by searching for it.
PASSWORD_MARK = "K3a!S3cret"

STOP = OnFail.STOP_RETRY_EXIT
EXIT_MODES = frozenset({OnFail.STOP_RETRY_EXIT, OnFail.SERVE_RETRY_EXIT})
RECOVERING = frozenset({"reconnecting", "waiting", "retry_pending"})
_TROUBLED = RECOVERING | {"abandoned"}  # lost: recovering, or given up while serving
CONFIGURED = frozenset({"serving", "not_serving"})
IN_USE = frozenset({"online", "reconnecting", "waiting", "abandoned"})
SEVERE = frozenset({Severity.ERROR, Severity.FATAL})


def reconnect_disabled(s: BackendSettings) -> bool:
    """kea-behaviour.md §2.5/§2.6: 0 tries or 0 wait disables reconnection; memfile has no
    reconnect loop at all (§2.3)."""
    return s.type is DbType.MEMFILE or s.max_reconnect_tries == 0 or s.reconnect_wait_time == 0


class InvariantBroken(AssertionError):
    """An invariant does not hold. Raised, never `assert`ed: `python -O` strips asserts, and
    `dbfsm verify` would then check nothing while reporting success. An AssertionError still,
    so that test runners report it as a failed check."""


class Run(Protocol):
    """What the checker reads from whoever drives the engine."""

    @property
    def engine(self) -> Engine: ...

    @property
    def calls(self) -> int: ...  # the number of the call into the engine now running

    @property
    def now_ms(self) -> int: ...  # the virtual time of that call (fixed while it runs)


class Stamped(NamedTuple):
    """An action with the virtual time (ms) and the number of the engine call producing it."""

    t: int
    call: int
    action: Action


class Observer:
    """Hooks a checker implements; all are optional."""

    def before_call(self, run: Run, what: object) -> None: ...
    def on_action(self, run: Run, action: Action) -> None: ...
    def after_call(self, run: Run, what: object, actions: list[Action]) -> None: ...


@dataclass
class Episode:
    """One loss episode of one backend instance."""

    key: str
    settings: BackendSettings
    start_ms: int
    start_call: int
    attempts: int = 0
    last_fail_ms: int | None = None
    over: bool = False


@dataclass
class Sent:
    """A command sent while the process was up, and what came back."""

    id: int
    request: object
    call: int
    replies: list[Reply] = field(default_factory=list)
    deferred: bool = False
    answered_in: int | None = None  # the call that brought a deferred reply

    @property
    def name(self) -> str | None:
        r = self.request
        return r.get("command") if isinstance(r, dict) else None


def _fork_sent(sent: Sent) -> Sent:
    twin = forks.twin(sent)
    twin.replies = list(sent.replies)
    return twin


class LifecycleChecker(Observer):
    def __init__(self) -> None:
        self.last_notice: bool | None = None  # the serving notice last emitted
        self.sent: dict[int, Sent] = {}
        self.committed: set[int] = set()  # backend instances whose configuration was applied
        self.never_connected: set[int] = set()  # instances that went retry_pending unopened
        self.episodes: dict[int, Episode] = {}
        self.lifted: set[int] = set()  # instances whose DB origin a user's dhcp-enable lifted
        self.exit: Stamped | None = None
        self.exit_cause = ""
        self.reconfig_failed = False
        self.failed_reconfigurations = 0
        # how often each invariant's premise held (to see that runs are not vacuous)
        self.exercised: dict[str, int] = dict.fromkeys(
            ("1", "2", "4: later attempt", "5", "7", "8: retry-on-startup"), 0
        )
        # per call
        self.call: list[Action] = []
        self._up_before = True
        self._state_before = ""
        self._origins_before: dict[str, int] = {}
        self._last_backend: tuple[str, int, Transitioned] | None = None
        self._command: Sent | None = None
        self._call_number = 0
        self._now = 0
        self._lifting = False  # the call is a dhcp-enable or a delayed enable

    def fork(self) -> LifecycleChecker:
        """A copy in the same state that shares nothing either one changes later: what a
        model checker branches with its engine (between calls)."""
        twin = forks.twin(self)
        # A command answered and an episode over are never changed again (a second reply
        # breaks invariant 6 before it is noted; a new episode is a new object): shared.
        twin.sent = {i: s if s.replies else _fork_sent(s) for i, s in self.sent.items()}
        twin.committed = set(self.committed)
        twin.never_connected = set(self.never_connected)
        twin.episodes = {i: e if e.over else forks.twin(e) for i, e in self.episodes.items()}
        twin.lifted = set(self.lifted)
        twin.exercised = dict(self.exercised)
        twin.call = list(self.call)
        twin._origins_before = dict(self._origins_before)
        twin._command = None if self._command is None else twin.sent[self._command.id]
        return twin

    # -- Observer hooks ---------------------------------------------------------------------------

    def before_call(self, h: Run, what: object) -> None:
        self.call = []
        self._last_backend = None
        self._up_before = not h.engine.exited
        self._state_before = h.engine.state
        self._origins_before = dict(h.engine.server.origins)
        self._call_number = h.calls
        self._now = h.now_ms  # every action of the call has its time and number
        self._command = None
        request = what.request if isinstance(what, Command) else None
        self._lifting = (isinstance(request, dict) and request.get("command") == "dhcp-enable") or (
            isinstance(what, TimerFired) and what.name.startswith("network-state-timer-")
        )
        if isinstance(what, Command) and self._up_before:
            if what.id in self.sent:
                raise InvariantBroken("harness: command ids are unique")
            self._command = self.sent[what.id] = Sent(what.id, what.request, h.calls)

    def on_action(self, h: Run, action: Action) -> None:
        if not self._up_before or self.exit is not None:
            raise InvariantBroken(f"engine: action {action!r} after the process exited")
        self.call.append(action)
        check = _ACTION_CHECKS.get(type(action))  # by type: one lookup for every action
        if check is not None:
            check(self, h, action)

    def after_call(self, h: Run, what: object, actions: list[Action]) -> None:
        e = h.engine
        if not self._up_before:
            if actions != []:
                raise InvariantBroken(f"engine: {what!r} after exit produced {actions!r}")
            return
        if self._command is not None:
            self._command_answered(h, self._command)
        if self._lifting:
            self._note_lifted(h)
        for sent in self.sent.values():
            if sent.answered_in == self._call_number:
                self._reconfiguration_over(h, sent)
            pending = sent.deferred and not sent.replies and not e.exited
            if pending and e.state != "reconfiguring":
                raise InvariantBroken(
                    f"invariant 6 (one reply per command): {sent.request!r} was never answered "
                    f"though the reconfiguration it started is over (server {e.state})"
                )
        self.check_state(h)

    def fingerprint(self, engine: Engine) -> tuple[object, ...]:
        """What the checker remembers that still matters for the current backends, in the
        configuration's order, not by instance: two runs reaching the same engine state with
        the same fingerprint are checked alike from there on (what `dbfsm verify`
        deduplicates states by)."""
        remembered: list[object] = []
        for b in engine.server.backends.values():
            i = b.instance
            episode = self.episodes.get(i)
            attempts = None if episode is None or episode.over else episode.attempts  # over: unread
            remembered.append(
                (i in self.committed, i in self.never_connected, i in self.lifted, attempts)
            )
        unanswered = sum(1 for s in self.sent.values() if s.deferred and not s.replies)
        return (*remembered, self.reconfig_failed, unanswered)

    # -- state invariants -------------------------------------------------------------------------

    def check_state(self, h: Run) -> None:
        e = h.engine
        self._check_notices(h)
        if e.exited:
            if e.serving:
                raise InvariantBroken("invariant 3 (exits only by rule): serving after the exit")
            if self.exit is None:
                raise InvariantBroken("invariant 3 (exits only by rule): exited, no Exit")
            if e.exit_code != self.exit.action.code:  # type: ignore[union-attr]
                raise InvariantBroken(
                    "invariant 3 (exits only by rule): the exit code is not the Exit's"
                )
            return
        if self.exit is not None:
            raise InvariantBroken("invariant 3 (exits only by rule): Exit but still running")
        backends = list(e.server.backends.values())
        origins = e.server.origins
        configured = e.state in CONFIGURED
        command_origins = sorted(o for o in origins.values() if o < DB_CONNECTION_ORIGIN)
        if e.serving and origins:
            raise InvariantBroken(f"kea.network-state: serving with disabling origins {origins}")
        if configured:
            # Kea runs posted recoveries one at a time, each with its first (synchronous)
            # attempt: a retry-on-startup backend waits while another one's attempt is out.
            attempt_out = any(b.state == "reconnecting" for b in backends)
            waiting = IN_USE | {"retry_pending"} if attempt_out else IN_USE
            if not all(b.state in waiting for b in backends):
                raise InvariantBroken(f"engine: configured with backends in {e.backend_states()}")
        for b in backends:
            if b.settings.on_fail is STOP and b.state in RECOVERING:
                self.exercised["1"] += 1
                if not (not e.serving or b.instance in self.lifted):
                    raise InvariantBroken(
                        f"invariant 1 (stop-retry-exit stops service): serving while {b.key} "
                        f"(stop-retry-exit) is {b.state}; backends {e.backend_states()}"
                    )
        troubled = [b for b in backends if b.state in _TROUBLED]
        if (
            configured
            and not command_origins
            and troubled
            and all(b.settings.on_fail is not STOP for b in troubled)
        ):
            self.exercised["2"] += 1
            if not e.serving:
                raise InvariantBroken(
                    f"invariant 2 (serve-retry keeps service): not serving though only serve-retry "
                    f"backends are lost ({e.backend_states()}), origins {origins}"
                )
        if configured and not command_origins and all(b.state == "online" for b in backends):
            self.exercised["5"] += 1
            if not e.serving:
                raise InvariantBroken(
                    f"invariant 5 (restored means serving): every backend online, no command "
                    f"origin, yet not serving; origins {origins}"
                )
        if self.reconfig_failed:
            self.exercised["7"] += 1
            if not (not e.serving and e.state in ("unconfigured", "reconfiguring")):
                raise InvariantBroken(
                    f"invariant 7 (failed reconfiguration): server {e.state} after a failed "
                    "reconfiguration, before any later one succeeded"
                )
        if configured:  # last: the numbered invariants name a broken rule better
            self._check_db_origins(h)

    def _check_db_origins(self, h: Run) -> None:
        """kea.stop-service-origin, kea.reconfig-resets-origins: while configured, the
        database origins (>= 3000) are exactly those of the stop-retry-exit backends in
        recovery (less those a user lifted): 3000 + manager ID, the manager ID being 0 for a
        recovery begun under retry-on-startup (kea-behaviour.md §2.2, §2.7). None is left
        over from a recovered backend or an earlier configuration."""
        e = h.engine
        expected = {}
        for b in e.server.backends.values():
            if (
                b.settings.on_fail is STOP
                and b.state in RECOVERING
                and b.instance not in self.lifted
            ):
                manager = 0 if b.instance in self.never_connected else b.settings.manager_id
                expected[b.key] = DB_CONNECTION_ORIGIN + manager
        actual = {k: o for k, o in e.server.origins.items() if o >= DB_CONNECTION_ORIGIN}
        if actual != expected:
            raise InvariantBroken(
                f"kea.stop-service-origin: database origins {actual}, expected {expected} "
                f"(backends {e.backend_states()})"
            )

    def _check_notices(self, h: Run) -> None:
        e = h.engine
        if self.last_notice is not None:
            if self.last_notice != e.serving:
                raise InvariantBroken(
                    f"invariant 9 (serving notices): last notice {self.last_notice}, "
                    f"engine.serving {e.serving}"
                )
        else:
            if e.state != "starting":
                raise InvariantBroken(
                    "invariant 9 (serving notices): no serving notice though the server is "
                    f"{e.state}"
                )

    # -- per action -------------------------------------------------------------------------------

    def _transition(self, h: Run, t: Transitioned) -> None:
        if t.machine == "server":
            self._server_transition(h, t)
        else:
            self._backend_transition(h, t)

    def _server_transition(self, h: Run, t: Transitioned) -> None:
        if h.engine.state != t.source:
            raise InvariantBroken(f"engine: {t!r} but the server is {h.engine.state}")
        if t.trigger == "settled" and t.dest in CONFIGURED:
            instances = {b.instance for b in h.engine.server.backends.values()}
            self.committed |= instances
            # The commit clears every database origin (kea.reconfig-resets-origins): what a
            # user lifted before it no longer applies; recoveries posted now stop service anew.
            self.lifted -= instances

    def _backend_transition(self, h: Run, t: Transitioned) -> None:
        b = h.engine.server.backends.get(t.machine)
        if not (b is not None and b.state == t.source):
            raise InvariantBroken(f"engine: {t!r} of an unknown backend")
        inst, cfg = b.instance, b.settings
        self._last_backend = (t.machine, inst, t)
        if (t.source, t.dest) == ("connecting", "retry_pending"):
            if not (cfg.retry_on_startup and cfg.type is not DbType.MEMFILE):
                raise InvariantBroken(
                    f"invariant 8 (recovery needs startup): {t.machine} left for a retry after a "
                    f"failed connect without retry-on-startup ({cfg.type}, "
                    f"retry-on-startup={cfg.retry_on_startup})"
                )
            self.never_connected.add(inst)
        if t.dest == "online":  # a recovered manager is a new one, with its own retry control
            self.never_connected.discard(inst)
            self.exercised["8: retry-on-startup"] += 1
        excused = b.schema_mismatch or not cfg.retry_on_startup or cfg.type is DbType.MEMFILE
        if t.dest == "unreachable" and not excused:
            raise InvariantBroken(
                f"doc.retry-on-startup: {t.machine} given up at connect time although "
                "retry-on-startup is set and the failure is not a schema mismatch"
            )
        deferred = t.trigger == "lost" and t.source == "online" and t.dest == "retry_pending"
        if deferred and inst in self.committed:
            raise InvariantBroken(
                f"engine: loss of {t.machine} deferred though its configuration is applied"
            )
        if t.trigger == "lost" and t.source in ("online", "retry_pending"):
            if t.dest == "retry_pending":
                return
            self._episode_starts(h, t, inst, cfg)
            return
        ep = self.episodes.get(inst)
        if t.source == "reconnecting" and t.trigger == "open_failed":
            if ep is None:
                raise InvariantBroken(
                    f"invariant 4 (reconnect loop): {t.machine} failed an attempt outside a loss "
                    "episode"
                )
            mode = "retries left" if t.dest == "waiting" else "retries exhausted"
            exhausted = ep.attempts == cfg.max_reconnect_tries
            if exhausted != (t.dest != "waiting"):
                raise InvariantBroken(
                    f"invariant 4 (reconnect loop): {t.machine} -> {t.dest} ({mode}) after "
                    f"{ep.attempts} of {cfg.max_reconnect_tries} attempts"
                )
            gave_up = t.dest != "waiting"
            if gave_up and (t.dest == "fatal") != (cfg.on_fail in EXIT_MODES):
                raise InvariantBroken(
                    f"invariant 3 (exits only by rule): {t.machine} ({cfg.on_fail}) -> "
                    f"{t.dest} when its retries ran out"
                )
        if t.dest in ("online", "closed") and ep is not None:
            ep.over = True

    def _episode_starts(self, h: Run, t: Transitioned, inst: int, cfg: BackendSettings) -> None:
        if inst not in self.committed:
            raise InvariantBroken(
                f"invariant 8 (recovery needs startup): {t.machine} starts recovery before its "
                "configuration was applied"
            )
        disabled = reconnect_disabled(cfg)
        expected = ("fatal" if cfg.on_fail in EXIT_MODES else "abandoned") if disabled else None
        if t.dest != (expected or "reconnecting"):
            raise InvariantBroken(
                f"kea.reconnect-disabled / doc.loss-reconnects: {t.machine} ({cfg.type}, "
                f"{cfg.on_fail}, tries {cfg.max_reconnect_tries}, wait "
                f"{cfg.reconnect_wait_time}) went {t.dest} on a loss"
            )
        self.episodes[inst] = Episode(t.machine, cfg, self._now, self._call_number)
        self.lifted.discard(inst)

    def _attempt(self, h: Run, a: Open) -> None:
        if a.attempt is None:
            return  # an open at startup or reconfiguration: not a reconnect attempt
        ep = self.episodes.get(a.instance)
        if not (ep is not None and not ep.over):
            raise InvariantBroken(
                f"invariant 8 (recovery needs startup): reconnect attempt {a.attempt} of "
                f"{a.backend} outside any loss episode"
            )
        tries, wait = ep.settings.max_reconnect_tries, ep.settings.reconnect_wait_time
        n = a.attempt
        if a.instance not in self.committed:
            raise InvariantBroken("invariant 8 (recovery needs startup): attempt")
        if not (n == ep.attempts + 1 and n <= tries and a.of == tries):
            raise InvariantBroken(
                f"invariant 4 (reconnect loop): {a.backend} attempt {n} of {a.of} after "
                f"{ep.attempts} attempts (max-reconnect-tries {tries})"
            )
        if n == 1:
            if (self._now, self._call_number) != (ep.start_ms, ep.start_call):
                raise InvariantBroken(
                    f"invariant 4 (reconnect loop): {a.backend}'s first attempt at {self._now} ms, "
                    f"the loss at {ep.start_ms} ms"
                )
        else:
            self.exercised["4: later attempt"] += 1
            if not (ep.last_fail_ms is not None and self._now - ep.last_fail_ms == wait):
                raise InvariantBroken(
                    f"invariant 4 (reconnect loop): {a.backend} attempt {n} at {self._now} ms, "
                    f"{self._now - (ep.last_fail_ms or 0)} ms after attempt {n - 1} failed, "
                    f"reconnect-wait-time {wait} ms"
                )
        ep.attempts = n

    def _attempt_result(self, h: Run, a: AttemptResult) -> None:
        b = h.engine.server.backends[a.backend]
        ep = self.episodes.get(b.instance)
        if not (ep is not None and a.n == ep.attempts):
            raise InvariantBroken(
                f"invariant 4 (reconnect loop): result of attempt {a.n} of {a.backend}, "
                f"{ep.attempts if ep else 0} attempts made"
            )
        if not a.ok:
            ep.last_fail_ms = self._now

    def _log(self, h: Run, a: Log) -> None:
        if PASSWORD_MARK in a.message.text:  # the ID is fixed: only the text can hold one
            raise InvariantBroken(f"invariant 10 (passwords): password in log {a.message}")
        if a.message.id.endswith("_DB_RECONNECT_LOST_CONNECTION"):
            last = self._last_backend
            if last is None:
                raise InvariantBroken(f"invariant 8: {a.message} without a backend transition")
            key, inst, t = last
            episode_step = (t.trigger == "lost" and t.dest != "retry_pending") or (
                t.trigger == "timer_fired" and t.dest == "reconnecting"
            )
            if not (episode_step and inst in self.committed):
                raise InvariantBroken(
                    f"invariant 8 (recovery needs startup): {a.message.id} for {key} on {t!r}"
                )

    def _serving_notice(self, h: Run, a: ServingChanged) -> None:
        if a.serving == self.last_notice:
            raise InvariantBroken(
                f"invariant 9 (serving notices): two {a.serving} notices in a row"
            )
        self.last_notice = a.serving
        if not a.serving:
            return
        if self._lifting:
            self._note_lifted(h)
        for b in h.engine.server.backends.values():
            if b.settings.on_fail is not STOP or b.instance in self.lifted:
                continue
            if b.state in RECOVERING:
                raise InvariantBroken(
                    f"invariant 1 (stop-retry-exit stops service): serving announced while "
                    f"{b.key} (stop-retry-exit) is {b.state}"
                )

    def _reply(self, h: Run, a: Reply) -> None:
        if PASSWORD_MARK in repr(a.response):  # the mark needs no escaping: shown as it is
            text = json.dumps(a.response, default=str)
            raise InvariantBroken(f"invariant 10 (passwords): password in reply {text}")
        sent = self.sent.get(a.id)
        if sent is None:
            raise InvariantBroken(f"invariant 6 (one reply per command): reply {a!r} to nothing")
        if sent.replies:
            raise InvariantBroken(
                f"invariant 6 (one reply per command): second reply to {sent.request!r}: {a!r}"
            )
        sent.replies.append(a)
        if sent.deferred:
            sent.answered_in = self._call_number
            self._reconfiguration_answered(h, sent, a)

    def _reconfiguration_answered(self, h: Run, sent: Sent, a: Reply) -> None:
        result = a.response["result"]
        if result not in (0, 1):
            raise InvariantBroken(f"engine: reconfiguration answered {a.response}")
        if sent.name != a.command:
            raise InvariantBroken(f"engine: {a!r} answers {sent.request!r}")
        if result == 1:
            fatal = any(
                isinstance(a, Log) and a.message.severity is Severity.FATAL for a in self.call
            )
            if not fatal:
                raise InvariantBroken(
                    "invariant 7 (failed reconfiguration): doc.reconfig-fails-up 'the server logs "
                    "a fatal error' - no FATAL log before the failure reply"
                )
        self.reconfig_failed = result == 1
        self.failed_reconfigurations += result == 1

    def _exit(self, h: Run, a: Exit) -> None:
        if self.exit is not None:
            raise InvariantBroken(f"invariant 3 (exits only by rule): second exit {a!r}")
        self.exit = Stamped(self._now, self._call_number, a)
        what = self._command
        if what is not None and what.name == "shutdown":
            request = what.request
            args = request.get("arguments", {}) if isinstance(request, dict) else {}
            expected = args.get("exit-value", 0)
            if not (a.code == expected and what.replies):
                raise InvariantBroken(
                    f"invariant 3 (exits only by rule): shutdown with exit-value {expected} "
                    f"exited {a.code}, replies {what.replies}"
                )
            self.exit_cause = "shutdown"
            return
        if self.reconfig_failed:
            raise InvariantBroken(
                "invariant 7 (failed reconfiguration): the server exited while unconfigured"
            )
        severe = [x for x in self.call if isinstance(x, Log)]
        severe = [x for x in severe if x.message.severity in SEVERE]
        if not (a.code == 1 and severe):
            raise InvariantBroken(
                f"invariant 3 (exits only by rule): exit {a.code} with no FATAL/ERROR log before"
            )
        transitions = [x for x in self.call if isinstance(x, Transitioned)]
        ids = {x.message.id.split("_", 1)[1] for x in severe}
        startup = any(
            t.machine == "server" and (t.source, t.dest) == ("starting", "exited")
            for t in transitions
        )
        fatal = [t for t in transitions if t.machine != "server" and t.dest == "fatal"]
        if startup:
            if not any(t.dest == "unreachable" for t in transitions):
                raise InvariantBroken(
                    "invariant 3 (exits only by rule): startup failed with every backend reachable"
                )
            if not ({"CONFIG_LOAD_FAIL", "INIT_FAIL"} <= ids):
                raise InvariantBroken(
                    f"invariant 3 (exits only by rule): startup failure logged {ids}"
                )
            self.exit_cause = "startup failure"
            return
        if not fatal:
            raise InvariantBroken(
                f"invariant 3 (exits only by rule): exit 1 with no cause in {transitions}"
            )
        cause = fatal[0]
        expected_id = (
            "FATAL_DB_RECONNECT_DISABLED"
            if cause.trigger == "lost"
            else "FATAL_DB_RECONNECT_FAILED"
        )
        if not any(
            x.message.severity is Severity.FATAL and x.message.id.endswith(expected_id)
            for x in severe
        ):
            raise InvariantBroken(
                f"invariant 3 (exits only by rule): {cause!r} exits without FATAL {expected_id}"
            )
        self.exit_cause = "reconnect disabled" if cause.trigger == "lost" else "retries exhausted"

    # -- helpers ----------------------------------------------------------------------------------

    def _reconfiguration_over(self, h: Run, sent: Sent) -> None:
        """After the call that answered a deferred config-set/config-reload."""
        e = h.engine
        if sent.replies[0].response["result"] == 1:
            if e.state != "unconfigured":
                raise InvariantBroken(
                    f"invariant 7 (failed reconfiguration): server {e.state} after the failure "
                    "reply"
                )
            return
        if not (e.exited or e.state in CONFIGURED):
            raise InvariantBroken(f"engine: {e.state} after reconfiguring")
        if sent.name == "config-set":
            if e.server.current is None:
                raise InvariantBroken("config-set: no configuration committed")
            arguments = sent.request["arguments"]  # type: ignore[index]
            if dict(e.server.current.document) != arguments:
                raise InvariantBroken("config-set: not committed")

    def _command_answered(self, h: Run, sent: Sent) -> None:
        e = h.engine
        if sent.replies:
            reply = sent.replies[0]
            result = reply.response.get("result")
            same = e.state == self._state_before and e.server.origins == self._origins_before
            if result != 0 and not sent.deferred and not same:
                raise InvariantBroken(
                    f"engine: refused command {sent.request!r} changed the server: "
                    f"{self._state_before} -> {e.state}"
                )
            if result == 0:
                self._check_success(h, sent, reply.response)
            return
        reconfiguring = (
            sent.name in ("config-set", "config-reload")
            and e.state == "reconfiguring"
            and e.server.reply is not None
            and e.server.reply.id == sent.id
        )
        if not reconfiguring:
            raise InvariantBroken(
                f"invariant 6 (one reply per command): no reply to {sent.request!r} "
                f"(server {e.state})"
            )
        sent.deferred = True

    def _check_success(self, h: Run, sent: Sent, response: dict[str, Any]) -> None:
        e = h.engine
        name = sent.name
        if name == "status-get":
            state = response["arguments"]["dhcp-state"]
            origins = set(e.server.origins.values())
            if state["globally-disabled"] != bool(origins):
                raise InvariantBroken(f"status-get: {state}")
            if state["disabled-by-user"] != (1 in origins):
                raise InvariantBroken(f"status-get: {state}")
        if name == "dhcp-disable" and e.serving:
            raise InvariantBroken("kea.user-disable: serving right after dhcp-disable")

    def _note_lifted(self, h: Run) -> None:
        """A user's dhcp-enable (or a delayed enable) lifted a recovering backend's origin
        (kea-behaviour.md §2.2: allowed, an inferred consequence in Kea); invariant 1 is
        then not expected to hold for that backend until its next loss episode."""
        origins = h.engine.server.origins
        for key in self._origins_before:
            b = h.engine.server.backends.get(key)
            if key not in origins and b is not None and b.state in RECOVERING:
                self.lifted.add(b.instance)


# What the checker does with each kind of action, by its exact type (actions are final
# classes); the kinds missing here need no check of their own.
_ACTION_CHECKS: dict[type, Callable[[LifecycleChecker, Run, Any], None]] = {
    Transitioned: LifecycleChecker._transition,
    Open: LifecycleChecker._attempt,
    AttemptResult: LifecycleChecker._attempt_result,
    Log: LifecycleChecker._log,
    ServingChanged: LifecycleChecker._serving_notice,
    Reply: LifecycleChecker._reply,
    Exit: LifecycleChecker._exit,
}
