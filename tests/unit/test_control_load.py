"""The control socket under load, the engine in-process on the simulated driver: 100 clients
at once, each sending commands in a loop, while silent and half-message clients hold
connections open. Every command is answered in Kea's JSON, none is lost, and nobody waits for
the idle clients. Prints the figures (`pytest -s`)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbfsm.drivers.simulated import SimulatedDriver
from dbfsm.fsm.config import from_document
from dbfsm.live.run import LiveRun
from tests.control_load import check, run_load

RECEIVE_TIMEOUT = 2.0


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
    started = threading.Event()
    status: list[int] = []
    loops: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        loops.append(asyncio.get_running_loop())
        task = asyncio.create_task(live.run())
        while not path.exists():
            await asyncio.sleep(0.01)
        started.set()
        status.append(await task)

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    assert started.wait(10)
    yield path
    loops[0].call_soon_threadsafe(live.request_stop)
    thread.join(10)
    assert status == [0] and not path.exists()


def test_hundred_clients_every_command_answered(running: Path) -> None:
    load = asyncio.run(run_load(running, clients=100, rounds=10, idle=10))
    print("\n" + load.describe(idle=10))
    check(load, RECEIVE_TIMEOUT)
