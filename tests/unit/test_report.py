"""`dbfsm report`: the incident page's model read from records, the page's test hooks and
escaping, bad input, passwords, and the `--report` options of `simulate` and `run`.

The model is checked against runs whose records are known (the built-in examples, the Kea
logs of tests/data/traces); the page is checked as text here (what it holds, what it must
not) and in a real browser in tests/render/test_report_render.py.
"""

from __future__ import annotations

import asyncio
import html.parser
import json
import re
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bench_simulate import document
from dbfsm.fsm.config import from_document
from dbfsm.fsm.records import Record, to_jsonl
from dbfsm.report import buckets
from dbfsm.report.build import LiveReport, from_input
from dbfsm.report.model import (
    GIVEN_UP,
    LOST,
    RECONFIGURED,
    RECONNECTING,
    UP,
    Incident,
    build,
)
from dbfsm.report.read import DBFSM, Source, parse
from dbfsm.simulation import scenario as scenarios
from dbfsm.simulation.simulate import run as simulate
from tests.cli import invoke

EXAMPLES = resources.files("dbfsm") / "examples"
TRACES = Path(__file__).resolve().parents[1] / "data" / "traces"


def simulated(name: str) -> tuple[Source, Any]:
    loaded = scenarios.load(str(EXAMPLES / f"{name}.yaml"))
    result = simulate(loaded)
    return Source(name, DBFSM, result.timeline()), loaded.settings


def states(incident: Incident, lane: str) -> list[tuple[str, float, float]]:
    found = next(x for x in incident.lanes if x.name == lane)
    return [(s.state, s.start, s.end) for s in found.spans]


