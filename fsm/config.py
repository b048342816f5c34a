"""Read a Kea configuration into `ServerSettings`, refusing what Kea would refuse.

Kea validates database maps in three layers (kea-behaviour.md §1.1): the Bison grammar (files
only), `DbAccessParser::parse` (every path, including `config-set`) and the backends' own checks
at connect time. dbfsm applies all three, in that order, to text and to documents alike, through
one code path driven by one parameter table (`PARAMETERS`); only the way an error is located
differs (`FILE:LINE:COL` for text, a JSON path for documents). Kea's message texts are kept
wherever Kea has one, minus its trailing `(<pos>)`: the position is in `ConfigError.where`.
This module takes text and documents only; reading a file is the tools' work
(`dbfsm.files.reading.load_file`).
"""

from __future__ import annotations

import copy
import functools
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from dbfsm.fsm import jsonc
from dbfsm.fsm.errors import ConfigError, shown
from dbfsm.fsm.jsonc import Path
from dbfsm.fsm.settings import BackendSettings, DbType, OnFail, Role, ServerSettings

__all__ = [
    "PARAMETERS",
    "check_json_data",
    "from_document",
    "json_path",
    "parse_text",
    "redact",
]

REDACTED = "*****"

# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def parse_text(text: str, source: str = "<string>") -> ServerSettings:
    """Validate configuration text; `source` names it in error locations (and in `.source`)."""
    return _from_text(text, source, None if source == "<string>" else source)


def from_document(document: object, where: str = "arguments") -> ServerSettings:
    """Validate an already-parsed document (a `config-set` argument, an inline scenario config).

    Errors are located by JSON path prefixed with `where`, e.g.
    `arguments.Dhcp4.hosts-databases[1].on-fail`. The document must be JSON data, as the text
    reader would have produced it (checked first: a command's document may come from anyone);
    it is read as the JSON text it stands for, so later changes by the caller do not leak
    into the settings.
    """
    locate = _json_path_locator(where)
    check_json_data(document, lambda message, path: ConfigError(message, locate(path, False)))
    return from_checked_document(document, where)


def from_checked_document(document: object, where: str = "arguments") -> ServerSettings:
    """`from_document` for a document its caller has already checked with `check_json_data`
    (a command's request is checked whole before its arguments are read)."""
    outcome = _settings_of_json(json.dumps(document), where)
    if isinstance(outcome, ConfigError):
        raise ConfigError(outcome.message, outcome.where)  # a new one: its own traceback
    return outcome


@functools.lru_cache(maxsize=16)
def _settings_of_json(text: str, where: str) -> ServerSettings | ConfigError:
    """The settings of one JSON text, or why Kea refuses it, kept: the same `config-set`
    sent again and again (a model checker sends it from every state) is validated once.
    Settings are immutable. A refusal is kept without its traceback, whose frames would
    keep alive whatever its first caller held."""
    try:
        return _build(json.loads(text), _Where(_json_path_locator(where)), None)
    except ConfigError as err:
        return ConfigError(err.message, err.where)


MAX_VALUES = jsonc.MAX_VALUES
_INT64 = 2**63


def check_json_data(document: object, error: Callable[[str, Path], Exception]) -> None:
    """Refuse what JSON text cannot hold or dbfsm would choke on: keys that are not strings,
    non-finite numbers, integers beyond 64 bits, unpaired surrogates, other Python objects,
    nesting past `jsonc.MAX_DEPTH` (which also stops a cycle) and more than `MAX_VALUES`
    values (which also stops a document whose shared parts multiply out, like a YAML alias
    bomb). `error(message, path)` makes the exception to raise. Iterative: no recursion; a
    path is built only for collections and for the value at fault."""
    problem = _json_problem(document)
    if problem is not None:
        raise error(problem, ())
    stack: list[tuple[object, Path]] = [(document, ())]
    count = 1
    while stack:
        container, path = stack.pop()
        if isinstance(container, dict):
            items: Iterable[tuple[Any, Any]] = container.items()
            for key in container:
                if type(key) is str and key.isascii():
                    continue
                if not isinstance(key, str) or _json_problem(key) is not None:
                    raise error(f"a map key must be a string, not {shown(key)}", path)
        elif isinstance(container, list | tuple):
            items = enumerate(container)
        else:
            continue
        if len(path) >= jsonc.MAX_DEPTH:
            raise error(f"nesting deeper than {jsonc.MAX_DEPTH} levels", path)
        count += len(container)
        if count > MAX_VALUES:
            raise error(f"more than {MAX_VALUES} values", ())
        for key, item in items:
            kind = type(item)
            if kind in _PLAIN or (kind is str and item.isascii()):
                continue
            if (kind is int and -_INT64 <= item < _INT64) or (
                kind is float and math.isfinite(item)
            ):
                continue
            if kind is dict or kind is list:
                stack.append((item, (*path, key)))
                continue
            problem = _json_problem(item)
            if problem is not None:
                raise error(problem, (*path, key))
            if isinstance(item, dict | list | tuple):
                stack.append((item, (*path, key)))


