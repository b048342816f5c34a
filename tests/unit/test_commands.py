"""Control-channel commands through `Engine.command`: answer shapes, malformed requests,
redaction, status-get's dhcp-state, and answers in every server state.

An answer is Kea's `{"result": 0|1|2|3, "text": ..., "arguments": ...}` (createAnswer,
command_interpreter.cc: `text` only when not empty, `arguments` only when given). The engine
runs on a virtual clock against the simulated driver so that configurations really settle.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest

from dbfsm.drivers.simulated import SimulatedDriver
from dbfsm.fsm.actions import Action, Open, Reply
from dbfsm.fsm.config import from_document
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.errors import ConfigError
from dbfsm.fsm.settings import ServerSettings
from dbfsm.simulation.virtual import VirtualClock, VirtualRuntime

SECRETS = ("lease-pw", "hosts-pw-0", "hosts-pw-1", "cb-pw")
COMMANDS = (
    "config-get",
    "config-reload",
    "config-set",
    "config-test",
    "dhcp-disable",
    "dhcp-enable",
    "list-commands",
    "shutdown",
    "status-get",
    "version-get",
)
READ_ONLY = ("status-get", "version-get", "list-commands", "config-get")


def document(**extra: Any) -> dict[str, Any]:
    """A Dhcp4 configuration with a password in every kind of database map."""
    return {
        "Dhcp4": {
            "lease-database": {
                "type": "mysql",
                "name": "kea",
                "user": "kea",
                "password": SECRETS[0],
                "max-reconnect-tries": 3,
                "reconnect-wait-time": 1000,
            },
            "hosts-databases": [
                {"type": "postgresql", "name": "h0", "password": SECRETS[1]},
                {"type": "mysql", "name": "h1", "password": SECRETS[2]},
            ],
            "config-control": {
                "config-databases": [{"type": "mysql", "name": "cb", "password": SECRETS[3]}]
            },
            **extra,
        }
    }


class Server:
    """An engine, its simulated databases and a virtual clock; commands answered in full."""

    def __init__(
        self,
        doc: dict[str, Any] | None = None,
        loader: Callable[[], ServerSettings] | None = None,
    ) -> None:
        self.clock = VirtualClock()
        self.driver = SimulatedDriver()
        self.engine = Engine(
            from_document(doc or document()), clock=self.clock, loader=loader, pid=4242
        )
        self.replies: dict[int, list[dict[str, Any]]] = {}
        self.runtime = VirtualRuntime(self.engine, self.driver, self.clock, self._note)
        self._ids = itertools.count(1)

    def _note(self, action: Action, _: float) -> None:
        if isinstance(action, Reply):
            self.replies.setdefault(action.id, []).append(action.response)

    def start(self) -> Server:
        self.runtime.execute(self.engine.start())
        self.settle()
        assert self.engine.state == "serving"
        return self

    def settle(self, until: float | None = None) -> None:
        self.runtime.run_until(self.clock.now if until is None else until)

    def send(self, request: object) -> int:
        """Send a command and let everything it starts settle; returns its id."""
        id = next(self._ids)
        self.runtime.execute(self.engine.command(request, id))
        self.settle()
        return id

    def ask(self, request: object) -> dict[str, Any]:
        """The one answer to `request`."""
        answers = self.replies.get(self.send(request), [])
        assert len(answers) == 1, f"{request!r} was answered {len(answers)} times: {answers}"
        return answers[0]


def cmd(name: str, **arguments: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"command": name}
    if arguments:
        request["arguments"] = {k.replace("_", "-"): v for k, v in arguments.items()}
    return request


def check_shape(response: dict[str, Any]) -> None:
    """Kea's createAnswer shape: an int result, a non-empty text if any, nothing else."""
    assert set(response) <= {"result", "text", "arguments"}
    assert response["result"] in (0, 1, 2, 3)
    if "text" in response:
        assert isinstance(response["text"], str)
        assert response["text"]


@pytest.fixture
def server() -> Server:
    return Server().start()


