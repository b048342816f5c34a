"""Black holes: a database server whose packets are dropped silently. The driver's timeouts
(from Kea's parameters and Linux's own limits), the server blocked in its calls (serving
nothing, whatever on-fail says; its timers late), and closed forms of a year's time not
serving under `dbfsm availability`."""

from __future__ import annotations

import math
from typing import Any

import pytest
from test_availability import isolated

from dbfsm.drivers import simulated
from dbfsm.files import documents
from dbfsm.fsm import config
from dbfsm.fsm.settings import ServerSettings
from dbfsm.simulation import outages
from dbfsm.simulation.availability import Year, simulate_year, traffic_phase
from dbfsm.simulation.outages import Profile
from dbfsm.simulation.scenario import Scenario, ScenarioEvent, Traffic
from dbfsm.simulation.simulate import Simulation

T = 30.0  # tcp-user-timeout: how long a request blocks before the loss shows
C = 5.0  # connect-timeout: how long an open blocks
W = 2.0  # reconnect-wait-time
P = C + W  # one failed attempt and the wait after it
SEED = 7


def lease_database(on_fail: str, tries: int, more: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "postgresql",
        "name": "kea",
        "max-reconnect-tries": tries,
        "reconnect-wait-time": int(W * 1000),
        "on-fail": on_fail,
        "tcp-user-timeout": int(T),
        "connect-timeout": int(C),
        **more,
    }


def postgresql(
    on_fail: str = "stop-retry-exit", tries: int = 100, more: dict[str, Any] | None = None
) -> ServerSettings:
    return config.from_document(
        {"Dhcp4": {"lease-database": lease_database(on_fail, tries, more or {})}}
    )


def black_holes(
    settings: ServerSettings,
    duration: float,
    *,
    rate: float = 3,
    traffic: str = "continuous",
    restart: str = "{policy: on-failure, restart-sec: 10}",
) -> Profile:
    text = (
        f"traffic: {traffic}\nrestart: {restart}\noutages:\n"
        f"  - {{backends: [lease-database], rate: {rate}, kind: black-hole, "
        f"duration: {{fixed: {duration}}}}}\n"
    )
    doc = documents.parse(text, "profile.yaml")
    return outages.from_data(doc, doc.data, settings)


def starts(p: Profile, year: int) -> list[float]:
    return [e.at for e in outages.year_events(p, SEED, year) if e.kind == "black-hole"]


def isolated_years(p: Profile, gap: float, wanted: int = 3) -> list[int]:
    found = [y for y in range(40) if starts(p, y) and isolated(starts(p, y), gap)]
    assert len(found) >= wanted
    return found[:wanted]


# -- the driver's timeouts ------------------------------------------------------------------


def _backend(**parameters: Any) -> Any:
    lease = {"type": "mysql", "name": "kea", **parameters}
    return config.from_document({"Dhcp4": {"lease-database": lease}}).backends[0]


def test_timeouts_come_from_kea_parameters_and_the_kernel() -> None:
    # Linux's tcp_retries2 = 15 with the 200 ms minimum RTO, doubling up to 120 s.
    assert math.isclose(simulated.KERNEL_DATA_TIMEOUT, (2**10 - 1) * 0.2 + (15 - 9) * 120)
    pg = postgresql().backends[0]
    assert simulated.request_timeout(pg) == T and simulated.connect_timeout(pg) == C
    unset = postgresql(more={"tcp-user-timeout": 0, "connect-timeout": 1}).backends[0]
    assert simulated.request_timeout(unset) == 924.6
    assert simulated.connect_timeout(unset) == 2.0  # libpq raises 1 s to 2 s
    assert simulated.request_timeout(_backend(**{"read-timeout": 20})) == 20
    assert simulated.request_timeout(_backend(**{"write-timeout": 20})) == 924.6
    assert simulated.request_timeout(_backend(**{"read-timeout": 5000})) == 924.6
    assert simulated.connect_timeout(_backend()) == 5.0  # Kea's default
    assert simulated.connect_timeout(_backend(**{"connect-timeout": 1})) == 1.0
    assert simulated.connect_timeout(_backend(**{"connect-timeout": 600})) == 127.0


# -- one incident, through the Simulation API -----------------------------------------------


