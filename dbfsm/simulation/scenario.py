"""Scenarios for `dbfsm simulate`: a configuration, traffic, and timed faults and commands.

```yaml
config: kea-dhcp4.json        # a path relative to this file, or an inline {"Dhcp4": {...}}
until: 30                     # seconds of simulated time
traffic: continuous           # or none, or {every: 0.5, from: 0.25}
events:
  - {at: 0, down: lease-database}      # faults at t=0 take effect before startup
  - {at: 2.0, up: lease-database}
  - {at: 3.0, use: lease-database}     # one client request touching that backend
  - {at: 4.0, schema: lease-database, version: "12.0"}
  - {at: 0, no-tls: lease-database}    # its server offers no TLS (tls: ... offers it again)
  - {at: 6.0, command: {command: config-set, arguments: {Dhcp4: {...}}}}
  - {at: 7.0, file-error: lease-database}  # memfile only: its lease file fails (file-ok: back)
  - {at: 8.0, black-hole: lease-database}  # its server's packets are dropped silently
  - {at: 20.0, black-hole-end: lease-database}  # they get through again
```
A memfile lease database has no connection: `file-error` is its fault (the file cannot be
opened at startup, or a write fails later) and `file-ok` its end; `use` is a request that
writes to it; the connection events are refused for it.
A black hole refuses nothing, so nothing fails fast: a call to the server blocks the whole
(single-threaded) server until the backend's timeout or the hole's end (`simulate`). A
`black-hole-end` must follow a `black-hole` of the same backend and a backend behind a black
hole cannot get a second one (either is a slip, a wrong name or a lost line, that would
otherwise pass unseen), nor be made memfile by a config-set (a file has no server to lose).
Errors name the file, line and column of the offending value.
"""

from __future__ import annotations

import math
import operator
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from dbfsm.files import documents
from dbfsm.files.documents import DocPath, Document
from dbfsm.files.reading import load_file
from dbfsm.fsm import config
from dbfsm.fsm.errors import ConfigError, kind, shown
from dbfsm.fsm.settings import DbType, ServerSettings

MAX_SECONDS = 1e9  # about 31 years of simulated time
MIN_STEP = 0.001  # a period shorter than Kea's millisecond timers could never advance
_BACKEND_KEY = re.compile(r"lease-database|hosts-database|(hosts|config)-databases\[\d+\]")
_FAULTS = (
    "down",
    "up",
    "use",
    "schema",
    "tls",
    "no-tls",
    "black-hole",
    "black-hole-end",
    "file-error",
    "file-ok",
)
# What can happen to a memfile lease database, which has a file and no connection: the file
# fails (cannot be read at startup, a write fails) or works again; a request writes to it.
MEMFILE_EVENTS = frozenset({"file-error", "file-ok", "use"})
_FILE_EVENTS = frozenset({"file-error", "file-ok"})
BLACK_HOLE_EVENTS = frozenset({"black-hole", "black-hole-end"})
_KINDS = frozenset({*_FAULTS, "command"})
EVENT_KINDS: Final = (*_FAULTS, "command")  # in the order the documentation lists them
_EVENT_KEYS = {"at", "version", *_KINDS}
_TOP_KEYS = {"config", "until", "traffic", "events", "description"}


@dataclass(frozen=True)
class Traffic:
    """Client requests: `continuous`, `none`, or one every `every` seconds from `start`."""

    kind: str
    every: float = 0.0
    start: float = 0.0


@dataclass(slots=True, unsafe_hash=True)
class ScenarioEvent:
    """One event of a scenario; a value, like the engine's events (see `fsm.events`)."""

    at: Final[float]
    kind: Final[str]  # one of EVENT_KINDS
    backend: Final[str | None] = None
    version: Final[str | None] = None
    # A command may hold a configuration with its passwords: not in the repr.
    command: Final[Mapping[str, Any] | None] = field(default=None, repr=False, hash=False)

    def describe(self) -> str:
        if self.kind == "command" and self.command is not None:
            return f"command {self.command.get('command')}"
        if self.kind == "schema":
            return f"{self.backend} schema version becomes {self.version}"
        if self.kind in _FILE_EVENTS:
            return f"{self.backend} lease file {'fails' if self.kind == 'file-error' else 'works'}"
        if self.kind in ("tls", "no-tls"):
            offered = "offers" if self.kind == "tls" else "does not offer"
            return f"{self.backend} server {offered} TLS"
        if self.kind == "black-hole":
            return f"{self.backend} black hole: packets to its server are dropped silently"
        if self.kind == "black-hole-end":
            return f"{self.backend} black hole ends: its server is reachable again"
        return f"{self.backend} {self.kind}"


