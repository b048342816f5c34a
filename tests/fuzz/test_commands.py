"""Hostile control commands through `Engine.command`: wrong types everywhere, missing fields,
huge and non-finite values, documents that are not JSON data.

Every request gets exactly one answer in Kea's shape (`result` 0 to 3, a `text` when not
empty), as JSON that Kea's clients can read (no NaN); no exception escapes the engine; a
refused `config-set` or `config-test` changes nothing: state, backends, the configuration in
force, serving.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dbfsm.drivers.simulated import SimulatedDriver
from dbfsm.fsm.actions import Action, Reply
from dbfsm.fsm.config import from_document
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.errors import InputError
from dbfsm.simulation.virtual import VirtualClock, VirtualRuntime

from . import hostile
from .profiles import FUZZ
from .strategies import damaged, values

CONFIG: dict[str, Any] = {
    "Dhcp4": {
        "lease-database": {
            "type": "mysql",
            "name": "kea",
            "password": "pw",
            "max-reconnect-tries": 2,
            "reconnect-wait-time": 100,
            "on-fail": "serve-retry-continue",
        },
        "hosts-databases": [{"type": "postgresql", "name": "h", "on-fail": "stop-retry-exit"}],
    }
}
REQUESTS: tuple[dict[str, Any], ...] = (
    {"command": "config-set", "arguments": CONFIG},
    {"command": "config-test", "arguments": CONFIG},
    {"command": "config-get"},
    {"command": "config-reload"},
    {"command": "dhcp-disable", "arguments": {"max-period": 5, "origin": "user"}},
    {"command": "dhcp-disable", "arguments": {"origin-id": 2001}},
    {"command": "dhcp-enable", "arguments": {"origin": "ha-partner"}},
    {"command": "shutdown", "arguments": {"exit-value": 3}},
    {"command": "status-get", "service": ["dhcp4"]},
    {"command": "version-get", "remote-address": "127.0.0.1"},
    {"command": "list-commands"},
)


class Server:
    """A started engine on a virtual clock, against simulated databases that are all up."""

    def __init__(self) -> None:
        self.clock = VirtualClock()
        settings = from_document(CONFIG)
        self.engine = Engine(settings, clock=self.clock, loader=lambda: settings)
        self.answers: list[dict[str, Any]] = []
        self.runtime = VirtualRuntime(self.engine, SimulatedDriver(), self.clock, self._note)
        self.runtime.execute(self.engine.start())
        self.runtime.run_until(0.0)
        assert self.engine.serving

    def _note(self, action: Action, _: float) -> None:
        if isinstance(action, Reply):
            self.answers.append(action.response)

    def snapshot(self) -> tuple[object, ...]:
        engine = self.engine
        document = json.dumps(engine.settings.document, sort_keys=True)
        return engine.state, engine.backend_states(), document, engine.serving

    def send(self, request: object) -> dict[str, Any]:
        """The one answer to `request`, once everything it started has settled."""
        before = len(self.answers)
        self.runtime.execute(self.engine.command(request, 1))
        self.runtime.run_until(self.clock.now + 10)
        answers = self.answers[before:]
        assert len(answers) == 1, (request, answers)
        return answers[0]


def _answered(request: object) -> None:
    server = Server()
    before = server.snapshot()
    response = server.send(request)
    assert set(response) <= {"result", "text", "arguments"}, response
    assert response["result"] in (0, 1, 2, 3), response
    assert isinstance(response.get("text", "-"), str) and response.get("text") != ""
    json.dumps(response, allow_nan=False)
    name = request.get("command") if isinstance(request, dict) else None
    if response["result"] != 0 and name in ("config-set", "config-test"):
        assert server.snapshot() == before, (request, response)
    if name == "config-test":
        assert server.snapshot() == before, (request, response)
    if response["result"] != 0:
        raise Refused(response["text"])


class Refused(InputError):
    """An error answer (counted as a refusal; its text must be one line)."""


@FUZZ
@given(st.sampled_from(REQUESTS).flatmap(damaged))
def test_damaged_commands(request: Any) -> None:
    hostile.survive("control command", "damaged", lambda: _answered(request))


@FUZZ
@given(values)
def test_anything_as_a_command(request: Any) -> None:
    hostile.survive("control command", "anything", lambda: _answered(request))


def test_hostile_values_in_every_argument() -> None:
    """Each argument of each command given each of a set of hostile values."""
    hostile_values: list[object] = [
        None,
        True,
        -1,
        0,
        2**63,
        10**5000,
        float("nan"),
        float("inf"),
        1e308,
        "",
        "\n",
        "x" * 100_000,
        [],
        {},
        [[[]]],
        {"password": "pw"},
        {1: 2},
        {"a"},
        b"bytes",
        object(),
    ]
    tried = 0
    for template in REQUESTS:
        for key in ("command", "arguments", *(template.get("arguments") or {})):
            for value in hostile_values:
                request = json.loads(json.dumps(template))
                if key in ("command", "arguments"):
                    request[key] = value
                else:
                    request["arguments"][key] = value
                hostile.survive("control command", key, lambda r=request: _answered(r))
                tried += 1
    assert tried > 300