class Hooks(html.parser.HTMLParser):
    """The elements of a page that carry the test hooks, by hook."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, list[dict[str, str | None]]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for hook in (
            "data-lane",
            "data-attempt",
            "data-serving",
            "data-exit",
            "data-attempt-group",
            "data-serving-group",
            "data-command",
        ):
            if hook in values:
                self.found.setdefault(hook, []).append(values)


def hooks(page: str) -> dict[str, list[dict[str, str | None]]]:
    parser = Hooks()
    parser.feed(page)
    return parser.found


def report(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code, out, err = invoke(capsys, "report", *argv)
    assert "Traceback" not in err
    return code, out, err


# -- the model -------------------------------------------------------------------------------


def test_lanes_attempts_serving_and_summary_of_a_simulated_run() -> None:
    source, settings = simulated("default")
    incident = build(source, settings)
    assert [lane.name for lane in incident.lanes] == ["lease-database", "hosts-databases[0]"]
    assert states(incident, "lease-database") == [
        (UP, 0.0, 2.0),
        (RECONNECTING, 2.0, 6.0),
        (UP, 6.0, 30.0),
    ]
    assert states(incident, "hosts-databases[0]") == [
        (UP, 0.0, 10.0),
        (RECONNECTING, 10.0, 14.0),
        (GIVEN_UP, 14.0, 25.0),  # until config-reload opened it again
        (UP, 25.0, 30.0),
    ]
    attempts = [a for lane in incident.lanes for a in lane.attempts]
    records = [r for r in source.records if r.type == "attempt"]
    assert [(a.t, a.backend, a.n, a.of, a.ok) for a in attempts] == [
        (r.t, r.data["backend"], r.data["n"], r.data["of"], r.data["ok"]) for r in records
    ]
    assert attempts[2].number == "3 of 3"
    assert [(c.t, c.serving) for c in incident.changes] == [
        (r.t, r.data["serving"]) for r in source.records if r.type == "serving"
    ]
    assert [(c.name, c.result) for c in incident.commands] == [("config-reload", 0)]
    assert incident.exit is None and incident.end == 30.0
    summary = incident.summary()
    assert (summary.not_serving, summary.not_serving_periods) == (4.0, 1)
    lease, hosts = summary.lanes
    assert (lease.outages, lease.down, lease.not_serving, lease.failed, lease.succeeded) == (
        1,
        4.0,
        4.0,
        2,
        1,
    )
    assert (hosts.down, hosts.not_serving, hosts.gave_up) == (15.0, 0.0, 1)  # serve-retry
    outcome = [o.outcome for lane in incident.lanes for o in lane.outages]
    assert outcome == ["recovered", "given up; reopened by a reconfiguration"]


def test_the_exit_and_why() -> None:
    source, settings = simulated("stop-retry-exit")
    incident = build(source, settings)
    assert incident.exit is not None
    assert (incident.exit.t, incident.exit.code) == (9.0, 1)
    assert incident.exit.reason.startswith("DHCP4_FATAL_DB_RECONNECT_FAILED: maximum number")
    assert states(incident, "lease-database") == [
        (UP, 0.0, 5.0),
        (RECONNECTING, 5.0, 9.0),  # the third attempt fails and the server exits at once
    ]
    (outage,) = incident.lanes[0].outages
    assert (outage.attempts, outage.gave_up, outage.outcome) == (
        3,
        True,
        "given up; the server exited",
    )
    assert incident.summary().not_serving == 4.0  # stop-retry-exit: from the loss to the exit


def test_a_kea_3_log_without_a_configuration() -> None:
    """Attempts, their numbers and the backends' kinds come from the messages; serving is
    inferred from the on-fail the log's "opening" lines state; the exit from DHCP4_SHUTDOWN."""
    source = parse((TRACES / "kea3-two-backends.log").read_text(), "kea.log")
    incident = build(source)
    lease, hosts = incident.lanes
    assert (lease.name, lease.type, lease.on_fail) == (
        "lease-database",
        "postgresql",
        "stop-retry-exit",
    )
    assert (hosts.name, hosts.on_fail) == ("hosts-database", "serve-retry-continue")
    assert [(a.n, a.of, a.ok) for a in lease.attempts] == [(1, 3, False), (2, 3, True)]
    assert [(a.n, a.of, a.ok) for a in hosts.attempts] == [(n, 3, False) for n in (1, 2, 3)]
    assert [s.state for s in lease.spans] == [UP, LOST, RECONNECTING, UP]
    assert [s.state for s in hosts.spans] == [UP, LOST, RECONNECTING, GIVEN_UP, UP]
    assert [o.ended for o in hosts.outages] == [RECONFIGURED]
    assert incident.serving_source == "inferred"
    off = incident.not_serving()
    assert len(off) == 2 and off[1][1] - off[1][0] == pytest.approx(2.0102, abs=1e-3)
    assert incident.exit is not None and incident.exit.code == 0  # the shutdown command
    assert [c.name for c in incident.commands] == ["shutdown"]
    assert incident.wall_start is not None and incident.wall_start.hour == 14


def test_a_kea_2_log_whose_losses_name_no_backend() -> None:
    """Kea 2.2 logs "database connection lost." without a manager ID: the loss is placed by
    the attempt after it; the IDs shown are the log's own 2.x IDs; no FATAL line, but the
    backend of a stop-retry-exit gave up: exit 1."""
    text = (TRACES / "kea22-captured-stop-retry-exit.log").read_text()
    incident = build(parse(text, "kea.log"))
    (lane,) = incident.lanes
    assert (lane.name, lane.on_fail) == ("lease-database", "stop-retry-exit")
    assert [(a.n, a.of, a.ok) for a in lane.attempts] == [(n, 3, False) for n in (1, 2, 3)]
    assert lane.spans[1].start == pytest.approx(10.889, abs=1e-3)
    assert incident.exit is not None and incident.exit.code == 1
    assert "DHCPSRV_PGSQL_LEASE_DB_RECONNECT_ATTEMPT_FAILED" in {line.id for line in incident.logs}


