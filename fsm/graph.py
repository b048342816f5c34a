"""The declaration: every state, trigger, guard and effect of dbfsm, in one place.

Theory of operation
-------------------
Two kinds of machine run side by side. Each database backend has a *backend* machine: it is
opened when a configuration is applied, is lost when a request notices the connection is
gone, and runs Kea's reconnect loop (attempt, wait, attempt ...) until it is restored or the
`on-fail` mode says what happens when the attempts run out. The server has one *server*
machine: it is starting, serving, not serving (some origin disables the service, Kea's
NetworkState), reconfiguring, left without a configuration after a failed reconfiguration,
or exited.

Everything that decides a state change lives in this file as data: `BACKEND` and `SERVER`
below. `fsm.compiled` turns them into the lookup tables `fsm.engine` runs (and hands them
to the `transitions` library for the differential test); `dbfsm.diagram` draws them; the
tests walk them. A transition names the guards that must hold (`when`) and must
not hold (`unless`), the effects it performs (methods of the machine's model, in
`fsm.backend` and `fsm.server`), and the rule of `fsm.rules` it implements. Guards are
written so that at most one transition of a trigger can be enabled in any state: the order
of declaration never decides behaviour, which a test checks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dbfsm.fsm.rules import RULES
from dbfsm.fsm.settings import OnFail

ALL_MODES = frozenset(OnFail)


@dataclass(frozen=True)
class State:
    """`awaits_driver`: the machine has asked the driver to open a connection and waits for
    its answer. Kea opens synchronously, so nothing else it has posted runs meanwhile; the
    engine holds its posted work (`Graph.awaiting`) for as long as a machine is here.
    `requests_use`: requests go to the backend's connection here, so a request is what finds
    it broken (`Graph.used_by_requests`)."""

    name: str
    meaning: str
    awaits_driver: bool = False
    requests_use: bool = False


@dataclass(frozen=True)
class Guard:
    """A named condition. `fixed`: it depends only on a backend's settings, which never
    change for the backend's life, so it is decided once per backend (`fsm.compiled.Tables`).
    `modes` is set when it depends only on `on-fail`: it then holds exactly for those modes,
    which is how a per-mode view of the graph is cut."""

    name: str
    label: str  # the documentation's own words, for diagrams
    holds: Callable[[Any], bool]
    modes: frozenset[OnFail] | None = None
    fixed: bool = False


@dataclass(frozen=True)
class Transition:
    trigger: str
    source: tuple[str, ...]
    dest: str | None  # None: stay, without leaving the state
    rule: str
    when: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    effects: tuple[str, ...] = ()


@dataclass(frozen=True)
class Graph:
    name: str
    title: str
    states: tuple[State, ...]
    initial: str
    final: tuple[str, ...]
    guards: Mapping[str, Guard]
    effects: Mapping[str, str]  # effect name -> what it does
    transitions: tuple[Transition, ...]

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    @property
    def awaiting(self) -> frozenset[str]:
        return frozenset(s.name for s in self.states if s.awaits_driver)

    @property
    def used_by_requests(self) -> frozenset[str]:
        return frozenset(s.name for s in self.states if s.requests_use)

    @property
    def triggers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.trigger for t in self.transitions))

    def possible_in_mode(self, transition: Transition, mode: OnFail) -> bool:
        """Whether `transition` can ever be taken by a backend whose on-fail is `mode`."""
        for name in transition.when:
            modes = self.guards[name].modes
            if modes is not None and mode not in modes:
                return False
        for name in transition.unless:
            modes = self.guards[name].modes
            if modes is not None and mode in modes:
                return False
        return True

    def for_mode(self, mode: OnFail) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if self.possible_in_mode(t, mode))

    def condition(self, t: Transition) -> Callable[[Any], bool]:
        """Whether `t` may be taken by a model: all of `when` hold and none of `unless`."""
        when = tuple(self.guards[g].holds for g in t.when)
        unless = tuple(self.guards[g].holds for g in t.unless)
        return lambda m: all(g(m) for g in when) and not any(g(m) for g in unless)


def _mode_guard(name: str, label: str, modes: frozenset[OnFail]) -> Guard:
    return Guard(name, label, lambda m: m.settings.on_fail in modes, modes, fixed=True)


# --------------------------------------------------------------------------------------------
# Backend lifecycle
# --------------------------------------------------------------------------------------------

_BACKEND_STATES = (
    State("configured", "named by the configuration, not yet opened"),
    State("connecting", "being opened while a configuration is applied", awaits_driver=True),
    State("online", "connected and in use", requests_use=True),
    State("retry_pending", "could not be opened; recovery starts once the configuration is in"),
    State("unreachable", "could not be opened and is not retried: the configuration fails"),
    State("reconnecting", "a reconnect attempt is in flight", awaits_driver=True),
    State("waiting", "waiting reconnect-wait-time before the next attempt"),
    # Kea keeps the broken connection when reconnecting is disabled, and requests still use
    # it; after attempts ran out it was replaced, so they find nothing broken there.
    State("abandoned", "no further retries until the next reconfiguration", requests_use=True),
    State("fatal", "cannot be recovered under an exit mode: the server exits"),
    State("closed", "disconnected by a reconfiguration or shutdown"),
)

_BACKEND_GUARDS = {
    g.name: g
    for g in (
        Guard(
            "retries_on_startup",
            "retry-on-startup",
            lambda m: m.settings.retry_on_startup and m.settings.reconnects,
            fixed=True,
        ),
        Guard("schema_mismatch", "schema version mismatch", lambda m: m.schema_mismatch),
        Guard(
            "reconnect_disabled",
            "reconnect disabled (0 tries or 0 wait)",
            lambda m: (
                not m.settings.reconnects
                or m.settings.max_reconnect_tries == 0
                or m.settings.reconnect_wait_time == 0
            ),
            fixed=True,
        ),
        Guard("retries_left", "retries left", lambda m: m.retries_left > 0),
        Guard(
            "config_applied",
            "configuration applied",
            lambda m: m.config_applied,
        ),
        _mode_guard(
            "stops_service_on_loss",
            "stop the service while it tries to recover",
            frozenset({OnFail.STOP_RETRY_EXIT}),
        ),
        _mode_guard(
            "exits_on_failure",
            "exit if recovery is not successful",
            frozenset({OnFail.STOP_RETRY_EXIT, OnFail.SERVE_RETRY_EXIT}),
        ),
    )
}

_BACKEND_EFFECTS = {
    "request_open": "ask the driver to open the connection",
    "next_backend": "let the configuration go on to its next backend",
    "abort_configuration": "stop the configuration at this backend: it cannot be reached",
    "log_open_retry": "log the open failure that recovery will retry (..._WITH_RETRY_FAILED)",
    "begin_episode": "start a loss episode: retries reset, loss logged (..._LOST_CONNECTION)",
    "stop_service": "disable the service for this backend's origin",
    "post_recovery": "post the recovery job (its loss), run after the jobs posted before it",
    "request_attempt": "count one try and ask the driver for a reconnect attempt",
    "log_attempt_failed": "record and log the failed attempt (..._DB_RECONNECT_ATTEMPT_FAILED)",
    "schedule_attempt": "log and start the reconnect-wait-time timer (..._ATTEMPT_SCHEDULE)",
    "log_lost_again": "log the loss again: before each later attempt, or when a request hits "
    "a broken connection kept with reconnect disabled (..._LOST_CONNECTION)",
    "resume_service": "record the attempt, enable this backend's origin, log ..._SUCCEEDED",
    "log_tls": "log ..._NO_TLS if TLS was configured but the connection is in clear text",
    "report_reconnect_disabled": "log ..._RECONNECT_DISABLED: FATAL under exit modes, else ERROR",
    "report_retries_exhausted": "log ..._DB_RECONNECT_FAILED: FATAL under exit modes, else ERROR",
    "request_exit": "tell the server to exit with code 1",
    "cancel_timer": "cancel a pending reconnect timer",
    "request_close": "ask the driver to close the connection",
}

# What happens when a loss episode starts, by (reconnect disabled?, exit mode?, stop service?).
# Both a loss while online and the delayed start of recovery under retry-on-startup begin an
# episode the same way, so these transitions are declared once for both sources.
_EPISODE_SOURCES = ("online", "retry_pending")


def _loss_transitions() -> tuple[Transition, ...]:
    lost = "lost"
    src = _EPISODE_SOURCES
    return (
        Transition(
            lost,
            src,
            "fatal",
            "kea.reconnect-disabled",
            when=("config_applied", "reconnect_disabled", "exits_on_failure"),
            effects=("begin_episode", "report_reconnect_disabled", "request_exit"),
        ),
        Transition(
            lost,
            src,
            "abandoned",
            "kea.reconnect-disabled",
            when=("config_applied", "reconnect_disabled"),
            unless=("exits_on_failure",),
            effects=("begin_episode", "report_reconnect_disabled"),
        ),
        Transition(
            lost,
            src,
            "reconnecting",
            "doc.stop-retry-exit",
            when=("config_applied", "stops_service_on_loss"),
            unless=("reconnect_disabled",),
            effects=("begin_episode", "stop_service", "request_attempt"),
        ),
        Transition(
            lost,
            src,
            "reconnecting",
            "doc.loss-reconnects",
            when=("config_applied",),
            unless=("reconnect_disabled", "stops_service_on_loss"),
            effects=("begin_episode", "request_attempt"),
        ),
        Transition(
            lost,
            ("online",),
            "retry_pending",
            "doc.recovery-needs-startup",
            unless=("config_applied",),
        ),
    )


BACKEND = Graph(
    name="backend",
    title="Backend lifecycle",
    states=_BACKEND_STATES,
    initial="configured",
    final=("closed",),
    guards=_BACKEND_GUARDS,
    effects=_BACKEND_EFFECTS,
    transitions=(
        Transition(
            "open", ("configured",), "connecting", "kea.connect-order", effects=("request_open",)
        ),
        Transition(
            "opened",
            ("connecting",),
            "online",
            "kea.connect-order",
            effects=("log_tls", "next_backend"),
        ),
        Transition(
            "open_failed",
            ("connecting",),
            "unreachable",
            "kea.schema-mismatch-not-retried",
            when=("schema_mismatch",),
            effects=("abort_configuration",),
        ),
        Transition(
            "open_failed",
            ("connecting",),
            "unreachable",
            "doc.startup-fatal",
            unless=("schema_mismatch", "retries_on_startup"),
            effects=("abort_configuration",),
        ),
        Transition(
            "open_failed",
            ("connecting",),
            "retry_pending",
            "doc.retry-on-startup",
            when=("retries_on_startup",),
            unless=("schema_mismatch",),
            effects=("log_open_retry", "next_backend"),
        ),
        Transition(
            "recovery_posted",
            ("retry_pending",),
            None,
            "kea.posted-recovery",
            when=("stops_service_on_loss",),
            effects=("stop_service", "post_recovery"),
        ),
        Transition(
            "recovery_posted",
            ("retry_pending",),
            None,
            "kea.posted-recovery",
            unless=("stops_service_on_loss",),
            effects=("post_recovery",),
        ),
        *_loss_transitions(),
        Transition(
            "lost",
            ("reconnecting", "waiting"),
            None,
            "kea.loss-during-recovery",
        ),
        Transition(
            "lost",
            ("abandoned",),
            None,
            "kea.loss-during-recovery",
            unless=("reconnect_disabled",),
        ),
        Transition(
            "lost",
            ("abandoned",),
            "abandoned",
            "kea.reconnect-disabled-kept",
            when=("reconnect_disabled",),
            effects=("log_lost_again", "report_reconnect_disabled"),
        ),
        Transition(
            "opened",
            ("reconnecting",),
            "online",
            "doc.restored",
            effects=("log_tls", "resume_service"),
        ),
        Transition(
            "open_failed",
            ("reconnecting",),
            "waiting",
            "kea.reconnect-loop",
            when=("retries_left",),
            effects=("log_attempt_failed", "schedule_attempt"),
        ),
        Transition(
            "open_failed",
            ("reconnecting",),
            "fatal",
            "doc.fatal-before-exit",
            when=("exits_on_failure",),
            unless=("retries_left",),
            effects=("log_attempt_failed", "report_retries_exhausted", "request_exit"),
        ),
        Transition(
            "open_failed",
            ("reconnecting",),
            "abandoned",
            "doc.serve-retry-continue",
            unless=("exits_on_failure", "retries_left"),
            effects=("log_attempt_failed", "report_retries_exhausted"),
        ),
        Transition(
            "timer_fired",
            ("waiting",),
            "reconnecting",
            "kea.reconnect-loop",
            effects=("log_lost_again", "request_attempt"),
        ),
        Transition(
            "close",
            tuple(s.name for s in _BACKEND_STATES if s.name != "closed"),
            "closed",
            "doc.reconfig-disconnects",
            effects=("cancel_timer", "request_close"),
        ),
    ),
)


# --------------------------------------------------------------------------------------------
# Server lifecycle
# --------------------------------------------------------------------------------------------

_SERVER_STATES = (
    State("starting", "opening the backends of the configuration given at startup"),
    State("serving", "configured and serving clients"),
    State("not_serving", "configured, but an origin disables the service (Kea's NetworkState)"),
    State("reconfiguring", "opening the backends of a new configuration"),
    State("unconfigured", "a reconfiguration failed: answers commands, serves nobody"),
    State("exited", "the process has ended"),
)

_SERVER_GUARDS = {
    g.name: g
    for g in (
        Guard(
            "backend_unreachable",
            "backend unreachable",
            lambda s: s.backend_unreachable,
        ),
        Guard(
            "service_disabled",
            "disabling origin left",
            lambda s: bool(s.origins),
        ),
        Guard(
            "starts_disabled",
            "dhcp-disable in force, or a stop-retry-exit backend to recover",
            lambda s: s.starts_disabled,
        ),
    )
}

_SERVER_EFFECTS = {
    "open_backends": "open the configuration's backends one by one",
    "fail_startup": "log DHCP4_CONFIG_LOAD_FAIL and DHCP4_INIT_FAIL",
    "commit": "make the configuration current, clear database origins, start pending recovery",
    "fail_reconfiguration": "log the fatal error, answer result 1, keep the old configuration",
    "close_backends": "disconnect every backend and cancel its timers",
    "exit": "end the process with the exit code",
}

_CONFIGURED = ("serving", "not_serving")
_UP = ("starting", "serving", "not_serving", "reconfiguring", "unconfigured")

SERVER = Graph(
    name="server",
    title="Server lifecycle",
    states=_SERVER_STATES,
    initial="starting",
    final=("exited",),
    guards=_SERVER_GUARDS,
    effects=_SERVER_EFFECTS,
    transitions=(
        Transition("start", ("starting",), None, "kea.connect-order", effects=("open_backends",)),
        Transition(
            "settled",
            ("starting",),
            "exited",
            "doc.startup-fatal",
            when=("backend_unreachable",),
            effects=("fail_startup", "exit"),
        ),
        Transition(
            "settled",
            ("reconfiguring",),
            "unconfigured",
            "doc.reconfig-fails-up",
            when=("backend_unreachable",),
            effects=("close_backends", "fail_reconfiguration"),
        ),
        Transition(
            "settled",
            ("starting", "reconfiguring"),
            "serving",
            "kea.reconfig-resets-origins",
            unless=("backend_unreachable", "starts_disabled"),
            effects=("commit",),
        ),
        Transition(
            "settled",
            ("starting", "reconfiguring"),
            "not_serving",
            "kea.reconfig-resets-origins",
            when=("starts_disabled",),
            unless=("backend_unreachable",),
            effects=("commit",),
        ),
        Transition(
            "reconfigure",
            (*_CONFIGURED, "unconfigured"),
            "reconfiguring",
            "doc.reconfig-disconnects",
            effects=("close_backends", "open_backends"),
        ),
        Transition(
            "service_changed",
            ("serving",),
            "not_serving",
            "kea.network-state",
            when=("service_disabled",),
        ),
        Transition(
            "service_changed",
            ("not_serving",),
            "serving",
            "doc.restored",
            unless=("service_disabled",),
        ),
        Transition(
            "service_changed",
            ("serving",),
            None,
            "kea.network-state",
            unless=("service_disabled",),
        ),
        Transition(
            "service_changed",
            ("not_serving",),
            None,
            "kea.network-state",
            when=("service_disabled",),
        ),
        Transition(
            "service_changed",
            ("starting", "reconfiguring", "unconfigured"),
            None,
            "doc.commands-during-recovery",
        ),
        Transition(
            "backend_fatal", _CONFIGURED, "exited", "doc.fatal-before-exit", effects=("exit",)
        ),
        Transition("shutdown", _UP, "exited", "kea.shutdown", effects=("close_backends", "exit")),
    ),
)

GRAPHS: Mapping[str, Graph] = {g.name: g for g in (BACKEND, SERVER)}


def check_rules_exist() -> None:
    """Every transition must cite a known rule; called by the tests and at import."""
    for graph in GRAPHS.values():
        for t in graph.transitions:
            if t.rule not in RULES:
                raise LookupError(f"{graph.name}: {t.trigger} cites unknown rule {t.rule}")


check_rules_exist()
