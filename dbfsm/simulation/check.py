"""`dbfsm check`: effective settings and, per backend, what its failure will do.

The sentences are not written from the rules a second time: each comes from running the
engine on the virtual clock against a simulated outage of that one backend (unreachable at
startup, lost while serving, unreachable after config-set) and reading what happened.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dbfsm.fsm.config import from_document
from dbfsm.fsm.records import Record
from dbfsm.fsm.settings import DEFAULT_PORTS, BackendSettings, DbType, Role, ServerSettings
from dbfsm.simulation.scenario import Scenario, ScenarioEvent, Traffic
from dbfsm.simulation.simulate import Result, run

_LOSS_AT = 1.0


@dataclass(frozen=True)
class OutageOutcome:
    """What one simulated outage of a backend led to, read from the records."""

    attempts: tuple[float, ...]  # times of the reconnect attempts
    exit_code: int | None
    exit_at: float | None
    last_problem: str | None  # ID of the last FATAL or ERROR log
    served_during: bool | None  # serving while the backend was away (None: never started)
    command_result: int | None
    command_text: str | None
    given_up: bool  # abandoned: no further retries until reconfiguration
    started: bool  # the server got through startup
    more_attempts: int = 0  # attempts of the loop beyond those simulated (see `_alone`)

    @classmethod
    def of(cls, result: Result, key: str, since: float, more_attempts: int = 0) -> OutageOutcome:
        records = [r for r in result.timeline() if r.t >= since]
        attempts = tuple(r.t for r in records if r.type == "attempt" and r.data["backend"] == key)
        exits = [r for r in records if r.type == "exit"]
        problems = [
            r.data["id"] for r in records if r.type == "log" and r.data["severity"] in _PROBLEMS
        ]
        commands = [r for r in records if r.type == "command"]
        states = [tr.dest for _, tr in result.transitions if tr.machine == key]
        return cls(
            attempts=attempts,
            exit_code=exits[0].data["code"] if exits else None,
            exit_at=exits[0].t if exits else None,
            last_problem=problems[-1] if problems else None,
            served_during=_served_after(result.timeline(), since),
            command_result=commands[-1].data["result"] if commands else None,
            command_text=commands[-1].data["text"] if commands else None,
            given_up=bool(states) and states[-1] == "abandoned",
            started=any(
                tr.machine == "server" and tr.dest in ("serving", "not_serving")
                for _, tr in result.transitions
            ),
            more_attempts=more_attempts if attempts else 0,
        )


_PROBLEMS = ("FATAL", "ERROR")


def _served_after(records: Iterable[Record], since: float) -> bool | None:
    """Whether the server served at any time after `since`, counting the state then."""
    serving: bool | None = None
    served = False
    for r in records:
        if r.type != "serving":
            continue
        if r.t <= since:
            serving = r.data["serving"]
        else:
            served = served or r.data["serving"]
            serving = serving if serving is not None else False
    if serving is None and not served:
        return None
    return served or bool(serving)


def _horizon(backend: BackendSettings) -> float:
    loop = backend.max_reconnect_tries * backend.reconnect_wait_time / 1000
    return _LOSS_AT + loop + 2.0


def _simulate(settings: ServerSettings, events: list[ScenarioEvent], until: float) -> Result:
    scenario = Scenario(
        settings=settings,
        load_config=lambda: settings,
        until=until,
        traffic=Traffic("none"),
        events=tuple(events),
        source="<check>",
    )
    return run(scenario)


def _loop_words(o: OutageOutcome, loss_at: float) -> str:
    if not o.attempts:
        if o.exit_code is not None:
            return (
                f"makes no reconnect attempt and exits with code {o.exit_code} ({o.last_problem})"
            )
        return (
            f"makes no reconnect attempt ({o.last_problem}) and carries on without this "
            "backend until the next reconfiguration"
        )
    n = len(o.attempts) + o.more_attempts
    gaps = {round((b - a) * 1000) for a, b in zip(o.attempts, o.attempts[1:], strict=False)}
    gap = gaps.pop() if len(gaps) == 1 else None
    spacing = f", then one every {gap} ms" if gap is not None else ""
    tries = f"makes {n} reconnect attempt{'s' if n > 1 else ''}, the first at once{spacing}"
    span = (o.exit_at if o.exit_at is not None else o.attempts[-1]) - loss_at
    span += o.more_attempts * (gap or 0) / 1000
    if o.exit_code is not None:
        return (
            f"{tries}, and then exits with code {o.exit_code} after {span:g} s ({o.last_problem})"
        )
    if o.given_up:
        return (
            f"{tries}, and then gives up after {span:g} s ({o.last_problem}): no further retries "
            "until the next reconfiguration"
        )
    return tries


def _service_words(o: OutageOutcome) -> str:
    return "keeps serving" if o.served_during else "stops serving"


def _fault(backend: BackendSettings) -> str:
    return "file-error" if backend.type is DbType.MEMFILE else "down"


def at_startup(settings: ServerSettings, backend: BackendSettings, more: int = 0) -> str:
    events = [ScenarioEvent(0.0, _fault(backend), backend.key)]
    result = _simulate(settings, events, _horizon(backend))
    o = OutageOutcome.of(result, backend.key, 0.0, more)
    if not o.started:
        return (
            f"the server does not start: it logs {o.last_problem} and exits with code "
            f"{o.exit_code}."
        )
    return f"the server starts without it, {_service_words(o)}, and {_loop_words(o, 0.0)}."


def while_serving(settings: ServerSettings, backend: BackendSettings, more: int = 0) -> str:
    events = [
        ScenarioEvent(_LOSS_AT, _fault(backend), backend.key),
        ScenarioEvent(_LOSS_AT, "use", backend.key),
    ]
    result = _simulate(settings, events, _horizon(backend))
    o = OutageOutcome.of(result, backend.key, _LOSS_AT, more)
    return f"the server {_service_words(o)} and {_loop_words(o, _LOSS_AT)}."


def after_config_set(settings: ServerSettings, backend: BackendSettings, more: int = 0) -> str:
    command = {"command": "config-set", "arguments": dict(settings.document)}
    events = [
        ScenarioEvent(_LOSS_AT, _fault(backend), backend.key),
        ScenarioEvent(_LOSS_AT, "command", command=command),
    ]
    result = _simulate(settings, events, _horizon(backend))
    o = OutageOutcome.of(result, backend.key, _LOSS_AT, more)
    if o.command_result != 0:
        return (
            f"config-set answers result {o.command_result} ({_first_clause(o.command_text)}); "
            f"the server logs "
            f"{o.last_problem} and stays up answering commands, but serves no clients until a "
            "later reconfiguration succeeds."
        )
    return f"config-set succeeds; the server {_service_words(o)} and {_loop_words(o, _LOSS_AT)}."


def report(settings: ServerSettings, *, alone: bool = True) -> str:
    """The text `dbfsm check` prints.

    With `alone` (the default), each backend's outages are simulated in a configuration that
    holds only it and the lease database: the others, all reachable, change nothing in what
    its failure does, and simulating the whole configuration once per backend would make
    `check` quadratic in the number of backends. Backends with the same settings share one
    simulation."""
    lines = [f"{settings.source or '<config>'}: valid {settings.root} configuration"]
    sentences: dict[str, tuple[str, str, str]] = {}
    for backend in settings.backends:
        lines.append("")
        memfile = backend.type is DbType.MEMFILE
        on_fail = "" if memfile else f", on-fail {backend.on_fail}"
        lines.append(f"{backend.key} ({backend.type}{on_fail})")
        lines += _parameter_lines(backend)
        simulated, target, more = _alone(settings, backend) if alone else (settings, backend, 0)
        key = json.dumps([simulated.document, more], sort_keys=True) if alone else backend.key
        if key not in sentences:
            sentences[key] = (
                at_startup(simulated, target, more),
                while_serving(simulated, target, more),
                after_config_set(simulated, target, more),
            )
        startup, serving, reconfiguration = sentences[key]
        if memfile:
            lines.append(f"  {_MEMFILE}")
        labels = _MEMFILE_LABELS if memfile else _LABELS
        for label, sentence in zip(labels, (startup, serving, reconfiguration), strict=True):
            lines.append(f"  {label}: {sentence}")
    return "\n".join(lines) + "\n"


def _parameter_lines(backend: BackendSettings) -> list[str]:
    """The effective parameters, the password hidden; port 0 is the client library's
    default port, which is what the server connects to."""
    lines = []
    for name, value in backend.redacted().items():
        shown = json.dumps(value)
        if name == "port" and value == 0 and backend.type in DEFAULT_PORTS:
            shown = f"{DEFAULT_PORTS[backend.type]} (default)"
        lines.append(f"  {name}: {shown}")
    return lines


_LABELS = ("unreachable at startup", "lost while serving", "unreachable after config-set")
# memfile is a file: what fails is the lease file, and a failed write is the one failure that
# reaches on-fail (memfile_lease_mgr.cc handleDbLost: the lost callback, no reconnect loop).
_MEMFILE = (
    "no connectivity lifecycle: memfile keeps the leases in memory and in its lease file; "
    "there is no database connection to lose or reconnect, so max-reconnect-tries, "
    "reconnect-wait-time and retry-on-startup do not apply."
)
_MEMFILE_LABELS = (
    "lease file unusable at startup",
    "a write to the lease file fails (a full disk, say)",
    "lease file unusable after config-set",
)


def _alone(
    settings: ServerSettings, backend: BackendSettings
) -> tuple[ServerSettings, BackendSettings, int]:
    """A configuration of `backend` (its effective parameters) beside the lease database, the
    backend as that configuration names it, and the attempts of its reconnect loop left out.

    A loop longer than `SIMULATED_ATTEMPTS` (Kea takes up to 4,294,967,295) is simulated that
    long; the sentences count the rest, spaced as the simulated ones are."""
    lease = settings.backends[[b.role for b in settings.backends].index(Role.LEASE)]
    server: dict[str, Any] = {"lease-database": dict(lease.parameters)}
    params = dict(backend.parameters)
    more = max(0, backend.max_reconnect_tries - SIMULATED_ATTEMPTS)
    if backend is lease:
        server["lease-database"] = params
    params["max-reconnect-tries"] = backend.max_reconnect_tries - more
    if backend.role is Role.HOSTS:
        list_form = backend.key.startswith("hosts-databases")
        hosts = [params]
        server.update({"hosts-databases": hosts} if list_form else {"hosts-database": hosts[0]})
    elif backend.role is Role.CONFIG:
        server["config-control"] = {
            "config-databases": [params],
            "config-fetch-wait-time": int(settings.config_fetch_wait_time),
        }
    alone = from_document({settings.root: server}, where="check")
    return alone, alone.backends[-1 if backend.role is not Role.CONFIG else 0], more


SIMULATED_ATTEMPTS = 4


def _first_clause(text: str | None) -> str:
    """`Unable to open database: <driver text>` without the simulated driver's words."""
    return (text or "").split(":", 1)[0]
