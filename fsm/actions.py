"""What comes out of the engine: requests to drivers and timers, and notifications.

The engine never performs I/O; a runtime carries out `Open`, `Close`, `StartTimer` and
`CancelTimer`, and passes the notifications (`Log`, `ServingChanged`, `AttemptResult`,
`Reply`, `Exit`, `Transitioned`, `Stayed`) to whoever subscribed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fsm.messages import LogMessage
from fsm.settings import BackendSettings


@dataclass(frozen=True)
class Open:
    """Open a connection. `attempt` is set for reconnect attempts (n of `of`)."""

    backend: str
    instance: int
    settings: BackendSettings
    attempt: int | None = None
    of: int | None = None


@dataclass(frozen=True)
class Close:
    backend: str
    instance: int


@dataclass(frozen=True)
class StartTimer:
    name: str
    delay: float  # seconds


@dataclass(frozen=True)
class CancelTimer:
    name: str


@dataclass(frozen=True)
class Log:
    message: LogMessage


@dataclass(frozen=True)
class ServingChanged:
    serving: bool


@dataclass(frozen=True)
class AttemptResult:
    backend: str
    n: int
    of: int
    ok: bool


@dataclass(frozen=True)
class Reply:
    id: int
    command: str
    response: dict[str, Any]


@dataclass(frozen=True)
class Exit:
    code: int


@dataclass(frozen=True)
class Transitioned:
    machine: str  # "server" or a backend key
    trigger: str
    source: str
    dest: str
    index: int  # which declaration of its graph was taken (fsm.graph `transitions`)


@dataclass(frozen=True)
class Stayed:
    """A declaration without a destination was taken: the machine handled `trigger` and
    stays in `state`. Separate from `Transitioned`, which always means a change of state."""

    machine: str
    trigger: str
    state: str
    index: int


Action = (
    Open
    | Close
    | StartTimer
    | CancelTimer
    | Log
    | ServingChanged
    | AttemptResult
    | Reply
    | Exit
    | Transitioned
    | Stayed
)
