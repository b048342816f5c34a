"""The embedded API on the real clock with a simulated driver; the README shows the example."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest

from dbfsm.drivers.simulated import SimulatedDriver
from dbfsm.fsm.actions import Action, Exit, Log, Transitioned
from dbfsm.fsm.config import from_document
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.logs import forward
from dbfsm.live.runtime import AsyncioRuntime

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "embed.py"


def test_readme_shows_the_example_as_it_is() -> None:
    """The README's embedding code is docs/examples/embed.py, which the integration tests
    run against a real PostgreSQL (tests/integration/test_run_embed_example.py)."""
    readme = (EXAMPLE.parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert EXAMPLE.read_text(encoding="utf-8") in blocks


def _settings(on_fail: str) -> object:
    return from_document(
        {
            "Dhcp4": {
                "lease-database": {
                    "type": "mysql",
                    "name": "kea",
                    "password": "pw-never-shown",
                    "max-reconnect-tries": 2,
                    "reconnect-wait-time": 50,
                    "on-fail": on_fail,
                }
            }
        }
    )


def test_asyncio_runtime_exits_after_retries(caplog: pytest.LogCaptureFixture) -> None:
    """stop-retry-exit on the real clock: two attempts 50 ms apart, FATAL, exit code 1."""

    async def scenario() -> tuple[int, list[Action], float]:
        loop = asyncio.get_running_loop()
        settings = _settings("stop-retry-exit")
        engine = Engine(settings, clock=loop.time)  # type: ignore[arg-type]
        forward(engine)
        seen: list[Action] = []
        engine.subscribe(seen.append)
        driver = SimulatedDriver()
        runtime = AsyncioRuntime(engine, driver)
        runtime.start()
        await asyncio.sleep(0)
        assert engine.serving
        driver.set_up("lease-database", False)
        start = loop.time()
        await runtime.use("lease-database")
        assert not engine.serving
        code = await asyncio.wait_for(runtime.wait_exit(), timeout=5)
        return code, seen, loop.time() - start

    with caplog.at_level(logging.INFO, logger="kea-dhcp4"):
        code, seen, took = asyncio.run(scenario())
    assert code == 1
    assert isinstance(seen[-1], Exit)
    assert 0.045 <= took < 1.0
    ids = [a.message.id for a in seen if isinstance(a, Log)]
    assert ids.count("DHCP4_DB_RECONNECT_LOST_CONNECTION") == 2
    assert "DHCP4_FATAL_DB_RECONNECT_FAILED" in ids
    fatal = [r for r in caplog.records if r.kea_id == "DHCP4_FATAL_DB_RECONNECT_FAILED"]
    assert fatal and fatal[0].levelno == logging.CRITICAL
    assert fatal[0].name == "kea-dhcp4.dhcp4"
    assert not any("pw-never-shown" in r.getMessage() for r in caplog.records)
    assert any(isinstance(a, Transitioned) and a.dest == "exited" for a in seen)


def test_asyncio_runtime_restores_service() -> None:
    """The database comes back before the second attempt: service resumes, no exit."""

    async def scenario() -> tuple[bool, dict[str, str]]:
        loop = asyncio.get_running_loop()
        engine = Engine(_settings("stop-retry-exit"), clock=loop.time)  # type: ignore[arg-type]
        driver = SimulatedDriver()
        runtime = AsyncioRuntime(engine, driver)
        runtime.start()
        await asyncio.sleep(0)
        driver.set_up("lease-database", False)
        await runtime.use("lease-database")
        driver.set_up("lease-database", True)
        await asyncio.sleep(0.15)
        return engine.serving, engine.backend_states()

    serving, states = asyncio.run(scenario())
    assert serving
    assert states == {"lease-database": "online"}


def test_status_get_of_an_embedded_engine_gives_this_process_pid() -> None:
    """An engine made without a pid, run by `AsyncioRuntime` in this process, answers
    status-get with this process's pid (Kea's is its own), not 0; a pid given is kept."""

    async def pids() -> tuple[object, object]:
        loop = asyncio.get_running_loop()
        answers = []
        for given in ({}, {"pid": 4242}):
            settings: Any = _settings("stop-retry-exit")
            engine = Engine(settings, clock=loop.time, **given)
            runtime = AsyncioRuntime(engine, SimulatedDriver())
            runtime.start()
            answers.append((await runtime.command({"command": "status-get"}))["arguments"]["pid"])
        return answers[0], answers[1]

    assert asyncio.run(pids()) == (os.getpid(), 4242)
