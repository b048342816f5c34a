"""Read a YAML or JSON document a person hands dbfsm (a scenario, a clause, a trace header).

Fast: JSON text goes to the `json` module; YAML to libyaml's event parser when PyYAML was
built with it. Positions are not kept while reading: an error that must point at a value asks
`Document.where`, which reads the text a second time, with positions, only then.

Safe: the document is built from parser events without recursion, so nothing in it can reach
Python's recursion limit; it is plain JSON data (`fsm.config.check_json_data`: string keys,
finite numbers, 64-bit integers, at most `jsonc.MAX_DEPTH` levels and `MAX_VALUES` values,
counted with aliases multiplied out, so an alias bomb is refused instead of expanded); a map
key must be a scalar, an alias cannot refer to the collection it is in, and only the YAML
core tags are accepted. No error quotes a scalar of the input (it may be a password).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import yaml

from dbfsm.files.reading import read_text
from dbfsm.fsm import jsonc
from dbfsm.fsm.config import MAX_VALUES, check_json_data, json_path
from dbfsm.fsm.errors import ConfigError

__all__ = ["DocPath", "Document", "load", "parse"]

DocPath = tuple[str | int, ...]
Position = tuple[int, int]

# libyaml's parser when PyYAML was built with it: the same events and marks, many times faster.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CORE = "tag:yaml.org,2002:"
# Tags a plain scalar resolves to that are not JSON data: kept as the string they are written as.
_AS_TEXT = {f"{_CORE}timestamp", f"{_CORE}value", f"{_CORE}binary"}
_MERGE = f"{_CORE}merge"
_SCALARS: dict[str, Callable[[Any, yaml.ScalarNode], object]] = {
    f"{_CORE}str": lambda loader, node: node.value,
    f"{_CORE}null": lambda loader, node: None,
    f"{_CORE}bool": lambda loader, node: loader.construct_yaml_bool(node),
    f"{_CORE}int": lambda loader, node: loader.construct_yaml_int(node),
    f"{_CORE}float": lambda loader, node: loader.construct_yaml_float(node),
}
_SEQ, _MAP = f"{_CORE}seq", f"{_CORE}map"
_CACHED_LENGTH, _CACHE_SIZE = 64, 100_000
_JSON_START = re.compile(r"\s*[{\[]")


@dataclass(frozen=True)
class Document:
    """A document read from `source`; `where`/`error` locate a path in it on demand.

    `within(path)` is a view of one part (a scenario inside a clause file): the paths given to
    the view are relative to that part, its errors name them from the document's root.
    `located()` reads every position at once, for a reader that keeps many of them."""

    data: Any
    source: str
    text: str = field(repr=False)
    prefix: DocPath = ()
    table: tuple[dict[DocPath, Position], dict[DocPath, Position]] | None = field(
        default=None, repr=False, compare=False
    )

    def within(self, path: DocPath) -> Document:
        return replace(self, prefix=(*self.prefix, *path))

    def located(self) -> Document:
        return replace(self, table=self._positions(None))

    def where(self, path: DocPath, *, key: bool = False) -> str:
        """`source:line:col` of the value at `path` (or of its key), or of its nearest ancestor.

        Without `located()`, reads the text again with positions, up to the value asked for."""
        full = (*self.prefix, *path)
        positions, keys = self.table or self._positions((full, key))
        for depth in range(len(full), -1, -1):
            table = keys if key and depth == len(full) else positions
            found = table.get(full[:depth])
            if found is not None:
                return f"{self.source}:{found[0]}:{found[1]}"
        return f"{self.source}:1:1"

    def error(self, path: DocPath, message: str, *, key: bool = False) -> ConfigError:
        """`FILE:LINE:COL: PATH: MESSAGE`, one line."""
        full = (*self.prefix, *path)
        prefix = f"{json_path(full)}: " if full else ""
        return ConfigError(f"{prefix}{message}", self.where(path, key=key))

    def _positions(
        self, target: tuple[DocPath, bool] | None
    ) -> tuple[dict[DocPath, Position], dict[DocPath, Position]]:
        positions: dict[DocPath, Position] = {}
        keys: dict[DocPath, Position] = {}
        # A text the json module took and YAML does not: its positions stay unknown.
        with contextlib.suppress(ConfigError, yaml.YAMLError, _Found):
            _Builder(self.text, positions, keys, target=target).document()
        return positions, keys


def load(path: str, what: str) -> Document:
    """Read and parse the file at `path`; `what` names it in errors ("scenario", ...)."""
    return parse(read_text(path, what), path)


def parse(text: str, source: str) -> Document:
    """Parse YAML or JSON text; every problem is a one-line ConfigError at `source:line:col`."""
    data = _json(text)
    if data is jsonc.NOT_PLAIN:
        data = _Builder(text, None, None, source).document()
    document = Document(data, source, text)
    check_json_data(data, lambda message, path: document.error(path, message))
    return document


# ---------------------------------------------------------------------------------------------
# JSON: the json module, for text that is plain JSON; anything else goes to the YAML reader
# ---------------------------------------------------------------------------------------------


def _json(text: str) -> Any:
    return jsonc.strict(text) if _JSON_START.match(text) else jsonc.NOT_PLAIN


# ---------------------------------------------------------------------------------------------
# YAML: built from parser events, without recursion
# ---------------------------------------------------------------------------------------------


@dataclass
class _Frame:
    """A collection being built: its value, where it is, and what it holds so far."""

    value: dict[Any, Any] | list[Any]
    path: DocPath
    anchor: str | None
    size: int = 1  # values inside, aliases multiplied out
    height: int = 1  # levels of collections, itself included
    key: Any = None  # a map's key waiting for its value
    expecting_key: bool = True
    merges: list[dict[Any, Any]] = field(default_factory=list)


class _Built(NamedTuple):
    """A finished value: with the number of values in it and its levels of collections."""

    value: Any
    size: int
    height: int


class _Builder:
    """One pass over the events of a YAML text; with `positions`, also records where each
    value (and each map key, in `keys`) starts."""

    def __init__(
        self,
        text: str,
        positions: dict[DocPath, Position] | None,
        keys: dict[DocPath, Position] | None,
        source: str = "<string>",
        target: tuple[DocPath, bool] | None = None,
    ) -> None:
        self.text = text
        self.target = target  # stop (raise _Found) once this (path, is-a-key) is located
        self.source = source
        self.positions = positions
        self.keys = keys
        self.anchors: dict[str, _Built] = {}
        self.open_anchors: set[str] = set()
        self.stack: list[_Frame] = []
        self.total = 0
        self.result: Any = None
        # Untagged scalars resolved before (keys, backend names, small numbers recur).
        self.cache: dict[tuple[str, Any], _Built] = {}

    def document(self) -> Any:
        loader = _Loader(self.text)
        try:
            return self._read(loader)
        except yaml.reader.ReaderError as err:
            line = self.text.count("\n", 0, err.position) + 1
            column = err.position - (self.text.rfind("\n", 0, err.position) + 1) + 1
            message = f"invalid YAML/JSON: character #x{err.character:04x} is not allowed"
            raise ConfigError(message, f"{self.source}:{line}:{column}") from None
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            problem = _unquoted(err.problem or err.context or "not YAML")
            raise self._error(f"invalid YAML/JSON: {problem}", mark) from None
        except yaml.YAMLError as err:
            message = f"invalid YAML/JSON ({type(err).__name__})"  # its text may quote input
            raise ConfigError(message, f"{self.source}:1:1") from None
        finally:
            loader.dispose()

    def _error(self, message: str, mark: Any) -> ConfigError:
        where = f"{self.source}:{mark.line + 1}:{mark.column + 1}" if mark else self.source
        return ConfigError(message, where)

    def _at(self, message: str, event: Any) -> ConfigError:
        """An error about the node `event` starts: its place and its key path, never its text."""
        top = self.stack[-1] if self.stack else None
        if top is None:
            path: DocPath = ()
        elif isinstance(top.value, dict) and top.expecting_key:
            path, message = top.path, f"a map key: {message}"
        else:
            path = self._child_path(top)
        prefix = f"{json_path(path)}: " if path else ""
        return self._error(f"{prefix}{message}", event.start_mark)

    def _read(self, loader: Any) -> Any:
        documents = 0
        while (event := loader.get_event()) is not None:
            kind = type(event)
            if kind is yaml.ScalarEvent:
                self._add(self._scalar(loader, event), event)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                self._open(event, kind is yaml.MappingStartEvent)
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                self._add(self._close(self.stack.pop()), event, placed=True)
            elif kind is yaml.AliasEvent:
                self._add(self._alias(event), event)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise self._error("expected a single document, found another", event.start_mark)
        return self.result

    # -- values --------------------------------------------------------------------------

    def _scalar(self, loader: Any, event: Any) -> _Built:
        if self.positions is not None and event.anchor is None and not self._at_key():
            return _Built(None, 1, 0)  # locating: only keys (the path) need their values
        tag = event.tag
        explicit = tag is not None and tag != "!"
        plain = not explicit and event.anchor is None and len(event.value) <= _CACHED_LENGTH
        if plain:
            cached = self.cache.get((event.value, event.implicit))
            if cached is not None and (cached.value is not _MERGE_KEY or self._at_key()):
                return cached
        if not explicit:
            tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
            if tag in _AS_TEXT:
                tag = f"{_CORE}str"
        if tag == _MERGE and self._at_key():
            return _Built(_MERGE_KEY, 1, 0)
        construct = _SCALARS.get(tag)
        if construct is None:
            raise self._at(f"unsupported tag: {_tag_kind(tag)}", event)
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            value = construct(loader, node)
        except (ValueError, KeyError, TypeError):
            # Implicitly an integer, yet not convertible: more digits than Python converts.
            message = "integer out of range (64-bit)"
            if explicit:
                message = f"this value does not fit its tag {_tag_kind(tag)}"
            raise self._at(message, event) from None
        built = _Built(value, 1, 0)
        if event.anchor is not None:
            self.anchors[event.anchor] = built
        if plain and len(self.cache) < _CACHE_SIZE:
            self.cache[(event.value, event.implicit)] = built
        return built

    def _at_key(self) -> bool:
        top = self.stack[-1] if self.stack else None
        return top is not None and isinstance(top.value, dict) and top.expecting_key

    def _alias(self, event: Any) -> _Built:
        if event.anchor in self.open_anchors:
            raise self._error(
                "recursive alias: it refers to a collection it is in", event.start_mark
            )
        built = self.anchors.get(event.anchor)
        if built is None:
            raise self._error("alias to an undefined anchor", event.start_mark)
        return built

    def _open(self, event: Any, mapping: bool) -> None:
        tag = event.tag
        if tag is not None and tag != "!" and tag != (_MAP if mapping else _SEQ):
            raise self._at(f"unsupported tag: {_tag_kind(tag)}", event)
        parent = self.stack[-1] if self.stack else None
        if parent is not None and isinstance(parent.value, dict) and parent.expecting_key:
            raise self._error("a map key must be a string, not a collection", event.start_mark)
        if len(self.stack) >= jsonc.MAX_DEPTH:
            raise self._error(f"nesting deeper than {jsonc.MAX_DEPTH} levels", event.start_mark)
        path = self._child_path(parent) if parent is not None else ()
        if self.positions is not None:
            self._mark(path, event)
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        self.stack.append(_Frame({} if mapping else [], path, event.anchor))

    def _close(self, frame: _Frame) -> _Built:
        if isinstance(frame.value, dict):
            for merged in frame.merges:
                for key, item in merged.items():
                    frame.value.setdefault(key, item)
        built = _Built(frame.value, frame.size, frame.height)
        if frame.anchor is not None:
            self.open_anchors.discard(frame.anchor)
            self.anchors[frame.anchor] = built
        return built

    def _child_path(self, parent: _Frame) -> DocPath:
        if isinstance(parent.value, list):
            return (*parent.path, len(parent.value))
        return (*parent.path, parent.key)

    def _add(self, built: _Built, event: Any, *, placed: bool = False) -> None:
        """Put a finished value into the collection on top of the stack."""
        self.total += built.size
        if self.total > MAX_VALUES:
            message = f"more than {MAX_VALUES} values (counting every alias as a copy)"
            raise self._error(message, event.start_mark)
        if not self.stack:
            self.result = built.value
            return
        parent = self.stack[-1]
        if len(self.stack) + built.height > jsonc.MAX_DEPTH:
            raise self._error(f"nesting deeper than {jsonc.MAX_DEPTH} levels", event.start_mark)
        parent.size += built.size
        parent.height = max(parent.height, built.height + 1)
        if isinstance(parent.value, list):
            if self.positions is not None and not placed:
                self._mark((*parent.path, len(parent.value)), event)
            parent.value.append(built.value)
        elif parent.expecting_key:
            self._key(parent, built, event)
        else:
            self._value(parent, built, event, placed)

    def _key(self, parent: _Frame, built: _Built, event: Any) -> None:
        key = built.value
        if isinstance(key, dict | list):
            raise self._error("a map key must be a string, not a collection", event.start_mark)
        if key is not _MERGE_KEY and key in parent.value:
            raise self._error(f"{json_path((*parent.path, key))}: duplicate key", event.start_mark)
        parent.key = key
        parent.expecting_key = False
        if self.keys is not None and key is not _MERGE_KEY:
            path = (*parent.path, key)
            self.keys[path] = (event.start_mark.line + 1, event.start_mark.column + 1)
            if self.target == (path, True):
                raise _Found

    def _value(self, parent: _Frame, built: _Built, event: Any, placed: bool) -> None:
        assert isinstance(parent.value, dict)
        parent.expecting_key = True
        if parent.key is _MERGE_KEY:
            sources = built.value if isinstance(built.value, list) else [built.value]
            if not all(isinstance(source, dict) for source in sources):
                raise self._error(
                    "a merge key (<<) takes a map or a list of maps", event.start_mark
                )
            parent.merges.extend(sources)
            return
        if self.positions is not None and not placed:
            self._mark((*parent.path, parent.key), event)
        parent.value[parent.key] = built.value

    def _mark(self, path: DocPath, event: Any) -> None:
        assert self.positions is not None
        self.positions[path] = (event.start_mark.line + 1, event.start_mark.column + 1)
        if self.target == (path, False):
            raise _Found


class _Found(Exception):
    """The position asked for is known: the rest of the text need not be read."""


_CORE_NAMES = ("str", "int", "float", "bool", "null", "seq", "map", "timestamp", "binary")
_KNOWN = frozenset(f"{_CORE}{name}" for name in (*_CORE_NAMES, "omap", "pairs", "set", "value"))
# A quoted piece of a PyYAML message: a token's name (`'<block end>'`) or one punctuation
# character of the message stays; anything else came from the input.
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_SAFE_QUOTED = re.compile(r"""^['"](?:<[a-z ]+>|[][{}<>!,.:?' -])['"]$""")


def _tag_kind(tag: str) -> str:
    """`!!int` for a YAML core tag; any other tag only by its kind, never its text: a value
    written `!MyPassw0rd` is a tag to YAML and may be a password."""
    if tag in _KNOWN:
        return f"!!{tag[len(_CORE) :]}"
    if tag.startswith(_CORE):
        return "an unknown !! tag (only YAML's core tags are read)"
    if tag.startswith("!"):
        return "a local tag (! and a name; only YAML's core tags are read)"
    return "a global tag (only YAML's core tags are read)"


def _unquoted(problem: str) -> str:
    """PyYAML's problem text without the pieces of input it quotes (an anchor or tag handle
    may be a password); libyaml's texts quote none."""
    return _QUOTED.sub(lambda m: m[0] if _SAFE_QUOTED.match(m[0]) else "(not shown)", problem)


class _MergeKey:
    def __repr__(self) -> str:
        return "<<"


_MERGE_KEY: Any = _MergeKey()
