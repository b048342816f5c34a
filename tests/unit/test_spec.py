"""`dbfsm spec run` and `dbfsm spec coverage`: every clause of specs/ passes and every
transition is exercised; how expectations match; a broken clause is reported with its first
divergence; a malformed clause file is one line with its position; the JUnit XML is valid."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

import dbfsm.fsm.engine
from dbfsm.fsm.actions import Stayed
from dbfsm.fsm.backend import Backend
from dbfsm.fsm.compiled import Tables
from dbfsm.fsm.config import parse_text
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.graph import GRAPHS
from dbfsm.fsm.records import Record
from dbfsm.fsm.rules import RULES
from dbfsm.validation import clauses, spec
from tests.cli import invoke

SPECS = Path(__file__).resolve().parents[2] / "specs"
DOCUMENTATION = (SPECS / spec.DOCUMENTATION).read_text(encoding="utf-8")
LEASE = (
    "{Dhcp4: {lease-database: {type: mysql, name: kea, max-reconnect-tries: 3, "
    "reconnect-wait-time: 2000, on-fail: stop-retry-exit}}}"
)


def clause_file(tmp_path: Path, body: str, name: str = "c.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return str(path)


def one_case(expect: str, more: str = "", events: str = "[{at: 5, down: lease-database}]") -> str:
    """A clause file with one clause and one case: the lease database (stop-retry-exit, 3
    tries, 2 s apart) lost at t=5 and never back, so attempts at 5, 7, 9 and exit 1 at 9.
    The case starts on line 5, its first observation on line 10, `more` follows them."""
    lines = ["clauses:", "  - id: probe", "    rule: doc.stop-retry-exit", "    cases:"]
    lines += ["      - name: lost for good", f"        config: {LEASE}", "        until: 20"]
    lines += [f"        events: {events}", "        expect:"]
    lines += [f"          {line.strip()}" for line in expect.strip().splitlines()]
    lines += [f"        {line.strip()}" for line in more.strip().splitlines()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The specification itself
# ---------------------------------------------------------------------------------------------


def test_every_clause_in_specs_passes_and_is_listed(capsys):
    code, out, err = invoke(capsys, "spec", "run", str(SPECS))
    assert (code, err) == (0, ""), out
    files = clauses.read([str(SPECS)], DOCUMENTATION)
    ids = [c.id for f in files for c in f.clauses]
    assert len(ids) >= 30
    for clause in (c for f in files for c in f.clauses):
        verdict = "PASS" if clause.cases else "----"
        assert f"  {verdict}  {clause.id}" in out
    assert out.splitlines()[-1].endswith(" 0 fail (0 cases failing)")


def test_coverage_exercises_every_transition_and_rule(capsys):
    code, out, err = invoke(capsys, "spec", "coverage", str(SPECS))
    assert (code, err) == (0, ""), out
    assert "every transition is exercised" in out
    assert f"all {len(RULES)} rules of fsm/rules.py have a clause" in out
    files = clauses.read([str(SPECS)], DOCUMENTATION)
    cov = spec.coverage(files, spec.run_all(files), DOCUMENTATION)
    unsimulated = set(cov.unsimulated)
    # Each is a loss report no simulated request can make: while a configuration is applied,
    # while recovering, and after the attempts ran out (no connection is left to be broken).
    assert len(unsimulated) <= 3, "a transition no simulated run can take must stay the exception"
    for graph in GRAPHS.values():
        for i, t in enumerate(graph.transitions):
            if (graph.name, i) not in unsimulated:
                assert cov.count[(graph.name, i)] > 0, (graph.name, t)


def test_clauses_cover_each_mode_in_each_phase():
    """Each on-fail mode appears in the startup, reconfiguration and normal-operation files."""
    documentation = DOCUMENTATION
    for name in ("startup", "reconfiguration", "normal-operation"):
        (file,) = clauses.read([str(SPECS / f"{name}.yaml")], documentation)
        modes = {
            b.on_fail.value
            for c in file.clauses
            for case in c.cases
            for b in case.scenario.settings.backends
        }
        modes |= {
            str(e.command["arguments"]["Dhcp4"][key].get("on-fail"))
            for c in file.clauses
            for case in c.cases
            for e in case.scenario.events
            if e.command and e.command.get("command") == "config-set"
            for key in e.command["arguments"]["Dhcp4"]
            if key == "lease-database"
        }
        assert {"stop-retry-exit", "serve-retry-exit", "serve-retry-continue"} <= modes, name


def test_coverage_fails_when_a_transition_is_never_exercised(capsys, tmp_path):
    path = clause_file(tmp_path, one_case("- {t: 9, exit: 1}"))
    code, out, _ = invoke(capsys, "spec", "coverage", path)
    assert code == 1
    assert "NOT EXERCISED" in out
    assert "rules without a clause: " in out
    assert "   NO  backend: reconnecting --opened--> online  [doc.restored]" in out


def test_the_engine_reports_transitions_that_stay():
    """Declarations without a destination (the server's `start`) are notified as `Stayed`."""
    engine = Engine(parse_text('{"Dhcp4": {"lease-database": {"type": "memfile"}}}'))
    seen: list[object] = []
    engine.subscribe(seen.append)
    engine.start()
    (stayed,) = [a for a in seen if isinstance(a, Stayed)]
    assert (stayed.machine, stayed.trigger, stayed.state) == ("server", "start", "starting")
    assert GRAPHS["server"].transitions[stayed.index].trigger == "start"


# ---------------------------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------------------------


def rec(t: float, type_: str, **data: object) -> Record:
    return Record(t, type_, data)


RUN = [
    rec(0, "serving", serving=True),
    rec(5, "log", id="LOST", severity="INFO", text="database connection lost: manager ID: 3001"),
    rec(5, "serving", serving=False),
    rec(5, "attempt", backend="lease-database", n=1, of=3, ok=False),
    rec(9, "log", id="FATAL_FAILED", severity="FATAL", text="exhausted"),
    rec(9, "exit", code=1),
]
END = rec(9, "summary", exit_code=1, serving=False, state="exited")


def check(expect: list[str], **case: str) -> clauses.Divergence | None:
    """Match RUN against a case whose `expect` lists `expect` (YAML flow maps) and whose
    other keys are `case` (YAML values)."""
    lines = ["clauses:", "  - id: m", "    rule: doc.restored", "    cases:", "      - name: c"]
    lines += ["        config: {Dhcp4: {}}", "        until: 20", "        expect:"]
    lines += [f"          - {e}" for e in expect] if expect else ["          []"]
    lines += [f"        {key}: {value}" for key, value in case.items()]
    file = clauses.parse("\n".join(lines) + "\n", "m.yaml", Path("."), "")
    (parsed,) = file.clauses[0].cases
    return clauses.divergence(parsed, RUN, END)


def test_an_observation_matches_a_record_of_its_type_at_its_time():
    assert check(["{t: 5, log: LOST}", "{t: 9, exit: 1}"]) is None
    found = check(["{t: 6, log: LOST}"])
    assert found is not None and found.t == 6
    assert "{log: LOST} happened at 5s" in found.happened


def test_fields_must_be_equal_and_text_contained():
    assert check(["{t: 5, log: LOST, severity: INFO, text: 'manager ID: 3001'}"]) is None
    assert check(["{t: 5, log: LOST, text: 'manager ID: 3002'}"]) is not None
    assert check(["{t: 5, attempt: lease-database, n: 1, of: 3, ok: false}"]) is None
    assert check(["{t: 5, attempt: lease-database, n: 2}"]) is not None


def test_observations_match_in_the_order_listed():
    found = check(["{t: 5, serving: false}", "{t: 5, log: LOST}"])
    assert found is not None
    assert "happened before the observation listed above it" in found.happened
    assert check(["{t: 5, any-order: [{serving: false}, {log: LOST}]}"]) is None


def test_any_order_assigns_each_member_its_own_record():
    """A general member must not take the record a more specific one needs."""
    assert check(["{t: 5, any-order: [{log: LOST}, {log: LOST, severity: INFO}]}"]) is not None
    assert check(["{t: 9, any-order: [{exit: 1}, {log: FATAL_FAILED}]}"]) is None


def test_unlisted_records_are_allowed_unless_their_type_is_exact():
    assert check(["{t: 9, exit: 1}"]) is None
    found = check(["{t: 9, exit: 1}"], exact="[serving]")
    assert found is not None and found.t == 0
    assert found.expected == "no serving record but those listed (exact: serving)"
    assert found.happened == "{t: 0, serving: true}"
    assert check(["{t: 0, serving: true}", "{t: 5, serving: false}"], exact="[serving]") is None


def test_never_and_end():
    found = check([], never="[{exit: 1}]")
    assert found is not None and (found.t, found.happened) == (9, "{t: 9, exit: 1}")
    found = check([], end="{serving: true}")
    assert found is not None and found.expected == "at the end serving true"
    assert check([], end="{exit_code: 1, state: exited}") is None


def test_the_earliest_divergence_is_reported():
    """An unexpected serving change at 5 comes before the missing exit at 12."""
    found = check(["{t: 0, serving: true}", "{t: 12, exit: 1}"], exact="[serving]")
    assert found is not None and found.t == 5
    assert "serving: false" in found.happened


# ---------------------------------------------------------------------------------------------
# spec run: failures, JUnit XML
# ---------------------------------------------------------------------------------------------


def test_a_broken_clause_is_reported_with_its_first_divergence(capsys, tmp_path):
    path = clause_file(
        tmp_path,
        one_case(
            """
            - {t: 5, serving: false}
            - {t: 7, attempt: lease-database, n: 2, of: 3, ok: false}
            - {t: 8, exit: 1}
            """
        ),
    )
    code, out, err = invoke(capsys, "spec", "run", path)
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert lines[1] == "  FAIL  probe (1 case)"
    assert lines[2] == f"        case 'lost for good' ({path}:5:9)"
    assert lines[3] == (
        "          at 8s: expected {t: 8, exit: 1}; happened nothing more at 8s after the "
        f"observation above; {{exit: 1}} happened at 9s ({path}:12:13)"
    )
    assert lines[-1].endswith("0 clauses pass, 1 fail (1 case failing)")


def test_junit_xml_is_valid_and_says_what_failed(capsys, tmp_path):
    good = clause_file(tmp_path, one_case("- {t: 9, exit: 1}"), "good.yaml")
    bad = clause_file(tmp_path, one_case("- {t: 9, exit: 2}").replace("probe", "probe2"), "b.yaml")
    outside = clause_file(
        tmp_path,
        """
        clauses:
          - id: not-modelled
            quote: Kea does not automatically attempt to upgrade an existing schema;
            outside-the-model: the simulated databases never change their schema by themselves
        """,
        "o.yaml",
    )
    report = tmp_path / "junit.xml"
    code, _, _ = invoke(capsys, "spec", "run", good, bad, outside, "--junit", str(report))
    assert code == 1
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("3", "1", "1")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [good, bad, outside]
    for suite in suites:
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "")) == len(cases)
        assert int(suite.get("failures", "")) == len(suite.findall("testcase/failure"))
        assert all(c.get("classname") and c.get("name") and c.get("time") for c in cases)
        float(suite.get("time", ""))
    (failure,) = root.iter("failure")
    assert failure.get("message", "").startswith("at 9s: expected {t: 9, exit: 2}")
    assert root.find("testsuite/testcase/skipped") is not None