_PLAIN = frozenset({bool, type(None)})


def _json_problem(value: object) -> str | None:
    """What makes one value not JSON data (its content aside, for a collection)."""
    if value is None or isinstance(value, bool | dict | list | tuple):
        return None
    if isinstance(value, str):
        return None if value.isascii() or _encodable(value) else "unpaired surrogate in string"
    if isinstance(value, int):
        return None if -_INT64 <= value < _INT64 else "integer out of range (64-bit)"
    if isinstance(value, float):
        return None if math.isfinite(value) else "number out of range (not finite)"
    return f"not JSON data: {shown(value)}"


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def redact(document: object) -> object:
    """Deep copy of `document` with every `password` value replaced by `*****`, at any depth."""
    if isinstance(document, Mapping):
        return {k: (REDACTED if k == "password" else redact(v)) for k, v in document.items()}
    if isinstance(document, list | tuple):
        return type(document)(redact(item) for item in document)
    return copy.deepcopy(document)


# ---------------------------------------------------------------------------------------------
# The parameter table (kea-behaviour.md §1.2)
# ---------------------------------------------------------------------------------------------


class Kind(Enum):
    """JSON type a parameter must have; Kea's DbAccessParser takes every other key as string."""

    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"

    def accepts(self, value: object) -> bool:
        if self is Kind.STRING:
            return isinstance(value, str)
        if self is Kind.BOOLEAN:
            return isinstance(value, bool)
        return isinstance(value, int) and not isinstance(value, bool)


class Layer(Enum):
    """Kea's three validation layers (kea-behaviour.md §1.1), applied in this order."""

    GRAMMAR = 1  # Bison grammar: keys, JSON types, keyword values
    PARSER = 2  # DbAccessParser::parse: ranges, backend-only keys
    BACKEND = 3  # the backend's own checks when it opens the database


@dataclass(frozen=True)
class Bounds:
    """An inclusive integer range and Kea's text for a value outside it.

    Backend-layer bounds apply only to the database types that use the parameter.
    """

    low: int
    high: int | None
    text: str  # str.format fields: name, value, low, high
    layer: Layer = Layer.PARSER

    def problem(self, param: Param, value: object, db_type: DbType | None) -> str | None:
        if self.layer is Layer.BACKEND and db_type not in param.used_by:
            return None
        if not isinstance(value, int):
            return None
        if value >= self.low and (self.high is None or value <= self.high):
            return None
        return self.text.format(name=param.name, value=value, low=self.low, high=self.high)


@dataclass(frozen=True)
class NotOn:
    """Database types on which the parameter may not be set (to anything but 0)."""

    types: frozenset[DbType]
    text: str  # str.format field: name
    layer: Layer = Layer.PARSER

    def problem(self, param: Param, value: object, db_type: DbType | None) -> str | None:
        if db_type not in self.types or value in (None, 0):
            return None
        return self.text.format(name=param.name)


@dataclass(frozen=True)
class OneOf:
    """The only values an enumerated string accepts (keywords of Kea's grammar)."""

    values: tuple[str, ...]
    text: str  # str.format fields: name, value, values (the accepted ones, comma-separated)
    layer: Layer = Layer.GRAMMAR

    def problem(self, param: Param, value: object, db_type: DbType | None) -> str | None:
        if value in self.values:
            return None
        return self.text.format(
            name=param.name, value=shown(value, quote=False), values=", ".join(self.values)
        )


