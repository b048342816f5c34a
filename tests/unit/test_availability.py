"""`dbfsm availability`: closed-form cases, a year against `dbfsm simulate`'s own records, the
same result on any number of workers, the JSON document and the plot, and bad input refused
in one line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from dbfsm.cli import main
from dbfsm.drivers import schema
from dbfsm.files import documents
from dbfsm.fsm import config
from dbfsm.fsm.settings import ServerSettings
from dbfsm.simulation import availability, outages, scenario, simulate
from dbfsm.simulation.availability import Aggregate, Plan, Summary, simulate_year, years_task
from dbfsm.simulation.outages import YEAR, Profile

WAIT = 2.0  # seconds between reconnect attempts
EXPECTED = schema.text(schema.SCHEMA_VERSION)  # the schema version the drivers expect


def settings(on_fail: str = "stop-retry-exit", tries: int = 100, **more: Any) -> ServerSettings:
    lease = {
        "type": "mysql",
        "name": "kea",
        "password": "hunter2-secret",
        "max-reconnect-tries": tries,
        "reconnect-wait-time": int(WAIT * 1000),
        "on-fail": on_fail,
        **more,
    }
    return config.from_document({"Dhcp4": {"lease-database": lease}})


def profile(text: str, config_settings: ServerSettings | None = None) -> Profile:
    doc = documents.parse(text, "profile.yaml")
    return outages.from_data(doc, doc.data, config_settings or settings())


def fixed(
    duration: float,
    rate: float = 50,
    restart: str = "{policy: on-failure, restart-sec: 10}",
    *,
    servers: int = 1,
    traffic: str = "continuous",
) -> Profile:
    return profile(
        f"servers: {servers}\ntraffic: {traffic}\nrestart: {restart}\n"
        "outages:\n  - backends: [lease-database]\n"
        f"    rate: {rate}\n    duration: {{fixed: {duration}}}\n"
    )


def outage_starts(p: Profile, seed: int, year: int) -> list[float]:
    return [e.at for e in outages.year_events(p, seed, year) if e.kind == "down"]


def isolated(starts: list[float], gap: float) -> bool:
    """No two outages closer than `gap`, none that close to the year's end."""
    ends = [*starts[1:], YEAR]
    return all(b - a > gap for a, b in zip(starts, ends, strict=True))


# -- closed forms ---------------------------------------------------------------------------


@pytest.mark.parametrize("duration", [3.5, 4.0, 7.2])
def test_enough_tries_each_outage_costs_whole_waits(duration: float) -> None:
    """One backend, D-second outages, wait W, enough tries, stop-retry-exit, continuous
    traffic: each outage costs ceil(D/W)*W of service, and nothing else happens."""
    p, s = fixed(duration), settings()
    cost = math.ceil(duration / WAIT - 1e-9) * WAIT
    checked = 0
    for year in range(30):
        starts = outage_starts(p, 3, year)
        if not isolated(starts, 3 * cost):
            continue
        found = simulate_year(s, p, 3, year)
        assert found.not_serving == pytest.approx(len(starts) * cost, abs=1e-6)
        assert found.longest == pytest.approx(cost, abs=1e-6)
        assert (found.exits, found.restarts, found.degraded) == (0, 0, 0.0)
        checked += 1
    assert checked >= 25


def test_too_few_tries_cost_an_exit_and_the_restart_delay() -> None:
    """With T tries the server exits (T-1)*W after the loss; restarted R later with the
    database back, it serves at once: (T-1)*W + R per outage, one exit and one restart."""
    tries, restart_sec = 2, 10.0
    p, s = fixed(3.5), settings(tries=tries)
    cost = (tries - 1) * WAIT + restart_sec
    checked = 0
    for year in range(30):
        starts = outage_starts(p, 4, year)
        if not isolated(starts, 3 * cost):
            continue
        found = simulate_year(s, p, 4, year)
        assert found.not_serving == pytest.approx(len(starts) * cost, abs=1e-6)
        assert found.exits == found.restarts == len(starts)
        checked += 1
    assert checked >= 25


