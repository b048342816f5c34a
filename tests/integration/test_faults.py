"""Every kind of fault, on both engines: the live run agrees with the simulation.

Server faults (stopped `fast` / `immediate`, a session terminated by the server, a server
hung by SIGSTOP, a restart after the retry budget) and network faults through the fault
proxy (refused, black hole, reset, latency). Each is mended within the retry budget of a
`serve-retry-continue` backend (6 attempts, 400 ms apart) so the recovery is compared too,
and the time from the fault to the engine's `Lost` is held to its bound: one traffic
interval and a request in flight (70 ms at 50 requests a second) when the server says the
connection is gone; the configured timeout plus 10 % when nothing ever answers.
(A SIGKILLed server, restarted within and after the budget, is in test_live_vs_sim.py.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from .oracle import (
    BUDGET,
    LONGEST,
    SETTLE,
    TIMEOUTS,
    TRAFFIC,
    Case,
    assert_agrees,
    case_for,
    database,
    detections,
)

__all__ = ["case_for"]  # a fixture
CONTINUE = {"on-fail": "serve-retry-continue"}
# Noticed at the next request: one traffic interval and a request in flight.
PROMPT = 1.0 / TRAFFIC + 0.05


def _attempt(record: dict[str, Any]) -> bool:
    return bool(record["type"] == "attempt")


def _lost_and_back(
    case: Case,
    break_it: Callable[[], object],
    mend_it: Callable[[], object],
    *,
    noticed_within: float,
    broken_for: float = 0.3,
    silent: bool = False,
) -> list[float]:
    """Run, break, mend; the live run agrees with the simulation; detection times."""
    run = case.start(until=LONGEST)
    run.wait_log("DHCP4_STARTED", timeout=10)
    time.sleep(0.5)
    (case.silent if silent else case.down)(break_it)
    mark = len(run.records)
    run.wait_log("DHCP4_DB_RECONNECT_LOST_CONNECTION", timeout=noticed_within + 5, after=mark)
    if silent:  # mended once the first attempt timed out, not while it waits
        run.wait_for(_attempt, timeout=noticed_within + 5, what="a first attempt", after=mark)
    time.sleep(broken_for)
    case.up(mend_it)
    run.wait_log("DHCP4_DB_RECONNECT_SUCCEEDED", timeout=BUDGET + 10)
    records = case.finish(settle=SETTLE)
    assert_agrees(case, records)
    found = detections(case, records)
    bound = noticed_within + case.injection_time()
    print(f"  detected after {[round(d * 1000) for d in found]} ms (bound {bound:.3f}s)")
    assert found and all(d <= bound for d in found), found
    return found


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_server_stopped_and_started_again(server: Any, mode: str, case_for: Any) -> None:
    case = case_for(database(server, **CONTINUE))
    _lost_and_back(case, lambda: server.stop(mode), server.start, noticed_within=PROMPT)


def test_session_terminated_by_the_server(server: Any, case_for: Any) -> None:
    """pg_terminate_backend / KILL: the server stays up, the first attempt succeeds."""
    case = case_for(database(server, **CONTINUE))
    run = case.start(until=LONGEST)
    run.wait_log("DHCP4_STARTED", timeout=10)
    time.sleep(0.5)
    case.break_connections(server.terminate_sessions)
    run.wait_log("DHCP4_DB_RECONNECT_SUCCEEDED", timeout=5)
    records = case.finish(settle=SETTLE)
    assert_agrees(case, records)
    found = detections(case, records)
    bound = PROMPT + case.injection_time()  # KILL takes effect during the call
    print(f"  detected after {[round(d * 1000) for d in found]} ms (bound {bound:.3f}s)")
    assert found and found[0] <= bound


def test_server_restarted_after_the_budget_is_not_reconnected(server: Any, case_for: Any) -> None:
    """serve-retry-continue gave up: a server back later changes nothing until reconfigured."""
    case = case_for(database(server, **CONTINUE, **{"max-reconnect-tries": 2}))
    run = case.start(until=LONGEST)
    run.wait_log("DHCP4_STARTED", timeout=10)
    time.sleep(0.5)
    case.down(server.kill)
    run.wait_log("DHCP4_DB_RECONNECT_FAILED", timeout=5)
    case.up(server.start)
    records = case.finish(settle=1.0)
    assert [a["ok"] for a in records if a["type"] == "attempt"] == [False, False]
    assert_agrees(case, records)


def test_server_hung_is_noticed_within_its_timeout(
    request: pytest.FixtureRequest, server: Any, case_for: Any
) -> None:
    """SIGSTOP: connections stay open and nothing answers; the timeouts must end the wait."""
    timeouts = TIMEOUTS[server.kind]
    bound = max(timeouts.get("read-timeout", 0), timeouts.get("tcp-user-timeout", 0)) * 1.1
    case = case_for(database(server, **CONTINUE))
    _lost_and_back(case, server.pause, server.resume, noticed_within=bound + PROMPT, silent=True)


@pytest.fixture
def proxied(server: Any, proxy_to: Any, case_for: Any) -> tuple[Case, Any]:
    proxy = proxy_to(server.port).start()
    return case_for(database(server, port=proxy.port, **CONTINUE)), proxy


def test_proxy_refusing_new_connections_after_cutting_the_open_ones(
    proxied: tuple[Case, Any],
) -> None:
    case, proxy = proxied

    def refuse_and_cut() -> None:
        proxy.set_mode("refuse")
        proxy.cut_all()

    _lost_and_back(case, refuse_and_cut, lambda: proxy.set_mode("pass"), noticed_within=PROMPT)


def test_proxy_resetting_every_connection(proxied: tuple[Case, Any]) -> None:
    case, proxy = proxied
    set_mode = proxy.set_mode
    _lost_and_back(case, lambda: set_mode("reset"), lambda: set_mode("pass"), noticed_within=PROMPT)


def test_proxy_black_hole_is_noticed_within_its_timeout(
    request: pytest.FixtureRequest, server: Any, proxied: tuple[Case, Any]
) -> None:
    case, proxy = proxied
    timeouts = TIMEOUTS[server.kind]
    bound = max(timeouts.get("read-timeout", 0), timeouts.get("tcp-user-timeout", 0)) * 1.1
    set_mode = proxy.set_mode
    _lost_and_back(
        case,
        lambda: set_mode("blackhole"),
        lambda: set_mode("pass"),
        noticed_within=bound + PROMPT,
        silent=True,
    )


def test_proxy_latency_below_the_timeouts_is_no_loss(proxied: tuple[Case, Any]) -> None:
    case, proxy = proxied
    run = case.start(until=LONGEST)
    run.wait_log("DHCP4_STARTED", timeout=10)
    proxy.set_latency(0.05)
    records = case.finish(settle=1.5)
    assert not [r for r in records if r["type"] == "attempt"]
    assert_agrees(case, records)