@dataclass(frozen=True)
class Scenario:
    settings: ServerSettings
    load_config: Callable[[], ServerSettings]  # reads the configuration again (config-reload)
    until: float
    traffic: Traffic
    events: tuple[ScenarioEvent, ...]
    source: str
    description: str = ""


def load(path: str | os.PathLike[str], config_override: str | None = None) -> Scenario:
    """Read a scenario file; `config_override` replaces its configuration."""
    source = os.fspath(path)
    doc = documents.load(source, "scenario")
    return from_data(doc, doc.data, Path(source).parent, config_override)


def outage_of_each_backend(config_path: str) -> Scenario:
    """`dbfsm simulate --config FILE` without a scenario: each backend the configuration
    connects to (memfile has no connection) goes down in turn, in Kea's connect order, under
    continuous traffic, and comes back halfway between two attempts in the middle of its
    reconnect loop (2 s with reconnection disabled); the next outage starts 3 s after the
    previous loop would have ended. An exit of the server ends the run where it happens."""
    load_config = _file_loader(config_path)
    settings = load_config()
    events: list[ScenarioEvent] = []
    at = 2.0
    for backend in settings.backends:
        if not backend.reconnects:
            continue
        tries, wait = backend.max_reconnect_tries, backend.reconnect_wait_time / 1000
        loop = max(tries - 1, 0) * wait  # the first attempt comes at once
        back = at + ((math.ceil(tries / 2) - 0.5) * wait if tries and wait else 2.0)
        events += [ScenarioEvent(at, "down", backend.key), ScenarioEvent(back, "up", backend.key)]
        at = max(back, at + loop) + 3.0
    description = "an outage of each backend in turn" if events else "no backend to lose"
    return Scenario(
        settings, load_config, at, Traffic("continuous"), tuple(events), config_path, description
    )


def parse(text: str, source: str, base: Path, config_override: str | None = None) -> Scenario:
    """A scenario from its text; `base` is where relative configuration paths start."""
    doc = documents.parse(text, source)
    return from_data(doc, doc.data, base, config_override)


def from_data(
    doc: Document,
    data: Any,
    base: Path,
    config_override: str | None = None,
    *,
    other_keys: frozenset[str] = frozenset(),
) -> Scenario:
    """The scenario in `data`, a map read from `doc` (or from a view `doc.within(...)`).
    `other_keys` are keys an enclosing format adds, accepted here and left to it."""
    if not isinstance(data, dict):
        raise doc.error((), "a scenario must be a map with at least 'config'")
    known = _TOP_KEYS | other_keys
    for key in data:
        if key not in known:
            message = f"unknown key (expected one of {_list(known)})"
            raise doc.error((key,), message, key=True)
    if config_override is not None:
        load_config = _file_loader(config_override)
    elif "config" in data:
        load_config = _config_loader(doc, data["config"], base)
    else:
        raise doc.error((), "missing 'config': a path or an inline {\"Dhcp4\": {...}} map")
    settings = load_config()
    until = _number(doc, data, ("until",), default=60.0, positive=True)
    traffic = _traffic(doc, data.get("traffic", "continuous"))
    events = _events(doc, data.get("events", []), until, settings)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise doc.error(("description",), "must be a string")
    return Scenario(settings, load_config, until, traffic, events, doc.source, description)


def _file_loader(path: str) -> Callable[[], ServerSettings]:
    return lambda: load_file(path)


def _config_loader(doc: Document, value: Any, base: Path) -> Callable[[], ServerSettings]:
    if isinstance(value, str):
        path = os.fspath(base / value)
        if not os.path.isfile(path):
            message = f"cannot read configuration file {path}: no such file"
            raise doc.error(("config",), message)
        return _file_loader(path)
    if isinstance(value, dict):
        return lambda: _inline_config(doc, value)
    raise doc.error(("config",), "must be a file path or an inline configuration map")