Check = Bounds | NotOn | OneOf


@dataclass(frozen=True)
class Param:
    """One database-map key: its JSON type, Kea's default and the checks on its value."""

    name: str
    kind: Kind
    default: object = None  # Kea's effective default, filled in for the types in `used_by`
    used_by: frozenset[DbType] = frozenset()
    checks: tuple[Check, ...] = ()


STRING, INTEGER, BOOLEAN = Kind.STRING, Kind.INTEGER, Kind.BOOLEAN
ALL = frozenset(DbType)
SQL = frozenset({DbType.MYSQL, DbType.POSTGRESQL})
MYSQL = frozenset({DbType.MYSQL})
PGSQL = frozenset({DbType.POSTGRESQL})
MEMFILE = frozenset({DbType.MEMFILE})
UINT32 = 4294967295
INT32 = 2147483647
SSL_MODES = ("disable", "prefer", "require", "verify-ca", "verify-full")
DB_TYPES = tuple(db_type.value for db_type in DbType)

_RANGE = "{name} value: {value} is out of range, expected value: {low}..{high}"
_RUNTIME = "{name} parameter ({value}) must be an integer between {low} and {high}"
_U32 = Bounds(0, UINT32, _RANGE)
_PORT = Bounds(0, 65535, _RANGE)
_NOT_NEGATIVE = Bounds(0, None, "{name} cannot be less than zero")
_WAIT = Bounds(0, UINT32, "{name} {value} must be in range 0...MAX_UINT32 (4294967295)")
_OPEN_1 = Bounds(1, INT32, _RUNTIME, Layer.BACKEND)  # connect-timeout 0 fails at connect time
_OPEN_0 = Bounds(0, INT32, _RUNTIME, Layer.BACKEND)
_MYSQL = NotOn(ALL - MYSQL, "{name} value is only supported by the mysql backend")
_PGSQL = NotOn(ALL - PGSQL, "{name} value is only supported by the postgresql backend")
_SSL_PGSQL = NotOn(ALL - PGSQL, "{name} is only supported by the postgresql backend")
_MEMFILE = NotOn(
    MEMFILE, "'{name}' values greater than zero are not supported by memfile", Layer.BACKEND
)
# Kea's text names neither the key nor the choices; dbfsm adds both, so the line says what to fix.
_ON_FAIL = OneOf(
    tuple(OnFail),
    "Invalid action on connection loss: {value} ({name} must be one of: {values})",
)
_SSL_MODE = OneOf(SSL_MODES, "invalid ssl-mode value: {value}, expected " + "|".join(SSL_MODES))
_STOP = OnFail.STOP_RETRY_EXIT.value

# Rows in the order of Kea's range checks in DbAccessParser::parse (dbaccess_parser.cc:163-256),
# so that the first error reported is the one Kea reports.
# fmt: off
PARAMETERS: tuple[Param, ...] = (
    # name                     kind     default      used by  checks
    Param("type",              STRING),
    Param("user",              STRING),
    Param("password",          STRING),
    Param("password-file",     STRING),
    Param("host",              STRING,  "localhost", SQL),
    Param("name",              STRING),
    Param("persist",           BOOLEAN, True,        MEMFILE),
    Param("lfc-interval",      INTEGER, 3600,        MEMFILE, (_U32,)),
    Param("connect-timeout",   INTEGER, 5,           SQL,     (_U32, _OPEN_1)),
    Param("read-timeout",      INTEGER, 0,           MYSQL,   (_U32, _MYSQL, _OPEN_0)),
    Param("write-timeout",     INTEGER, 0,           MYSQL,   (_U32, _MYSQL, _OPEN_0)),
    Param("tcp-user-timeout",  INTEGER, 0,           PGSQL,   (_U32, _PGSQL, _OPEN_0)),
    Param("port",              INTEGER, 0,           SQL,     (_PORT,)),
    Param("max-row-errors",    INTEGER, 0,           MEMFILE, (_U32,)),
    Param("max-reconnect-tries", INTEGER, 0,         ALL,     (_NOT_NEGATIVE, _U32, _MEMFILE)),
    Param("reconnect-wait-time", INTEGER, 0,         ALL,     (_WAIT, _MEMFILE)),
    Param("on-fail",           STRING,  _STOP,       ALL,     (_ON_FAIL,)),
    Param("retry-on-startup",  BOOLEAN, False,       ALL),
    Param("readonly",          BOOLEAN, False,       ALL),
    Param("trust-anchor",      STRING),
    Param("cert-file",         STRING),
    Param("key-file",          STRING),
    Param("ssl-mode",          STRING,  None,        PGSQL,   (_SSL_MODE, _SSL_PGSQL)),
    Param("cipher-list",       STRING),
)
# fmt: on
_BY_NAME: Mapping[str, Param] = {param.name: param for param in PARAMETERS}