def _incident(settings: ServerSettings, *events: ScenarioEvent, until: float = 80) -> Simulation:
    scenario = Scenario(
        settings, lambda: settings, until, Traffic("continuous"), tuple(events), "incident"
    )
    sim = Simulation(scenario)
    sim.run()
    return sim


def _times(sim: Simulation, kind: str) -> list[tuple[float, Any]]:
    found = []
    for r in sim.records:
        if r.type == kind:
            found.append((r.t, r.data.get("ok", r.data.get("serving", r.data.get("id")))))
    return found


def test_a_request_blocks_until_tcp_user_timeout_then_every_attempt_for_connect_timeout() -> None:
    """Lost at 5 + T; attempts at 35, 42, 49, each blocking C; the black hole ends at 50,
    during the third, which then succeeds."""
    sim = _incident(
        postgresql(),
        ScenarioEvent(5.0, "black-hole", "lease-database"),
        ScenarioEvent(50.0, "black-hole-end", "lease-database"),
    )
    lost = [(t, i) for t, i in _times(sim, "log") if i.endswith("LOST_CONNECTION")]
    assert lost[0] == (5 + T, "DHCP4_DB_RECONNECT_LOST_CONNECTION")
    assert _times(sim, "attempt") == [(5 + T + C, False), (5 + T + P + C, False), (50.0, True)]
    # Not serving from the moment it blocks (5), not only from the loss the timeout shows.
    assert _times(sim, "serving") == [(0.0, True), (5.0, False), (50.0, True)]
    failed = [r for r in sim.records if r.type == "log" and "ATTEMPT_FAILED" in r.data["id"]]
    assert "timeout expired" in failed[0].data["text"]
    assert sim.serving and sim.runtime.stall is None


def test_a_black_hole_that_ends_first_costs_a_stall_and_no_loss() -> None:
    sim = _incident(
        postgresql("serve-retry-continue"),
        ScenarioEvent(5.0, "black-hole", "lease-database"),
        ScenarioEvent(5.0 + T - 1, "black-hole-end", "lease-database"),
    )
    assert _times(sim, "attempt") == []
    assert not [r for r in sim.records if r.type == "log" and "LOST" in r.data["id"]]


def test_timers_due_while_blocked_fire_when_the_call_returns() -> None:
    """The host database's reconnect timer comes due while the server is blocked on the
    lease database: single-threaded Kea runs it only once the blocked call returns."""
    two = config.from_document(
        {
            "Dhcp4": {
                "lease-database": lease_database("stop-retry-exit", 100, {}),
                "hosts-database": {
                    "type": "mysql",
                    "name": "kea",
                    "on-fail": "serve-retry-continue",
                    "max-reconnect-tries": 100,
                    "reconnect-wait-time": 1000,
                },
            }
        }
    )
    sim = _incident(
        two,
        ScenarioEvent(1.0, "down", "hosts-database"),
        ScenarioEvent(2.5, "black-hole", "lease-database"),
        ScenarioEvent(12.5, "black-hole-end", "lease-database"),
        until=14,
    )
    attempts = [t for t, _ in _times(sim, "attempt")]
    assert attempts == [1.0, 2.0, 12.5, 13.5]  # the one due at 3.0 runs late, at 12.5


# -- closed forms over a year ---------------------------------------------------------------


def _after_loss(duration: float) -> tuple[int, float]:
    """Attempts failed in full after the loss, and how far the black hole reaches into the
    next period of an attempt (C) and a wait (W)."""
    k = math.floor((duration - T) / P)
    return k, duration - T - k * P


def stop_retry_exit_cost(duration: float) -> float:
    """Not serving from the black hole's start: the stall, then attempts and waits until the
    first attempt that is not blocked, or the end of the black hole during one."""
    if duration < T:
        return duration
    k, rest = _after_loss(duration)
    return duration if rest < C else T + (k + 1) * P


def serve_retry_continue_cost(duration: float) -> tuple[float, float]:
    """(not serving, degraded): the stall and every blocked attempt are not served, only the
    waits between them are (degraded)."""
    if duration < T:
        return duration, 0.0
    k, rest = _after_loss(duration)
    if rest < C:
        return T + k * C + rest, k * W
    return T + (k + 1) * C, (k + 1) * W


DURATIONS = [10.0, 29.5, 40.5, 43.0, 100.5]  # no ties between timeouts and the black hole's end


