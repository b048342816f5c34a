"""`dbfsm conform`: recorded runs the model allows, runs that leave it, and bad input.

The traces in `tests/data/traces/` were written by hand from the rules and from what a real
Kea shows (`kea-2x-log-facts.md`): dbfsm JSON Lines, Kea 2.2 logs (2.x IDs, no FATAL line
before an exit, startup errors on the console only) and Kea 3.x logs, with unrelated lines
and multi-line messages. Each violating trace is the conforming one with one thing changed,
and the report must point at that line and say what the model allowed there, and why.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dbfsm.cli import main
from dbfsm.validation import conform as conform_module

TRACES = Path(__file__).resolve().parents[1] / "data" / "traces"


def conform(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["conform", *argv])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def check(capsys: pytest.CaptureFixture[str], config: str, trace: str, *extra: str) -> str:
    """Run conform on files of tests/data/traces; its exit status and report."""
    code, out, err = conform(capsys, "--config", str(TRACES / config), str(TRACES / trace), *extra)
    assert err == ""
    assert code in (0, 1)
    assert (code == 0) == (": conforms (" in out), out
    return out


CONFORMING = [
    (
        "stop-retry-exit.json",
        "stop-retry-exit.conforms.jsonl",
        (),
        "losses 1, reconnect attempts 3",
    ),
    (
        "serve-retry-continue.json",
        "serve-retry-continue.conforms.jsonl",
        (),
        "reconfigurations 1; still running",
    ),
    (
        "pgsql-stop-retry-exit.json",
        "kea22-pgsql-stop-retry-exit.log",
        ("--exit-code", "1"),
        "Kea 2.x log, 12 observations compared: losses 1, reconnect attempts 3",
    ),
    (
        "pgsql-stop-retry-exit.json",
        "kea22-startup-failure.log",
        ("--exit-code", "1"),
        "Kea 2.x log, 0 observations compared",
    ),
    (
        "mysql-hosts-continue.json",
        "kea22-mysql-hosts-recovered.log",
        ("--exit-code", "0"),
        "losses 1, reconnect attempts 2, reconfigurations 1; exit 0",
    ),
    (
        "pgsql-stop-retry-exit.json",
        "kea22-reload-fails.log",
        ("--exit-code", "0"),
        "losses 1, reconnect attempts 1, reconfigurations 2; exit 0",
    ),
    (
        "two-backends.json",
        "kea3-two-backends.log",
        ("--exit-code", "0"),
        "Kea 3.x log, 20 observations compared: losses 2, reconnect attempts 5",
    ),
    ("two-backends.json", "kea3-late-retry.log", ("--tolerance", "1"), "still running"),
    # Captured from kea-dhcp4 2.2.0 (Debian 12) against PostgreSQL 15, losses noticed by the
    # lease reclamation timer and by lease4-get-all commands:
    (
        "kea22-captured-stop-retry-exit.json",
        "kea22-captured-stop-retry-exit.log",
        ("--exit-code", "1"),
        "losses 1, reconnect attempts 3, reconfigurations 0; exit 1",
    ),
    (
        "kea22-captured-continue.json",
        "kea22-captured-continue.log",
        ("--exit-code", "0", "--tolerance", "1"),
        "losses 1, reconnect attempts 2, reconfigurations 2; exit 0",
    ),
]


@pytest.mark.parametrize(("config", "trace", "extra", "summary"), CONFORMING)
def test_conforming_traces(capsys, config, trace, extra, summary) -> None:
    out = check(capsys, config, trace, *extra)
    assert out.startswith(f"{TRACES / trace}: conforms ("), out
    assert summary in out


# (config, trace, extra arguments, the line that leaves the model, what the model allowed,
#  the rule given as the reason)
VIOLATING = [
    (
        "stop-retry-exit.json",
        "stop-retry-exit.attempt-too-many.jsonl",
        (),
        "16: leaves the model at 9.400s: INFO   MYSQL_LB_DB_RECONNECT_ATTEMPT_SCHEDULE  "
        "scheduling attempt 4 of 3",
        "ERROR  MYSQL_LB_DB_RECONNECT_FAILED  maximum number of database reconnect attempts: 3",
        "doc.fatal-before-exit",
    ),
    (
        "stop-retry-exit.json",
        "stop-retry-exit.early-retry.jsonl",
        (),
        "9: leaves the model at 6.500s: INFO   DHCP4_DB_RECONNECT_LOST_CONNECTION",
        "between 7.000s and 7.500s",
        "kea.reconnect-loop",
    ),
    (
        "stop-retry-exit.json",
        "stop-retry-exit.serving-during-recovery.jsonl",
        (),
        "5: leaves the model at 5.000s: attempt 1 of 3 on lease-database failed",
        "NOT SERVING",
        "doc.stop-retry-exit",
    ),
    (
        "stop-retry-exit.json",
        "stop-retry-exit.no-fatal.jsonl",
        (),
        "17: leaves the model at 9.400s: INFO   DHCP4_SHUTDOWN  server shutdown",
        "FATAL  DHCP4_FATAL_DB_RECONNECT_FAILED",
        "doc.fatal-before-exit",
    ),
    (
        "serve-retry-continue.json",
        "serve-retry-continue.exit.jsonl",
        (),
        "17: leaves the model at 9.000s: INFO   DHCP4_SHUTDOWN  server shutdown",
        "nothing more on its own (server serving; lease-database online, hosts-database abandoned)",
        "doc.serve-retry-continue",
    ),
    (
        "two-backends.json",
        "kea3-attempt-4-of-3.log",
        (),
        "32: leaves the model at 1247.122s: INFO MYSQL_HB_DB_RECONNECT_ATTEMPT_SCHEDULE "
        "scheduling attempt 4 of 3 in 1000 milliseconds",
        "ERROR  MYSQL_HB_DB_RECONNECT_FAILED",
        "doc.serve-retry-continue",
    ),
    (
        "two-backends.json",
        "kea3-no-fatal.log",
        ("--exit-code", "1"),
        "28: leaves the model at 194.400s: INFO DHCP4_SHUTDOWN server shutdown",
        "FATAL  DHCP4_FATAL_DB_RECONNECT_FAILED",
        "doc.fatal-before-exit",
    ),
    (
        "two-backends.json",
        "kea3-late-retry.log",
        (),
        "27: leaves the model at 1246.914s: INFO DHCP4_DB_RECONNECT_LOST_CONNECTION",
        "between 1246.113s and 1246.613s",
        "kea.reconnect-loop",
    ),
    (
        "two-backends.json",
        "kea3-continue-exits.log",
        ("--exit-code", "1"),
        "34: leaves the model where the trace ends",
        "exit code 0",  # a shutdown line with no command: SIGTERM, which exits 0
        "kea.shutdown",
    ),
    (
        "pgsql-stop-retry-exit.json",
        "kea22-pgsql-stop-retry-exit.log",
        ("--exit-code", "0"),
        "35: leaves the model where the trace ends",
        "exit code 1",
        "doc.fatal-before-exit",
    ),
    (
        "pgsql-stop-retry-exit.json",
        "kea22-startup-failure.log",
        ("--exit-code", "0"),
        "5: leaves the model where the trace ends",
        "exit code 1",
        "kea.connect-order",
    ),
]


@pytest.mark.parametrize(("config", "trace", "extra", "where", "allowed", "rule"), VIOLATING)
def test_violating_traces(capsys, config, trace, extra, where, allowed, rule) -> None:
    out = check(capsys, config, trace, *extra)
    head, *rest = out.splitlines()
    assert head.startswith(f"{TRACES / trace}:{where}"), head
    allows = next(line for line in rest if line.startswith("  the model allows here: "))
    assert allowed in allows, out
    assert any(line.startswith(f"  why: {rule}: ") for line in rest), out


def test_a_real_kea_fires_its_timer_late(capsys) -> None:
    """The captured Kea 2.2 made its second attempt 2.008 s after scheduling it 1500 ms
    ahead, with no client traffic: beyond the default tolerance, within one of 1 s."""
    out = check(
        capsys, "kea22-captured-continue.json", "kea22-captured-continue.log", "--exit-code", "0"
    )
    assert out.splitlines()[:2] == [
        f"{TRACES / 'kea22-captured-continue.log'}:27: leaves the model at 4.166s: "
        "INFO DHCP4_DB_RECONNECT_LOST_CONNECTION database connection lost.",
        "  late: 2.008s after the timer was started at 2.158s; the model waits 1.500s "
        "(reconnect-wait-time) and a timer fires at most 0.5s late",
    ]


def test_early_and_late_are_said(capsys) -> None:
    early = check(capsys, "stop-retry-exit.json", "stop-retry-exit.early-retry.jsonl")
    assert "  early: 1.500s after the timer was started at 5.000s; the model waits 2.000s" in early
    late = check(capsys, "two-backends.json", "kea3-late-retry.log")
    assert "  late: 1.800s after the timer was started at 1245.113s" in late


def test_a_timer_may_fire_up_to_the_tolerance_late(capsys, tmp_path) -> None:
    """Attempt 2 came 2.3 s after the schedule (wait 2 s): within 0.5 s, not within 0.2 s."""
    trace = str(TRACES / "stop-retry-exit.conforms.jsonl")
    config = str(TRACES / "stop-retry-exit.json")
    assert conform(capsys, "--config", config, trace)[0] == 0
    code, out, _ = conform(capsys, "--config", config, trace, "--tolerance", "0.2")
    assert code == 1
    assert "late: 2.300s after the timer was started at 5.000s" in out


def test_kea2_exits_without_fatal_but_not_kea3(capsys, tmp_path) -> None:
    """The same run conforms in 2.x spelling (no FATAL line: DHCP4_DB_RECONNECT_FAILED at
    INFO) and not once its IDs say it is a Kea 3.x log."""
    kea2 = (TRACES / "kea22-pgsql-stop-retry-exit.log").read_text()
    kea3 = kea2.replace("DHCPSRV_PGSQL_LEASE_DB_", "PGSQL_LB_DB_")
    kea3 = kea3.replace("DHCPSRV_PGSQL_DB ", "PGSQL_LB_DB ").replace(
        "version 2.2.0", "version 3.0.2"
    )
    path = tmp_path / "kea3.log"
    path.write_text(kea3)
    config = str(TRACES / "pgsql-stop-retry-exit.json")
    code, out, _ = conform(capsys, "--config", config, str(path), "--exit-code", "1")
    assert code == 1
    assert "INFO DHCP4_DB_RECONNECT_FAILED" in out.splitlines()[0]
    assert "FATAL  DHCP4_FATAL_DB_RECONNECT_FAILED" in out


def test_a_trace_that_disagrees_with_the_configuration_leaves_the_model(capsys, tmp_path) -> None:
    """The same run against a configuration of 5 tries: attempt "1 of 3" is not one of its."""
    text = (TRACES / "stop-retry-exit.json").read_text()
    config = tmp_path / "kea.json"
    config.write_text(text.replace('"max-reconnect-tries": 3', '"max-reconnect-tries": 5'))
    trace = str(TRACES / "stop-retry-exit.conforms.jsonl")
    code, out, _ = conform(capsys, "--config", str(config), trace)
    assert code == 1
    assert "attempt 1 of 3 on lease-database failed" in out.splitlines()[0]
    assert "the model allows here: attempt 1 of 5 on lease-database failed" in out


def test_a_recovery_without_a_loss_leaves_the_model(capsys, tmp_path) -> None:
    lines = (TRACES / "kea3-two-backends.log").read_text().splitlines(keepends=True)
    started = next(i for i, line in enumerate(lines) if "DHCP4_STARTED" in line)
    recovered = next(line for line in lines if "DHCP4_DB_RECONNECT_SUCCEEDED" in line)
    path = tmp_path / "kea.log"
    path.write_text("".join([*lines[: started + 1], recovered]))  # a recovery out of nowhere
    config = str(TRACES / "two-backends.json")
    code, out, _ = conform(capsys, "--config", config, str(path))
    assert code == 1
    head = f"{path}:{started + 2}: leaves the model at 192.400s: INFO DHCP4_DB_RECONNECT_SUCCEEDED"
    assert out.startswith(head), out


# -- bad input: one line, exit 2 ---------------------------------------------------------------


def bad(capsys, config: str, trace_text: str | None, tmp_path: Path, *extra: str) -> str:
    path = tmp_path / "trace"
    if trace_text is not None:
        path.write_text(trace_text)
    code, out, err = conform(capsys, "--config", config, str(path), *extra)
    assert (code, out) == (2, ""), (code, out, err)
    assert err.startswith("dbfsm conform: ") and err.count("\n") == 1, err
    return err.removeprefix("dbfsm conform: ").rstrip("\n").replace(str(path), "TRACE")


CONFIG = str(TRACES / "stop-retry-exit.json")
GOOD = '{"t": 0.0, "type": "serving", "serving": true}\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD + "{not json\n",
            "TRACE:2:2: not JSON: Expecting property name enclosed in double quotes",
        ),
        (GOOD + "[1, 2]\n", "TRACE:2: a record must be a JSON object"),
        (
            GOOD + '{"t": 1, "type": "gossip"}\n',
            "TRACE:2: 'type' must be one of log, serving, attempt, command, exit, summary, "
            "not a string",
        ),
        (
            GOOD + '{"t": "soon", "type": "exit", "code": 1}\n',
            "TRACE:2: 't' must be a number of seconds, not a string",
        ),
        (
            GOOD + '{"t": 1, "type": "attempt", "backend": "x", "n": 1, "of": 3}\n',
            "TRACE:2: attempt record needs 'ok' (bool)",
        ),
        (
            '{"t": 2, "type": "exit", "code": 1}\n' + GOOD,
            "TRACE:2: time goes backwards (0.0 after 2.0)",
        ),
        (
            GOOD + '{"t": 1, "type": "summary", "exit_code": "1", "serving": true, "state": "x"}\n',
            "TRACE:2: summary record needs 'exit_code' (int or null)",
        ),
        ("\n\n", "TRACE:1: neither dbfsm JSON Lines nor a Kea log"),
        ("hello\nworld\n", "TRACE:1: neither dbfsm JSON Lines nor a Kea log"),
        (
            "2026-11-25 20:36:10.101 INFO  [kea-dhcp4.dhcp4/7.1] DHCP4_STARTED ok\n"
            "2026-13-45 20:36:10.101 INFO  [kea-dhcp4.dhcp4/7.1] DHCP4_SHUTDOWN bye\n",
            "TRACE:2: not a valid timestamp: 2026-13-45 20:36:10.101",
        ),
        (
            "2026-11-25 20:36:10.101 INFO  [kea-ctrl-agent/1.2] CTRL_AGENT_STARTED started\n",
            "TRACE:1: no kea-dhcp4 message in this log (1 line(s) of other programs)",
        ),
        (
            "2026-11-25 20:36:10.101 INFO  [kea-dhcp4.dhcp4/7.1] DHCP4_STARTING starting\n"
            "2026-11-25 20:37:10.101 INFO  [kea-dhcp4.dhcp4/8.1] DHCP4_STARTING starting\n",
            "TRACE:2: a second kea-dhcp4 process (pid 8) starts here; a trace is one run: "
            "split the log at this line",
        ),
    ],
)
def test_bad_traces(capsys, tmp_path, text, message) -> None:
    assert bad(capsys, CONFIG, text, tmp_path) == message


def test_bad_invocations(capsys, tmp_path) -> None:
    assert bad(capsys, CONFIG, None, tmp_path).startswith("TRACE: cannot read the trace: ")
    assert bad(capsys, CONFIG, GOOD, tmp_path, "--tolerance", "-1") == (
        "--tolerance must be a number of seconds >= 0, not -1.0"
    )
    broken = tmp_path / "kea.json"
    broken.write_text('{"Dhcp4": {"lease-database": {"type": "mysql", "on-fail": "never"}}}')
    assert bad(capsys, str(broken), GOOD, tmp_path).startswith(f"{broken}:1:")
    (tmp_path / "binary").write_bytes(b'{"t": 0}\n\xff\n')
    code, _, err = conform(capsys, "--config", CONFIG, str(tmp_path / "binary"))
    assert (
        code == 2 and err == f"dbfsm conform: {tmp_path / 'binary'}:2:1: file is not valid UTF-8\n"
    )


def test_readme_examples_are_real(capsys, monkeypatch) -> None:
    """Each `$ dbfsm conform ...` block of the README prints exactly what it shows."""
    root = TRACES.parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```console\n\$ dbfsm (conform .*?)\n(.*?)```", readme, flags=re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(root)
    for argv, shown in blocks:
        code = main(argv.split())
        assert capsys.readouterr().out == shown
        assert code == (0 if ": conforms (" in shown else 1)


def test_a_kea_dhcp6_log_is_read_against_a_dhcp6_configuration(capsys, tmp_path) -> None:
    """The Kea 3.x run again, as kea-dhcp6 wrote it: DHCP6_ IDs, kea-dhcp6 loggers. The same
    log against the DHCPv4 configuration has no kea-dhcp4 line: bad input."""
    config = json.loads(_without_comments(TRACES / "two-backends.json"))
    dhcp4 = config.pop("Dhcp4")
    del dhcp4["subnet4"]
    config["Dhcp6"] = dhcp4
    v6_config = tmp_path / "kea-dhcp6.json"
    v6_config.write_text(json.dumps(config))
    log = (TRACES / "kea3-two-backends.log").read_text()
    v6_log = tmp_path / "kea-dhcp6.log"
    for v4, v6 in (("dhcp4", "dhcp6"), ("DHCP4_", "DHCP6_"), ("DHCPv4", "DHCPv6")):
        log = log.replace(v4, v6)
    v6_log.write_text(log)
    code, out, _ = conform(capsys, "--config", str(v6_config), str(v6_log), "--exit-code", "0")
    assert (code, out.split(" (")[0]) == (0, f"{v6_log}: conforms"), out
    v4_config = str(TRACES / "two-backends.json")
    assert bad(capsys, v4_config, v6_log.read_text(), tmp_path).startswith(
        "TRACE:1: no kea-dhcp4 message in this log (36 line(s) of other programs)"
    )


def _without_comments(path: Path) -> str:
    return "".join(line for line in path.read_text().splitlines(True) if not line.startswith("//"))


def test_a_search_cut_short_says_so(capsys, monkeypatch) -> None:
    """With room for a single dropped hypothesis, the verdict still names the deepest
    divergence found, and says that the run may yet conform."""
    monkeypatch.setattr(conform_module, "SEARCH_BUDGET", 1)
    out = check(capsys, "two-backends.json", "kea3-attempt-4-of-3.log")
    assert out.splitlines()[-1] == (
        "  (the search stopped after dropping 1 hypotheses: the run may still be one the model "
        "allows)"
    )


def test_kea_may_fail_a_reconfiguration_without_a_fatal_line(capsys, tmp_path) -> None:
    """doc.reconfig-fails-up differs_from_kea: for a lease or host database Kea answers
    result 1 without DHCP4_CONFIG_UNRECOVERABLE_ERROR. The log without that line conforms; one
    without the reload's own failure line does not."""
    lines = (TRACES / "kea22-reload-fails.log").read_text().splitlines(keepends=True)
    config = str(TRACES / "pgsql-stop-retry-exit.json")
    fatal = [i for i, line in enumerate(lines) if "CONFIG_UNRECOVERABLE_ERROR" in line]
    quiet = tmp_path / "quiet.log"
    quiet.write_text("".join(line for i, line in enumerate(lines) if i not in fatal))
    assert conform(capsys, "--config", config, str(quiet), "--exit-code", "0")[0] == 0
    silent = tmp_path / "silent.log"
    silent.write_text("".join(line for line in lines if "RECONFIGURATION_FAIL" not in line))
    code, out, _ = conform(capsys, "--config", config, str(silent), "--exit-code", "0")
    assert code == 1
    assert out.startswith(f"{silent}:12: leaves the model at 102.175s: INFO COMMAND_RECEIVED")
    assert "the model allows here: ERROR  DHCP4_DYNAMIC_RECONFIGURATION_FAIL" in out