# Kea's names for the map in `got unexpected keyword "<k>" in <ctx> map.` (parser_context.cc).
_CONTEXT = {
    Role.LEASE: "lease-database",
    Role.HOSTS: "hosts-databases",
    Role.CONFIG: "config-database",
}
# The factories that refuse memfile for non-lease backends (host_data_source_factory.cc:58-59,
# base_config_backend_mgr.h:175-176).
_NO_MEMFILE = {
    Role.HOSTS: "The type of host backend: 'memfile' is not supported",
    Role.CONFIG: "The type of the configuration backend: 'memfile' is not supported",
}
_TLS_KEYS = ("ssl-mode", "trust-anchor", "cert-file", "key-file")
_CONFIG_CONTROL_KEYS = ("config-databases", "config-fetch-wait-time")
DEFAULT_CONFIG_FETCH_WAIT_TIME = 30

# ---------------------------------------------------------------------------------------------
# Locating errors
# ---------------------------------------------------------------------------------------------

Locate = Callable[[Path, bool], str]  # (path, point at the key rather than the value) -> where


@dataclass(frozen=True)
class _Where:
    """Turns a path into a ConfigError location: text positions or JSON paths."""

    locate: Locate | None  # None on the fast path: the error is located later

    def error(self, message: str, path: Path, *, key: bool = False) -> Exception:
        if self.locate is None:
            return _Unlocated(message, path)
        return ConfigError(message, self.locate(path, key))


def json_path(path: Path, prefix: str = "") -> str:
    """`arguments.Dhcp4.hosts-databases[1].on-fail` for prefix `arguments` and that path."""
    text = prefix
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


def _json_path_locator(prefix: str) -> Locate:
    return lambda path, key: json_path(path, prefix)


# ---------------------------------------------------------------------------------------------
# Text: read fast, located only when there is an error
# ---------------------------------------------------------------------------------------------


def _from_text(text: str, source: str, label: str | None) -> ServerSettings:
    """Read fast (`jsonc.plain`) and validate without positions; only when there is an error
    to locate (or the text needs Kea's extensions) read again with positions: the same checks
    then raise the same error, at its line and column."""
    document = jsonc.plain(text)
    if document is not jsonc.NOT_PLAIN:
        try:
            check_json_data(document, _Unlocated)
            return _build(document, _Where(None), label)
        except _Unlocated as unlocated:
            if not unlocated.path:  # about the whole document: no need to read it again
                raise ConfigError(unlocated.message, jsonc.root_where(text, source)) from None
    parsed = jsonc.parse(text, source)
    return _build(parsed.value, _Where(lambda path, key: parsed.where(path, key=key)), label)


