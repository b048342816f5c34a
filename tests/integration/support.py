"""Helpers shared by the integration tests: backend settings from a database map, timing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dbfsm.fsm import config
from dbfsm.fsm.actions import Open
from dbfsm.fsm.settings import BackendSettings

LEASE = "lease-database"


def server_settings(role: str = LEASE, **entry: Any) -> Any:
    if role == LEASE:
        document = {"Dhcp4": {"lease-database": entry}}
    elif role == "hosts-databases[0]":
        document = {"Dhcp4": {"hosts-databases": [entry]}}
    else:
        document = {"Dhcp4": {"config-control": {"config-databases": [entry]}}}
    return config.from_document(document)


def backend(entry: dict[str, Any], role: str = LEASE) -> BackendSettings:
    """Validated settings (Kea's defaults filled) for one database map."""
    return server_settings(role, **entry).backend(role)


def open_request(entry: dict[str, Any], role: str = LEASE, instance: int = 1) -> Open:
    return Open(role, instance, backend(entry, role))


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as took:` ... `took[0]` is the elapsed seconds afterwards."""
    took: list[float] = []
    start = time.monotonic()
    try:
        yield took
    finally:
        took.append(time.monotonic() - start)
