"""What comes out of the engine: requests to drivers and timers, and notifications.

The engine never performs I/O; a runtime carries out `Open`, `Close`, `StartTimer` and
`CancelTimer`, and passes the notifications (`Log`, `ServingChanged`, `AttemptResult`,
`Reply`, `Exit`, `Transitioned`, `Stayed`) to whoever subscribed.

Each is a value: its fields are `Final`, so the type checker refuses any assignment. They are
slotted rather than `frozen` dataclasses because a frozen one checks every assignment at run
time, which makes each construction about four times slower, and the engine makes several on
every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from dbfsm.fsm.messages import LogMessage
from dbfsm.fsm.settings import BackendSettings


@dataclass(slots=True, unsafe_hash=True)
class Open:
    """Open a connection. `attempt` is set for reconnect attempts (n of `of`)."""

    backend: Final[str]
    instance: Final[int]
    settings: Final[BackendSettings]
    attempt: Final[int | None] = None
    of: Final[int | None] = None


@dataclass(slots=True, unsafe_hash=True)
class Close:
    backend: Final[str]
    instance: Final[int]


@dataclass(slots=True, unsafe_hash=True)
class StartTimer:
    name: Final[str]
    delay: Final[float]  # seconds


@dataclass(slots=True, unsafe_hash=True)
class CancelTimer:
    name: Final[str]


@dataclass(slots=True, unsafe_hash=True)
class Log:
    message: Final[LogMessage]


@dataclass(slots=True, unsafe_hash=True)
class ServingChanged:
    serving: Final[bool]


@dataclass(slots=True, unsafe_hash=True)
class AttemptResult:
    backend: Final[str]
    n: Final[int]
    of: Final[int]
    ok: Final[bool]


@dataclass(slots=True, unsafe_hash=True)
class Reply:
    id: Final[int]
    command: Final[str]
    response: Final[dict[str, Any]]


@dataclass(slots=True, unsafe_hash=True)
class Exit:
    code: Final[int]


@dataclass(slots=True, unsafe_hash=True)
class Transitioned:
    machine: Final[str]  # "server" or a backend key
    trigger: Final[str]
    source: Final[str]
    dest: Final[str]
    index: Final[int]  # which declaration of its graph was taken (fsm.graph `transitions`)


@dataclass(slots=True, unsafe_hash=True)
class Stayed:
    """A declaration without a destination was taken: the machine handled `trigger` and
    stays in `state`. Separate from `Transitioned`, which always means a change of state."""

    machine: Final[str]
    trigger: Final[str]
    state: Final[str]
    index: Final[int]


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

# What a runtime calls with each notification the engine emits and the time it was emitted.
Notify = Callable[[Action, float], None]
