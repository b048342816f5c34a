"""Kea's log messages through the standard `logging` module.

The engine only emits `Log` actions; `forward` subscribes a bridge that sends each one to a
logger named after Kea's own (`kea-dhcp4.dhcp4`, `kea-dhcp4.pgsql-lb`, ...), at the level
matching Kea's severity, with the message ID and severity as record attributes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from dbfsm.fsm.actions import Action, Log
from dbfsm.fsm.engine import Engine

_COMPONENTS = (
    ("DHCP4_", "dhcp4"),
    ("DHCP6_", "dhcp6"),
    ("MYSQL_LB_", "mysql-lb"),
    ("PGSQL_LB_", "pgsql-lb"),
    ("MYSQL_HB_", "mysql-hb"),
    ("PGSQL_HB_", "pgsql-hb"),
    ("MYSQL_CB_", "mysql-cb"),
    ("PGSQL_CB_", "pgsql-cb"),
    ("DATABASE_", "database"),
    ("DHCPSRV_", "dhcpsrv"),
    ("DCTL_", "dctl"),
    ("COMMAND_", "commands"),
)


def logger_name(message_id: str, universe: int) -> str:
    component = next((c for p, c in _COMPONENTS if message_id.startswith(p)), "dhcpsrv")
    return f"kea-dhcp{universe}.{component}"


def forward(engine: Engine) -> Callable[[], None]:
    """Send every log message the engine emits to `logging`; returns an unsubscriber."""

    def bridge(action: Action) -> None:
        if isinstance(action, Log):
            m = action.message
            logger = logging.getLogger(logger_name(m.id, engine.settings.universe))
            extra = {"kea_id": m.id, "kea_severity": str(m.severity)}
            logger.log(m.severity.logging_level, "%s %s", m.id, m.text, extra=extra)

    return engine.subscribe(bridge)