def test_junit_to_an_unwritable_place_is_bad_input(capsys, tmp_path):
    path = clause_file(tmp_path, one_case("- {t: 9, exit: 1}"))
    target = str(tmp_path / "no" / "x.xml")
    code, out, err = invoke(capsys, "spec", "run", path, "--junit", target)
    assert code == 2 and err.count("\n") == 1 and "cannot write JUnit XML" in err
    assert "PASS  probe" in out  # the report itself was still printed


# ---------------------------------------------------------------------------------------------
# Malformed clause files: one line, with the position
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expect", "more", "events", "position", "message"),
    [
        ("- {t: 5, lgo: LOST}", "", None, "10:13", "needs exactly one of log, serving"),
        ("- {t: 5, log: LOST, code: 1}", "", None, "10:37", "expect[0].code: unknown key"),
        ("- {t: 5, exit: yes}", "", None, "10:26", "must be an integer, got a boolean"),
        ("- {t: 7, exit: 1}\n- {t: 5, exit: 1}", "", None, "11:17", "before the observation"),
        ("- {t: 25, exit: 1}", "", None, "10:17", "after the end of the scenario"),
        ("- {t: 5, any-order: [{exit: 1}]}", "", None, "10:31", "at least two observations"),
        ("- {t: 9, exit: 1}", "exact: [logs]", None, "11:16", "exact: must be a list of"),
        ("- {t: 9, exit: 1}", "end: {state: 3}", None, "11:22", "end.state: unexpected value"),
        ("- {t: 9, exit: 1}", "never: [{t: 1, exit: 1}]", None, "11:21", "at no time"),
        (
            "- {t: 9, exit: 1}",
            "",
            "[{at: 5, dwn: lease-database}]",
            "8:26",
            "clauses[0].cases[0].events[0].dwn: unknown key",
        ),
        ("- {t: 9, exit: 1}", "", "[{at: 5, down: hosts-database}]", "8:32", "no backend"),
    ],
)
def test_a_malformed_case_is_one_line_with_its_position(
    capsys, tmp_path, expect, more, events, position, message
):
    body = one_case(expect, more, events) if events else one_case(expect, more)
    path = clause_file(tmp_path, body)
    code, out, err = invoke(capsys, "spec", "run", path)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"dbfsm spec: {path}:{position}: "), err
    assert message in err