def test_a_restart_into_an_outage_exits_again_until_the_start_limit() -> None:
    """Restarted while the database is still down (no retry-on-startup), the server exits
    at startup; restarts go on every R seconds until one finds the database, unless the
    start limit refuses one: then the service is down for the rest of the year."""
    p = fixed(25.0, rate=3)
    s = settings(tries=1)
    year = next(y for y in range(50) if isolated(outage_starts(p, 5, y), 200))
    starts = outage_starts(p, 5, year)
    found = simulate_year(s, p, 5, year)
    # Exit at the loss; restarts at +10 and +20 (database down: exit), +30 serves.
    assert found.not_serving == pytest.approx(30.0 * len(starts), abs=1e-6)
    assert found.exits == 3 * len(starts) and found.restarts == 3 * len(starts)
    limited = fixed(
        25.0,
        rate=3,
        restart="{policy: on-failure, restart-sec: 10, "
        "start-limit-burst: 2, start-limit-interval: 60}",
    )
    found = simulate_year(s, limited, 5, year)
    assert found.not_serving == pytest.approx(YEAR - starts[0], abs=1e-6)
    assert found.restarts == 2 and found.exits == 3
    never = simulate_year(s, fixed(25.0, rate=3, restart="{policy: none}"), 5, year)
    assert never.not_serving == pytest.approx(YEAR - starts[0], abs=1e-6)
    assert (never.exits, never.restarts) == (1, 0)


def test_serving_through_an_outage_is_degraded_not_lost() -> None:
    """serve-retry-continue with enough tries: no service lost; the time serving without a
    working database is ceil(D/W)*W per outage."""
    p, s = fixed(5.0), settings("serve-retry-continue")
    cost = math.ceil(5.0 / WAIT) * WAIT
    year = next(y for y in range(30) if isolated(outage_starts(p, 6, y), 3 * cost))
    found = simulate_year(s, p, 6, year)
    assert found.not_serving == 0.0 and found.exits == 0
    assert found.degraded == pytest.approx(len(outage_starts(p, 6, year)) * cost, abs=1e-6)


def test_the_monte_carlo_mean_is_within_its_interval_of_the_closed_form() -> None:
    p, s = fixed(3.5, rate=40), settings()
    total = years_task(Plan((s,), p, 11), 0, 200)[0]
    expected = 40 * math.ceil(3.5 / WAIT) * WAIT  # Poisson: rate outages a year on average
    low, high = total.not_serving.ci95()
    assert low <= expected <= high
    assert high - low < 0.2 * expected


def test_periodic_traffic_notices_a_loss_at_the_next_request() -> None:
    """A request every E seconds: the loss is noticed at the next request, so each outage
    first spends up to E serving without a working database."""
    every = 30.0
    p = profile(
        f"traffic: {{every: {every}}}\nrestart: {{policy: on-failure, restart-sec: 10}}\n"
        "outages: [{backends: [lease-database], rate: 30, duration: {fixed: 100}}]\n"
    )
    found = simulate_year(settings(), p, 8, 0)
    n = len(outage_starts(p, 8, 0))
    assert 0 < found.degraded <= n * every
    assert found.not_serving < n * (100 + WAIT)


# -- several servers ------------------------------------------------------------------------


def _down_from(
    p: Profile, year: int, server: int, start: float, duration: float
) -> tuple[float, float]:
    """When server `server` notices an outage at `start` (its first request from then on)
    and when it serves again (stop-retry-exit, enough tries: the first attempt, WAIT apart
    from the one at once, that finds the database back)."""
    assert p.every is not None
    phase = availability.traffic_phase(p, 3, year, server)
    noticed = phase + math.ceil((start - phase) / p.every) * p.every
    attempts = max(0, math.ceil((start + duration - noticed) / WAIT))
    return noticed, noticed + attempts * WAIT


def test_two_servers_with_their_own_request_phases_lose_less_than_one() -> None:
    """Requests every 10 s, outages of 3 s: each server stops from its own next request
    until its reconnect; the service is down only while both are (the later one noticed
    before the earlier one is back), degraded until one of them serves a working database."""
    duration, s = 3.0, settings()
    one = fixed(duration, rate=100, traffic="{every: 10}")
    two = fixed(duration, rate=100, traffic="{every: 10}", servers=2)
    checked = 0
    for year in range(6):
        starts = outage_starts(one, 3, year)
        if not isolated(starts, 50):
            continue
        alone = both = degraded = 0.0
        for at in starts:
            (n0, b0), (n1, b1) = (_down_from(two, year, i, at, duration) for i in (0, 1))
            alone += b0 - n0
            both += max(0.0, min(b0, b1) - max(n0, n1))
            degraded += min(max(n0, n1), min(b0, b1)) - at
        found_one, found_two = simulate_year(s, one, 3, year), simulate_year(s, two, 3, year)
        assert found_one.not_serving == pytest.approx(alone, abs=1e-6)
        assert found_two.not_serving == pytest.approx(both, abs=1e-6)
        assert found_two.degraded == pytest.approx(degraded, abs=1e-6)
        assert found_two.not_serving < found_one.not_serving
        checked += 1
    assert checked >= 3


