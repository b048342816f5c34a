"""The control socket under load: 100 clients at once, each sending commands in a loop, while
silent and half-message clients hold connections open. Every command is answered in Kea's
JSON, none is lost, and nobody waits for the idle clients. Prints the figures."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dbfsm.run import LiveRun
from drivers.simulated import SimulatedDriver
from fsm.config import from_document

CLIENTS = 100
ROUNDS = 10  # each round: a good command, an unknown one, malformed JSON
IDLE_CLIENTS = 10  # silent ones, and as many that send half a command
RECEIVE_TIMEOUT = 2.0

REQUESTS: list[tuple[bytes, dict[str, Any]]] = [
    (b'{"command": "status-get"}', {"result": 0}),
    (b'{"command": "version-get"}', {"result": 0}),
    (b'{"command": "list-commands"}', {"result": 0}),
    (b'{"command": "frobnicate"}', {"result": 2, "text": "'frobnicate' command not supported."}),
    (b'{"command": status-get}', {"result": 1}),
]


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Path]:
    """`dbfsm run`'s engine and control channel on their own thread and event loop."""
    path = tmp_path / "ctl"
    document = {
        "Dhcp4": {
            "control-socket": {"socket-type": "unix", "socket-name": str(path)},
            "lease-database": {"type": "postgresql", "name": "kea"},
        }
    }
    live = LiveRun(
        from_document(document),
        traffic=10,
        driver=SimulatedDriver(),
        control_timeout=RECEIVE_TIMEOUT,
    )
    ready = threading.Event()
    status: list[int] = []

    async def serve() -> None:
        task = asyncio.create_task(live.run())
        while not path.exists():
            await asyncio.sleep(0.01)
        ready.set()
        status.append(await task)

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    assert ready.wait(10)
    yield path
    loop = live.runtime._loop if live.runtime else None
    assert loop is not None
    loop.call_soon_threadsafe(live.request_stop)
    thread.join(10)
    assert status == [0] and not path.exists()


async def _send(path: Path, request: bytes) -> Any:
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        writer.write(request)
        return json.loads(await reader.read())
    finally:
        writer.close()


async def _client(path: Path, tally: Tally) -> None:
    for _ in range(ROUNDS):
        for request, expected in REQUESTS:
            start = time.monotonic()
            got = await _send(path, request)
            tally.latencies.append(time.monotonic() - start)
            if any(got.get(k) != v for k, v in expected.items()):
                tally.wrong.append(f"{request!r} -> {got}")


async def _idle(path: Path, sends: bytes) -> Any:
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        writer.write(sends)
        return json.loads(await reader.read())
    finally:
        writer.close()


def test_hundred_clients_every_command_answered(running: Path) -> None:
    async def main() -> tuple[Tally, float, list[Any]]:
        tally = Tally()
        idle = [asyncio.create_task(_idle(running, b"")) for _ in range(IDLE_CLIENTS)]
        idle += [asyncio.create_task(_idle(running, b'{"command": "stat')) for _ in range(10)]
        await asyncio.sleep(0.05)  # the idle ones are connected before the load starts
        start = time.monotonic()
        await asyncio.gather(*(_client(running, tally) for _ in range(CLIENTS)))
        took = time.monotonic() - start
        return tally, took, await asyncio.gather(*idle)

    tally, took, idle_answers = asyncio.run(main())
    sent = CLIENTS * ROUNDS * len(REQUESTS)
    assert tally.wrong == []
    assert len(tally.latencies) == sent  # none lost
    rate = sent / took
    slowest = max(tally.latencies)
    print(
        f"\ncontrol socket: {CLIENTS} clients, {sent} commands in {took:.2f} s: "
        f"{rate:.0f} commands/s, slowest answer {slowest * 1000:.0f} ms, "
        f"{IDLE_CLIENTS} silent and {IDLE_CLIENTS} half-message clients connected throughout"
    )
    assert slowest < RECEIVE_TIMEOUT  # nobody waited for an idle client
    silent, half = idle_answers[:IDLE_CLIENTS], idle_answers[IDLE_CLIENTS:]
    assert silent == [{"result": 1, "text": "Connection over control channel timed out"}] * 10
    assert {a["text"] for a in half} == {
        "Connection over control channel timed out, discarded partial command of 17 bytes"
    }
