"""TLS configured but the session in clear text: Kea logs *_NO_TLS and keeps the connection.

Kea checks `mysql_get_ssl_cipher()` after connecting a MySQL lease, host or config backend
(mysql_lease_mgr.cc:2430-2440, mysql_host_data_source.cc:3047-3057, mysql_cb_impl.cc:77-87;
kea-behaviour.md §5); PostgreSQL has no such check. The driver says so in `Opened`; the engine
logs the message on every open, at startup and after a reconnect.
"""

from __future__ import annotations

from typing import Any

import pytest

from dbfsm.drivers.simulated import SimulatedDriver
from dbfsm.fsm import config
from dbfsm.fsm.actions import Action, Log
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.events import Lost
from dbfsm.simulation.virtual import VirtualClock, VirtualRuntime


def _run(entry: dict[str, Any], role: str, tls_offered: bool, lose: bool = False) -> list[str]:
    if role == "lease-database":
        document: dict[str, Any] = {"Dhcp4": {"lease-database": entry}}
        key = "lease-database"
    elif role == "hosts-databases":
        document = {"Dhcp4": {"hosts-databases": [entry]}}
        key = "hosts-databases[0]"
    else:
        document = {"Dhcp4": {"config-control": {"config-databases": [entry]}}}
        key = "config-databases[0]"
    clock = VirtualClock()
    engine = Engine(config.from_document(document), clock=clock)
    driver = SimulatedDriver()
    driver.server(key).tls = tls_offered
    logged: list[str] = []

    def notify(action: Action, t: float) -> None:
        if isinstance(action, Log):
            logged.append(action.message.id)

    runtime = VirtualRuntime(engine, driver, clock, notify)
    runtime.execute(engine.start())
    runtime.run_until(1.0)
    if lose:
        runtime.deliver(Lost(key, engine.server.backends[key].instance))
        runtime.run_until(2.0)
    assert engine.serving
    return logged


MYSQL_TLS = {"type": "mysql", "name": "kea", "trust-anchor": "/etc/kea/ca.pem"}


@pytest.mark.parametrize(
    ("role", "message"),
    [
        ("lease-database", "MYSQL_LB_NO_TLS"),
        ("hosts-databases", "MYSQL_HB_NO_TLS"),
        ("config-databases", "MYSQL_CB_NO_TLS"),
    ],
)
def test_clear_text_session_is_logged_and_kept(role: str, message: str) -> None:
    logged = _run(MYSQL_TLS, role, tls_offered=False)
    assert logged.count(message) == 1
    assert logged.index(message) < logged.index("DHCP4_STARTED")


def test_logged_again_when_a_reconnect_lands_in_clear_text() -> None:
    entry = {**MYSQL_TLS, "max-reconnect-tries": 2, "reconnect-wait-time": 100}
    logged = _run(entry, "lease-database", tls_offered=False, lose=True)
    assert logged.count("MYSQL_LB_NO_TLS") == 2
    assert logged.index("DHCP4_DB_RECONNECT_SUCCEEDED") > logged.index("MYSQL_LB_NO_TLS")


@pytest.mark.parametrize(
    "entry",
    [
        {"type": "mysql", "name": "kea"},  # TLS not configured: nothing to complain about
        MYSQL_TLS | {"cipher-list": "AES"},  # configured, but the server offers it
        {"type": "postgresql", "name": "kea", "trust-anchor": "/etc/kea/ca.pem"},
    ],
)
def test_not_logged_otherwise(entry: dict[str, Any]) -> None:
    tls_offered = entry.get("cipher-list") is not None
    logged = _run(entry, "lease-database", tls_offered=tls_offered)
    assert not [m for m in logged if m.endswith("_NO_TLS")]
