"""What comes into the engine: driver reports, timer expiries and commands.

A driver answers every `Open` action with `Opened` or `OpenFailed` quoting the action's
`backend` and `instance`, and reports `Lost` when a request finds the connection gone. The
instance number tells a report about a connection the engine has since closed (a
reconfiguration happened meanwhile) from one about the current connection: stale reports
are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Opened:
    backend: str
    instance: int
    # TLS was configured but the session is in clear text: Kea logs *_NO_TLS and keeps it.
    tls_missing: bool = False


@dataclass(frozen=True)
class OpenFailed:
    backend: str
    instance: int
    reason: str
    schema_mismatch: bool = False


@dataclass(frozen=True)
class Lost:
    backend: str
    instance: int
    reason: str = "connection lost"


@dataclass(frozen=True)
class TimerFired:
    name: str


@dataclass(frozen=True)
class Command:
    """A control-channel command; `request` is the parsed JSON as received, unchecked."""

    request: object
    id: int = 0


Event = Opened | OpenFailed | Lost | TimerFired | Command