class _Unlocated(Exception):
    """An error found on the fast path, where values have no positions."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message, path)
        self.message = message
        self.path = path


# ---------------------------------------------------------------------------------------------
# Document structure: root, Dhcp4/Dhcp6, where the backends are
# ---------------------------------------------------------------------------------------------


def _build(document: object, where: _Where, source: str | None) -> ServerSettings:
    if not isinstance(document, Mapping):
        raise where.error("a configuration must be a map holding 'Dhcp4' or 'Dhcp6'", ())
    universe, server_key = _server_key(document, where)
    server = document[server_key]
    path: Path = (server_key,)
    if not isinstance(server, Mapping):
        raise where.error(f"{server_key} must be a map", path)
    config_backends, wait_time = _config_control(server, path, where)
    backends = (*config_backends, _lease_backend(server, path, where))
    backends += _host_backends(server, path, where)
    return ServerSettings(universe, backends, document, source, float(wait_time))


def _server_key(root: Mapping[Any, Any], where: _Where) -> tuple[int, str]:
    """Exactly one of Dhcp4/Dhcp6; other top-level keys are left alone."""
    present = [key for key in ("Dhcp4", "Dhcp6") if key in root]
    if not present:
        raise where.error("missing 'Dhcp4' or 'Dhcp6' map", ())
    if len(present) > 1:
        message = "a configuration holds one server: 'Dhcp4' or 'Dhcp6', not both"
        raise where.error(message, ("Dhcp6",), key=True)
    return (4 if present[0] == "Dhcp4" else 6), present[0]


def _lease_backend(server: Mapping[Any, Any], path: Path, where: _Where) -> BackendSettings:
    """`lease-database`, or Kea's implicit `type=memfile` (cfg_db_access.cc:26-30)."""
    key = "lease-database"
    if key not in server:
        return _settings(key, Role.LEASE, DbType.MEMFILE, {"type": DbType.MEMFILE.value})
    return _backend(server[key], (*path, key), key, Role.LEASE, where)


def _host_backends(
    server: Mapping[Any, Any], path: Path, where: _Where
) -> tuple[BackendSettings, ...]:
    """`hosts-database` (one map) or `hosts-databases` (a list), never both."""
    if "hosts-databases" not in server:
        if "hosts-database" not in server:
            return ()
        single = (*path, "hosts-database")
        return (_backend(server["hosts-database"], single, "hosts-database", Role.HOSTS, where),)
    if "hosts-database" in server:
        message = "can't use hosts-database and hosts-databases at the same time"
        raise where.error(message, (*path, "hosts-databases"), key=True)
    return _backend_list(server, (*path, "hosts-databases"), Role.HOSTS, where)


def _config_control(
    server: Mapping[Any, Any], path: Path, where: _Where
) -> tuple[tuple[BackendSettings, ...], int]:
    """`config-control`: the config backends and `config-fetch-wait-time` (config_ctl_parser.cc)."""
    if "config-control" not in server:
        return (), DEFAULT_CONFIG_FETCH_WAIT_TIME
    path = (*path, "config-control")
    control = server["config-control"]
    if not isinstance(control, Mapping):
        raise where.error("config-control must be a map", path)
    for key in control:
        if key not in _CONFIG_CONTROL_KEYS:
            message = f'got unexpected keyword "{shown(key, quote=False)}" in config-control map.'
            raise where.error(message, (*path, str(key)), key=True)
    backends: tuple[BackendSettings, ...] = ()
    if "config-databases" in control:
        backends = _backend_list(control, (*path, "config-databases"), Role.CONFIG, where)
    return backends, _fetch_wait_time(control, path, where)


def _fetch_wait_time(control: Mapping[Any, Any], path: Path, where: _Where) -> int:
    name = "config-fetch-wait-time"
    value = control.get(name, DEFAULT_CONFIG_FETCH_WAIT_TIME)
    if not isinstance(value, int) or isinstance(value, bool):
        raise where.error(f"invalid type specified for parameter '{name}'", (*path, name))
    if not 0 <= value <= 65535:
        message = f"The '{name}' value ({value}) is not within expected range: (0 - 65535)"
        raise where.error(message, (*path, name))
    return value


def _backend_list(
    parent: Mapping[Any, Any], path: Path, role: Role, where: _Where
) -> tuple[BackendSettings, ...]:
    """A list of database maps, keyed `<list-name>[N]`."""
    name = str(path[-1])
    items = parent[name]
    if not isinstance(items, list | tuple):
        raise where.error(f"{name} must be a list", path)
    return tuple(
        _backend(item, (*path, index), f"{name}[{index}]", role, where)
        for index, item in enumerate(items)
    )


# ---------------------------------------------------------------------------------------------
# One database map: the three layers of checks, then the effective parameters
# ---------------------------------------------------------------------------------------------


def _backend(raw: object, path: Path, key: str, role: Role, where: _Where) -> BackendSettings:
    if not isinstance(raw, Mapping):
        raise where.error(f"{key} must be a map", path)
    _check_grammar(raw, path, role, where)
    db_type = _db_type(raw, path, where)
    _check_parser(raw, path, db_type, where)
    if db_type is DbType.MEMFILE and role in _NO_MEMFILE:
        raise where.error(_NO_MEMFILE[role], (*path, "type"))
    _check_runtime(raw, path, db_type, where)
    return _settings(key, role, db_type, raw)


