"""Kea's control-channel commands, answered in every state while the process is up.

A command is `{"command": NAME, "arguments": {...}}`; the answer is
`{"result": 0|1|2|3, "text": ..., "arguments": ...}` (Kea's CONTROL_RESULT_* codes). Most
answers are immediate; `config-set` and `config-reload` are answered when the new
configuration's backends have settled, as Kea answers only after connecting them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from dbfsm.fsm import __version__, messages
from dbfsm.fsm.actions import Action, Log
from dbfsm.fsm.answers import ERROR, SUCCESS, UNSUPPORTED, Answer, answer, config_hash
from dbfsm.fsm.config import check_json_data, from_checked_document, json_path, redact
from dbfsm.fsm.errors import ConfigError
from dbfsm.fsm.events import Command
from dbfsm.fsm.server import DelayedEnable, PendingReply
from dbfsm.fsm.settings import DB_CONNECTION_ORIGIN, USER_COMMAND_ORIGIN, ServerSettings

_PROCESSING = "Error during command processing: "


class ControlledServer(Protocol):
    """What the handlers may use of the server model (`fsm.server.Server` is one): its
    NetworkState and timers, and the configuration and reply of a reconfiguration."""

    pending: ServerSettings
    reply: PendingReply | None
    exit_code: int | None

    @property
    def universe(self) -> int: ...
    @property
    def origins(self) -> Mapping[str, int]: ...

    def log(self, name: str, *args: object) -> None: ...
    def disable_service(self, origin: int, owner: str) -> None: ...
    def enable_origin(self, origin: int) -> None: ...
    def arm_timer(self, name: str, delay: float, owner: DelayedEnable) -> None: ...
    def disarm_timer(self, name: str) -> None: ...


class Control(Protocol):
    """What the command handlers may read and do, and nothing more (`fsm.engine.Engine` is
    one): the facts `status-get` reports, the configuration and its loader, the server
    model the commands act on, and the engine's outputs and one-trigger runner."""

    @property
    def pid(self) -> int: ...
    @property
    def started_at(self) -> float: ...
    @property
    def committed_at(self) -> float | None: ...
    @property
    def state(self) -> str: ...
    @property
    def settings(self) -> ServerSettings: ...
    @property
    def loader(self) -> Callable[[], ServerSettings] | None: ...
    @property
    def server(self) -> ControlledServer: ...

    def now(self) -> float: ...
    def emit(self, action: Action) -> None: ...
    def reply(self, id: int, command: str, response: dict[str, Any]) -> None: ...
    def fire(self, model: Any, trigger: str) -> bool: ...


Handler = Callable[[Control, Command, Mapping[str, Any]], Answer | None]


def dispatch(engine: Control, command: Command) -> None:
    """Answer `command` through `engine.reply`, now or once a reconfiguration settles."""
    request = command.request
    name = request.get("command") if isinstance(request, dict) else None
    label = name if isinstance(name, str) else "?"
    try:
        arguments = _parse(request)
        if isinstance(name, str):
            engine.emit(Log(messages.command("COMMAND_RECEIVED", name)))
        response = _HANDLERS[label](engine, command, arguments)
    except _Refused as refused:
        response = refused.response
    if response is not None:
        engine.reply(command.id, label, response)


class _Refused(Exception):
    def __init__(self, response: Answer) -> None:
        self.response = response


def _refuse(text: str) -> _Refused:
    return _Refused(answer(ERROR, text))


def _not_json(problem: str, path: tuple[str | int, ...]) -> _Refused:
    return _refuse(f"{_PROCESSING}invalid command: {problem} at {json_path(path, 'request')}")


def _json_type(value: object) -> str:
    """Kea's Element type names."""
    if isinstance(value, bool):
        return "boolean"
    for kind, name in ((int, "integer"), (float, "real"), (str, "string"), (list, "list")):
        if isinstance(value, kind):
            return name
    return "map" if isinstance(value, dict) else "null"