@pytest.mark.parametrize(
    ("clause", "position", "message"),
    [
        ("    rule: doc.nothing", "3:11", "no rule 'doc.nothing' in fsm/rules.py"),
        ("    quote: the server never fails", "3:12", "not found word for word"),
        ("    rule: kea.stop-service-origin", "3:11", "say which one dbfsm follows"),
        ("    id2: x", "3:5", "unknown key"),
    ],
)
def test_a_malformed_clause_is_one_line_with_its_position(
    capsys, tmp_path, clause, position, message
):
    body = (
        f"clauses:\n  - id: c\n{clause}\n    cases:\n      - name: n\n        config: {LEASE}\n"
        "        expect: [{t: 0, serving: true}]\n"
    )
    path = clause_file(tmp_path, body)
    code, out, err = invoke(capsys, "spec", "run", path)
    assert (code, out) == (2, "")
    assert err.startswith(f"dbfsm spec: {path}:{position}: "), err
    assert message in err and err.count("\n") == 1


def test_invalid_yaml_and_duplicate_ids_point_at_the_place(capsys, tmp_path):
    path = clause_file(tmp_path, "clauses: [\n", "broken.yaml")
    code, _, err = invoke(capsys, "spec", "run", path)
    assert code == 2 and err.startswith(f"dbfsm spec: {path}:2:1: invalid YAML/JSON")
    first = clause_file(tmp_path, one_case("- {t: 9, exit: 1}"), "a.yaml")
    second = clause_file(tmp_path, one_case("- {t: 9, exit: 1}"), "b.yaml")
    code, _, err = invoke(capsys, "spec", "run", first, second)
    assert code == 2
    assert err == (
        f"dbfsm spec: {second}:2:9: clauses[0].id: duplicate clause id 'probe' "
        f"(first at {first}:2:9)\n"
    )