def _inline_config(doc: Document, value: dict[str, Any]) -> ServerSettings:
    """The inline configuration; an error names the file, the position of `config` and the
    JSON path inside it (positions are looked up only when there is an error)."""
    try:
        return config.from_document(value, where="config")
    except ConfigError as err:
        raise ConfigError(err.message, f"{doc.where(('config',))}: {err.where}") from None


def _number(
    doc: Document,
    data: Mapping[Any, Any],
    path: DocPath,
    *,
    default: float,
    positive: bool = False,
    least: float = 0.0,
) -> float:
    """Seconds at `path` (its last part is the key in `data`): finite, not negative (greater
    than 0 if `positive`), at least `least` unless 0, and at most `MAX_SECONDS`."""
    value = data.get(path[-1], default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise doc.error(path, f"must be a number of seconds, got {kind(value)}")
    if value < 0 or (positive and value == 0):
        raise doc.error(path, f"must be {'greater than' if positive else 'at least'} 0")
    if value > MAX_SECONDS:
        raise doc.error(path, f"must be at most {MAX_SECONDS:g} seconds")
    if 0 < value < least:
        raise doc.error(path, f"must be at least {least:g} seconds (Kea's timers count ms)")
    return float(value)


def _traffic(doc: Document, value: Any) -> Traffic:
    if value in ("continuous", "none"):
        return Traffic(str(value))
    if isinstance(value, dict):
        for key in value:
            if key not in ("every", "from"):
                raise doc.error(("traffic",), f"unknown key {shown(key)} (every, from)")
        if "every" not in value:
            raise doc.error(("traffic",), "periodic traffic needs 'every' (seconds)")
        every = _number(doc, value, ("traffic", "every"), default=0, positive=True, least=MIN_STEP)
        start = _number(doc, value, ("traffic", "from"), default=0.0)
        return Traffic("periodic", every, start)
    message = "must be continuous, none, or {every: SECONDS, from: SECONDS}"
    raise doc.error(("traffic",), message)


def _events(
    doc: Document, value: Any, until: float, settings: ServerSettings
) -> tuple[ScenarioEvent, ...]:
    if not isinstance(value, list):
        raise doc.error(("events",), "must be a list")
    backend_names: set[str] = set()  # names already found well formed: a few, used often
    events = [_event(doc, item, i, until, backend_names) for i, item in enumerate(value)]
    types = _types_in_force(settings, events)
    known = set().union(*types)
    for i, event in enumerate(events):
        if event.backend is None:
            continue
        if event.backend not in known:
            message = f"no backend {shown(event.backend)} (known: {_list(known)})"
            raise doc.error(("events", i, event.kind), message)
        memfile = types[i].get(event.backend) is DbType.MEMFILE
        if memfile and event.kind not in MEMFILE_EVENTS:
            message = (
                f"'{event.kind}' of {event.backend}: a memfile backend keeps its leases in a "
                "file and has no database connection to lose, restore or check (its faults "
                "are file-error and file-ok)"
            )
            raise doc.error(("events", i, event.kind), message)
        if not memfile and event.kind in _FILE_EVENTS:
            message = (
                f"'{event.kind}' of {event.backend}: only a memfile lease database has a lease "
                f"file; this is a {types[i].get(event.backend)} database (its faults are down "
                "and up)"
            )
            raise doc.error(("events", i, event.kind), message)
    _check_black_holes(doc, events, types)
    return tuple(sorted(events, key=operator.attrgetter("at")))


def _check_black_holes(
    doc: Document, events: list[ScenarioEvent], types: list[dict[str, DbType]]
) -> None:
    """In the order the simulation plays them (by time, then as listed), each black hole of
    a backend begins while none is on, each end closes one, and no configuration makes a
    backend memfile while it is behind one (a lease file has no server to be cut off)."""
    if not any(event.kind in BLACK_HOLE_EVENTS for event in events):  # no sort for nothing
        return
    since: dict[str, float] = {}  # backend -> when its black hole began
    for i in sorted(range(len(events)), key=lambda i: events[i].at):
        event = events[i]
        if event.kind in BLACK_HOLE_EVENTS:
            _pair(doc, event, i, since)
        elif event.kind == "command" and since:
            _no_memfile_behind(doc, i, since, types[i])


def _pair(doc: Document, event: ScenarioEvent, i: int, since: dict[str, float]) -> None:
    """A black hole begins where none is on, or ends one: `since` is updated."""
    key = str(event.backend)
    began = since.get(key)
    if event.kind == "black-hole" and began is not None:
        message = (
            f"'black-hole' of {key}: {key} is already behind a black hole (since "
            f"t={began:g}); end it with black-hole-end first"
        )
        raise doc.error(("events", i, event.kind), message)
    if event.kind == "black-hole-end" and began is None:
        message = (
            f"'black-hole-end' of {key}: no black hole of {key} is on at t={event.at:g} "
            "(a black-hole event of it must come first)"
        )
        raise doc.error(("events", i, event.kind), message)
    if began is None:
        since[key] = event.at
    else:
        del since[key]


def _no_memfile_behind(
    doc: Document, i: int, since: dict[str, float], in_force: dict[str, DbType]
) -> None:
    for key, began in since.items():
        if in_force.get(key) is DbType.MEMFILE:
            message = (
                f"config-set makes {key} a memfile backend while it is behind the black "
                f"hole that began at t={began:g}: end it first (black-hole-end)"
            )
            raise doc.error(("events", i, "command"), message)


def _event(
    doc: Document, item: Any, index: int, until: float, backend_names: set[str]
) -> ScenarioEvent:
    """One event; checked without building a path or a message unless something is wrong,
    since a long scenario has tens of thousands."""
    path = ("events", index)
    if not isinstance(item, dict):
        raise doc.error(path, "an event must be a map such as {at: 2.0, down: lease-database}")
    kind = None
    for key in item:
        if key not in _EVENT_KEYS:
            message = f"unknown key (expected one of {_list(_EVENT_KEYS)})"
            raise doc.error((*path, key), message, key=True)
        if key in _KINDS:
            kind = key if kind is None else ""  # "": more than one
    if "at" not in item:
        raise doc.error(path, "missing 'at' (seconds)")
    at = item["at"]
    if type(at) is not float or not 0 <= at <= MAX_SECONDS:
        at = _number(doc, item, (*path, "at"), default=0.0)
    if at > until:
        raise doc.error((*path, "at"), f"{at} is after the end of the scenario ({until})")
    if not kind:
        raise doc.error(path, f"needs exactly one of {_list(_KINDS)}")
    if kind == "command":
        if not isinstance(item["command"], dict):
            message = "must be a map {command: NAME, arguments: {...}}"
            raise doc.error((*path, "command"), message)
        return ScenarioEvent(at, kind, command=item["command"])
    backend = item[kind]
    if not isinstance(backend, str) or backend not in backend_names:
        if not isinstance(backend, str) or not _BACKEND_KEY.fullmatch(backend):
            raise doc.error(
                (*path, kind),
                f"{shown(backend)} is not a backend name (lease-database, hosts-database, "
                "hosts-databases[N], config-databases[N])",
            )
        backend_names.add(backend)
    version = item.get("version")
    if (kind == "schema") != (version is not None):
        raise doc.error(path, "'version' goes with 'schema' and only with it")
    if version is not None and not isinstance(version, str | int | float):
        raise doc.error((*path, "version"), 'must be a version such as "34.0"')
    return ScenarioEvent(at, kind, backend, None if version is None else str(version))


def _types_in_force(
    settings: ServerSettings, events: list[ScenarioEvent]
) -> list[dict[str, DbType]]:
    """For each event, the type of each backend of the configuration in force when it
    happens: the first, then each valid config-set, in the order the simulation plays them
    (by time, then as listed)."""
    in_force = {b.key: b.type for b in settings.backends}
    types: list[dict[str, DbType]] = [in_force] * len(events)
    for i in sorted(range(len(events)), key=lambda i: events[i].at):
        command = events[i].command or {}
        if command.get("command") == "config-set":
            try:
                new = config.from_document(command.get("arguments"), where="arguments")
            except ConfigError:
                continue  # an invalid config-set is a legitimate thing to simulate
            in_force = {b.key: b.type for b in new.backends}
        types[i] = in_force
    return types


def _list(items: Iterable[str]) -> str:
    return ", ".join(sorted(items))
