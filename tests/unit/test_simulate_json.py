"""The JSON Lines schema of `dbfsm simulate --format json` (`fsm.records`).

Every record has `t` (seconds, non-decreasing) and `type`: `log` (`id`, `severity`, `text`),
`serving` (`serving`: first when startup ends, then only on changes), `attempt` (`backend`,
`n`, `of`, `ok`: reconnect-loop attempts only), `command` (`command`, `result`, `text`),
`exit` (`code`); the last line is the one `summary` (`exit_code`, `serving`, `state`).
The schema is checked on every built-in example and on scenarios made to produce every kind
of record.
"""

from __future__ import annotations

import itertools
import json
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from dbfsm.fsm.graph import SERVER
from dbfsm.fsm.records import to_jsonl
from dbfsm.simulation import scenario, simulate

FIELDS = {
    "log": {"id", "severity", "text"},
    "serving": {"serving"},
    "attempt": {"backend", "n", "of", "ok"},
    "command": {"command", "result", "text"},
    "exit": {"code"},
    "summary": {"exit_code", "serving", "state"},
}
SEVERITIES = {"DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
EXAMPLES = sorted(
    p.name for p in (resources.files("dbfsm") / "examples").iterdir() if p.name.endswith(".yaml")
)

DB = "{type: mysql, name: kea, user: kea, password: s3cret"
INLINE = {
    "startup failure": f"""
        config: {{Dhcp4: {{lease-database: {DB}}}}}}}
        events: [{{at: 0, down: lease-database}}]
        """,
    "retry on startup, recovered": f"""
        config: {{Dhcp4: {{lease-database: {DB}, retry-on-startup: true,
                  max-reconnect-tries: 4, reconnect-wait-time: 500}}}}}}
        until: 5
        events:
          - {{at: 0, down: lease-database}}
          - {{at: 0.7, up: lease-database}}
          - {{at: 2, command: {{command: status-get}}}}
          - {{at: 2, command: {{command: nonsense}}}}
        """,
    "retry on startup, 0 tries": f"""
        config: {{Dhcp4: {{lease-database: {DB}, retry-on-startup: true}}}}}}
        events: [{{at: 0, down: lease-database}}]
        """,
    "periodic traffic, serve-retry-continue exhausted, reconfigured": f"""
        config: {{Dhcp4: {{hosts-database: {DB}, on-fail: serve-retry-continue,
                  max-reconnect-tries: 2, reconnect-wait-time: 300}}}}}}
        until: 6
        traffic: {{every: 0.5, from: 0.25}}
        events:
          - {{at: 1.1, down: hosts-database}}
          - {{at: 3, up: hosts-database}}
          - {{at: 4, command: {{command: config-reload}}}}
        """,
    "user disable, max-period, shutdown 5": """
        config: {Dhcp6: {}}
        until: 10
        events:
          - {at: 1, command: {command: dhcp-disable}}
          - {at: 1.5, command: {command: dhcp-disable}}
          - {at: 2, command: {command: dhcp-enable}}
          - {at: 3, command: {command: dhcp-disable, arguments: {max-period: 1}}}
          - {at: 6, command: {command: shutdown, arguments: {exit-value: 5}}}
        """,
    "failed config-set, server stays up": f"""
        config: {{Dhcp4: {{lease-database: {DB}}}}}}}
        until: 4
        traffic: none
        events:
          - {{at: 1, down: lease-database}}
          - {{at: 2, command: {{command: config-set,
              arguments: {{Dhcp4: {{lease-database: {DB}}}}}}}}}}}
          - {{at: 3, command: {{command: status-get}}}}
        """,
    "config backend polled, stop-retry-exit exhausted": f"""
        config: {{Dhcp4: {{config-control: {{config-fetch-wait-time: 2,
                  config-databases: [{DB},
                    max-reconnect-tries: 2, reconnect-wait-time: 1000}}]}}}}}}
        until: 10
        events: [{{at: 0.5, down: "config-databases[0]"}}]
        """,
}


def _run_example(name: str) -> simulate.Result:
    path = resources.files("dbfsm") / "examples" / name
    return simulate.run(scenario.load(str(path)))


def _run_inline(text: str, tmp_path: Path) -> simulate.Result:
    return simulate.run(scenario.parse(textwrap.dedent(text), "s.yaml", tmp_path))


def _lines(result: simulate.Result) -> list[dict[str, Any]]:
    out = to_jsonl(result.timeline())
    assert out.endswith("\n")
    lines = out.split("\n")[:-1]
    assert all(lines), "no blank line"
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(p, dict) for p in parsed)
    return parsed