def test_continuous_traffic_makes_every_server_live_the_same_timeline() -> None:
    s = settings(tries=2)
    one, three = fixed(3.5), fixed(3.5, servers=3)
    for year in range(3):
        alone, together = simulate_year(s, one, 4, year), simulate_year(s, three, 4, year)
        assert together.not_serving == alone.not_serving > 0
        assert together.degraded == alone.degraded
        assert (together.exits, together.restarts) == (3 * alone.exits, 3 * alone.restarts)


# -- the same as `dbfsm simulate` ----------------------------------------------------------


MIXED = """
traffic: {every: 7}
restart: {policy: on-failure, restart-sec: 5}
outages:
  - backends: [lease-database, "hosts-databases[0]"]
    rate: 300
    duration: {lognormal: {median: 4, p95: 60}}
  - {backends: ["hosts-databases[0]"], rate: 200, duration: {exponential: {mean: 8}}}
  - {backends: [lease-database], rate: 30, kind: schema-mismatch, duration: {fixed: 20}}
"""


def _two_backends(mode: str, tries: int = 4) -> ServerSettings:
    backend = {"name": "kea", "max-reconnect-tries": tries, "reconnect-wait-time": 1500}
    return config.from_document(
        {
            "Dhcp4": {
                "lease-database": {"type": "mysql", "on-fail": mode, **backend},
                "hosts-databases": [
                    {"type": "postgresql", "on-fail": "serve-retry-exit", **backend}
                ],
            }
        }
    )


def _as_scenario(s: ServerSettings, p: Profile, seed: int, year: int) -> scenario.Scenario:
    """The year as a scenario document, read the way `dbfsm simulate` reads one."""
    events: list[dict[str, Any]] = []
    for e in outages.year_events(p, seed, year):
        if e.kind == "schema":
            events.append({"at": e.at, "schema": e.backend, "version": e.version or EXPECTED})
        else:
            events.append({"at": e.at, e.kind: e.backend})
    traffic: Any = "continuous"
    if p.every is not None:
        traffic = {"every": p.every, "from": availability.traffic_phase(p, seed, year, 0)}
    doc = {"config": dict(s.document), "until": YEAR, "traffic": traffic, "events": events}
    return scenario.parse(json.dumps(doc), "year.json", Path("."))


def _not_serving(records: tuple[Any, ...]) -> float:
    lost, since = 0.0, None
    for r in records:
        if r.type == "serving" and not r.data["serving"] and since is None:
            since = r.t
        elif r.type == "serving" and r.data["serving"] and since is not None:
            lost, since = lost + r.t - since, None
    return lost + (YEAR - since if since is not None else 0.0)


@pytest.mark.parametrize("mode", ["stop-retry-exit", "serve-retry-exit"])
def test_a_year_is_what_dbfsm_simulate_says_of_it(mode: str) -> None:
    """Without exits, a year's time not serving is the one `dbfsm simulate` shows for the same
    events (schema mismatches included), read from its records."""
    s = _two_backends(mode, tries=1000)
    p = profile(MIXED, s)
    for year in range(2):
        run = simulate.run(_as_scenario(s, p, 2, year))
        found = simulate_year(s, p, 2, year)
        assert run.exit_code is None and found.exits == 0
        assert found.not_serving == pytest.approx(_not_serving(run.records), abs=1e-6)
        assert found.not_serving > 0 if mode == "stop-retry-exit" else found.degraded > 0


def test_a_year_is_the_same_whatever_else_runs() -> None:
    s = _two_backends("serve-retry-exit")
    p = profile(MIXED, s)
    first = years_task(Plan((s,), p, 9), 3, 2)[0]
    again = years_task(Plan((s, settings()), p, 9), 3, 2)[0]
    assert first.not_serving == again.not_serving and first.exits == again.exits


# -- aggregates -----------------------------------------------------------------------------


