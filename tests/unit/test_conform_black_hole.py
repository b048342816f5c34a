"""`dbfsm conform` and a server blocked behind a black hole.

Kea is single-threaded: a call to a database server that answers nothing blocks the whole
server for at most the call's limit (`connect_timeout` / `request_timeout` of the simulated
driver), serving nothing and logging nothing of its own, and what comes due meanwhile runs
late. Every run `dbfsm simulate --format json` records with black holes conforms (each
`on-fail` mode, PostgreSQL and MySQL, a black hole that ends before the timeout and one that
times out, one at startup, a timer, a command and an attempt held by a stall); the same
runs edited to serve during a stall, to stall beyond the limit or to notice the loss before
the timeout leave the model, at the line where nothing explains them any more, saying why.
A Kea 2.2 log of reconnect attempts into a
black hole, each failing after connect-timeout (`tests/kea/test_black_hole.py` measured it),
conforms, and so does a timer of another backend due meanwhile that runs once the blocked
attempt fails; one whose attempt takes longer, whose wait is not counted from the failure,
or whose held timer runs later than that, does not.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from dbfsm.simulation import scenario
from tests.black_holes import HELD_BY_A_STALL
from tests.cli import invoke

LEASE = "lease-database"
T, C, W = 4.0, 3.0, 2.0  # the request's limit, the open's, the wait between attempts
HOLE, END = 5.0, 20.0
TIMEOUTS = {"postgresql": "tcp-user-timeout", "mysql": "read-timeout"}
MODES = ["serve-retry-continue", "serve-retry-exit", "stop-retry-exit"]


def incident(
    on_fail: str = "serve-retry-continue",
    db: str = "postgresql",
    end: float = END,
    hole: float = HOLE,
    until: float = 30,
) -> str:
    return textwrap.dedent(
        f"""\
        config:
          Dhcp4:
            {LEASE}: {{type: {db}, name: kea, on-fail: {on_fail},
                       max-reconnect-tries: 5, reconnect-wait-time: {int(W * 1000)},
                       {TIMEOUTS[db]}: {int(T)}, connect-timeout: {int(C)}}}
        until: {until}
        events:
          - {{at: {hole:g}, black-hole: {LEASE}}}
          - {{at: {end:g}, black-hole-end: {LEASE}}}
        """
    )


def recorded(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str
) -> tuple[Path, list[dict[str, Any]]]:
    """The scenario's configuration as a file, and its run as `dbfsm simulate --format
    json` writes it."""
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    code, out, err = invoke(capsys, "simulate", str(path), "--format", "json")
    assert (code, err) == (0, ""), err
    config = tmp_path / "kea.json"
    parsed = scenario.parse(text, str(path), tmp_path)
    config.write_text(json.dumps(parsed.settings.document), encoding="utf-8")
    return config, [json.loads(line) for line in out.splitlines()]


def conform(
    capsys: pytest.CaptureFixture[str], config: Path, trace: Path, *extra: str
) -> tuple[int, str]:
    code, out, err = invoke(capsys, "conform", "--config", str(config), str(trace), *extra)
    assert err == ""
    assert (code == 0) == (": conforms (" in out), out
    return code, out


def conformed(capsys: pytest.CaptureFixture[str], config: Path, trace: Path) -> str:
    """What conform says of a trace it must accept."""
    code, out = conform(capsys, config, trace)
    assert code == 0, out
    return out


def written(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    trace = tmp_path / "run.jsonl"
    trace.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return trace


def serving(records: list[dict[str, Any]]) -> list[tuple[float, bool]]:
    return [(r["t"], r["serving"]) for r in records if r["type"] == "serving"]


def moved(records: list[dict[str, Any]], at: float, to: float) -> list[dict[str, Any]]:
    """The run with the records of the instant `at` moved to `to` (kept in time order)."""
    edited = [dict(r, t=to) if r["t"] == at and r["type"] != "summary" else r for r in records]
    return sorted(edited, key=lambda r: r["t"])


def line_of(records: list[dict[str, Any]], t: float, kind: str) -> int:
    return 1 + next(i for i, r in enumerate(records) if r["t"] == t and r["type"] == kind)


# -- dbfsm's own runs conform ---------------------------------------------------------------


@pytest.mark.parametrize("db", ["postgresql", "mysql"])
@pytest.mark.parametrize("on_fail", MODES)
def test_a_run_whose_request_times_out_behind_a_black_hole_conforms(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, on_fail: str, db: str
) -> None:
    config, records = recorded(capsys, tmp_path, incident(on_fail, db))
    # The run has the stall: not serving from the block on, though the engine serves until
    # the request times out at HOLE + T; each attempt blocks C, the last one completes.
    assert serving(records)[:2] == [(0.0, True), (HOLE, False)]
    attempts = [(r["t"], r["ok"]) for r in records if r["type"] == "attempt"]
    assert attempts == [(HOLE + T + C, False), (17.0, False), (END, True)]
    out = conformed(capsys, config, written(tmp_path, records))
    assert "losses 1, reconnect attempts 3, reconfigurations 0; still running" in out


@pytest.mark.parametrize("db", ["postgresql", "mysql"])
@pytest.mark.parametrize("on_fail", MODES)
def test_a_run_whose_black_hole_ends_before_the_timeout_conforms(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, on_fail: str, db: str
) -> None:
    config, records = recorded(capsys, tmp_path, incident(on_fail, db, end=HOLE + 2.5))
    assert serving(records) == [(0.0, True), (HOLE, False), (HOLE + 2.5, True)]
    out = conformed(capsys, config, written(tmp_path, records))
    assert "losses 0, reconnect attempts 0" in out


@pytest.mark.parametrize("db", ["postgresql", "mysql"])
def test_a_black_hole_that_outlasts_every_attempt_conforms_and_exits(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db: str
) -> None:
    text = incident("serve-retry-exit", db, end=60, until=60)
    config, records = recorded(capsys, tmp_path, text)
    assert records[-1]["exit_code"] == 1
    out = conformed(capsys, config, written(tmp_path, records))
    assert "losses 1, reconnect attempts 5, reconfigurations 0; exit 1" in out


def test_a_black_hole_at_startup_conforms(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The first open blocks C, fails, and the server does not start."""
    config, records = recorded(capsys, tmp_path, incident("stop-retry-exit", hole=0))
    assert (C, False) in serving(records) and records[-1]["exit_code"] == 1
    out = conformed(capsys, config, written(tmp_path, records))
    assert "exit 1" in out


def test_what_a_stall_holds_may_run_late(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The host database's attempt due at 3 runs at 12.5, 9.5 s late, when the blocked
    request completes: far beyond the tolerance, but not beyond the stall."""
    config, records = recorded(capsys, tmp_path, HELD_BY_A_STALL)
    attempts = [r["t"] for r in records if r["type"] == "attempt"]
    assert attempts == [1.0, 2.0, 12.5, 13.5]
    assert serving(records) == [(0.0, True), (2.5, False), (12.5, True)]
    out = conformed(capsys, config, written(tmp_path, records))
    assert "reconnect attempts 4" in out
    # Without the stall that explains it, the same attempt is late.
    unstalled = [r for r in records if r["type"] != "serving" or r["t"] == 0.0]
    code, out = conform(capsys, config, written(tmp_path, unstalled))
    assert code == 1
    assert f"{LEASE}" not in out.splitlines()[0]
    assert "  late: 10.500s after the timer was started at 2.000s" in out


# At 7 the lease database's attempt 2 is due while its server is down, and the periodic
# request of the same instant reaches the host database behind a black hole first: the
# attempt waits for the request (2 s of read-timeout), then each host attempt blocks 2 s.
QUEUED = """\
config:
  Dhcp4:
    lease-database: {type: postgresql, name: kea, on-fail: serve-retry-exit,
                     max-reconnect-tries: 5, reconnect-wait-time: 2000, connect-timeout: 2}
    hosts-database: {type: mysql, name: kea, on-fail: serve-retry-continue,
                     max-reconnect-tries: 5, reconnect-wait-time: 300, read-timeout: 2,
                     connect-timeout: 2}
until: 60
traffic: {every: 0.5}
events:
  - {at: 4.9, down: lease-database}
  - {at: 6.8, black-hole: hosts-database}
  - {at: 13.7, black-hole-end: hosts-database}
  - {at: 17.3, black-hole: hosts-database}
  - {at: 18.1, up: lease-database}
"""


def test_an_open_asked_for_as_a_request_blocks_waits_for_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config, records = recorded(capsys, tmp_path, QUEUED)
    assert serving(records)[1:3] == [(7.0, False), (9.0, True)]
    lease = [r["t"] for r in records if r["type"] == "attempt" and r["backend"] == LEASE]
    assert lease[:2] == [5.0, 9.0]  # due at 7, answered once the request timed out
    out = conformed(capsys, config, written(tmp_path, records))
    assert "losses 2, reconnect attempts 8" in out and "exit 1" in out


# -- edited runs do not -----------------------------------------------------------------------


def test_serving_during_a_blocked_open_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Without the record that it stops serving at 14, the records say the server served
    while the second attempt (14 to 17) was open: then it was not blocked, and nothing
    explains its serving again at 17."""
    config, records = recorded(capsys, tmp_path, incident())
    edited = [r for r in records if (r["t"], r["type"]) != (14.0, "serving")]
    trace = written(tmp_path, edited)
    code, out = conform(capsys, config, trace)
    assert code == 1
    head = out.splitlines()[0]
    assert (
        head == f"{trace}:{line_of(edited, 17.0, 'serving')}: leaves the model at 17.000s: SERVING"
    )


def test_serving_again_before_the_blocked_call_returns_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Serving again at 10, while the first attempt (9 to 12) still blocks: the request that
    timed out at 9 was the last call that could have returned before it."""
    config, records = recorded(capsys, tmp_path, incident())
    edited = sorted(
        [dict(r, t=10.0) if (r["t"], r["type"]) == (12.0, "serving") else r for r in records],
        key=lambda r: r["t"],
    )
    trace = written(tmp_path, edited)
    code, out = conform(capsys, config, trace)
    assert code == 1
    head, reason = out.splitlines()[:2]
    assert (
        head == f"{trace}:{line_of(edited, 10.0, 'serving')}: leaves the model at 10.000s: SERVING"
    )
    assert reason.startswith(f"  late: 5.000s after the server blocked in a request to {LEASE}")


@pytest.mark.parametrize(
    ("db", "at", "to", "kind", "reason"),
    [
        # The request's loss 2 s after the limit (4 s of tcp-user-timeout) ...
        (
            "postgresql",
            HOLE + T,
            HOLE + T + 2,
            "log",
            f"  late: 6.000s after the server blocked in a request to {LEASE} at 5.000s; the "
            "request times out after 4s (tcp-user-timeout), no sooner: its loss shows at most "
            "0.5s later",
        ),
        # ... or 2 s before it, noticed too early ...
        (
            "mysql",
            HOLE + T,
            HOLE + T - 2,
            "log",
            f"  early: 2.000s after the server blocked in a request to {LEASE} at 5.000s; the "
            "request times out after 4s (read-timeout), no sooner: its loss shows at most "
            "0.5s later",
        ),
        # ... and the second attempt failing 4.5 s after its open began (connect-timeout 3 s).
        (
            "postgresql",
            17.0,
            18.5,
            "attempt",
            f"  late: 4.500s after the server blocked opening {LEASE} at 14.000s; the open "
            "times out after 3s (connect-timeout): the server is blocked at most that long, "
            "plus 0.5s",
        ),
    ],
)
def test_a_stall_beyond_its_limit_or_a_loss_before_it_is_refused(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    db: str,
    at: float,
    to: float,
    kind: str,
    reason: str,
) -> None:
    config, records = recorded(capsys, tmp_path, incident(db=db))
    edited = moved(records, at, to)
    trace = written(tmp_path, edited)
    code, out = conform(capsys, config, trace)
    assert code == 1
    head, said = out.splitlines()[:2]
    assert head.startswith(f"{trace}:{line_of(edited, to, kind)}: leaves the model at {to:.3f}s: ")
    assert said == reason
    # Within the tolerance, a real server's slack, the late ones conform.
    if to > at:
        code, _ = conform(capsys, config, trace, "--tolerance", str(to - at))
        assert code == 0


# -- a Kea 2.2 log ---------------------------------------------------------------------------

KEA = {"postgresql": ("PGSQL", "PostgreSQL"), "mysql": ("MYSQL", "MySQL")}


def kea_line(t: float, severity: str, logger: str, message_id: str, text: str) -> str:
    seconds = 10.0 + t
    stamp = f"2026-12-01 10:{int(seconds // 60):02d}:{seconds % 60:06.3f}.000"
    return f"{stamp} {severity:5} [kea-dhcp4.{logger}/31337.140245560000000] {message_id} {text}"


def kea22_startup(*opening: str) -> list[str]:
    """A Kea 2.2 log's first lines: configured, then `opening` (its databases), started."""
    configured = "DHCPv4 server has completed configuration: added IPv4 subnets: 1; DDNS: disabled"
    return [
        kea_line(0.0, "INFO", "dhcp4", "DHCP4_CONFIG_COMPLETE", configured),
        *opening,
        kea_line(0.02, "INFO", "dhcp4", "DHCP4_STARTED", "Kea DHCPv4 server version 2.2.0 started"),
    ]


def kea22_lost(t: float) -> str:
    return kea_line(
        t, "INFO", "dhcp4", "DHCP4_DB_RECONNECT_LOST_CONNECTION", "database connection lost."
    )


def kea22_failed(
    t: float, kind: str, n: int, of: int, wait_ms: int, why: str, scheduled: bool = True
) -> list[str]:
    """Attempt `n` of a `kind` (e.g. PGSQL_LEASE) database failed, and if `scheduled`, the
    next one scheduled `wait_ms` later."""
    prefix = f"DHCPSRV_{kind}_DB_RECONNECT_ATTEMPT"
    failed = kea_line(
        t, "ERROR", "dhcpsrv", f"{prefix}_FAILED", f"database reconnect failed: {why}"
    )
    if not scheduled:
        return [failed]
    schedule = f"scheduling attempt {n + 1} of {of} in {wait_ms} milliseconds"
    return [failed, kea_line(t, "INFO", "dhcpsrv", f"{prefix}_SCHEDULE", schedule)]


def kea22_log(db: str, attempts: list[float], waits: tuple[float, float] = (1.0, 1.0)) -> str:
    """Kea 2.2's log of its lease database lost at 3.1 s (a reset) and reconnected into a
    black hole under serve-retry-continue, 3 attempts 1 s apart, each taking `attempts[n]`
    seconds, then `waits[n]` from its failure to the next (kea-2x-log-facts.md; the loss
    logged again before every attempt; an OFFER made between attempts)."""
    engine, name = KEA[db]
    opening = f"opening {name} lease database: connect-timeout=2 max-reconnect-tries=3 name=kea"
    lines = kea22_startup(kea_line(0.001, "INFO", "dhcpsrv", f"DHCPSRV_{engine}_DB", opening))
    t = 3.1
    lines.append(
        kea_line(
            t,
            "ERROR",
            "database",
            f"DATABASE_{engine}_FATAL_ERROR",
            "Unrecoverable error occurred: reason: server closed the connection unexpectedly",
        )
    )
    for n, took in enumerate(attempts, start=1):
        lines.append(kea22_lost(t))
        lines.append(kea_line(t + 0.001, "INFO", "dhcpsrv", f"DHCPSRV_{engine}_DB", opening))
        t += took
        more = n < len(attempts)
        lines += kea22_failed(t, f"{engine}_LEASE", n, 3, 1000, "timeout expired", more)
        if more:
            lines.append(
                kea_line(
                    t + 0.3,
                    "INFO",
                    "leases",
                    "DHCP4_LEASE_ADVERT",
                    "[hwtype=1 00:0c:01:02:03:05], cid=[no info], tid=0x1: lease "
                    "192.0.2.10 will be advertised",
                )
            )
            t += waits[n - 1]
    exhausted = (
        "maximum number of database reconnect attempts: 3, has been exhausted without success"
    )
    lines.append(
        kea_line(t, "ERROR", "dhcpsrv", f"DHCPSRV_{engine}_LEASE_DB_RECONNECT_FAILED", exhausted)
    )
    lines.append(kea_line(t, "INFO", "dhcp4", "DHCP4_DB_RECONNECT_FAILED", exhausted))
    return "\n".join(lines) + "\n"


def kea22_config(tmp_path: Path, db: str) -> Path:
    lease = {
        "type": db,
        "name": "kea",
        "connect-timeout": 2,
        "on-fail": "serve-retry-continue",
        "max-reconnect-tries": 3,
        "reconnect-wait-time": 1000,
    }
    path = tmp_path / "kea22.json"
    path.write_text(json.dumps({"Dhcp4": {"lease-database": lease}}), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("db", "attempts"), [("postgresql", [2.0, 2.1, 2.0]), ("mysql", [1.98, 2.3, 2.0])]
)
def test_a_kea_2_2_log_of_attempts_each_blocked_for_connect_timeout_conforms(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db: str, attempts: list[float]
) -> None:
    log = tmp_path / "kea.log"
    log.write_text(kea22_log(db, attempts), encoding="utf-8")
    out = conformed(capsys, kea22_config(tmp_path, db), log)
    assert "Kea 2.x log, 11 observations compared: losses 1, reconnect attempts 3" in out


def test_a_kea_2_2_attempt_longer_than_connect_timeout_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = tmp_path / "kea.log"
    log.write_text(kea22_log("postgresql", [2.0, 3.5, 2.0]), encoding="utf-8")
    code, out = conform(capsys, kea22_config(tmp_path, "postgresql"), log)
    assert code == 1
    head, reason = out.splitlines()[:2]
    assert head == (
        f"{log}:12: leaves the model at 9.600s: ERROR DHCPSRV_PGSQL_LEASE_DB_RECONNECT_ATTEMPT"
        "_FAILED database reconnect failed: timeout expired"
    )
    assert reason == (
        f"  late: 3.500s after the open of {LEASE} began at 6.100s; an open times out after "
        "2s (connect-timeout): answered within that, plus 0.5s"
    )


def test_a_kea_2_2_wait_is_counted_from_the_failure_not_the_attempt(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The third attempt 1 s after the second began (0.4 s after it failed) is early."""
    log = tmp_path / "kea.log"
    log.write_text(kea22_log("postgresql", [2.0, 0.6, 2.0], waits=(1.0, 0.4)), encoding="utf-8")
    code, out = conform(capsys, kea22_config(tmp_path, "postgresql"), log)
    assert code == 1
    assert out.splitlines()[1] == (
        "  early: 0.400s after the timer was started at 6.700s; the model waits 1.000s "
        "(reconnect-wait-time) and a timer fires at most 0.5s late"
    )


def kea22_two_backends_log(held_fires: float) -> str:
    """Kea 2.2's log of a lease database reconnecting into a black hole (each attempt 2 s)
    while a refused host database retries every 0.5 s: the host database's attempt due at
    6.202 s waits for the lease database's attempt that blocks from 6 to 8 s, and runs at
    `held_fires`."""
    lines = kea22_startup()

    def lost(t: float) -> None:
        lines.append(kea22_lost(t))

    def failed(t: float, kind: str, n: int, of: int, wait: int, why: str) -> None:
        lines.extend(kea22_failed(t, kind, n, of, wait, why))

    refused = "Can't connect to server on '127.0.0.1' (115)"
    lost(3.0)  # the lease database's attempt 1 blocks for connect-timeout
    failed(5.0, "PGSQL_LEASE", 1, 3, 1000, "timeout expired")
    lost(5.2)  # the host database's, refused at once
    failed(5.201, "MYSQL_HOST", 1, 5, 500, refused)
    lost(5.702)
    failed(5.702, "MYSQL_HOST", 2, 5, 500, refused)
    lost(6.0)  # the lease database's attempt 2 blocks until 8
    failed(8.0, "PGSQL_LEASE", 2, 3, 1000, "timeout expired")
    lost(held_fires)  # the host database's attempt 3, due at 6.202
    failed(held_fires + 0.001, "MYSQL_HOST", 3, 5, 500, refused)
    return "\n".join(lines) + "\n"


def test_a_kea_2_2_timer_due_during_a_blocked_attempt_runs_once_it_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    document = {
        "Dhcp4": {
            "lease-database": {
                "type": "postgresql",
                "name": "kea",
                "connect-timeout": 2,
                "on-fail": "serve-retry-continue",
                "max-reconnect-tries": 3,
                "reconnect-wait-time": 1000,
            },
            "hosts-database": {
                "type": "mysql",
                "name": "kea",
                "on-fail": "serve-retry-continue",
                "max-reconnect-tries": 5,
                "reconnect-wait-time": 500,
            },
        }
    }
    config = tmp_path / "kea22.json"
    config.write_text(json.dumps(document), encoding="utf-8")
    log = tmp_path / "kea.log"
    for held_fires in (8.001, 8.4):  # 1.8 s and 2.2 s late: held by the blocked attempt
        log.write_text(kea22_two_backends_log(held_fires), encoding="utf-8")
        out = conformed(capsys, config, log)
        assert "losses 2, reconnect attempts 5" in out
    log.write_text(kea22_two_backends_log(9.0), encoding="utf-8")  # 1 s after it failed
    code, out = conform(capsys, config, log)
    assert code == 1
    head, reason = out.splitlines()[:2]
    assert head == (
        f"{log}:15: leaves the model at 9.000s: INFO DHCP4_DB_RECONNECT_LOST_CONNECTION "
        "database connection lost."
    )
    assert reason == (
        "  late: 3.298s after the timer was started at 5.702s; the model waits 0.500s "
        "(reconnect-wait-time) and a timer fires at most 0.5s late, here once the server was "
        "free again at 8.000s"
    )