@pytest.fixture(
    params=[f"example:{n}" for n in EXAMPLES] + [f"inline:{k}" for k in INLINE],
)
def run(request, tmp_path) -> tuple[simulate.Result, list[dict[str, Any]]]:
    kind, name = request.param.split(":", 1)
    result = _run_example(name) if kind == "example" else _run_inline(INLINE[name], tmp_path)
    return result, _lines(result)


def test_there_are_examples():
    assert len(EXAMPLES) >= 4
    assert "default.yaml" in EXAMPLES


# ---------------------------------------------------------------------------------------------
# Every record
# ---------------------------------------------------------------------------------------------


def test_every_record_has_t_and_a_known_type(run):
    _, lines = run
    for line in lines:
        assert line["type"] in FIELDS, line
        assert isinstance(line["t"], int | float) and not isinstance(line["t"], bool), line
        assert line["t"] >= 0


def test_fields_by_type_exactly(run):
    _, lines = run
    for line in lines:
        assert set(line) == {"t", "type"} | FIELDS[line["type"]], line


def test_field_types(run):
    _, lines = run
    for line in lines:
        match line["type"]:
            case "log":
                assert line["severity"] in SEVERITIES
                assert isinstance(line["id"], str) and line["id"].replace("_", "").isalnum()
                assert line["id"] == line["id"].upper()
                assert isinstance(line["text"], str) and line["text"]
            case "serving":
                assert isinstance(line["serving"], bool)
            case "attempt":
                assert isinstance(line["backend"], str)
                for key in ("n", "of"):
                    assert isinstance(line[key], int) and not isinstance(line[key], bool)
                assert 1 <= line["n"] <= line["of"]
                assert isinstance(line["ok"], bool)
            case "command":
                assert isinstance(line["command"], str)
                assert line["result"] in (0, 1, 2, 3)
                assert isinstance(line["text"], str)
            case "exit":
                assert isinstance(line["code"], int) and not isinstance(line["code"], bool)
            case "summary":
                code = line["exit_code"]
                assert code is None or (isinstance(code, int) and not isinstance(code, bool))
                assert isinstance(line["serving"], bool)
                assert line["state"] in SERVER.state_names


def test_t_never_decreases(run):
    _, lines = run
    times = [line["t"] for line in lines]
    assert times == sorted(times)


def test_no_secret_in_any_record(run):
    _, lines = run
    assert "s3cret" not in json.dumps(lines)
    assert "kea-secret" not in json.dumps(lines)


# ---------------------------------------------------------------------------------------------
# summary and exit
# ---------------------------------------------------------------------------------------------


def test_the_last_line_is_the_only_summary(run):
    result, lines = run
    assert lines[-1]["type"] == "summary"
    assert [line["type"] for line in lines].count("summary") == 1
    summary = lines[-1]
    assert summary["exit_code"] == result.exit_code
    assert summary["serving"] == result.serving
    assert summary["state"] == result.state


def test_exit_and_summary_agree(run):
    _, lines = run
    exits = [line for line in lines if line["type"] == "exit"]
    summary = lines[-1]
    assert len(exits) <= 1
    if exits:
        assert summary["exit_code"] == exits[0]["code"]
        assert summary["state"] == "exited"
        assert summary["serving"] is False
        assert summary["t"] == exits[0]["t"], "the run ends when the server exits"
        after_exit = lines[lines.index(exits[0]) + 1 : -1]
        assert [line["type"] for line in after_exit if line["type"] != "log"] == []
    else:
        assert summary["exit_code"] is None
        assert summary["state"] != "exited"


# ---------------------------------------------------------------------------------------------
# serving
# ---------------------------------------------------------------------------------------------


def test_serving_first_at_startup_then_only_changes(run):
    _, lines = run
    serving = [line for line in lines if line["type"] == "serving"]
    assert serving, "a run says whether the server serves once startup ends"
    assert serving[0]["t"] == 0
    values = [line["serving"] for line in serving]
    assert all(a != b for a, b in itertools.pairwise(values)), values


def test_serving_records_match_the_summary(run):
    _, lines = run
    serving = [line["serving"] for line in lines if line["type"] == "serving"]
    assert serving[-1] == lines[-1]["serving"]


# ---------------------------------------------------------------------------------------------
# attempt
# ---------------------------------------------------------------------------------------------


