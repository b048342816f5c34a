"""Black holes in `dbfsm simulate` scenario files: `black-hole` and `black-hole-end` parsed
and refused as every other event is (one line, file:line:column), the timeline and JSON of a
run against a hand-computed one, the page of `--report`, the spec runner, and the real-Kea
player refusing what it cannot play faithfully."""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest

from dbfsm.fsm.errors import ConfigError
from dbfsm.report.model import RECOVERED, build
from dbfsm.report.read import DBFSM, Source
from dbfsm.simulation import scenario, simulate
from dbfsm.simulation.scenario import EVENT_KINDS, ScenarioEvent
from dbfsm.validation import clauses, spec
from dbfsm.validation.kea import player, verdicts
from dbfsm.validation.kea.databases import SetupError
from tests.black_holes import HELD_BY_A_STALL
from tests.cli import invoke

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "scenario.yaml"
LEASE = "lease-database"
PG = f"config: {{Dhcp4: {{{LEASE}: {{type: postgresql, name: kea}}}}}}\n"

# The incident every timeline test below computes by hand: a PostgreSQL lease database
# (requests time out after T, opens after C, W between attempts) behind a black hole from
# HOLE to END, under continuous traffic.
T, C, W = 4.0, 3.0, 2.0
HOLE, END = 5.0, 20.0


def incident(on_fail: str = "serve-retry-continue", until: float = 30) -> str:
    return textwrap.dedent(
        f"""\
        config:
          Dhcp4:
            {LEASE}: {{type: postgresql, name: kea, on-fail: {on_fail},
                       max-reconnect-tries: 5, reconnect-wait-time: {int(W * 1000)},
                       tcp-user-timeout: {int(T)}, connect-timeout: {int(C)}}}
        until: {until}
        events:
          - {{at: {HOLE:g}, black-hole: {LEASE}}}
          - {{at: {END:g}, black-hole-end: {LEASE}}}
        """
    )


def parse(text: str) -> scenario.Scenario:
    return scenario.parse(text, SOURCE, Path("."))