def test_aggregated_buckets_add_up_to_the_records() -> None:
    loaded = scenarios.parse(json.dumps(document(1200, 8640.0)), "<day>", Path("."))
    source = Source("day", DBFSM, simulate(loaded).timeline())
    incident = build(source, loaded.settings)
    assert buckets.aggregated(incident)
    b = buckets.Buckets(incident.end)
    for lane in incident.lanes:
        counted = buckets.lane_attempts(lane, b)
        assert sum(x.count for x in counted) == len(lane.attempts)
        down = sum(sum(x.shares) * b.width for x in buckets.lane_states(lane, b))
        assert down == pytest.approx(sum(s.duration for s in lane.spans if s.state != UP))
    served = buckets.serving(incident, b)
    assert sum(x.changes for x in served) == len(incident.changes)


# -- the page --------------------------------------------------------------------------------


def test_the_page_carries_one_hook_per_record(tmp_path: Path) -> None:
    source, _ = simulated("default")
    path = tmp_path / "run.jsonl"
    path.write_text(to_jsonl(source.records))
    found = hooks(from_input(str(path), None, None))
    assert [h["data-lane"] for h in found["data-lane"]] == ["lease-database", "hosts-databases[0]"]
    attempts = [r.data for r in source.records if r.type == "attempt"]
    assert [(h["data-backend"], h["data-n"], h["data-ok"]) for h in found["data-attempt"]] == [
        (a["backend"], str(a["n"]), str(a["ok"]).lower()) for a in attempts
    ]
    serving = [r for r in source.records if r.type == "serving"]
    assert [(h["data-serving"], float(h["data-t"] or 0)) for h in found["data-serving"]] == [
        (str(r.data["serving"]).lower(), r.t) for r in serving
    ]
    assert "data-exit" not in found  # still running
    assert [h["data-command"] for h in found["data-command"]] == ["config-reload"]


def test_an_exit_and_the_path_with_a_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    code, page, err = report(
        capsys,
        str(TRACES / "stop-retry-exit.conforms.jsonl"),
        "--config",
        str(TRACES / "stop-retry-exit.json"),
        "--title",
        "The outage of Tuesday",
    )
    assert (code, err) == (0, "")
    assert [h["data-exit"] for h in hooks(page)["data-exit"]] == ["1"]
    assert "<title>The outage of Tuesday</title>" in page
    assert ": conforms (dbfsm JSON Lines" in page
    assert "Backend lifecycle, on-fail stop-retry-exit" in page
    assert "reconnecting \u2192 waiting: open_failed [retries left]" in page
    assert page.count("<svg") >= 3  # the timeline and the highlighted diagrams


def test_a_kea_log_with_its_configuration_is_explained_by_the_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, page, err = report(
        capsys,
        str(TRACES / "kea3-two-backends.log"),
        "--config",
        str(TRACES / "two-backends.json"),
    )
    assert (code, err) == (0, "")
    assert "conforms (Kea 3.x log" in page
    assert "the model\u2019s, from conform" in page  # its serving changes drawn
    assert "Server lifecycle" in page
    assert [h["data-exit"] for h in hooks(page)["data-exit"]] == ["0"]


def test_a_large_run_is_drawn_in_buckets_and_its_page_does_not_grow_with_it(
    tmp_path: Path,
) -> None:
    sizes = {}
    for faults in (3000, 9000):  # both past the buckets' width: each has some in every one
        loaded = scenarios.parse(json.dumps(document(faults, faults * 7.2)), "<d>", Path("."))
        records = simulate(loaded).timeline()
        path = tmp_path / f"{faults}.jsonl"
        path.write_text(to_jsonl(records))
        page = from_input(str(path), None, None)
        found = hooks(page)
        counts = Counter(r.type for r in records)
        assert "data-attempt" not in found
        groups = found["data-attempt-group"]
        assert sum(int(h["data-count"] or 0) for h in groups) == counts["attempt"]
        served = found["data-serving-group"]
        assert sum(int(h["data-count"] or 0) for h in served) == counts["serving"]
        sizes[faults] = len(page)
    assert sizes[9000] < 1.1 * sizes[3000]  # three times the records