# ---------------------------------------------------------------------------------------------
# Answer shapes, command by command
# ---------------------------------------------------------------------------------------------


def test_list_commands_names_every_command(server):
    """list-commands answers the sorted list of supported commands, and each is supported."""
    response = server.ask(cmd("list-commands"))
    check_shape(response)
    assert response["result"] == 0
    assert response["arguments"] == list(COMMANDS)
    assert "text" not in response


def test_every_listed_command_is_supported(server):
    """No command named by list-commands is answered with result 2 (unsupported)."""
    for name in server.ask(cmd("list-commands"))["arguments"]:
        if name != "shutdown":
            assert server.ask(cmd(name))["result"] != 2, name


def test_status_get_shape(server):
    """status-get: pid, uptime, reload, multi-threading-enabled, sockets and dhcp-state
    (ctrl_dhcp4_srv.cc status-get handler, :1383)."""
    server.settle(until=7.5)
    response = server.ask(cmd("status-get"))
    check_shape(response)
    assert response["result"] == 0
    arguments = response["arguments"]
    assert set(arguments) == {
        "pid",
        "uptime",
        "reload",
        "multi-threading-enabled",
        "sockets",
        "dhcp-state",
    }
    assert arguments["pid"] == 4242
    assert arguments["uptime"] == 7
    assert arguments["reload"] == 7
    assert arguments["multi-threading-enabled"] is False
    assert arguments["sockets"] == {"status": "ready"}
    assert arguments["dhcp-state"] == {
        "disabled-by-db-connection": [],
        "disabled-by-local-command": [],
        "disabled-by-remote-command": [],
        "disabled-by-user": False,
        "globally-disabled": False,
    }


def test_status_get_reload_counts_from_the_last_configuration(server):
    """`reload` is the time since the last successful configuration."""
    server.settle(until=5)
    assert server.ask(cmd("config-set", **document()))["result"] == 0
    server.settle(until=8)
    arguments = server.ask(cmd("status-get"))["arguments"]
    assert (arguments["uptime"], arguments["reload"]) == (8, 3)


def test_status_get_dhcp_state_during_stop_retry_exit_recovery(server):
    """KB §2.2: a stop-retry-exit MySQL lease database being recovered is origin 6001 in
    "disabled-by-db-connection"; a dhcp-disable adds the user origin."""
    server.driver.set_up("lease-database", False)
    backend = server.engine.server.backends["lease-database"]
    lost = server.driver.use_now("lease-database", backend.instance)
    assert lost is not None
    server.runtime.deliver(lost)
    server.settle()
    server.ask(cmd("dhcp-disable"))
    state = server.ask(cmd("status-get"))["arguments"]["dhcp-state"]
    assert state == {
        "disabled-by-db-connection": [6001],
        "disabled-by-local-command": [],
        "disabled-by-remote-command": [],
        "disabled-by-user": True,
        "globally-disabled": True,
    }


def test_config_get_returns_the_configuration_with_passwords_redacted(server):
    """config-get shows the configuration in force, every `password` replaced by `*****`."""
    response = server.ask(cmd("config-get"))
    check_shape(response)
    assert response["result"] == 0
    shown = response["arguments"]
    dumped = json.dumps(shown)
    for secret in SECRETS:
        assert secret not in dumped
    dhcp = shown["Dhcp4"]
    assert dhcp["lease-database"]["password"] == "*****"
    assert [h["password"] for h in dhcp["hosts-databases"]] == ["*****", "*****"]
    assert dhcp["config-control"]["config-databases"][0]["password"] == "*****"
    assert dhcp["lease-database"]["user"] == "kea", "only passwords are hidden"


def test_config_get_redacts_passwords_anywhere(server):
    """A password nested anywhere in the configuration (a hook's parameters) is hidden too."""
    hooks = [{"library": "/x.so", "parameters": {"deep": [{"password": "hook-secret"}]}}]
    doc = document(**{"hooks-libraries": hooks})
    assert server.ask(cmd("config-set", **doc))["result"] == 0
    shown = server.ask(cmd("config-get"))["arguments"]
    assert "hook-secret" not in json.dumps(shown)
    assert shown["Dhcp4"]["hooks-libraries"][0]["parameters"]["deep"][0]["password"] == "*****"


