"""What comes into the engine: driver reports, timer expiries and commands.

A driver answers every `Open` action with `Opened` or `OpenFailed` quoting the action's
`backend` and `instance`, and reports `Lost` when a request finds the connection gone. The
instance number tells a report about a connection the engine has since closed (a
reconfiguration happened meanwhile) from one about the current connection: stale reports
are dropped.

Each is a value: its fields are `Final`, so the type checker refuses any assignment. They are
slotted rather than `frozen` dataclasses because a frozen one checks every assignment at run
time, which makes each construction about four times slower, and the engine makes several on
every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(slots=True, unsafe_hash=True)
class Opened:
    backend: Final[str]
    instance: Final[int]
    # TLS was configured but the session is in clear text: Kea logs *_NO_TLS and keeps it.
    tls_missing: Final[bool] = False


@dataclass(slots=True, unsafe_hash=True)
class OpenFailed:
    backend: Final[str]
    instance: Final[int]
    reason: Final[str]
    schema_mismatch: Final[bool] = False


@dataclass(slots=True, unsafe_hash=True)
class Lost:
    backend: Final[str]
    instance: Final[int]
    reason: Final[str] = "connection lost"


@dataclass(slots=True, unsafe_hash=True)
class TimerFired:
    name: Final[str]


@dataclass(slots=True, unsafe_hash=True)
class Command:
    """A control-channel command; `request` is the parsed JSON as received, unchecked."""

    request: Final[object]
    id: Final[int] = 0


Event = Opened | OpenFailed | Lost | TimerFired | Command