def test_text_from_the_input_is_text_in_the_page(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    evil = "<script>document.title='owned'</script><img src=x onerror=alert(1)>"
    records = [
        Record(0.0, "serving", {"serving": True}),
        Record(1.0, "log", {"id": "DHCP4_X", "severity": "ERROR", "text": evil}),
        Record(1.0, "attempt", {"backend": evil, "n": 1, "of": 2, "ok": False}),
        Record(1.0, "command", {"command": evil, "result": 1, "text": evil}),
        Record(2.0, "summary", {"exit_code": None, "serving": True, "state": "serving"}),
    ]
    path = tmp_path / "evil.jsonl"
    path.write_text(to_jsonl(records))
    code, page, _ = report(capsys, str(path), "--title", evil)
    assert code == 0
    assert "<script>document" not in page and "<img" not in page
    assert page.count("<script") == 2  # the page's own data and script
    data = re.search(r'<script type="application/json" id="tl-data">(.*?)</script>', page, re.S)
    assert data is not None and "<" not in data.group(1)
    assert evil in json.dumps(json.loads(data.group(1)))  # shown as text by the script
    assert [h["data-lane"] for h in hooks(page)["data-lane"]] == [evil]  # escaped, intact


SERVING = '{"t": 0, "type": "serving", "serving": true}'
EXIT = '{"t": 1, "type": "exit", "code": 1}'


SERVING = '{"t": 0, "type": "serving", "serving": true}'
EXIT = '{"t": 1, "type": "exit", "code": 1}'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the input is empty"),
        ("\n  \n", "the input is empty"),
        ("hello, world\nnot a log\n", "neither dbfsm JSON Lines nor a Kea log"),
        ('{"t": 0, "type": "mystery"}\n', "'type' must be one of log, serving"),
        ('{"t": 0, "type": "attempt", "backend": "x", "n": 1}\n', "needs 'of' (int)"),
        (f"{SERVING}\n{{oops\n{EXIT}\n", ":2:2: not JSON"),  # not the last line: no excuse
        (SERVING.replace("0", "2") + f"\n{EXIT}\n", "time goes backwards"),
        (f"{SERVING}\n[1, 2]\n{EXIT}\n", ":2: a record must be a JSON object"),
        ('{"t": -1, "type": "exit", "code": 1}\n', "'t' must be a number of seconds"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "input"
    path.write_text(content)
    code, out, err = report(capsys, str(path))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("dbfsm report: ")
    assert message in err


def test_missing_files_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for argv in (
        (str(tmp_path / "nothing"),),
        (str(TRACES / "stop-retry-exit.conforms.jsonl"), "--config", str(tmp_path / "none")),
        (str(TRACES / "stop-retry-exit.conforms.jsonl"), "-o", str(tmp_path / "no" / "dir.html")),
    ):
        code, _, err = report(capsys, *argv)
        assert code == 2 and err.count("\n") == 1, err


def test_a_truncated_last_line_gives_the_page_with_a_note(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = (TRACES / "stop-retry-exit.conforms.jsonl").read_text().rstrip("\n")
    path = tmp_path / "cut.jsonl"
    path.write_text(text[: len(text) - 12])  # the summary line cut short
    code, page, err = report(capsys, str(path), "-o", "-")
    assert (code, err) == (0, "")
    assert "is cut short" in page and "left out" in page
    assert [h["data-exit"] for h in hooks(page)["data-exit"]] == ["1"]


def test_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import sys

    text = (TRACES / "kea3-two-backends.log").read_text()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    code, page, err = report(capsys, "-", "--config", str(TRACES / "two-backends.json"))
    assert (code, err) == (0, "")
    assert "&lt;stdin&gt;: conforms" in page


def test_no_password_reaches_the_page(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    secret = "s3cret-Pa55word"
    config = json.loads(re.sub(r"(?m)^//.*$", "", (TRACES / "two-backends.json").read_text()))
    config["Dhcp4"]["lease-database"]["password"] = secret
    config_path = tmp_path / "kea.json"
    config_path.write_text(json.dumps(config))
    log = (TRACES / "kea3-two-backends.log").read_text()
    log = log.replace("password=*****", f"password={secret}", 1)  # a log that did not star it
    log = log.replace("Can't connect to server", f"Can't connect as kea/{secret}", 1)
    log_path = tmp_path / "kea.log"
    log_path.write_text(log)
    code, page, _ = report(capsys, str(log_path), "--config", str(config_path))
    assert code == 0
    assert secret not in page
    assert "password=*****" in json.dumps(page)
    code, page, _ = report(capsys, str(log_path))  # no configuration: only the pattern
    assert code == 0 and f"password={secret}" not in page


# -- simulate --report, run --report ---------------------------------------------------------


@pytest.mark.parametrize("form", ["json", "text"])
def test_simulate_report_writes_the_page_and_the_same_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, form: str
) -> None:
    example = str(EXAMPLES / "default.yaml")
    code, plain, _ = invoke(capsys, "simulate", example, "--format", form)
    assert code == 0
    page = tmp_path / "incident.html"
    code, out, err = invoke(capsys, "simulate", example, "--format", form, "--report", str(page))
    assert (code, err, out) == (0, "", plain)
    found = hooks(page.read_text())
    assert len(found["data-attempt"]) == 8 and len(found["data-serving"]) == 5
    assert "Backend lifecycle, on-fail stop-retry-exit" in page.read_text()


def test_run_report_keeps_the_run_and_its_path(tmp_path: Path) -> None:
    from dbfsm.drivers.simulated import SimulatedDriver
    from dbfsm.live.run import LiveRun

    config = from_document(
        {
            "Dhcp4": {
                "lease-database": {
                    "type": "postgresql",
                    "name": "kea",
                    "password": "pw-never-shown",
                    "max-reconnect-tries": 3,
                    "reconnect-wait-time": 100,
                    "on-fail": "stop-retry-exit",
                }
            }
        }
    )
    driver = SimulatedDriver()
    records: list[Record] = []
    path = tmp_path / "live.html"

    async def main() -> int:
        run = LiveRun(config, traffic=50, sink=records.append, driver=driver)
        LiveReport(str(path), config).attach(run)
        assert "under way" in path.read_text()

        async def outage() -> None:
            await asyncio.sleep(0.2)
            driver.set_up("lease-database", False)

        task = asyncio.create_task(outage())
        code = await run.run(5.0)
        await task
        return code

    assert asyncio.run(main()) == 1
    page = path.read_text()
    found = hooks(page)
    assert len(found["data-attempt"]) == sum(r.type == "attempt" for r in records) == 3
    assert [h["data-exit"] for h in found["data-exit"]] == ["1"]
    assert "Server lifecycle" in page and "pw-never-shown" not in page
    assert records[-1].type == "summary"  # the run's own sink still had every record


def test_run_report_on_the_command_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A database nobody listens on (a closed port on loopback): the server cannot start,
    exits 1, and the page says so."""
    import socket

    with socket.socket() as s:  # a port just freed: nothing listens on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "kea.json"
    database = {"type": "postgresql", "name": "kea", "host": "127.0.0.1", "port": port}
    config.write_text(json.dumps({"Dhcp4": {"lease-database": {**database, "connect-timeout": 1}}}))
    page = tmp_path / "run.html"
    code, _, err = invoke(capsys, "run", str(config), "--until", "10", "--report", str(page))
    assert code == 1, err
    found = hooks(page.read_text())
    assert [h["data-exit"] for h in found["data-exit"]] == ["1"]
