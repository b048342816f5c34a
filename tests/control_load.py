"""Load on a control socket: many clients sending commands in a loop while idle clients (silent
ones and ones that stop half-way through a command) hold connections open. Shared by the unit
test (engine in-process) and the integration test (`dbfsm run` against a real database)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (what a client sends, what the answer must contain): good commands, an unknown one, bad JSON.
REQUESTS: list[tuple[bytes, dict[str, Any]]] = [
    (b'{"command": "status-get"}', {"result": 0}),
    (b'{"command": "version-get"}', {"result": 0}),
    (b'{"command": "list-commands"}', {"result": 0}),
    (b'{"command": "frobnicate"}', {"result": 2, "text": "'frobnicate' command not supported."}),
    (b'{"command": status-get}', {"result": 1}),
]
HALF = b'{"command": "stat'
TIMED_OUT = "Connection over control channel timed out"


@dataclass
class Load:
    clients: int
    sent: int = 0
    latencies: list[float] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    took: float = 0.0
    silent_answers: list[Any] = field(default_factory=list)
    half_answers: list[Any] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.took

    @property
    def slowest(self) -> float:
        return max(self.latencies)

    def describe(self, idle: int) -> str:
        return (
            f"control socket: {self.clients} clients, {self.sent} commands in {self.took:.2f} s: "
            f"{self.rate:.0f} commands/s, slowest answer {self.slowest * 1000:.0f} ms, "
            f"{idle} silent and {idle} half-message clients connected throughout"
        )


async def _send(path: Path, request: bytes) -> Any:
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        writer.write(request)
        return json.loads(await reader.read())
    finally:
        writer.close()


async def _client(path: Path, rounds: int, load: Load) -> None:
    for _ in range(rounds):
        for request, expected in REQUESTS:
            load.sent += 1
            start = time.monotonic()
            got = await _send(path, request)
            load.latencies.append(time.monotonic() - start)
            if any(got.get(k) != v for k, v in expected.items()):
                load.wrong.append(f"{request!r} -> {got}")


async def run_load(path: Path, *, clients: int, rounds: int, idle: int) -> Load:
    """`clients` clients at once, each sending `rounds` rounds of `REQUESTS`, while `idle`
    silent clients and `idle` half-message clients stay connected until answered."""
    load = Load(clients)
    silent = [asyncio.create_task(_send(path, b"")) for _ in range(idle)]
    half = [asyncio.create_task(_send(path, HALF)) for _ in range(idle)]
    await asyncio.sleep(0.05)  # the idle ones are connected before the load starts
    start = time.monotonic()
    await asyncio.gather(*(_client(path, rounds, load) for _ in range(clients)))
    load.took = time.monotonic() - start
    load.silent_answers = list(await asyncio.gather(*silent))
    load.half_answers = list(await asyncio.gather(*half))
    return load


def check(load: Load, receive_timeout: float) -> None:
    """Every command answered as Kea answers it, nobody waited for an idle client, and the
    idle clients got Kea's timeout answer."""
    assert load.wrong == []
    assert len(load.latencies) == load.sent  # none lost
    assert load.slowest < receive_timeout
    assert load.silent_answers == [{"result": 1, "text": TIMED_OUT}] * len(load.silent_answers)
    partial = f"{TIMED_OUT}, discarded partial command of {len(HALF)} bytes"
    assert load.half_answers == [{"result": 1, "text": partial}] * len(load.half_answers)