def test_config_get_does_not_expose_the_engines_document(server):
    """Changing the answer does not change the configuration in force."""
    shown = server.ask(cmd("config-get"))["arguments"]
    shown["Dhcp4"]["lease-database"]["name"] = "changed"
    again = server.ask(cmd("config-get"))["arguments"]
    assert again["Dhcp4"]["lease-database"]["name"] == "kea"


def test_config_set_answer_and_hash(server):
    """config-set is answered once the backends settle: result 0, "Configuration successful.",
    and the configuration hash config-get reports afterwards."""
    new = document()
    new["Dhcp4"]["lease-database"]["name"] = "other"
    response = server.ask(cmd("config-set", **new))
    check_shape(response)
    assert (response["result"], response["text"]) == (0, "Configuration successful.")
    shown = server.ask(cmd("config-get"))["arguments"]
    assert shown["Dhcp4"]["lease-database"]["name"] == "other"
    assert response["arguments"]["hash"] == shown["hash"]


def test_config_set_is_answered_only_when_the_backends_settle(server):
    """The engine answers config-set after connecting the new backends, as Kea does."""
    actions = server.engine.command(cmd("config-set", **document()), 99)
    assert not [a for a in actions if isinstance(a, Reply)]
    assert [a.backend for a in actions if isinstance(a, Open)] == ["config-databases[0]"]
    assert server.engine.state == "reconfiguring"
    server.runtime.execute(actions)
    server.settle()
    assert server.replies[99][0]["result"] == 0


@pytest.mark.parametrize(
    ("arguments", "text"),
    [
        (None, "Missing mandatory 'arguments' parameter."),
        ({}, "Missing mandatory 'arguments' parameter."),
        ({"Dhcp6": {}}, "Missing mandatory 'Dhcp4' parameter."),
        ({"Dhcp4": 3}, "'Dhcp4' parameter expected to be a map."),
    ],
)
def test_config_set_refuses_malformed_arguments(server, arguments, text):
    """config-set without a Dhcp4 map is refused with result 1 and the server keeps going."""
    request: dict[str, Any] = {"command": "config-set"}
    if arguments is not None:
        request["arguments"] = arguments
    response = server.ask(request)
    check_shape(response)
    assert response == {"result": 1, "text": text}
    assert server.engine.state == "serving"


def test_config_set_refuses_an_invalid_configuration_with_its_location(server):
    """An invalid database map is refused before anything is disconnected; the text locates
    the value by JSON path."""
    bad = {"Dhcp4": {"lease-database": {"type": "mysql", "name": "kea", "port": 70000}}}
    response = server.ask(cmd("config-set", **bad))
    assert response["result"] == 1
    assert response["text"].startswith("arguments.Dhcp4.lease-database.port: ")
    assert "out of range" in response["text"]
    assert server.engine.state == "serving"
    assert server.ask(cmd("config-get"))["arguments"]["Dhcp4"]["lease-database"]["name"] == "kea"


def test_config_set_with_an_unreachable_backend_answers_result_1(server):
    """KB §2.8: `{"result": 1, "text": "Unable to open database: …"}`."""
    server.driver.set_up("hosts-databases[1]", False)
    response = server.ask(cmd("config-set", **document()))
    check_shape(response)
    assert response["result"] == 1
    assert response["text"].startswith("Unable to open database: ")
    assert server.engine.state == "unconfigured"