@pytest.mark.parametrize(
    ("config", "trace", "cut", "extra"),
    [
        ("two-backends.json", "kea3-two-backends.log", 7, ("--exit-code", "0")),
        ("pgsql-stop-retry-exit.json", "kea22-pgsql-stop-retry-exit.log", 5, ("--exit-code", "1")),
    ],
)
def test_a_log_that_begins_after_the_start_conforms(capsys, tmp_path, config, trace, cut, extra):
    """A rotated log shows neither DHCP4_STARTING (console only) nor DHCP4_STARTED: the
    startup it does not show is not asked for. Where the log shows the start, DHCP4_STARTED
    is required: without it the run leaves the model."""
    lines = (TRACES / trace).read_text().splitlines(keepends=True)
    rotated = tmp_path / "rotated.log"
    rotated.write_text("".join(lines[cut:]))
    code, out, _ = conform(capsys, "--config", str(TRACES / config), str(rotated), *extra)
    assert code == 0, out
    pid = lines[0].split("/")[1].split("]")[0]
    starting = f"{lines[0][:23]} INFO  [kea-dhcp4.dhcp4/{pid}] DHCP4_STARTING Kea\n"
    unstarted = tmp_path / "unstarted.log"
    unstarted.write_text(starting + "".join(line for line in lines if "_STARTED " not in line))
    code, out, _ = conform(capsys, "--config", str(TRACES / config), str(unstarted), *extra)
    assert code == 1
    assert "the model allows here: INFO   DHCP4_STARTED  Kea DHCPv4 server" in out


def test_kea_logs_a_disabled_reconnect_again_on_every_use(capsys) -> None:
    """Captured from Kea 2.2: three requests on the broken connection, three times
    DHCP4_DB_RECONNECT_LOST_CONNECTION and DHCP4_DB_RECONNECT_DISABLED."""
    out = check(
        capsys,
        "kea22-captured-reconnect-disabled.json",
        "kea22-captured-reconnect-disabled.log",
        "--exit-code",
        "0",
    )
    assert ": conforms (Kea 2.x log, 9 observations compared: losses 3" in out