def test_not_simulated_must_name_exactly_one_transition(capsys, tmp_path):
    body = one_case("- {t: 9, exit: 1}").replace(
        "    rule: doc.stop-retry-exit\n",
        "    rule: doc.stop-retry-exit\n    not-simulated:\n"
        "      - {graph: backend, trigger: lost, from: online, to: nowhere, why: x}\n",
    )
    path = clause_file(tmp_path, body)
    code, _, err = invoke(capsys, "spec", "run", path)
    assert code == 2 and "names 0 transitions of backend, not one" in err


def test_the_default_is_the_projects_specs(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(SPECS.parent)
    code, out, _ = invoke(capsys, "spec", "run")
    assert code == 0 and out.startswith("specs/commands.yaml: ")
    code, _, err = invoke(capsys, "spec", "run", "--documentation", str(tmp_path / "none.txt"))
    assert code == 2 and "none.txt: cannot read the documentation" in err
    # Installed from a wheel and run outside the project: no specs/ to be found.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(spec, "_CHECKOUT_SPECS", tmp_path / "site-packages" / "specs")
    code, out, err = invoke(capsys, "spec", "coverage")
    assert (code, out) == (2, "")
    assert err.startswith("dbfsm spec: no specs/ directory") and err.count("\n") == 1


def test_missing_paths_are_bad_input(capsys, tmp_path):
    code, _, err = invoke(capsys, "spec", "run", str(tmp_path / "nothing.yaml"))
    assert code == 2 and "cannot read clause file: No such file or directory" in err
    code, _, err = invoke(capsys, "spec", "coverage", str(tmp_path))
    assert code == 2 and "no clause files (*.yaml)" in err


# ---------------------------------------------------------------------------------------------
# The README stays true
# ---------------------------------------------------------------------------------------------

README = (SPECS.parent / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("### The documentation as executable clauses") :]


def test_readme_clause_is_the_one_in_specs():
    block = SECTION[SECTION.index("```yaml\n") + 8 :]
    block = block[: block.index("```")]
    assert block in (SPECS / "normal-operation.yaml").read_text(encoding="utf-8")


def _shown(after: str) -> list[str]:
    block = SECTION[SECTION.index(after) :]
    block = block[block.index("```") :].split("\n", 1)[1]
    return [line for line in block[: block.index("```")].splitlines() if line.strip() != "..."]


def test_readme_run_and_coverage_outputs_are_real(capsys, monkeypatch):
    monkeypatch.chdir(SPECS.parent)
    for command, marker in (("run", "$ dbfsm spec run"), ("coverage", "$ dbfsm spec coverage")):
        code, out, _ = invoke(capsys, "spec", command)
        assert code == 0
        block = SECTION[SECTION.index(marker) :]
        lines = [x for x in block[: block.index("```")].splitlines()[1:] if x.strip() != "..."]
        assert lines and all(line in out.splitlines() for line in lines), command


def test_readme_failure_report_is_what_a_broken_guard_gives(capsys, monkeypatch):
    """The README's failing report, produced by the off-by-one guard it describes. The engine
    runs tables compiled at import, so the broken graph is compiled into them here."""
    graph = GRAPHS["backend"]
    guard = replace(graph.guards["retries_left"], holds=lambda m: m.retries_left > 1)
    broken = replace(graph, guards={**graph.guards, "retries_left": guard})
    monkeypatch.setattr(dbfsm.fsm.engine, "_BACKEND_TABLES", Tables(broken, Backend))
    monkeypatch.chdir(SPECS.parent)
    code, out, _ = invoke(capsys, "spec", "run", "specs/normal-operation.yaml")
    assert code == 1
    lines = _shown("Had the engine given up one attempt early")
    assert lines and all(line in out.splitlines() for line in lines)