def test_config_set_refused_during_reconfiguration_keeps_the_first_answer(server):
    """A second config-set while the first is being applied is refused (result 1), and the
    first one is still answered when its backends settle."""
    first = server.engine.command(cmd("config-set", **document()), 101)
    assert server.engine.state == "reconfiguring"
    second = server.engine.command(cmd("config-set", **document()), 102)
    (refused,) = [a for a in second if isinstance(a, Reply)]
    assert refused.response["result"] == 1
    server.runtime.execute(first)
    server.settle()
    assert server.engine.state == "serving"
    assert [r["result"] for r in server.replies.get(101, [])] == [0]


def test_config_test_checks_without_applying(server):
    """config-test answers result 0 for a sane configuration and applies nothing."""
    actions = server.engine.command(cmd("config-test", **document()), 7)
    (reply,) = [a for a in actions if isinstance(a, Reply)]
    check_shape(reply.response)
    assert reply.response["result"] == 0
    assert reply.response["text"].startswith("Configuration seems sane.")
    assert not [a for a in actions if isinstance(a, Open)]
    assert server.engine.state == "serving"


def test_config_test_refuses_an_invalid_configuration(server):
    bad = {"Dhcp4": {"lease-database": {"type": "oracle"}}}
    response = server.ask(cmd("config-test", **bad))
    assert response["result"] == 1
    assert "unknown backend database type: oracle" in response["text"]


def test_config_reload_without_a_file_is_refused(server):
    """Without a configuration file (the engine has no loader) config-reload is result 1."""
    response = server.ask(cmd("config-reload"))
    check_shape(response)
    assert response["result"] == 1
    assert response["text"].startswith("Config reload failed: ")


def test_config_reload_reads_the_file_again():
    """config-reload applies what the loader reads now, answered when it settles."""
    docs = [document(), document()]
    docs[1]["Dhcp4"]["lease-database"]["name"] = "reloaded"
    server = Server(docs[0], loader=lambda: from_document(docs[1])).start()
    response = server.ask(cmd("config-reload"))
    assert (response["result"], response["text"]) == (0, "Configuration successful.")
    shown = server.ask(cmd("config-get"))["arguments"]
    assert shown["Dhcp4"]["lease-database"]["name"] == "reloaded"


def test_config_reload_of_a_bad_file_is_refused_and_changes_nothing():
    """A file that no longer parses: result 1 "Config reload failed: ...", still serving."""

    def broken() -> ServerSettings:
        raise ConfigError("bad thing", "kea.json:3:4")

    server = Server(loader=broken).start()
    response = server.ask(cmd("config-reload"))
    assert response["result"] == 1
    assert response["text"].startswith("Config reload failed: ")
    assert "kea.json:3:4: bad thing" in response["text"]
    assert server.engine.state == "serving"


def test_version_get(server):
    response = server.ask(cmd("version-get"))
    check_shape(response)
    assert response["result"] == 0
    assert response["text"].startswith("Kea-") or response["text"][0].isdigit()
    assert isinstance(response["arguments"]["extended"], str)
    assert response["text"] in response["arguments"]["extended"]


def test_dhcp_disable_and_enable_answers(server):
    disabled = server.ask(cmd("dhcp-disable"))
    check_shape(disabled)
    assert disabled == {"result": 0, "text": "DHCPv4 service disabled"}
    assert server.engine.state == "not_serving"
    enabled = server.ask(cmd("dhcp-enable"))
    assert enabled == {"result": 0, "text": "DHCP service successfully enabled"}
    assert server.engine.state == "serving"


def test_dhcp_disable_max_period(server):
    """max-period: the service comes back by itself after that many seconds."""
    response = server.ask(cmd("dhcp-disable", max_period=4))
    assert response["result"] == 0
    assert server.engine.state == "not_serving"
    server.settle(until=3.9)
    assert server.engine.state == "not_serving"
    server.settle(until=4)
    assert server.engine.state == "serving"


@pytest.mark.parametrize("value", ["5", 2.5, True, None, [1], {}])
def test_dhcp_disable_refuses_a_non_integer_max_period(server, value):
    response = server.ask({"command": "dhcp-disable", "arguments": {"max-period": value}})
    if value is None:  # JSON null: absent
        assert response["result"] == 0
        return
    check_shape(response)
    assert response["result"] == 1
    assert "max-period" in response["text"]
    assert server.engine.state == "serving"