def test_summaries_merge_as_if_added_in_one_go_and_stay_bounded() -> None:
    values = [0.0, 1.0, 2.5, 3.0, 1e4 + 0.3, 7.0, 7.0, 31e6]
    one, left, right = Summary(), Summary(), Summary()
    for v in values:
        one.add(v)
    for v in values[:3]:
        left.add(v)
    for v in values[3:]:
        right.add(v)
    left.merge(right)
    assert left.n == one.n and left.mean == pytest.approx(one.mean)
    assert left.m2 == pytest.approx(one.m2) and left.bins == one.bins
    assert one.quantile(0.5) == 3.0 and one.quantile(1.0) == pytest.approx(31e6, rel=1e-3)
    many = Summary()
    for i in range(50_000):
        many.add(1000.0 + i * 0.137)
    # Bins, not values: the log bins between the extremes and the whole numbers met.
    log_bins = math.log(many.maximum / 1000.0) / availability._LOG_STEP
    assert len(many.bins) <= log_bins + 2 + 50


# -- the command ----------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    cfg = tmp_path / "kea.json"
    cfg.write_text(json.dumps(settings(tries=2).document))
    prof = tmp_path / "outages.yaml"
    prof.write_text(
        "servers: 2\ntraffic: continuous\nrestart: {policy: on-failure, restart-sec: 10}\n"
        "outages:\n  - backends: [lease-database]\n    rate: 20\n"
        "    duration: {exponential: {mean: 6}}\n"
    )
    return cfg, prof


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["availability", *argv, "--format", "json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def test_the_json_document_and_the_plot(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, prof = files
    svg = tmp_path / "plot.svg"
    found = run_json(
        capsys,
        str(cfg),
        "--outages",
        str(prof),
        "--years",
        "40",
        "--modes",
        "all",
        "--plot",
        str(svg),
    )
    assert (found["years"], found["seed"]) == (40, 1)
    labels = [s["label"] for s in found["settings"]]
    assert labels == ["stop-retry-exit (configured)", "serve-retry-exit", "serve-retry-continue"]
    for entry in found["settings"]:
        assert entry["max-reconnect-tries"] == 2 and entry["reconnect-wait-time"] == 2000
        for name in ("not-serving-seconds", "degraded-seconds", "exits", "restarts"):
            figure = entry[name]
            assert set(figure) == {"mean", "p50", "p95", "p99", "ci95"}
            assert figure["ci95"][0] <= figure["mean"] <= figure["ci95"][1]
            assert figure["p50"] <= figure["p95"] <= figure["p99"]
    configured = found["settings"][0]
    assert configured["exits"]["mean"] == configured["restarts"]["mean"] > 0
    assert found["settings"][2]["not-serving-seconds"]["mean"] == 0
    assert found["summary"].startswith("serve-retry-continue loses least service")
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert len([e for e in root.iter() if e.tag.endswith("polyline")]) == 3
    assert "hunter2" not in json.dumps(found)


def test_the_result_is_the_same_on_one_worker_and_two(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, prof = files
    argv = (str(cfg), "--outages", str(prof), "--years", "60", "--seed", "5")
    one = run_json(capsys, *argv, "--workers", "1")
    two = run_json(capsys, *argv, "--workers", "2")
    assert one == two
    other = run_json(capsys, *argv[:-1], "6", "--workers", "1")
    assert other != one


def test_independent_servers_give_the_same_result_on_one_worker_and_two(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, _ = files
    prof = tmp_path / "periodic.yaml"
    prof.write_text(
        "servers: 3\ntraffic: {every: 30}\nrestart: {policy: on-failure, restart-sec: 10}\n"
        "outages:\n  - {backends: [lease-database], rate: 20,\n"
        "     duration: {exponential: {mean: 20}}}\n"
    )
    argv = (str(cfg), "--outages", str(prof), "--years", "30", "--seed", "5")
    assert run_json(capsys, *argv, "--workers", "1") == run_json(capsys, *argv, "--workers", "2")


def test_text_output_says_which_setting_loses_least(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, prof = files
    assert (
        main(
            [
                "availability",
                str(cfg),
                "--outages",
                str(prof),
                "--years",
                "20",
                "--modes",
                "serve-retry-continue",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "stop-retry-exit (configured)" in out and "serve-retry-continue" in out
    assert "loses least service" in out.splitlines()[-1]


BAD = [
    ("outages: [", "invalid YAML/JSON"),
    ("restart: {policy: none}\nservers: 0\noutages: []\n", "servers: must be a whole number"),
    (
        "restart: {policy: none}\noutages:\n  - {backends: [lease-database], rate: 1}\n",
        "missing 'duration'",
    ),
    (
        "restart: {policy: none}\noutages:\n  - {backends: [lease-database], rate: 1, kind: "
        "blackhole, duration: {fixed: 1}}\n",
        "outages[0].kind: 'blackhole' is not an outage kind (down, schema-mismatch, black-hole)",
    ),
    (
        "restart: {policy: none}\noutages:\n"
        "  - {backends: [host-db], rate: 1, duration: {fixed: 1}}\n",
        "outages[0].backends[0]: no backend 'host-db'",
    ),
    (
        "restart: {policy: none}\noutages:\n  - {backends: [lease-database], rate: 1,\n"
        "     duration: {weibull: {shape: 2}}}\n",
        "unknown distribution",
    ),
    (
        "restart: {policy: none}\noutages:\n  - {backends: [lease-database], rate: 1,\n"
        "     duration: {lognormal: {median: 10, p95: 5}}}\n",
        "greater than the median",
    ),
    (
        "restart: {policy: none}\noutages:\n  - {backends: [lease-database], rate: -1,\n"
        "     duration: {fixed: 1}}\n",
        "rate: must be between 0",
    ),
    ("restart: {policy: always}\noutages: []\n", "must be a non-empty list"),
    (
        "restart: {policy: sometimes}\noutages:\n  - {backends: [lease-database], rate: 1, "
        "duration: {fixed: 1}}\n",
        "is not on-failure or none",
    ),
    (
        "outages:\n  - {backends: [lease-database], rate: 1, duration: {fixed: 1}}\n",
        "missing 'restart'",
    ),
    (
        "restart: {policy: none}\ntraffic: sometimes\noutages:\n  - {backends: [lease-database], "
        "rate: 1, duration: {fixed: 1}}\n",
        "traffic: must be continuous",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_bad_profile_is_one_line_naming_the_place(
    text: str, message: str, files: tuple[Path, Path], tmp_path: Path
) -> None:
    cfg, _ = files
    prof = tmp_path / "bad.yaml"
    prof.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "dbfsm", "availability", str(cfg), "--outages", str(prof)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert lines[0].startswith(f"dbfsm availability: {prof}:")


@pytest.mark.parametrize(
    "argv",
    [
        ["--years", "0"],
        ["--modes", "serve-retry-sometimes"],
        ["--years", "many"],
        ["--workers", "0"],
        ["--cluster", "http://scheduler"],
    ],
)
def test_bad_options_are_one_line(argv: list[str], files: tuple[Path, Path]) -> None:
    cfg, prof = files
    done = subprocess.run(
        [sys.executable, "-m", "dbfsm", "availability", str(cfg), "--outages", str(prof), *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr


def test_aggregates_pickle_for_worker_processes() -> None:
    import pickle

    p, s = fixed(3.5), settings()
    plan = Plan((s,), p, 1)
    total = pickle.loads(pickle.dumps(years_task(plan, 0, 2)))[0]
    assert isinstance(total, Aggregate) and total.not_serving.n == 2
    assert pickle.loads(pickle.dumps(plan)) == plan


def test_the_plot_takes_a_log_axis_when_settings_differ_by_decades() -> None:
    from collections import Counter

    from dbfsm.simulation import plot

    wide = plot.svg([("a", Counter({1.0: 5, 3.0: 5})), ("b", Counter({86_400.0: 10}))], "t")
    narrow = plot.svg([("a", Counter({100.0: 5, 300.0: 5}))], "t")
    labels = lambda svg: {e.text for e in ET.fromstring(svg).iter() if e.tag.endswith("text")}  # noqa: E731
    assert {"1 s", "10 s", "1 min", "1 h", "1 d"} <= labels(wide)
    assert {"0 s", "1 min", "5 min"} <= labels(narrow)
    assert "<b" not in plot.svg([("<b>", Counter({1.0: 1}))], "<script>")


def test_the_example_profile_and_the_readme_profile_are_valid() -> None:
    import re
    from importlib import resources

    from dbfsm.files.reading import load_file

    root = resources.files("dbfsm") / "examples"
    kea = load_file(str(root / "kea-dhcp4.json"))
    example = outages.load(str(root / "outages.yml"), kea)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Choosing on-fail: availability over a year") :]
    block = re.search(r"```yaml\n(.*?)```", section, flags=re.S)
    assert block is not None
    shown = profile(block.group(1), kea)
    assert shown.entries == example.entries and shown.restart == example.restart