def refusal(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return str(info.value)


def written(tmp_path: Path, text: str, name: str = "hole.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def simulated(capsys: pytest.CaptureFixture[str], path: str, *options: str) -> str:
    code, out, err = invoke(capsys, "simulate", path, *options)
    assert (code, err) == (0, ""), err
    return out


# -- parsing ----------------------------------------------------------------------------------


def test_black_holes_are_events_like_down_and_up() -> None:
    parsed = parse(
        PG + "events:\n"
        f"  - {{at: 20, black-hole-end: {LEASE}}}\n"  # listed first, played in time order
        f"  - {{at: 5, black-hole: {LEASE}}}\n"
        f"  - {{at: 20, black-hole: {LEASE}}}\n"  # a new one, once the first has ended
    )
    assert parsed.events == (
        ScenarioEvent(5.0, "black-hole", LEASE),
        ScenarioEvent(20.0, "black-hole-end", LEASE),
        ScenarioEvent(20.0, "black-hole", LEASE),
    )
    assert [e.describe() for e in parsed.events[:2]] == [
        f"{LEASE} black hole: packets to its server are dropped silently",
        f"{LEASE} black hole ends: its server is reachable again",
    ]


def test_one_backend_per_black_hole_and_no_end_needed() -> None:
    text = (
        "config: {Dhcp4: {lease-database: {type: postgresql, name: kea},\n"
        "                 hosts-databases: [{type: mysql, name: kea}]}}\n"
        "events:\n"
        "  - {at: 1, black-hole: 'hosts-databases[0]'}\n"
        f"  - {{at: 2, black-hole: {LEASE}}}\n"  # another backend: not a second black hole
        "  - {at: 3, black-hole-end: 'hosts-databases[0]'}\n"
    )
    kinds = [(e.at, e.kind, e.backend) for e in parse(text).events]
    assert kinds == [
        (1.0, "black-hole", "hosts-databases[0]"),
        (2.0, "black-hole", LEASE),  # never ended: on until the end of the run
        (3.0, "black-hole-end", "hosts-databases[0]"),
    ]


def test_a_black_hole_ended_before_a_config_set_to_memfile_is_fine() -> None:
    text = (
        PG + f"events:\n  - {{at: 5, black-hole: {LEASE}}}\n"
        "  - {at: 8, command: {command: config-set, arguments: {Dhcp4: {}}}}\n"
        f"  - {{at: 7, black-hole-end: {LEASE}}}\n"
    )
    assert [e.kind for e in parse(text).events] == ["black-hole", "black-hole-end", "command"]


MEMFILE = "config: {Dhcp4: {}}\nevents:\n"
NO_CONNECTION = (
    "a memfile backend keeps its leases in a file and has no database connection to lose, "
    "restore or check (its faults are file-error and file-ok)"
)
BAD = [
    (
        "memfile",
        MEMFILE + f"  - {{at: 1, black-hole: {LEASE}}}\n",
        f"{SOURCE}:3:25: events[0].black-hole: 'black-hole' of {LEASE}: {NO_CONNECTION}",
    ),
    (
        "memfile end",
        MEMFILE + f"  - {{at: 1, black-hole-end: {LEASE}}}\n",
        f"{SOURCE}:3:29: events[0].black-hole-end: 'black-hole-end' of {LEASE}: {NO_CONNECTION}",
    ),
    (
        "an end without a black hole",
        PG + f"events:\n  - {{at: 12, black-hole-end: {LEASE}}}\n",
        f"{SOURCE}:3:30: events[0].black-hole-end: 'black-hole-end' of {LEASE}: no black hole "
        f"of {LEASE} is on at t=12 (a black-hole event of it must come first)",
    ),
    (
        "an end before its black hole in time",
        PG + f"events:\n  - {{at: 10, black-hole: {LEASE}}}\n"
        f"  - {{at: 5, black-hole-end: {LEASE}}}\n",
        f"{SOURCE}:4:29: events[1].black-hole-end: 'black-hole-end' of {LEASE}: no black hole "
        f"of {LEASE} is on at t=5 (a black-hole event of it must come first)",
    ),
    (
        "a second black hole while one is on",
        PG + f"events:\n  - {{at: 5, black-hole: {LEASE}}}\n  - {{at: 8, black-hole: {LEASE}}}\n",
        f"{SOURCE}:4:25: events[1].black-hole: 'black-hole' of {LEASE}: {LEASE} is already "
        "behind a black hole (since t=5); end it with black-hole-end first",
    ),
    (
        "a config-set that makes it memfile while behind one",
        PG + f"events:\n  - {{at: 5, black-hole: {LEASE}}}\n"
        "  - {at: 8, command: {command: config-set, arguments: {Dhcp4: {}}}}\n",
        f"{SOURCE}:4:22: events[1].command: config-set makes {LEASE} a memfile backend while "
        "it is behind the black hole that began at t=5: end it first (black-hole-end)",
    ),
    (
        "not a backend name",
        PG + "events:\n  - {at: 5, black-hole: lease}\n",
        f"{SOURCE}:3:25: events[0].black-hole: 'lease' is not a backend name (lease-database, "
        "hosts-database, hosts-databases[N], config-databases[N])",
    ),
    (
        "a number",
        PG + "events:\n  - {at: 5, black-hole-end: 3}\n",
        f"{SOURCE}:3:29: events[0].black-hole-end: 3 is not a backend name (lease-database, "
        "hosts-database, hosts-databases[N], config-databases[N])",
    ),
    (
        "a backend the configuration lacks",
        PG + "events:\n  - {at: 5, black-hole: hosts-database}\n",
        f"{SOURCE}:3:25: events[0].black-hole: no backend 'hosts-database' (known: {LEASE})",
    ),
    (
        "a version",
        PG + f"events:\n  - {{at: 5, black-hole: {LEASE}, version: '1.0'}}\n",
        f"{SOURCE}:3:5: events[0]: 'version' goes with 'schema' and only with it",
    ),
    (
        "two kinds in one event",
        PG + f"events:\n  - {{at: 5, black-hole: {LEASE}, down: {LEASE}}}\n",
        f"{SOURCE}:3:5: events[0]: needs exactly one of black-hole, black-hole-end, command, "
        "down, file-error, file-ok, no-tls, schema, tls, up, use",
    ),
    (
        "after the end",
        PG + f"until: 10\nevents:\n  - {{at: 11, black-hole: {LEASE}}}\n",
        f"{SOURCE}:4:10: events[0].at: 11.0 is after the end of the scenario (10.0)",
    ),
]


@pytest.mark.parametrize(("text", "line"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_black_hole_is_one_line_naming_its_place(text: str, line: str) -> None:
    assert refusal(text) == line


def test_the_cli_refuses_it_with_that_line_and_status_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = written(tmp_path, PG + f"events:\n  - {{at: 12, black-hole-end: {LEASE}}}\n")
    code, out, err = invoke(capsys, "simulate", path)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{path}:3:30: events[0].black-hole-end: 'black-hole-end' of {LEASE}: no black" in err


def test_the_help_lists_every_event_kind(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = invoke(capsys, "simulate", "--help")
    assert code == 0
    listed = " ".join(out.split()).replace("- ", "-")  # argparse wraps at hyphens
    assert "black-hole, black-hole-end" in listed
    assert all(kind in listed for kind in EVENT_KINDS)


# -- the timeline, computed by hand -----------------------------------------------------------


def attempts_by_hand() -> list[tuple[float, float, bool]]:
    """(began, ended, ok) of each reconnect attempt: the first at once when the request's
    timeout shows the loss (HOLE + T), each blocking C, W after the failure before it; the one
    in flight when the black hole ends completes then."""
    found, begun = [], HOLE + T
    while begun + C <= END:
        found.append((begun, begun + C, False))
        begun += C + W
    found.append((begun, max(begun, END), True))
    return found


def test_the_hand_computed_attempts_are_these() -> None:
    """The arithmetic above, in numbers (a test of the test)."""
    assert attempts_by_hand() == [(9.0, 12.0, False), (14.0, 17.0, False), (19.0, 20.0, True)]


def lines_at(out: str) -> list[tuple[float, str]]:
    found = []
    for line in out.splitlines():
        t, _, what = line.strip().partition("s  ")
        found.append((float(t), what))
    return found


def test_a_black_hole_blocks_the_server_then_each_attempt_for_connect_timeout(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = simulated(capsys, written(tmp_path, incident()))
    timeline = lines_at(out)
    attempts = attempts_by_hand()
    shown = [(t, what) for t, what in timeline if what.startswith("attempt ")]
    assert shown == [
        (ended, f"attempt {n} of 5 on {LEASE} {'succeeded' if ok else 'failed'}")
        for n, (_, ended, ok) in enumerate(attempts, start=1)
    ]
    lost = [t for t, what in timeline if "DB_RECONNECT_LOST_CONNECTION" in what]
    assert lost == [HOLE + T] + [began for began, _, _ in attempts[1:]]  # Kea 3 logs it again
    # Not serving while blocked: in the request (HOLE to HOLE + T), then in each attempt.
    serving = [(t, what) for t, what in timeline if what in ("SERVING", "NOT SERVING")]
    blocked = [(HOLE, HOLE + T + C)] + [(began, ended) for began, ended, _ in attempts[1:]]
    expected = [(0.0, "SERVING")]
    for began, ended in blocked:
        expected += [(began, "NOT SERVING"), (ended, "SERVING")]
    assert (
        serving
        == expected
        == [
            (0.0, "SERVING"),
            (5.0, "NOT SERVING"),
            (12.0, "SERVING"),
            (14.0, "NOT SERVING"),
            (17.0, "SERVING"),
            (19.0, "NOT SERVING"),
            (20.0, "SERVING"),
        ]
    )
    marks = [(t, what) for t, what in timeline if what.startswith("-- ")]
    blocked_in = f"-- {LEASE} does not answer: the server is blocked"
    request = f"{blocked_in} in a request to it, serving nothing, for up to 4 s (tcp-user-timeout)"
    opening = f"{blocked_in} opening it, serving nothing, for up to 3 s (connect-timeout)"
    either = " or until the black hole ends"
    timed_out = f"-- {LEASE}: the open times out after 3 s"
    assert marks == [
        (HOLE, f"-- {LEASE} black hole: packets to its server are dropped silently"),
        (HOLE, request + either),
        (9.0, f"-- {LEASE}: the request times out after 4 s"),
        (9.0, opening + either),
        (12.0, timed_out),
        (14.0, opening + either),
        (17.0, timed_out),
        (19.0, opening + either),
        (END, f"-- {LEASE} black hole ends: its server is reachable again"),
        (END, f"-- {LEASE} answers again: the blocked open completes after 1 s"),
    ]
    assert timeline[-1] == (30.0, "end: still running, serving, server state serving")


def test_the_readme_example_is_this_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    after = readme[readme.index("**A black hole**") :]
    found = re.search(r"```yaml\n(.*?)```\s*```\n(.*?)```", after, flags=re.S)
    assert found is not None
    assert parse(found.group(1)).events == parse(incident()).events
    actual = simulated(capsys, written(tmp_path, found.group(1))).splitlines()
    shown = [line for line in found.group(2).splitlines() if line.strip() != "..."]
    assert len(shown) > 15 and all(line in actual for line in shown)


def test_json_has_the_stall_in_its_serving_records_and_no_markers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = simulated(capsys, written(tmp_path, incident("stop-retry-exit")), "--format", "json")
    records = [json.loads(line) for line in out.splitlines()]
    assert {r["type"] for r in records} == {"serving", "log", "attempt", "summary"}
    # stop-retry-exit: not serving from the block at HOLE (the loss at HOLE + T changes
    # nothing the records have not said) until the attempt that succeeds.
    assert [(r["t"], r["serving"]) for r in records if r["type"] == "serving"] == [
        (0.0, True),
        (HOLE, False),
        (END, True),
    ]
    assert [(r["t"], r["n"], r["ok"]) for r in records if r["type"] == "attempt"] == [
        (ended, n, ok) for n, (_, ended, ok) in enumerate(attempts_by_hand(), start=1)
    ]
    assert records[-1] == {
        "t": 30,
        "type": "summary",
        "exit_code": None,
        "serving": True,
        "state": "serving",
    }


def test_a_black_hole_that_ends_first_is_a_stall_without_a_loss(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    short = incident().replace(f"at: {END:g}, black-hole-end", "at: 7.5, black-hole-end")
    timeline = lines_at(simulated(capsys, written(tmp_path, short)))
    assert not [what for _, what in timeline if "LOST" in what or what.startswith("attempt")]
    assert (7.5, f"-- {LEASE} answers again: the blocked request completes after 2.5 s") in (
        timeline
    )
    serving = [(t, what) for t, what in timeline if what in ("SERVING", "NOT SERVING")]
    assert serving == [(0.0, "SERVING"), (HOLE, "NOT SERVING"), (7.5, "SERVING")]


@pytest.mark.parametrize(
    ("database", "limit"),
    [
        ("postgresql, tcp-user-timeout: 0", "924.6 s (the kernel's limit: no tcp-user-timeout)"),
        ("postgresql, tcp-user-timeout: 2000", "2000 s (tcp-user-timeout)"),  # it replaces it
        ("mysql, read-timeout: 5000", "924.6 s (the kernel's limit, not read-timeout 5000 s)"),
    ],
)
def test_the_blocked_line_says_what_bounds_the_wait(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, database: str, limit: str
) -> None:
    text = incident().replace("postgresql, name: kea", f"{database}, name: kea")
    text = text.replace(f"tcp-user-timeout: {int(T)}, ", "")
    timeline = lines_at(simulated(capsys, written(tmp_path, text)))
    blocked = [what for t, what in timeline if t == HOLE and "for up to" in what]
    assert blocked == [
        f"-- {LEASE} does not answer: the server is blocked in a request to it, serving "
        f"nothing, for up to {limit} or until the black hole ends"
    ]
    # Shorter than that wait: the black hole ends first, and nothing is lost.
    assert (END, f"-- {LEASE} answers again: the blocked request completes after 15 s") in (
        timeline
    )
    assert not [what for _, what in timeline if "LOST" in what]


def test_a_black_hole_at_startup_blocks_the_first_open(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Before startup is done there is no serving to change: the open blocks C, fails, and
    a server that cannot open its lease database does not start."""
    at_start = incident("stop-retry-exit").replace(f"at: {HOLE:g}, black-hole", "at: 0, black-hole")
    timeline = lines_at(simulated(capsys, written(tmp_path, at_start)))
    assert timeline[:3] == [
        (0.0, f"-- {LEASE} black hole: packets to its server are dropped silently"),
        (
            0.0,
            f"-- {LEASE} does not answer: the server is blocked opening it, serving nothing, "
            "for up to 3 s (connect-timeout) or until the black hole ends",
        ),
        (C, f"-- {LEASE}: the open times out after 3 s"),
    ]
    assert (C, "NOT SERVING") in timeline and (C, "EXIT 1") in timeline
    assert timeline[-1] == (C, "end: exited with code 1, not serving, server state exited")


def test_what_comes_due_while_blocked_runs_late_and_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The host database's attempt due at 3 and the command at 7 wait for the blocked call
    on the lease database, which the black hole's end at 12.5 completes."""
    timeline = lines_at(simulated(capsys, written(tmp_path, HELD_BY_A_STALL)))
    assert [t for t, what in timeline if what.startswith("attempt ")] == [1.0, 2.0, 12.5, 13.5]
    late = [what for t, what in timeline if "late" in what and t == 12.5]
    assert late == [
        "-- timer MySqlHostMgr[2]DbReconnectTimer fires (9.5 s late, due at 3s: the server was "
        "blocked)",
        "-- command status-get (5.5 s late, due at 7s: the server was blocked)",
    ]
    commands = [t for t, what in timeline if what.startswith("command status-get ->")]
    assert commands == [12.5]


# -- the page of --report ---------------------------------------------------------------------


def test_the_page_shows_the_stall_as_not_serving_and_the_loss_as_an_outage(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = written(tmp_path, incident())
    page = tmp_path / "incident.html"
    simulated(capsys, path, "--report", str(page))
    assert 'data-lane="lease-database"' in page.read_text(encoding="utf-8")
    loaded = scenario.load(path)
    drawn = build(Source(path, DBFSM, simulate.run(loaded).timeline()), loaded.settings)
    attempts = attempts_by_hand()
    blocked = [(HOLE, HOLE + T + C)] + [(began, ended) for began, ended, _ in attempts[1:]]
    assert drawn.not_serving() == blocked
    (lane,) = drawn.lanes
    (outage,) = lane.outages
    assert (outage.start, outage.end, outage.attempts, outage.ended) == (
        HOLE + T,  # what the records show: the loss, once the request timed out
        END,
        len(attempts),
        RECOVERED,
    )
    assert drawn.summary().not_serving == sum(b - a for a, b in blocked) == 11.0


def test_conform_takes_the_simulated_run_with_its_blocked_calls(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """What `dbfsm simulate` records of a black hole is a run the model allows: the server
    blocked in a call for at most its limit (more in tests/unit/test_conform_black_hole.py)."""
    out = simulated(capsys, written(tmp_path, incident()), "--format", "json")
    trace = tmp_path / "run.jsonl"
    trace.write_text(out, encoding="utf-8")
    config = tmp_path / "kea.json"
    config.write_text(json.dumps(parse(incident()).settings.document), encoding="utf-8")
    code, said, _ = invoke(capsys, "conform", "--config", str(config), str(trace))
    assert code == 0, said
    assert f"{trace}: conforms (dbfsm JSON Lines" in said


# -- spec cases and the real-Kea player ---------------------------------------------------------


def case_file(expect: str) -> clauses.ClauseFile:
    lease = (
        f"{{type: postgresql, name: kea, on-fail: serve-retry-continue, max-reconnect-tries: 5, "
        f"reconnect-wait-time: 2000, tcp-user-timeout: {int(T)}, connect-timeout: {int(C)}}}"
    )
    text = textwrap.dedent(
        f"""\
        clauses:
          - id: probe
            rule: doc.serve-retry-continue
            cases:
              - name: a black hole
                config: {{Dhcp4: {{{LEASE}: {lease}}}}}
                until: 30
                events: [{{at: 5, black-hole: {LEASE}}}, {{at: 20, black-hole-end: {LEASE}}}]
                expect: {expect}
        """
    )
    return clauses.parse(text, "c.yaml", Path("."), "")


def test_a_spec_case_sees_what_dbfsm_simulate_writes() -> None:
    (clause,) = case_file("[{t: 5, serving: false}, {t: 12, serving: true}]").clauses
    (case,) = clause.cases
    assert spec.run_case(case)[0] is None
    (clause,) = case_file("[{t: 9, serving: false}]").clauses  # the loss: already not serving
    found, _ = spec.run_case(clause.cases[0])
    assert found is not None


def test_a_bad_black_hole_in_a_spec_case_is_one_line_with_its_place() -> None:
    with pytest.raises(ConfigError) as info:
        clauses.parse(
            "clauses:\n  - id: probe\n    rule: doc.serve-retry-continue\n    cases:\n"
            f"      - name: x\n        {PG.strip()}\n"
            f"        events: [{{at: 3, black-hole-end: {LEASE}}}]\n"
            "        expect: [{t: 3, serving: true}]\n",
            "c.yaml",
            Path("."),
            "",
        )
    assert str(info.value) == (
        f"c.yaml:7:42: clauses[0].cases[0].events[0].black-hole-end: 'black-hole-end' of "
        f"{LEASE}: no black hole of {LEASE} is on at t=3 (a black-hole event of it must come "
        "first)"
    )


def test_the_real_kea_player_refuses_a_black_hole_and_says_why(tmp_path: Path) -> None:
    (clause,) = case_file("[{t: 5, serving: false}]").clauses
    (case,) = clause.cases
    reason = verdicts.not_applicable(case, (2, 2, 0))
    assert (
        reason
        == player.unplayable(case)
        == f"black-hole of {LEASE} at 5s: " + (player.NO_BLACK_HOLES)
    )
    assert "never recovers" in reason and "tests/kea/test_black_hole.py" in reason
    kea = player.Player(case, cast(Any, None), cast(Any, None), tmp_path)
    with pytest.raises(SetupError, match=r"^black-hole of lease-database at 5s: the player"):
        kea.play()  # refused before anything is made or started
    assert kea.process is None and kea.backends == {}


def test_a_case_without_a_black_hole_is_not_refused_for_one() -> None:
    (clause,) = case_file("[{t: 5, serving: false}]").clauses
    (case,) = clause.cases
    down = (ScenarioEvent(HOLE, "down", LEASE), ScenarioEvent(END, "up", LEASE))
    calm = replace(case, scenario=replace(case.scenario, events=down))
    assert player.unplayable(calm) == ""
    assert verdicts.not_applicable(calm, (3, 0, 0)) == ""
