"""The live run agrees with the simulation, for every on-fail mode, on both engines.

Each test runs `dbfsm run CONFIG --format json` against a private server, breaks and mends
the server at moments it measures, then simulates the same configuration with `down` / `up`
events at those moments and compares (see `oracle.py` for what is compared and the
tolerance: live times less the measured time of the opens before them, each open within
its timeouts; then one traffic interval + 0.1 s of loop slack + the time the fault took to
inject).

The reconnect loop is small so the matrix stays fast: 6 attempts 400 ms apart, a budget of
2 s after a loss, longer than either server takes to start again after a crash.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from .oracle import (
    BUDGET,
    LONGEST,
    SETTLE,
    Record,
    assert_agrees,
    case_for,
    database,
)
from .servers import PrivateServer

__all__ = ["case_for"]  # a fixture
MODES = ("stop-retry-exit", "serve-retry-exit", "serve-retry-continue")


def _ids(records: list[Record], kind: str) -> list[Any]:
    return [r for r in records if r["type"] == kind]


@pytest.mark.parametrize("mode", MODES)
def test_lost_while_serving_recovers_then_ends_as_the_mode_says(
    server: PrivateServer, mode: str, case_for: Any
) -> None:
    """Crash, back within the budget (recovered), crash again for good (the mode's ending)."""
    case = case_for(database(server, **{"on-fail": mode}))
    run = case.start(until=LONGEST)
    run.wait_log("DHCP4_STARTED", timeout=10)
    time.sleep(0.6)
    case.down(server.kill)
    case.up(server.start)
    run.wait_log("DHCP4_DB_RECONNECT_SUCCEEDED", timeout=BUDGET + 5)
    time.sleep(0.6)
    mark = len(run.records)
    case.down(server.kill)
    if mode == "serve-retry-continue":
        run.wait_log("DHCP4_DB_RECONNECT_FAILED", timeout=BUDGET + 5, after=mark)
    records = case.finish(settle=BUDGET + SETTLE)
    attempts = _ids(records, "attempt")
    assert any(a["ok"] for a in attempts) and not attempts[-1]["ok"]
    assert (run.returncode == 1) == (mode != "serve-retry-continue")
    assert_agrees(case, records)


@pytest.mark.parametrize("mode", MODES)
def test_unreachable_at_startup_with_retry_on_startup_connects_then_fails_as_the_mode_says(
    server: PrivateServer, mode: str, case_for: Any
) -> None:
    """Down when the run starts, up within the startup budget, then lost for good."""
    case = case_for(database(server, **{"on-fail": mode, "retry-on-startup": True}))
    server.stop("fast")
    case.down_before_start()
    run = case.start(until=LONGEST)
    time.sleep(0.5)
    case.up(server.start)
    run.wait_log("DHCP4_DB_RECONNECT_SUCCEEDED", timeout=BUDGET + 5)
    time.sleep(0.6)
    mark = len(run.records)
    case.down(server.kill)
    if mode == "serve-retry-continue":
        run.wait_log("DHCP4_DB_RECONNECT_FAILED", timeout=BUDGET + 5, after=mark)
    records = case.finish(settle=BUDGET + SETTLE)
    attempts = _ids(records, "attempt")
    assert any(a["ok"] for a in attempts) and not attempts[-1]["ok"]
    assert_agrees(case, records)


def test_unreachable_at_startup_without_retry_on_startup_exits(
    server: PrivateServer, case_for: Any
) -> None:
    case = case_for(database(server))
    server.stop("fast")
    case.down_before_start()
    case.start(until=LONGEST)
    records = case.finish()
    assert case.run is not None and case.run.returncode == 1
    assert_agrees(case, records)


def test_config_set_fails_while_the_server_is_down_and_succeeds_once_it_is_back(
    server: PrivateServer, case_for: Any
) -> None:
    """serve-retry-continue gives up; a config-set then fails (down) and later succeeds (up)."""
    db = database(server, **{"on-fail": "serve-retry-continue", "max-reconnect-tries": 2})
    case = case_for(db)
    run = case.start(until=LONGEST)
    run.wait_log("DHCP4_STARTED", timeout=10)
    time.sleep(0.4)
    case.down(server.kill)
    run.wait_log("DHCP4_DB_RECONNECT_FAILED", timeout=5)
    failed = case.config_set(db)
    assert failed["result"] == 1, failed
    case.up(server.start)
    succeeded = case.config_set(db)
    assert succeeded["result"] == 0, succeeded
    records = case.finish(settle=SETTLE)
    serving = [r["serving"] for r in _ids(records, "serving")]
    assert serving[-2:] == [False, True]
    assert_agrees(case, records)
