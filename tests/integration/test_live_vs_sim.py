"""The live run agrees with the simulation, for every on-fail mode, on both engines.

Each test runs `dbfsm run CONFIG --format json` against a private server, breaks and mends
the server at moments it measures, then simulates the same configuration with `down` / `up`
events at those moments and compares (see `oracle.py` for what is compared and the
tolerance: one traffic interval + 0.1 s of loop slack + the time the fault took to inject,
plus 0.05 s per reconnect attempt before the record).

The reconnect loop is small so the matrix stays fast: 6 attempts 400 ms apart, a budget of
2 s after a loss, longer than either server takes to start again after a crash.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from .oracle import Case, Record
from .servers import PrivateServer

TRIES = 6
WAIT_MS = 400
BUDGET = TRIES * WAIT_MS / 1000
# A run ends by itself when the server exits, or is stopped (SIGTERM) SETTLE seconds after
# the last thing the test waits for; LONGEST only bounds a run that goes wrong.
SETTLE = 0.5
LONGEST = 30.0
TRAFFIC = 50.0  # requests a second: a loss is noticed within 20 ms of the fault
MODES = ("stop-retry-exit", "serve-retry-exit", "serve-retry-continue")
ENGINES = ("postgresql", "mysql")
_FIXTURES = {"postgresql": "healthy_pg", "mysql": "healthy_mariadb"}
# Short timeouts so that no attempt can hang the matrix; none fires in these tests.
_TIMEOUTS = {
    "postgresql": {"connect-timeout": 2, "tcp-user-timeout": 2},
    "mysql": {"connect-timeout": 2, "read-timeout": 2, "write-timeout": 2},
}


@pytest.fixture(params=ENGINES)
def server(request: pytest.FixtureRequest) -> PrivateServer:
    """A private server of each engine, running when the test starts and after it ends."""
    found: PrivateServer = request.getfixturevalue(_FIXTURES[request.param])
    return found


def database(server: PrivateServer, **overrides: Any) -> dict[str, Any]:
    loop = {"max-reconnect-tries": TRIES, "reconnect-wait-time": WAIT_MS}
    return server.database_map(**{**_TIMEOUTS[server.kind], **loop, **overrides})


@pytest.fixture
def case_for() -> Iterator[Any]:
    """`case_for(database_map)`: a Case whose run and files are gone after the test."""
    made: list[Case] = []

    def make(db: dict[str, Any], traffic: float = TRAFFIC) -> Case:
        made.append(Case(db, traffic=traffic))
        return made[-1]

    yield make
    for case in made:
        case.close()


def _ids(records: list[Record], kind: str) -> list[Any]:
    return [r for r in records if r["type"] == kind]


def _assert_agrees(case: Case, records: list[Record]) -> None:
    verdict = case.verdict(records, case.tolerance())
    assert verdict.ok, verdict.report()
    opens = ", ".join(f"{d * 1000:.0f}" for d in verdict.attempt_times)
    print(f"\nagrees with the simulation: worst time difference {verdict.worst * 1000:.0f} ms;")
    faults = ", ".join(f"{f.kind} at {f.at:.3f}s" for f in case.all_faults(records))
    print(f"  faults: {faults}; opens took [{opens}] ms")


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
    _assert_agrees(case, records)


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
    _assert_agrees(case, records)


def test_unreachable_at_startup_without_retry_on_startup_exits(
    server: PrivateServer, case_for: Any
) -> None:
    case = case_for(database(server))
    server.stop("fast")
    case.down_before_start()
    case.start(until=LONGEST)
    records = case.finish()
    assert case.run is not None and case.run.returncode == 1
    _assert_agrees(case, records)


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
    _assert_agrees(case, records)
