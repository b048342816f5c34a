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
  - {at: 6.0, command: {command: config-set, arguments: {Dhcp4: {...}}}}
```
Errors name the file, line and column of the offending value.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fsm import config
from fsm.errors import ConfigError
from fsm.settings import ServerSettings

Position = tuple[int, int]
# libyaml's parser when PyYAML was built with it: the same nodes and marks, many times faster.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BACKEND_KEY = re.compile(r"lease-database|hosts-database|(hosts|config)-databases\[\d+\]")
_FAULTS = ("down", "up", "use", "schema")
_EVENT_KEYS = {"at", "command", "version", *_FAULTS}
_TOP_KEYS = {"config", "until", "traffic", "events", "description"}


@dataclass(frozen=True)
class Traffic:
    """Client requests: `continuous`, `none`, or one every `every` seconds from `start`."""

    kind: str
    every: float = 0.0
    start: float = 0.0


@dataclass(frozen=True)
class ScenarioEvent:
    at: float
    kind: str  # down, up, use, schema, command
    backend: str | None = None
    version: str | None = None
    command: Mapping[str, Any] | None = None

    def describe(self) -> str:
        if self.kind == "command" and self.command is not None:
            return f"command {self.command.get('command')}"
        if self.kind == "schema":
            return f"{self.backend} schema version becomes {self.version}"
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


class Document:
    """A YAML document with the position of every node, for errors that point.

    `within(path)` gives a view of one part (a scenario inside a larger file): its errors name
    paths and positions relative to the whole document.
    """

    prefix = ""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.positions: dict[str, Position] = {}
        try:
            loader = _Loader(text)
            try:
                node = loader.get_single_node()
                self.data = None if node is None else self._value(loader, node, "")
            finally:
                loader.dispose()
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark
            where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
            raise ConfigError(f"invalid YAML/JSON: {err.problem}", where) from err
        except yaml.YAMLError as err:
            raise ConfigError(f"invalid YAML/JSON: {err}", source) from err

    def _value(self, loader: Any, node: yaml.Node, path: str) -> Any:
        self.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node, deep=True)
                child = f"{path}.{key}" if path else str(key)
                if key in out:
                    line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                    raise ConfigError(f"{child}: duplicate key", f"{self.source}:{line}:{col}")
                out[key] = self._value(loader, value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._value(loader, n, f"{path}[{i}]") for i, n in enumerate(node.value)]
        return loader.construct_object(node, deep=True)

    def within(self, path: str) -> Document:
        view = copy.copy(self)
        view.prefix = self.path(path)
        return view

    def path(self, path: str) -> str:
        """`path` (relative to this view) from the document's root."""
        if not self.prefix or not path:
            return self.prefix or path
        return f"{self.prefix}{path}" if path.startswith("[") else f"{self.prefix}.{path}"

    def position(self, path: str) -> Position:
        """Line and column of `path`, or of its nearest enclosing node that has one."""
        probe = self.path(path)
        while probe and probe not in self.positions:
            probe = probe.rsplit(".", 1)[0] if "." in probe else ""
        return self.positions.get(probe, (1, 1))

    def error(self, path: str, message: str) -> ConfigError:
        line, col = self.position(path)
        full = self.path(path)
        label = f"{full}: " if full else ""
        return ConfigError(f"{label}{message}", f"{self.source}:{line}:{col}")


def load(path: str | os.PathLike[str], config_override: str | None = None) -> Scenario:
    """Read a scenario file; `config_override` replaces its configuration."""
    source = os.fspath(path)
    return parse(read_text(source), source, Path(source).parent, config_override)


def read_text(source: str) -> str:
    """A file's text; an unreadable or non-UTF-8 file is a `ConfigError` that points."""
    try:
        data = Path(source).read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read scenario: {err.strerror}", source) from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise ConfigError("file is not valid UTF-8", f"{source}:{line}:{col}") from err
    return text


def parse(text: str, source: str, base: Path, config_override: str | None = None) -> Scenario:
    doc = Document(text, source)
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
    `other_keys` are keys the enclosing format adds, which are accepted and ignored here."""
    if not isinstance(data, dict):
        raise doc.error("", "a scenario must be a map with at least 'config'")
    for key in data:
        if key not in _TOP_KEYS | other_keys:
            known = _list(_TOP_KEYS | other_keys)
            raise doc.error(str(key), f"unknown key (expected one of {known})")
    if config_override is not None:
        load_config = _file_loader(config_override)
    elif "config" in data:
        load_config = _config_loader(doc, data["config"], base)
    else:
        raise doc.error("", "missing 'config': a path or an inline {\"Dhcp4\": {...}} map")
    settings = load_config()
    until = _number(doc, data, "until", default=60.0, positive=True)
    traffic = _traffic(doc, data.get("traffic", "continuous"))
    events = _events(doc, data.get("events", []), until, settings)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise doc.error("description", "must be a string")
    return Scenario(settings, load_config, until, traffic, events, doc.source, description)


def _file_loader(path: str) -> Callable[[], ServerSettings]:
    return lambda: config.load_file(path)


def _config_loader(doc: Document, value: Any, base: Path) -> Callable[[], ServerSettings]:
    if isinstance(value, str):
        path = os.fspath(base / value)
        if not os.path.isfile(path):
            raise doc.error("config", f"cannot read configuration file {path}: no such file")
        return _file_loader(path)
    if isinstance(value, dict):
        line, col = doc.position("config")
        where = f"{doc.source}:{line}:{col}: {doc.path('config')}"
        return lambda: config.from_document(value, where=where)
    raise doc.error("config", "must be a file path or an inline configuration map")


def _number(
    doc: Document,
    data: Mapping[str, Any],
    key: str,
    *,
    default: float,
    positive: bool = False,
    path: str | None = None,
) -> float:
    value = data.get(key, default)
    where = path or key
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise doc.error(where, f"must be a number of seconds, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise doc.error(where, f"must be {'greater than' if positive else 'at least'} 0")
    return float(value)


def _traffic(doc: Document, value: Any) -> Traffic:
    if value in ("continuous", "none"):
        return Traffic(str(value))
    if isinstance(value, dict):
        unknown = set(value) - {"every", "from"}
        if unknown:
            raise doc.error("traffic", f"unknown key {sorted(unknown)[0]!r} (every, from)")
        if "every" not in value:
            raise doc.error("traffic", "periodic traffic needs 'every' (seconds)")
        every = _number(doc, value, "every", default=0, positive=True, path="traffic.every")
        start = _number(doc, value, "from", default=0.0, path="traffic.from")
        return Traffic("periodic", every, start)
    raise doc.error("traffic", "must be continuous, none, or {every: SECONDS, from: SECONDS}")


def _events(
    doc: Document, value: Any, until: float, settings: ServerSettings
) -> tuple[ScenarioEvent, ...]:
    if not isinstance(value, list):
        raise doc.error("events", "must be a list")
    events = [_event(doc, item, f"events[{i}]", until) for i, item in enumerate(value)]
    known = {b.key for b in settings.backends} | _keys_set_by_commands(events)
    for i, event in enumerate(events):
        if event.backend is not None and event.backend not in known:
            path = f"events[{i}].{event.kind}"
            raise doc.error(path, f"no backend {event.backend!r} (known: {_list(known)})")
    return tuple(sorted(events, key=lambda e: e.at))


def _event(doc: Document, item: Any, path: str, until: float) -> ScenarioEvent:
    if not isinstance(item, dict):
        raise doc.error(path, "an event must be a map such as {at: 2.0, down: lease-database}")
    for key in item:
        if key not in _EVENT_KEYS:
            raise doc.error(f"{path}.{key}", f"unknown key (expected one of {_list(_EVENT_KEYS)})")
    if "at" not in item:
        raise doc.error(path, "missing 'at' (seconds)")
    at = _number(doc, item, "at", default=0.0, path=f"{path}.at")
    if at > until:
        raise doc.error(f"{path}.at", f"{at} is after the end of the scenario ({until})")
    kinds = [k for k in (*_FAULTS, "command") if k in item]
    if len(kinds) != 1:
        raise doc.error(path, f"needs exactly one of {_list({*_FAULTS, 'command'})}")
    kind = kinds[0]
    if kind == "command":
        if not isinstance(item["command"], dict):
            raise doc.error(f"{path}.command", "must be a map {command: NAME, arguments: {...}}")
        return ScenarioEvent(at, kind, command=item["command"])
    backend = item[kind]
    if not isinstance(backend, str) or not _BACKEND_KEY.fullmatch(backend):
        raise doc.error(
            f"{path}.{kind}",
            f"{backend!r} is not a backend name (lease-database, hosts-database, "
            "hosts-databases[N], config-databases[N])",
        )
    version = item.get("version")
    if (kind == "schema") != (version is not None):
        raise doc.error(path, "'version' goes with 'schema' and only with it")
    if version is not None and not isinstance(version, str | int | float):
        raise doc.error(f"{path}.version", 'must be a version such as "34.0"')
    return ScenarioEvent(at, kind, backend, None if version is None else str(version))


def _keys_set_by_commands(events: list[ScenarioEvent]) -> set[str]:
    """Backends that a config-set in the scenario brings in (when its arguments are valid)."""
    keys: set[str] = set()
    for event in events:
        command = event.command or {}
        if command.get("command") == "config-set":
            try:
                new = config.from_document(command.get("arguments"), where="arguments")
            except ConfigError:
                continue  # an invalid config-set is a legitimate thing to simulate
            keys |= {b.key for b in new.backends}
    return keys


def _list(items: set[str]) -> str:
    return ", ".join(sorted(items))