def test_attempts_are_reconnect_loop_attempts_only(run):
    """One attempt record per reconnect attempt (one ..._ATTEMPT_FAILED or _SUCCEEDED log
    each), each preceded at the same instant by the server's LOST_CONNECTION; a startup
    connect, failed or not, is no attempt."""
    _, lines = run
    attempts = [line for line in lines if line["type"] == "attempt"]
    outcomes = [
        line
        for line in lines
        if line["type"] == "log"
        and (
            line["id"].endswith("RECONNECT_ATTEMPT_FAILED")
            or line["id"].endswith("ATTEMPT_FAILED4")
            or line["id"].endswith("ATTEMPT_FAILED6")
            or line["id"].endswith("DB_RECONNECT_SUCCEEDED")
        )
    ]
    assert len(attempts) == len(outcomes)
    for attempt in attempts:
        index = lines.index(attempt)
        before = [
            line for line in lines[:index] if line["t"] == attempt["t"] and line["type"] == "log"
        ]
        assert any(line["id"].endswith("DB_RECONNECT_LOST_CONNECTION") for line in before), attempt


def test_attempts_count_up_within_a_loss(run):
    """Within one loss episode a backend's attempts are numbered 1, 2, ... of max-reconnect-tries,
    and a successful or last attempt ends it."""
    _, lines = run
    by_backend: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        if line["type"] == "attempt":
            by_backend.setdefault(line["backend"], []).append(line)
    for backend, attempts in by_backend.items():
        expected = 1
        for attempt in attempts:
            if attempt["n"] == 1:
                expected = 1
            assert attempt["n"] == expected, (backend, attempts)
            assert attempt["of"] == attempts[0]["of"]
            expected = 1 if attempt["ok"] or attempt["n"] == attempt["of"] else attempt["n"] + 1


def test_a_failed_startup_connect_is_no_attempt(tmp_path):
    """retry-on-startup: the failed startup connect is the ..._WITH_RETRY_FAILED log, and the
    first attempt record is the loop's attempt 1."""
    result = _run_inline(INLINE["retry on startup, recovered"], tmp_path)
    lines = _lines(result)
    attempts = [(line["n"], line["ok"]) for line in lines if line["type"] == "attempt"]
    assert attempts == [(1, False), (2, False), (3, True)]
    ids = [line["id"] for line in lines if line["type"] == "log"]
    assert ids.index("DHCPSRV_LEASE_MGR_DB_OPEN_CONNECTION_WITH_RETRY_FAILED") < ids.index(
        "DHCP4_STARTED"
    )


def test_a_startup_failure_has_no_attempt(tmp_path):
    lines = _lines(_run_inline(INLINE["startup failure"], tmp_path))
    assert [line["type"] for line in lines if line["type"] == "attempt"] == []
    assert [line["type"] for line in lines if line["type"] != "log"] == [
        "serving",
        "exit",
        "summary",
    ]


# ---------------------------------------------------------------------------------------------
# command
# ---------------------------------------------------------------------------------------------


def test_command_records(tmp_path):
    """One command record per command, with its name and Kea's result code."""
    lines = _lines(_run_inline(INLINE["retry on startup, recovered"], tmp_path))
    commands = [
        (line["t"], line["command"], line["result"]) for line in lines if line["type"] == "command"
    ]
    assert commands == [(2, "status-get", 0), (2, "nonsense", 2)]
    failed = _lines(_run_inline(INLINE["failed config-set, server stays up"], tmp_path))
    (config_set,) = [
        line for line in failed if line["type"] == "command" and line["command"] == "config-set"
    ]
    assert config_set["result"] == 1
    assert config_set["text"].startswith("Unable to open database: ")


def test_scenario_markers_are_not_in_the_json(tmp_path):
    """`Result.records` keeps the scenario's own events for the text timeline; the JSON
    schema (`Result.timeline()`) has none of them."""
    result = _run_inline(
        INLINE["periodic traffic, serve-retry-continue exhausted, reconfigured"], tmp_path
    )
    assert any(r.type == "scenario" for r in result.records)
    assert all(r.type != "scenario" for r in result.timeline())
    assert [r for r in result.records if r.type != "scenario"] == list(result.timeline())


def test_json_lines_are_compact_objects(tmp_path):
    """One JSON object per line, `t` and `type` first."""
    out = to_jsonl(_run_inline(INLINE["startup failure"], tmp_path).timeline())
    for line in out.splitlines():
        assert list(json.loads(line))[:2] == ["t", "type"]