@pytest.mark.parametrize("value", [0, -3])
def test_dhcp_disable_refuses_a_max_period_that_is_not_positive(server, value):
    """Kea: "'max-period' must be positive integer"."""
    response = server.ask(cmd("dhcp-disable", max_period=value))
    assert response == {"result": 1, "text": "'max-period' must be positive integer"}
    assert server.engine.state == "serving"


def test_dhcp_disable_refuses_delayed_enable_of_a_db_origin(server):
    """KB §2.2: "DB origins cannot use delayed enable (BadValue: DB connection does not support
    delayed enable, network_state.cc:135-139)"."""
    response = server.ask(cmd("dhcp-disable", origin_id=6001, max_period=5))
    assert response["result"] == 1
    assert "DB connection does not support delayed enable" in response["text"]
    assert server.engine.state == "serving"


@pytest.mark.parametrize(
    "arguments", [{"origin": "nobody"}, {"origin": ""}, {"origin": ["user"]}, {"origin-id": "1"}]
)
def test_dhcp_enable_and_disable_refuse_a_bad_origin(server, arguments):
    for name in ("dhcp-disable", "dhcp-enable"):
        response = server.ask({"command": name, "arguments": arguments})
        check_shape(response)
        assert response["result"] == 1, (name, arguments)
    assert server.engine.state == "serving"


def test_shutdown_answers_then_exits(server):
    """shutdown is answered ("Shutting down.") and the engine exits with exit-value."""
    response = server.ask(cmd("shutdown", exit_value=3))
    assert response == {"result": 0, "text": "Shutting down."}
    assert server.engine.exited
    assert server.engine.exit_code == 3


@pytest.mark.parametrize("value", ["3", 1.5, True])
def test_shutdown_refuses_a_non_integer_exit_value(server, value):
    response = server.ask({"command": "shutdown", "arguments": {"exit-value": value}})
    assert response["result"] == 1
    assert not server.engine.exited


# ---------------------------------------------------------------------------------------------
# Malformed commands
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("request_", [1, "status-get", None, [], ["status-get"], 2.5, True])
def test_a_command_that_is_not_a_map_is_refused(server, request_):
    response = server.ask(request_)
    check_shape(response)
    assert response["result"] == 1
    assert "invalid command" in response["text"]


@pytest.mark.parametrize("request_", [{}, {"arguments": {}}, {"service": ["dhcp4"]}])
def test_a_command_without_a_name_is_refused(server, request_):
    response = server.ask(request_)
    assert response["result"] == 1
    assert "'command'" in response["text"]


@pytest.mark.parametrize("name", [3, None, ["status-get"], {"x": 1}, True])
def test_a_command_name_that_is_not_a_string_is_refused(server, name):
    response = server.ask({"command": name})
    check_shape(response)
    assert response["result"] == 1
    assert "'command'" in response["text"]


@pytest.mark.parametrize("name", ["foo", "", "Status-Get", "lease4-get"])
def test_an_unknown_command_is_unsupported(server, name):
    """Kea's CONTROL_RESULT_COMMAND_UNSUPPORTED (2): `'<name>' command not supported.`"""
    response = server.ask({"command": name})
    assert response == {"result": 2, "text": f"'{name}' command not supported."}


@pytest.mark.parametrize("arguments", [[], "x", 3, True])
def test_arguments_that_are_not_a_map_are_refused(server, arguments):
    response = server.ask({"command": "status-get", "arguments": arguments})
    check_shape(response)
    assert response["result"] == 1
    assert "arguments" in response["text"]


def test_an_unknown_top_level_parameter_is_refused(server):
    response = server.ask({"command": "status-get", "extra": 1})
    assert response["result"] == 1
    assert "'extra'" in response["text"]


def test_service_is_accepted(server):
    """The Control Agent's `service` list is allowed next to the command."""
    assert server.ask({"command": "status-get", "service": ["dhcp4"]})["result"] == 0


