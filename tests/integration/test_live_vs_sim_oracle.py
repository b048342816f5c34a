"""The comparison harness itself: it accepts what agrees and rejects what does not.

No database server here: the "live" timelines are simulations with their times moved and
their records altered, so each test knows what the oracle must say.
"""

from __future__ import annotations

import copy
from typing import Any

from .oracle import Fault, Tolerance, agree, compare, scenario, simulate

CONFIG: dict[str, Any] = {
    "Dhcp4": {
        "lease-database": {
            "type": "postgresql",
            "name": "kea",
            "host": "127.0.0.1",
            "port": 5999,
            "max-reconnect-tries": 3,
            "reconnect-wait-time": 300,
            "on-fail": "serve-retry-continue",
        }
    }
}
TIGHT = Tolerance(base=0.05, attempt_bound=0.5)


def _lost_at(t: float, back: float | None = None) -> list[Fault]:
    faults = [Fault(t, "down")]
    if back is not None:
        faults.append(Fault(back, "up"))
    return faults


def _shifted(records: list[dict[str, Any]], by: float) -> list[dict[str, Any]]:
    return [{**r, "t": r["t"] + by} if r["t"] > 0 else r for r in records]


def test_a_simulation_agrees_with_itself_and_ignores_texts() -> None:
    sim = simulate(scenario(CONFIG, _lost_at(1.0), until=3.0))
    live = copy.deepcopy(sim)
    for r in live:
        if r["type"] == "log":
            r["text"] = "a driver's own words"
    result = compare(live, sim, TIGHT)
    assert result.ok, result.report()
    assert any(r["type"] == "attempt" for r in sim)


def test_times_within_the_tolerance_agree_and_beyond_it_do_not() -> None:
    sim = simulate(scenario(CONFIG, _lost_at(1.0), until=3.0))
    assert compare(_shifted(sim, 0.04), sim, TIGHT).ok
    late = compare(_shifted(sim, 0.2), sim, TIGHT)
    assert not late.ok
    assert "allowed" in late.mismatches[0]


def test_attempts_that_take_time_delay_the_rest_within_their_bound() -> None:
    sim = simulate(scenario(CONFIG, _lost_at(1.0), until=3.0))
    drifting = copy.deepcopy(sim)
    late = 0.0
    for r in drifting:  # every live attempt takes 0.3 s: the loop runs later and later
        if r["type"] == "attempt":
            late += 0.3
        if r["t"] > 0:
            r["t"] = round(r["t"] + late, 6)
    result = compare(drifting, sim, TIGHT)
    assert result.ok, result.report()
    assert [round(d, 6) for d in result.attempt_times] == [0.3] * 3  # startup at t=0
    too_slow = compare(drifting, sim, Tolerance(base=0.05, attempt_bound=0.2))
    assert "over its bound" in too_slow.mismatches[0]
    # A loop that waits too long before its third attempt is not excused by attempt times.
    third = next(r["t"] for r in sim if r["type"] == "attempt" and r["n"] == 3)
    waits = [{**r, "t": r["t"] + 0.2} if r["t"] >= third else r for r in sim]
    assert not compare(waits, sim, TIGHT).ok


def test_a_missing_attempt_a_wrong_outcome_or_exit_is_a_mismatch() -> None:
    sim = simulate(scenario(CONFIG, _lost_at(1.0), until=3.0))
    missing = [r for r in sim if not (r["type"] == "attempt" and r["n"] == 2)]
    assert not compare(missing, sim, TIGHT).ok
    flipped = [{**r, "ok": True} if r["type"] == "attempt" else r for r in sim]
    assert not compare(flipped, sim, TIGHT).ok
    other_end = [{**r, "exit_code": 1} if r["type"] == "summary" else r for r in sim]
    assert "summary exit_code" in compare(other_end, sim, TIGHT).mismatches[0]


def test_a_server_back_inside_a_window_matches_the_outcome_of_some_moment_in_it() -> None:
    # Attempts at 1.0, 1.3, 1.6; the server was accepting somewhere between 1.1 and 1.5:
    # the live run saw attempt 2 succeed, which only an `up` before 1.3 gives.
    live = simulate(scenario(CONFIG, _lost_at(1.0, back=1.2), until=3.0))
    window = [Fault(1.0, "down"), Fault(1.1, "up", settled=1.5)]
    assert agree(live, CONFIG, window, 3.0, TIGHT).ok
    # The same live run cannot be explained by a server back only after 1.4.
    too_late = [Fault(1.0, "down"), Fault(1.4, "up", settled=1.5)]
    assert not agree(live, CONFIG, too_late, 3.0, TIGHT).ok
