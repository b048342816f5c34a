"""dbfsm: Kea's database-connectivity behaviour as an explicit, tested finite-state machine.

This module is the public API: every name in `__all__` is stable; every other module is
internal and may move. The core (engine, events, actions, settings, records) is imported
with the package and imports nothing but the standard library and `transitions`; the rest is
imported when first used, so that `import dbfsm` needs neither psycopg nor PyMySQL and a
service pays only for what it uses.

    from dbfsm import Lifecycle, Unavailable

    with Lifecycle.from_config("kea-dhcp4.json") as life:
        with life.connection("lease-database") as conn:
            conn.execute("INSERT ...")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dbfsm.fsm import __version__
from dbfsm.fsm.actions import (
    Action,
    AttemptResult,
    CancelTimer,
    Close,
    Exit,
    Log,
    Open,
    Reply,
    ServingChanged,
    StartTimer,
    Stayed,
    Transitioned,
)
from dbfsm.fsm.config import from_document, parse_text
from dbfsm.fsm.engine import Engine, UnexpectedEvent
from dbfsm.fsm.errors import ConfigError, Error, InputError, UsageError
from dbfsm.fsm.events import Command, Event, Lost, Opened, OpenFailed, TimerFired
from dbfsm.fsm.graph import BACKEND, SERVER, Graph
from dbfsm.fsm.logs import forward
from dbfsm.fsm.records import Record, record_of, to_jsonl, to_text
from dbfsm.fsm.settings import BackendSettings, DbType, OnFail, Role, ServerSettings

# Public names imported on first use: name -> module that defines it.
_LAZY = {
    # services: a service's own database work under the lifecycle
    "Lifecycle": "dbfsm.live.services",
    "AsyncLifecycle": "dbfsm.live.services",
    "Unavailable": "dbfsm.live.services",
    "NotServing": "dbfsm.live.services",
    "BackendUnavailable": "dbfsm.live.services",
    "ConnectionLost": "dbfsm.live.services",
    "StartupFailed": "dbfsm.live.services",
    "load_config": "dbfsm.live.services",
    "Metrics": "dbfsm.live.metrics",
    # runtimes
    "AsyncioRuntime": "dbfsm.live.runtime",
    "ServerExited": "dbfsm.live.runtime",
    "VirtualRuntime": "dbfsm.simulation.virtual",
    "VirtualClock": "dbfsm.simulation.virtual",
    # drivers
    "Driver": "dbfsm.drivers.base",
    "DriverError": "dbfsm.drivers.session",
    "LiveDriver": "dbfsm.drivers.live",
    "SimulatedDriver": "dbfsm.drivers.simulated",
    # the declaration run by the `transitions` library
    "transitions_machine": "dbfsm.fsm.reference",
}

__all__ = [
    "BACKEND",
    "SERVER",
    "Action",
    "AsyncLifecycle",
    "AsyncioRuntime",
    "AttemptResult",
    "BackendSettings",
    "BackendUnavailable",
    "CancelTimer",
    "Close",
    "Command",
    "ConfigError",
    "ConnectionLost",
    "DbType",
    "Driver",
    "DriverError",
    "Engine",
    "Error",
    "Event",
    "Exit",
    "Graph",
    "InputError",
    "Lifecycle",
    "LiveDriver",
    "Log",
    "Lost",
    "Metrics",
    "NotServing",
    "OnFail",
    "Open",
    "OpenFailed",
    "Opened",
    "Record",
    "Reply",
    "Role",
    "ServerExited",
    "ServerSettings",
    "ServingChanged",
    "SimulatedDriver",
    "StartTimer",
    "StartupFailed",
    "Stayed",
    "TimerFired",
    "Transitioned",
    "Unavailable",
    "UnexpectedEvent",
    "UsageError",
    "VirtualClock",
    "VirtualRuntime",
    "__version__",
    "forward",
    "from_document",
    "load_config",
    "parse_text",
    "record_of",
    "to_jsonl",
    "to_text",
    "transitions_machine",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dbfsm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from dbfsm.drivers.base import Driver
    from dbfsm.drivers.live import LiveDriver
    from dbfsm.drivers.session import DriverError
    from dbfsm.drivers.simulated import SimulatedDriver
    from dbfsm.fsm.reference import transitions_machine
    from dbfsm.live.metrics import Metrics
    from dbfsm.live.runtime import AsyncioRuntime, ServerExited
    from dbfsm.live.services import (
        AsyncLifecycle,
        BackendUnavailable,
        ConnectionLost,
        Lifecycle,
        NotServing,
        StartupFailed,
        Unavailable,
        load_config,
    )
    from dbfsm.simulation.virtual import VirtualClock, VirtualRuntime