def test_malformed_commands_change_nothing(server):
    """No refusal changes the server's state or its configuration."""
    before = server.ask(cmd("config-get"))["arguments"]
    for request in (1, {}, {"command": 3}, {"command": "x"}, {"command": "config-set"}):
        server.ask(request)
    assert server.engine.state == "serving"
    assert server.ask(cmd("config-get"))["arguments"] == before


# ---------------------------------------------------------------------------------------------
# Commands in every state
# ---------------------------------------------------------------------------------------------


def _in_state(state: str) -> Server:
    """A server brought to `state` (starting and reconfiguring: with an open in flight)."""
    server = Server()
    if state == "starting":
        server.engine.start()  # the Open is never answered: startup is in progress
    elif state == "reconfiguring":
        server.start()
        server.engine.command(cmd("config-set", **document()), 0)  # opens left in flight
    else:
        server.start()
        if state == "not_serving":
            server.ask(cmd("dhcp-disable"))
        elif state == "unconfigured":
            server.driver.set_up("lease-database", False)
            assert server.ask(cmd("config-set", **document()))["result"] == 1
    assert server.engine.state == state
    return server


@pytest.mark.parametrize(
    "state", ["starting", "serving", "not_serving", "reconfiguring", "unconfigured"]
)
@pytest.mark.parametrize("name", [*READ_ONLY, "config-test"])
def test_commands_are_answered_in_every_state_while_up(state, name):
    """ "... but continues to respond to commands." -- in every state of a running process,
    including while starting (the engine answers at once; Kea's control socket opens while
    the configuration is applied) and after a failed reconfiguration ("It is able to process
    commands but does not serve clients")."""
    server = _in_state(state)
    request = cmd(name, **document()) if name == "config-test" else cmd(name)
    actions = server.engine.command(request, 500)
    replies = [a.response for a in actions if isinstance(a, Reply)]
    assert len(replies) == 1
    check_shape(replies[0])
    assert replies[0]["result"] == 0
    assert server.engine.state == state


@pytest.mark.parametrize(
    ("state", "sockets"),
    [
        ("starting", "failed"),
        ("serving", "ready"),
        ("not_serving", "ready"),
        ("reconfiguring", "failed"),
        ("unconfigured", "failed"),
    ],
)
def test_status_get_sockets_by_state(state, sockets):
    """DHCP sockets are open only while a configuration is in force (KB §2.8: closed when
    reconfiguring and not reopened after a failure)."""
    server = _in_state(state)
    (reply,) = [a for a in server.engine.command(cmd("status-get"), 1) if isinstance(a, Reply)]
    assert reply.response["arguments"]["sockets"] == {"status": sockets}


@pytest.mark.parametrize("state", ["starting", "reconfiguring"])
def test_configuration_commands_wait_while_a_configuration_is_applied(state):
    """config-set while a configuration is being applied is refused with result 1 (the
    engine applies one configuration at a time)."""
    server = _in_state(state)
    actions = server.engine.command(cmd("config-set", **document()), 77)
    (reply,) = [a.response for a in actions if isinstance(a, Reply)]
    assert reply["result"] == 1
    assert server.engine.state == state


def test_an_exited_server_answers_nothing(server):
    server.ask(cmd("shutdown"))
    assert server.engine.command(cmd("status-get"), 1) == []


def test_an_answer_without_text_ends_its_timeline_line_at_the_result() -> None:
    """status-get has no text: `-> result 0`, not `-> result 0: ` (a colon and nothing)."""
    from dbfsm.fsm.records import Record, text_line

    bare = text_line(Record(1.0, "command", {"command": "status-get", "result": 0, "text": ""}))
    assert bare.rstrip("\n").endswith("command status-get -> result 0"), bare
    said = text_line(Record(1.0, "command", {"command": "x", "result": 2, "text": "why"}))
    assert said.rstrip("\n").endswith("command x -> result 2: why"), said
