"""The simulated driver's words for an open that fails: what the client library Kea links
writes (libpq for PostgreSQL, libmariadb for MySQL), measured with kea-dhcp4 2.2.0 on
Debian 12; Kea's own words around them come from its messages, not from the driver."""

from __future__ import annotations

from typing import Any

import pytest

from dbfsm.drivers.simulated import SimulatedDriver
from dbfsm.fsm import config
from dbfsm.fsm.actions import Open
from dbfsm.fsm.events import OpenFailed
from dbfsm.fsm.settings import BackendSettings
from dbfsm.simulation.scenario import Scenario, ScenarioEvent, Traffic
from dbfsm.simulation.simulate import Simulation

SOCKET = "/run/mysqld/mysqld.sock"


def backend(kind: str, **parameters: Any) -> BackendSettings:
    lease = {"type": kind, "name": "kea", **parameters}
    return config.from_document({"Dhcp4": {"lease-database": lease}}).backends[0]


def refused(settings: BackendSettings) -> str:
    driver = SimulatedDriver()
    driver.set_up(settings.key, False)
    failed = driver.open_now(Open(settings.key, 1, settings))
    assert isinstance(failed, OpenFailed)
    return failed.reason


def timed_out(settings: BackendSettings) -> str:
    return SimulatedDriver().open_timed_out(Open(settings.key, 1, settings)).reason


@pytest.mark.parametrize(
    ("parameters", "text"),
    [
        ({"host": "127.0.0.1"}, "Can't connect to server on '127.0.0.1' (115)"),
        ({"host": "db.example", "port": 3307}, "Can't connect to server on 'db.example' (115)"),
        ({}, f"Can't connect to local server through socket '{SOCKET}' (2)"),
        ({"host": "localhost"}, f"Can't connect to local server through socket '{SOCKET}' (2)"),
    ],
)
def test_mysql_refused_is_the_mariadb_clients_text(parameters: dict[str, Any], text: str) -> None:
    assert refused(backend("mysql", **parameters)) == text


@pytest.mark.parametrize(
    ("parameters", "text"),
    [
        ({"host": "127.0.0.1"}, "Can't connect to server on '127.0.0.1' (110)"),
        ({"host": "db.example", "port": 3307}, "Can't connect to server on 'db.example' (110)"),
        ({}, f"Can't connect to local server through socket '{SOCKET}' (11)"),
    ],
)
def test_mysql_timed_out_is_the_mariadb_clients_text(parameters: dict[str, Any], text: str) -> None:
    assert timed_out(backend("mysql", **parameters)) == text


@pytest.mark.parametrize(
    ("parameters", "refused_text", "timed_out_text"),
    [
        (
            {"host": "127.0.0.1"},
            "connection to server at 127.0.0.1, port 5432 failed: Connection refused",
            "connection to server at 127.0.0.1, port 5432 failed: timeout expired",
        ),
        (
            {},
            "connection to server at localhost, port 5432 failed: Connection refused",
            "connection to server at localhost, port 5432 failed: timeout expired",
        ),
        (
            {"host": "db.example", "port": 5433},
            "connection to server at db.example, port 5433 failed: Connection refused",
            "connection to server at db.example, port 5433 failed: timeout expired",
        ),
    ],
)
def test_postgresql_texts_are_libpqs(
    parameters: dict[str, Any], refused_text: str, timed_out_text: str
) -> None:
    settings = backend("postgresql", **parameters)
    assert refused(settings) == refused_text
    assert timed_out(settings) == timed_out_text


def test_kea_logs_the_driver_text_as_it_is_and_prefixes_it_only_for_a_configuration() -> None:
    """A reconnect attempt's failure is `database reconnect failed: <driver text>`; a
    configuration that cannot open its database answers `Unable to open database: <driver
    text>` (Kea's words, not the driver's)."""
    lease = {
        "type": "mysql",
        "name": "kea",
        "host": "127.0.0.1",
        "max-reconnect-tries": 2,
        "reconnect-wait-time": 1000,
        "on-fail": "serve-retry-continue",
    }
    settings = config.from_document({"Dhcp4": {"lease-database": lease}})
    set_config = {"command": "config-set", "arguments": dict(settings.document)}
    events = (
        ScenarioEvent(5.0, "down", "lease-database"),
        ScenarioEvent(10.0, "command", command=set_config),
    )
    scenario = Scenario(settings, lambda: settings, 12.0, Traffic("continuous"), events, "texts")
    sim = Simulation(scenario)
    sim.run()
    text = "Can't connect to server on '127.0.0.1' (115)"
    failed = [
        r.data["text"]
        for r in sim.records
        if r.type == "log" and r.data["id"].endswith("RECONNECT_ATTEMPT_FAILED")
    ]
    assert failed and set(failed) == {f"database reconnect failed: {text}"}
    answers = [r.data for r in sim.records if r.type == "command"]
    assert answers == [
        {"command": "config-set", "result": 1, "text": f"Unable to open database: {text}"}
    ]
