"""Kea's control-channel commands, answered in every state while the process is up.

A command is `{"command": NAME, "arguments": {...}}`; the answer is
`{"result": 0|1|2|3, "text": ..., "arguments": ...}` (Kea's CONTROL_RESULT_* codes). Most
answers are immediate; `config-set` and `config-reload` are answered when the new
configuration's backends have settled, as Kea answers only after connecting them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fsm import messages
from fsm.config import from_document, redact
from fsm.errors import ConfigError
from fsm.events import Command
from fsm.server import PendingReply
from fsm.settings import DB_CONNECTION_ORIGIN, USER_COMMAND_ORIGIN, ServerSettings

if TYPE_CHECKING:
    from fsm.engine import Engine

SUCCESS, ERROR, UNSUPPORTED, EMPTY = 0, 1, 2, 3
DELAYED_ENABLE_TIMER = "NetworkState-delayed-enable"

Answer = dict[str, Any]
Handler = Callable[["Engine", Command, Mapping[str, Any]], Answer | None]


def answer(result: int, text: str, arguments: Any = None) -> Answer:
    response: Answer = {"result": result, "text": text}
    if arguments is not None:
        response["arguments"] = arguments
    return response


def dispatch(engine: Engine, command: Command) -> None:
    """Answer `command` through `engine.reply`, now or once a reconfiguration settles."""
    request = command.request
    name = request.get("command") if isinstance(request, dict) else None
    label = name if isinstance(name, str) else "?"
    try:
        arguments = _parse(request)
        response = _HANDLERS[label](engine, command, arguments)
    except _Refused as refused:
        response = refused.response
    if response is not None:
        engine.reply(command.id, label, response)


class _Refused(Exception):
    def __init__(self, response: Answer) -> None:
        self.response = response


def _parse(request: object) -> Mapping[str, Any]:
    if not isinstance(request, dict):
        raise _Refused(answer(ERROR, "invalid command: not a JSON map"))
    name = request.get("command")
    if name is None:
        raise _Refused(answer(ERROR, "invalid command: 'command' parameter is missing"))
    if not isinstance(name, str):
        raise _Refused(answer(ERROR, "invalid command: 'command' parameter must be a string"))
    extra = sorted(set(request) - {"command", "arguments", "service"})
    if extra:
        raise _Refused(answer(ERROR, f"invalid command: unsupported parameter '{extra[0]}'"))
    if name not in _HANDLERS:
        raise _Refused(answer(UNSUPPORTED, f"'{name}' command not supported."))
    arguments = request.get("arguments", {})
    if not isinstance(arguments, dict):
        raise _Refused(answer(ERROR, "invalid command: 'arguments' must be a JSON map"))
    return arguments


def _int_argument(arguments: Mapping[str, Any], key: str, minimum: int) -> int | None:
    value = arguments.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Refused(answer(ERROR, f"'{key}' argument must be a number"))
    if value < minimum:
        raise _Refused(answer(ERROR, f"'{key}' must be at least {minimum}, got {value}"))
    return value


def _origin(arguments: Mapping[str, Any]) -> int:
    """Kea's origin selection: `origin-id` wins, then `origin` ("user" only here)."""
    origin_id = _int_argument(arguments, "origin-id", 1)
    if origin_id is not None:
        return origin_id
    origin = arguments.get("origin", "user")
    if origin != "user":
        raise _Refused(answer(ERROR, f"invalid value used for 'origin' parameter: {origin}"))
    return USER_COMMAND_ORIGIN


# -- handlers ----------------------------------------------------------------------------------


def _status_get(engine: Engine, _: Command, __: Mapping[str, Any]) -> Answer:
    server = engine.server
    origins = server.origins.values()
    now = engine.clock()
    state = {
        "disabled-by-db-connection": sorted({o for o in origins if o >= DB_CONNECTION_ORIGIN}),
        "disabled-by-local-command": [],
        "disabled-by-remote-command": [],
        "disabled-by-user": USER_COMMAND_ORIGIN in origins,
        "globally-disabled": not engine.serving,
    }
    configured = engine.state in ("serving", "not_serving")
    return answer(
        SUCCESS,
        "",
        {
            "pid": engine.pid,
            "uptime": int(now - engine.started_at),
            "reload": int(now - (engine.committed_at or engine.started_at)),
            "multi-threading-enabled": False,
            "sockets": {"status": "ready" if configured else "failed"},
            "dhcp-state": state,
        },
    )