def _check_grammar(raw: Mapping[Any, Any], path: Path, role: Role, where: _Where) -> None:
    """Layer 1, left to right like Kea's grammar: known key, JSON type, enumerated value."""
    for name, value in raw.items():
        param = _BY_NAME.get(name)
        if param is None:
            message = (
                f'got unexpected keyword "{shown(name, quote=False)}" in {_CONTEXT[role]} map.'
            )
            raise where.error(message, (*path, str(name)), key=True)
        if not param.kind.accepts(value):
            raise where.error(f"invalid value type specified for parameter '{name}'", (*path, name))
        _check_layer(param, value, (*path, name), None, Layer.GRAMMAR, where)


def _db_type(raw: Mapping[Any, Any], path: Path, where: _Where) -> DbType:
    """`type` is mandatory and one of the three (dbaccess_parser.cc:141-160)."""
    if "type" not in raw:
        message = (
            "database access parameters must include the keyword 'type' "
            "to determine type of database to be accessed"
        )
        raise where.error(message, path)
    value = raw["type"]
    if value not in DB_TYPES:
        raise where.error(
            f"unknown backend database type: {shown(value, quote=False)}", (*path, "type")
        )
    return DbType(value)


def _check_parser(raw: Mapping[Any, Any], path: Path, db_type: DbType, where: _Where) -> None:
    """Layer 2 (DbAccessParser): ranges, backend-only keys, password vs password-file."""
    for param in PARAMETERS:
        if param.name in raw:
            _check_layer(param, raw[param.name], (*path, param.name), db_type, Layer.PARSER, where)
    if "password" in raw and "password-file" in raw:
        raise where.error("can't specify both 'password' and 'password-file'", path)


def _check_runtime(raw: Mapping[Any, Any], path: Path, db_type: DbType, where: _Where) -> None:
    """Layer 3: what the backend itself refuses when it opens the database."""
    if db_type in SQL and "name" not in raw:
        raise where.error("must specify a name for the database", path)
    for param in PARAMETERS:
        if param.name in raw:
            _check_layer(param, raw[param.name], (*path, param.name), db_type, Layer.BACKEND, where)


def _check_layer(
    param: Param, value: object, path: Path, db_type: DbType | None, layer: Layer, where: _Where
) -> None:
    """Apply the table's checks of one layer to one present value."""
    for check in param.checks:
        problem = check.problem(param, value, db_type) if check.layer is layer else None
        if problem is not None:
            raise where.error(problem, path)


def _settings(key: str, role: Role, db_type: DbType, raw: Mapping[Any, Any]) -> BackendSettings:
    params = _effective(raw, db_type)
    return BackendSettings(
        key=key,
        role=role,
        type=db_type,
        max_reconnect_tries=params["max-reconnect-tries"],
        reconnect_wait_time=params["reconnect-wait-time"],
        on_fail=OnFail(params["on-fail"]),
        retry_on_startup=params["retry-on-startup"],
        readonly=params["readonly"],
        parameters=params,
        given=frozenset(str(k) for k in raw),
    )


def _effective(raw: Mapping[Any, Any], db_type: DbType) -> dict[str, Any]:
    """The given keys plus Kea's defaults for every parameter this database type uses."""
    params: dict[str, Any] = dict(raw)
    for param in PARAMETERS:
        if db_type in param.used_by and param.name not in params and param.default is not None:
            params[param.name] = param.default
    if db_type is DbType.POSTGRESQL:
        mode = _pgsql_ssl_mode(params)
        if mode is not None:
            params["ssl-mode"] = mode
    return params


def _pgsql_ssl_mode(params: Mapping[str, Any]) -> str | None:
    """libpq `sslmode` as Kea derives it (kea-behaviour.md §5, pgsql_connection.cc:468-517)."""
    if "ssl-mode" in params:
        return str(params["ssl-mode"])
    if "trust-anchor" in params:
        return "verify-ca"
    if any(key in params for key in _TLS_KEYS):
        return "require"
    return None