def _parse(request: object) -> Mapping[str, Any]:
    """Kea's parseCommand checks, in Kea's order and words, after the one Kea's JSON reader
    makes: a request is JSON data (one that came as text always is; one handed to
    `Engine.command` by a program may hold anything, and no handler need expect it)."""
    check_json_data(request, _not_json)
    if not isinstance(request, dict):
        got = _json_type(request)
        raise _refuse(
            f"{_PROCESSING}invalid command: expected toplevel entry to be a map, got {got} instead"
        )
    if "command" not in request:
        raise _refuse(f"{_PROCESSING}invalid command: does not contain mandatory 'command'")
    extra = sorted(
        str(k) for k in request if k not in ("command", "arguments", "service", "remote-address")
    )
    if extra:
        raise _refuse(f"{_PROCESSING}invalid command: unsupported parameter '{extra[0]}'")
    name = request["command"]
    if not isinstance(name, str):
        got = _json_type(name)
        raise _refuse(
            f"{_PROCESSING}invalid command: expected 'command' to be a string, got {got} instead"
        )
    if name not in _HANDLERS:
        raise _Refused(answer(UNSUPPORTED, f"'{name}' command not supported."))
    arguments = request.get("arguments", {})
    if not isinstance(arguments, dict):
        raise _refuse(f"arguments for the '{name}' command must be a map")
    return arguments


def _int_argument(arguments: Mapping[str, Any], key: str) -> int | None:
    value = arguments.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise _refuse(f"'{key}' argument must be a number")
    return value


def _origin(arguments: Mapping[str, Any]) -> int:
    """Kea's origin selection: `origin-id` wins, then `origin` ("user", "ha-partner", N)."""
    origin_id = _int_argument(arguments, "origin-id")
    if origin_id is not None:
        return origin_id
    origin = arguments.get("origin", "user")
    if isinstance(origin, int) and not isinstance(origin, bool):
        return origin
    if not isinstance(origin, str):
        raise _refuse("'origin' argument must be a string or a number")
    if origin in _NAMED_ORIGINS:
        return _NAMED_ORIGINS[origin]
    raise _refuse(f"invalid value used for 'origin' parameter: {origin or '(empty string)'}")


_NAMED_ORIGINS = {"user": USER_COMMAND_ORIGIN, "ha-partner": 2000}


def _origin_timer(origin: int) -> str:
    return f"network-state-timer-{origin}"


# -- handlers ----------------------------------------------------------------------------------


def _status_get(engine: Control, _: Command, __: Mapping[str, Any]) -> Answer:
    origins = set(engine.server.origins.values())
    now = engine.now()
    state = {
        "disabled-by-db-connection": sorted(o for o in origins if o >= DB_CONNECTION_ORIGIN),
        "disabled-by-local-command": sorted(o for o in origins if 1000 <= o < 2000),
        "disabled-by-remote-command": sorted(o for o in origins if 2000 <= o < 3000),
        "disabled-by-user": USER_COMMAND_ORIGIN in origins,
        "globally-disabled": bool(origins),
    }
    arguments: dict[str, Any] = {
        "pid": engine.pid,
        "uptime": int(now - engine.started_at),
        "multi-threading-enabled": False,
        "sockets": {"status": "ready" if engine.state in _CONFIGURED else "failed"},
        "dhcp-state": state,
    }
    if engine.committed_at is not None:
        arguments["reload"] = int(now - engine.committed_at)
    return answer(SUCCESS, "", arguments)


_CONFIGURED = ("serving", "not_serving")


def _config_get(engine: Control, _: Command, __: Mapping[str, Any]) -> Answer:
    document = engine.settings.document
    shown = redact(dict(document))
    assert isinstance(shown, dict)
    return answer(SUCCESS, "", {**shown, "hash": config_hash(document)})


def _settings_from(engine: Control, arguments: Mapping[str, Any]) -> ServerSettings:
    if not arguments:
        raise _refuse("Missing mandatory 'arguments' parameter.")
    root = engine.settings.root
    if root not in arguments:
        raise _refuse(f"Missing mandatory '{root}' parameter.")
    if not isinstance(arguments[root], dict):
        raise _refuse(f"'{root}' parameter expected to be a map.")
    extra = sorted(str(k) for k in arguments if k != root)
    if extra:
        more = "".join(f" (and '{k}')" for k in extra[1:])
        raise _refuse(f"Unsupported '{extra[0]}' parameter{more}.")
    try:
        return from_checked_document(dict(arguments), where="arguments")
    except ConfigError as err:
        raise _refuse(str(err)) from err