def _checked(settings: ServerSettings, duration: float) -> list[tuple[Year, int]]:
    p = black_holes(settings, duration)
    found = []
    for year in isolated_years(p, 4 * duration + 100):
        found.append((simulate_year(settings, p, SEED, year), len(starts(p, year))))
    return found


@pytest.mark.parametrize("duration", DURATIONS)
def test_stop_retry_exit_loses_the_stall_and_the_attempts(duration: float) -> None:
    cost = stop_retry_exit_cost(duration)
    for found, n in _checked(postgresql(), duration):
        assert found.not_serving == pytest.approx(n * cost, abs=1e-6)
        assert (found.degraded, found.exits, found.restarts) == (0.0, 0, 0)
        assert found.longest == pytest.approx(cost, abs=1e-6)


@pytest.mark.parametrize("duration", DURATIONS)
def test_serve_retry_continue_does_not_serve_while_blocked(duration: float) -> None:
    not_serving, degraded = serve_retry_continue_cost(duration)
    for found, n in _checked(postgresql("serve-retry-continue"), duration):
        assert found.not_serving == pytest.approx(n * not_serving, abs=1e-6)
        assert found.degraded == pytest.approx(n * degraded, abs=1e-6)
        assert found.exits == 0
        if duration > T + C:  # more than the stall: the blocked attempts are lost too
            assert found.not_serving > n * (T + C)


def test_the_closed_forms_tell_the_modes_apart() -> None:
    """The expected values are not the same number whatever the mode (a test of the test)."""
    assert stop_retry_exit_cost(43.0) == T + 2 * P != serve_retry_continue_cost(43.0)[0]
    assert serve_retry_continue_cost(100.5) == (T + 10 * C + 0.5, 10 * W)


@pytest.mark.parametrize("duration", [190.0, 200.0])
def test_a_restart_into_a_black_hole_blocks_its_startup_for_connect_timeout(
    duration: float,
) -> None:
    """Two tries: the server exits T + 2C + W after the black hole began; each restart, R
    later, blocks its startup open for C and exits, until one finds the black hole over
    (or it ends during the open, which then succeeds)."""
    restart_sec = 10.0
    s = postgresql(tries=2)
    exited = T + 2 * C + W
    back, exits = exited, 1
    while True:
        back += restart_sec
        if back + C <= duration:  # blocked the whole connect-timeout: exits again
            back, exits = back + C, exits + 1
            continue
        back = max(back, duration)
        break
    p = black_holes(s, duration, rate=2)
    for year in isolated_years(p, 3 * duration, wanted=2):
        n = len(starts(p, year))
        found = simulate_year(s, p, SEED, year)
        assert found.not_serving == pytest.approx(n * back, abs=1e-6)
        assert found.exits == n * exits and found.restarts == n * exits


def test_unset_timeouts_wait_for_the_kernel() -> None:
    """No tcp-user-timeout: a ten-minute black hole is one stall of ten minutes, no loss."""
    s = postgresql(more={"tcp-user-timeout": 0})
    for found, n in _checked(s, 600.0):
        assert found.not_serving == pytest.approx(n * 600.0, abs=1e-6)
        assert found.exits == 0


def test_periodic_traffic_blocks_at_the_first_request_in_the_black_hole() -> None:
    """Requests every E seconds: the server serves (degraded) until the first request after
    the black hole begins, which blocks until it ends (D < T)."""
    every, duration = 20.0, 12.0
    s = postgresql()
    p = black_holes(s, duration, traffic=f"{{every: {every}}}", rate=20)
    for year in isolated_years(p, 100, wanted=2):
        phase = traffic_phase(p, SEED, year, 0)
        lost = degraded = 0.0
        for at in starts(p, year):
            request = phase + math.ceil((at - phase) / every) * every
            lost += max(0.0, at + duration - request)
            degraded += min(request, at + duration) - at
        found = simulate_year(s, p, SEED, year)
        assert found.not_serving == pytest.approx(lost, abs=1e-6)
        assert found.degraded == pytest.approx(degraded, abs=1e-6)


def test_a_black_hole_profile_entry_is_checked_like_the_others() -> None:
    s = postgresql()
    p = black_holes(s, 5.0)
    assert p.entries[0].kind == "black-hole"
    kinds = {e.kind for e in outages.year_events(p, SEED, 0)}
    assert kinds == {"black-hole", "black-hole-end"}
