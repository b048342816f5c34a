"""What a driver is: it opens and closes connections on request and reports losses.

Drivers are thin. They open a connection with a backend's settings and answer the engine's
`Open` action with `Opened` or `OpenFailed` (saying whether the failure was a schema-version
mismatch), close on `Close`, and report `Lost` when a request finds the connection gone.
The reconnect loop's timing belongs to the engine, never to a driver.
"""

from __future__ import annotations

from typing import Protocol

from dbfsm.fsm.actions import Close, Open
from dbfsm.fsm.events import Lost, Opened, OpenFailed


class Driver(Protocol):
    async def open(self, request: Open) -> Opened | OpenFailed: ...
    async def close(self, request: Close) -> None: ...
    async def use(self, backend: str, instance: int) -> Lost | None:
        """Run one request on the connection; a `Lost` report if it is gone."""
        ...