def _config_get(engine: Engine, _: Command, __: Mapping[str, Any]) -> Answer:
    return answer(SUCCESS, "", redact(dict(engine.settings.document)))


def _settings_from(engine: Engine, arguments: Mapping[str, Any]) -> ServerSettings:
    if not arguments:
        raise _Refused(answer(ERROR, "Missing mandatory 'arguments' parameter."))
    root = engine.settings.root
    if root not in arguments:
        raise _Refused(answer(ERROR, f"Missing mandatory '{root}' parameter."))
    try:
        return from_document(dict(arguments), where="arguments")
    except ConfigError as err:
        raise _Refused(answer(ERROR, str(err))) from err


def _reconfigure(engine: Engine, command: Command, settings: ServerSettings) -> None:
    server = engine.server
    previous = server.pending
    server.pending = settings
    server.reply = PendingReply(command.id, _name(command), settings.source)
    if not engine.fire(server, "reconfigure"):
        server.pending, server.reply = previous, None
        state = engine.state
        raise _Refused(answer(ERROR, f"a configuration is being applied ({state}); try again"))


def _name(command: Command) -> str:
    request = command.request
    assert isinstance(request, dict)
    return str(request["command"])


def _config_set(engine: Engine, command: Command, arguments: Mapping[str, Any]) -> None:
    _reconfigure(engine, command, _settings_from(engine, arguments))


def _config_reload(engine: Engine, command: Command, _: Mapping[str, Any]) -> None:
    if engine.loader is None:
        raise _Refused(answer(ERROR, "Config reload failed: no configuration file to reload"))
    try:
        settings = engine.loader()
    except ConfigError as err:
        raise _Refused(answer(ERROR, f"Config reload failed: {err}")) from err
    _reconfigure(engine, command, settings)


def _config_test(engine: Engine, _: Command, arguments: Mapping[str, Any]) -> Answer:
    _settings_from(engine, arguments)
    return answer(
        SUCCESS,
        "Configuration seems sane. Control-socket, hook-libraries, and D2 configuration were "
        "sanity checked, but not applied.",
    )


def _dhcp_disable(engine: Engine, _: Command, arguments: Mapping[str, Any]) -> Answer:
    server = engine.server
    max_period = _int_argument(arguments, "max-period", 1)
    origin = _origin(arguments)
    owner = f"origin {origin}"
    server.disable_service(origin, owner)
    if max_period is not None:
        server.arm_timer(DELAYED_ENABLE_TIMER, max_period, lambda: server.enable_origin(origin))
    return answer(SUCCESS, f"DHCPv{server.universe} service disabled")


def _dhcp_enable(engine: Engine, _: Command, arguments: Mapping[str, Any]) -> Answer:
    server = engine.server
    server.enable_origin(_origin(arguments))
    server.disarm_timer(DELAYED_ENABLE_TIMER)
    return answer(SUCCESS, "DHCP service successfully enabled")


def _shutdown(engine: Engine, command: Command, arguments: Mapping[str, Any]) -> None:
    code = _int_argument(arguments, "exit-value", -(2**31))
    engine.reply(command.id, "shutdown", answer(SUCCESS, "Shutting down."))
    engine.server.exit_code = 0 if code is None else code
    engine.fire(engine.server, "shutdown")


def _version_get(engine: Engine, _: Command, __: Mapping[str, Any]) -> Answer:
    return answer(
        SUCCESS, messages.KEA_VERSION, {"extended": f"{messages.KEA_VERSION} (dbfsm engine)"}
    )


def _list_commands(_: Engine, __: Command, ___: Mapping[str, Any]) -> Answer:
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