def _reconfigure(engine: Control, command: Command, settings: ServerSettings) -> None:
    server = engine.server
    previous = server.pending, server.reply
    server.pending = settings
    server.reply = PendingReply(command.id, _name(command), settings.source)
    if not engine.fire(server, "reconfigure"):
        server.pending, server.reply = previous
        raise _refuse(f"a configuration is being applied ({engine.state}); try again")


def _name(command: Command) -> str:
    request = command.request
    assert isinstance(request, dict)
    return str(request["command"])


def _config_set(engine: Control, command: Command, arguments: Mapping[str, Any]) -> None:
    _reconfigure(engine, command, _settings_from(engine, arguments))


def _config_reload(engine: Control, command: Command, _: Mapping[str, Any]) -> None:
    if engine.loader is None:
        raise _refuse(
            "Config reload failed: JSON configuration file not specified. "
            "Please use -c command line option."
        )
    source = engine.settings.source or "<inline>"
    engine.server.log("DYNAMIC_RECONFIGURATION", source)
    try:
        settings = engine.loader()
    except ConfigError as err:
        reason = f"configuration error using file '{source}': {err}"
        engine.server.log("CONFIG_LOAD_FAIL", source, str(err))
        engine.server.log("DYNAMIC_RECONFIGURATION_FAIL", source)
        raise _refuse(f"Config reload failed: {reason}") from err
    _reconfigure(engine, command, settings)


def _config_test(engine: Control, _: Command, arguments: Mapping[str, Any]) -> Answer:
    _settings_from(engine, arguments)
    return answer(
        SUCCESS,
        "Configuration seems sane. Control-sockets, hook-libraries, and D2 configuration were "
        "sanity checked, but not applied.",
    )


def _dhcp_disable(engine: Control, _: Command, arguments: Mapping[str, Any]) -> Answer:
    server = engine.server
    max_period = _int_argument(arguments, "max-period")
    if max_period is not None and max_period <= 0:
        raise _refuse("'max-period' must be positive integer")
    origin = _origin(arguments)
    text = f"DHCPv{server.universe} service disabled"
    if max_period is not None:
        if origin >= DB_CONNECTION_ORIGIN:
            raise _refuse(f"{_PROCESSING}DB connection does not support delayed enable")
        server.disarm_timer(_origin_timer(origin))
        server.arm_timer(_origin_timer(origin), max_period, DelayedEnable(origin))
        text += f" for {max_period} seconds"
    server.disable_service(origin, f"origin {origin}")
    return answer(SUCCESS, text)


def _dhcp_enable(engine: Control, _: Command, arguments: Mapping[str, Any]) -> Answer:
    server = engine.server
    origin = _origin(arguments)
    server.disarm_timer(_origin_timer(origin))
    server.enable_origin(origin)
    return answer(SUCCESS, "DHCP service successfully enabled")


def _shutdown(engine: Control, command: Command, arguments: Mapping[str, Any]) -> None:
    code = arguments.get("exit-value", 0)
    if not isinstance(code, int) or isinstance(code, bool):
        raise _refuse("parameter 'exit-value' is not an integer")
    engine.reply(command.id, "shutdown", answer(SUCCESS, "Shutting down."))
    engine.server.exit_code = code
    engine.fire(engine.server, "shutdown")


def _version_get(_: Control, __: Command, ___: Mapping[str, Any]) -> Answer:
    release = messages.KEA_RELEASE
    extended = f"{release} (dbfsm {__version__}: Kea's database-connectivity behaviour)"
    return answer(SUCCESS, release, {"extended": extended})


def _list_commands(_: Control, __: Command, ___: Mapping[str, Any]) -> Answer:
    return answer(SUCCESS, "", sorted(_HANDLERS))


_HANDLERS: Mapping[str, Handler] = {
    "config-get": _config_get,
    "config-reload": _config_reload,
    "config-set": _config_set,
    "config-test": _config_test,
    "dhcp-disable": _dhcp_disable,
    "dhcp-enable": _dhcp_enable,
    "list-commands": _list_commands,
    "shutdown": _shutdown,
    "status-get": _status_get,
    "version-get": _version_get,
}
