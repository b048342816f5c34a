"""One test (at least) per rule of `fsm.rules`, and per behaviour of Kea the engine reproduces.

Each test runs a scenario (inline YAML, inline `config: {Dhcp4: {...}}`) through
`dbfsm.scenario.parse` and the simulator, and asserts on the records. Docstrings quote the
documentation sentence checked (the specification,
specs/kea-database-connectivity.txt) or name the Kea rule and the file:line it
was read from (/work/shared/reference/kea-behaviour.md, "KB §n"). `@covers(rule_id)` ties a test
to the rule of `fsm.rules` it checks; the last test makes sure every rule is covered.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dbfsm.fsm.actions import Log, Open
from dbfsm.fsm.config import from_document
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.events import Lost, Opened
from dbfsm.fsm.rules import RULES
from dbfsm.simulation import scenario, simulate
from tests.conftest import run_scenario

F = TypeVar("F", bound=Callable[..., Any])
COVERED: set[str] = set()


def covers(*rule_ids: str) -> Callable[[F], F]:
    """Mark a test as checking these rules of `fsm.rules` (checked to exist)."""
    for rule_id in rule_ids:
        assert rule_id in RULES, f"unknown rule {rule_id}"

    def mark(test: F) -> F:
        COVERED.update(rule_ids)
        return test

    return mark


# ---------------------------------------------------------------------------------------------
# Building scenarios
# ---------------------------------------------------------------------------------------------

STOP, SERVE_EXIT, CONTINUE = "stop-retry-exit", "serve-retry-exit", "serve-retry-continue"
EXIT_MODES = (STOP, SERVE_EXIT)
ALL_MODES = (STOP, SERVE_EXIT, CONTINUE)


def db(kind: str = "mysql", tries: int | None = None, wait: int | None = None, **more: Any) -> dict:
    """A database map; `tries`/`wait` are max-reconnect-tries / reconnect-wait-time,
    other keyword arguments are parameters with `_` for `-` (on_fail=..., retry_on_startup=...)."""
    params: dict[str, Any] = {"type": kind}
    if kind != "memfile":
        params.update(name="kea", user="kea", password="secret")
    if tries is not None:
        params["max-reconnect-tries"] = tries
    if wait is not None:
        params["reconnect-wait-time"] = wait
    params.update({key.replace("_", "-"): value for key, value in more.items()})
    return params


def dhcp4(**sections: Any) -> dict:
    """`{"Dhcp4": {...}}` with `_` for `-` in section names (lease_database=...)."""
    return {"Dhcp4": {key.replace("_", "-"): value for key, value in sections.items()}}


def text(
    config: Mapping[str, Any] | str,
    events: Iterable[Mapping[str, Any]] = (),
    *,
    until: float = 20,
    traffic: str | Mapping[str, float] = "continuous",
) -> str:
    """Scenario YAML: one line per key and per event (JSON flow values are YAML)."""
    events = list(events)
    lines = [
        f"config: {json.dumps(config)}",
        f"until: {until}",
        f"traffic: {json.dumps(traffic)}",
        "events:" if events else "events: []",
    ]
    lines += [f"  - {json.dumps(event)}" for event in events]
    return "\n".join(lines) + "\n"


def cmd(name: str, **arguments: Any) -> dict:
    request: dict[str, Any] = {"command": name}
    if arguments:
        request["arguments"] = {k.replace("_", "-"): v for k, v in arguments.items()}
    return request


def timer(manager: str) -> str:
    """Regular expression for a timer name such as MySqlLeaseMgr[1]DbReconnectTimer."""
    return re.escape(manager) + r"\[\d+\]DbReconnectTimer"


DB_IDS = r"RECONNECT|FAIL|UNRECOVERABLE"  # the messages of loss, recovery and failure


def after(run: Any, t0: float, pattern: str = DB_IDS) -> list[tuple[float, str, str, str]]:
    """(t, severity, id, text) of the log records at or after `t0` whose ID matches `pattern`
    (other messages, such as COMMAND_RECEIVED or DHCP4_SHUTDOWN, are not the point here)."""
    return [
        (r.t, r.data["severity"], r.data["id"], r.data["text"])
        for r in run.logs(pattern)
        if r.t >= t0
    ]


def match(
    logs: list[tuple[float, str, str, str]], expected: list[tuple[float, str, str, str]]
) -> None:
    """`logs` equals `expected` where each expected text is a regular expression."""
    assert [(t, sev, id_) for t, sev, id_, _ in logs] == [(t, s, i) for t, s, i, _ in expected]
    for (_, _, id_, got), (_, _, _, pattern) in zip(logs, expected, strict=True):
        assert re.fullmatch(pattern, got), f"{id_}: {got!r} !~ {pattern!r}"


REFUSED = r"database reconnect failed: .+"
LEASE = "lease-database"
DOWN_AT = 5.0


def fatal_ids(run: Any) -> list[str]:
    return [r.data["id"] for r in run.of_type("log") if r.data["severity"] == "FATAL"]


def db_state(run: Any, at: float) -> dict[str, Any]:
    return run.answer("status-get", at)["arguments"]["dhcp-state"]


# ---------------------------------------------------------------------------------------------
# Startup
# ---------------------------------------------------------------------------------------------


@covers("doc.startup-fatal")
@pytest.mark.parametrize("kind", ["mysql", "postgresql"])
def test_startup_without_retry_on_startup_is_fatal(simulate_text, kind):
    """ "During server startup, the inability to connect to any of the configured backends is
    considered fatal only if retry-on-startup is set to false (the default). A fatal error is
    logged and the server exits" -- with Kea's messages (ERROR DHCP4_CONFIG_LOAD_FAIL, ERROR
    DHCP4_INIT_FAIL, KB §2.7, ctrl_dhcp4_srv.cc:186-197, main.cc:295-316), exit code 1, and no
    reconnect attempt (no DB callback fires, generic_lease_mgr_unittest.cc:3811-3832)."""
    config = dhcp4(lease_database=db(kind, tries=3, wait=1000))
    run = simulate_text(text(config, [{"at": 0, "down": LEASE}]))
    reason = r"Unable to open database: .+"
    match(
        after(run, 0),
        [
            (
                0,
                "ERROR",
                "DHCP4_CONFIG_LOAD_FAIL",
                rf"configuration error using file: .+, reason: {reason}",
            ),
            (0, "ERROR", "DHCP4_INIT_FAIL", rf"failed to initialize Kea server: .+{reason}"),
        ],
    )
    assert run.exit_code == 1
    assert [r.data for r in run.of_type("exit")] == [{"code": 1}]
    assert run.attempts() == []
    assert not any(serving for _, serving in run.serving())
    assert run.result.state == "exited"


@covers("doc.startup-fatal")
def test_startup_failure_names_the_configuration_file(simulate_text, tmp_path):
    """DHCP4_CONFIG_LOAD_FAIL `configuration error using file: %1, reason: %2` names the file
    the configuration came from (KB §3, dhcp4_messages.mes:203)."""
    path = tmp_path / "kea.json"
    path.write_text(json.dumps(dhcp4(lease_database=db("postgresql"))))
    run = simulate_text(text("kea.json", [{"at": 0, "down": LEASE}]))
    (load_fail,) = run.texts("CONFIG_LOAD_FAIL")
    assert load_fail.startswith(f"configuration error using file: {path}, reason: ")
    assert run.exit_code == 1


@covers("doc.recovery-needs-startup")
def test_no_recovery_without_a_successful_startup(simulate_text):
    """ "Automatic recovery, when configured, only operates after a successful startup or
    reconfiguration during which connectivity to all backends has been successfully
    established." -- a failed startup makes no reconnect attempt, however many are configured."""
    config = dhcp4(lease_database=db(tries=5, wait=100, on_fail=CONTINUE))
    run = simulate_text(text(config, [{"at": 0, "down": LEASE}, {"at": 0.2, "up": LEASE}]))
    assert run.exit_code == 1
    assert run.ids("LOST_CONNECTION|RECONNECT") == []
    assert run.attempts() == []


@covers("doc.recovery-needs-startup")
def test_loss_while_configuration_is_applied_waits_for_it():
    """ "Automatic recovery ... only operates after a successful startup": a backend lost while
    the configuration is still being applied starts recovering only once it is in (engine
    level: the config backend opens, is lost, then the lease database opens)."""
    config = dhcp4(
        config_control={"config-databases": [db(tries=3, wait=1000)]},
        lease_database=db("postgresql"),
    )
    engine = Engine(from_document(config))
    first = [a for a in engine.start() if isinstance(a, Open)]
    assert [a.backend for a in first] == ["config-databases[0]"]
    opened = engine.handle(Opened("config-databases[0]", first[0].instance))
    lease = [a for a in opened if isinstance(a, Open)]
    assert [a.backend for a in lease] == [LEASE]
    during = engine.handle(Lost("config-databases[0]", first[0].instance))
    assert not [a for a in during if isinstance(a, Open | Log)], "no recovery before commit"
    assert engine.state == "starting"
    done = engine.handle(Opened(LEASE, lease[0].instance))
    ids = [a.message.id for a in done if isinstance(a, Log)]
    assert ids.index("DHCP4_STARTED") < ids.index("DHCP4_DB_RECONNECT_LOST_CONNECTION")
    attempts = [(a.backend, a.attempt, a.of) for a in done if isinstance(a, Open)]
    assert attempts == [("config-databases[0]", 1, 3)]


@covers("doc.retry-on-startup", "kea.stop-service-origin")
def test_retry_on_startup_starts_and_recovers_as_manager_0(simulate_text):
    """ "If retry-on-startup is set to true, the server will start reconnection attempts even at
    server startup ... and will honor the action specified in the on-fail parameter." Kea: INFO
    DHCPSRV_LEASE_MGR_DB_OPEN_CONNECTION_WITH_RETRY_FAILED, the server starts (DHCP4_STARTED),
    then the loop runs under the startup retry control, id 0: "manager ID: 0" in the logs and
    origin 3000 in status-get (KB §2.2, §2.7, mysql_connection.cc:433,464)."""
    config = dhcp4(lease_database=db(tries=3, wait=1000, retry_on_startup=True))
    events = [
        {"at": 0, "down": LEASE},
        {"at": 0.5, "command": cmd("status-get")},
        {"at": 1.5, "up": LEASE},
        {"at": 2.5, "command": cmd("status-get")},
    ]
    run = simulate_text(text(config, events, until=5))
    ids = run.ids()
    assert ids[0] == "DHCPSRV_LEASE_MGR_DB_OPEN_CONNECTION_WITH_RETRY_FAILED"
    assert run.logs("WITH_RETRY_FAILED")[0].data["severity"] == "INFO"
    assert ids.index("DHCP4_STARTED") < ids.index("DHCP4_DB_RECONNECT_LOST_CONNECTION")
    lost = run.texts("LOST_CONNECTION")
    assert len(lost) == 3
    for line in lost:
        assert re.fullmatch(
            rf"database connection lost: manager ID: 0, timer: {timer('MySqlLeaseMgr')}\.", line
        )
    (recovered,) = run.texts("SUCCEEDED")
    assert recovered.startswith(
        "database connection recovered: manager ID: 0, timer: MySqlLeaseMgr["
    )
    assert run.attempts(LEASE) == [(0, 1, 3, False), (1, 2, 3, False), (2, 3, 3, True)]
    state = db_state(run, 0.5)
    assert state["disabled-by-db-connection"] == [3000]
    assert state["globally-disabled"] is True
    assert db_state(run, 2.5)["disabled-by-db-connection"] == []
    assert run.serving() == [(0, False), (2, True)]  # never serving while it recovers
    assert run.exit_code is None


@covers("doc.retry-on-startup")
def test_recovered_startup_backend_is_then_its_own_manager(simulate_text):
    """After recovery the lease manager is a new one with its own retry control, so a later
    loss is logged with the backend's manager ID (3001 for MySQL leases, KB §2.2) and the
    retries start afresh (ReconnectCtl::resetRetries, reconnect_ctl.h:94-96)."""
    config = dhcp4(lease_database=db(tries=3, wait=1000, retry_on_startup=True))
    events = [{"at": 0, "down": LEASE}, {"at": 0.5, "up": LEASE}, {"at": 4, "down": LEASE}]
    run = simulate_text(text(config, events, until=5))
    ids = [re.search(r"manager ID: (\d+)", t).group(1) for t in run.texts("LOST_CONNECTION")]
    assert ids == ["0", "0", "3001", "3001"]
    assert run.attempts(LEASE)[-2:] == [(4, 1, 3, False), (5, 2, 3, False)]


@covers("kea.reconnect-disabled", "doc.retry-on-startup")
@pytest.mark.parametrize("mode", EXIT_MODES)
def test_retry_on_startup_with_default_tries_exits_at_once(simulate_text, mode):
    """KB §2.7: "with the default max-reconnect-tries=0/reconnect-wait-time=0,
    retry-on-startup=true makes a *-exit server start and immediately exit 1 (FATAL
    DHCP4_FATAL_DB_RECONNECT_DISABLED … retries left: 0, reconnect wait time: 0, manager ID:
    0 …)" (ctrl_dhcp4_srv.cc:1885-1925); no attempt is made."""
    config = dhcp4(lease_database=db(on_fail=mode, retry_on_startup=True))
    run = simulate_text(text(config, [{"at": 0, "down": LEASE}]))
    match(
        after(run, 0, "RECONNECT"),
        [
            (
                0,
                "INFO",
                "DHCP4_DB_RECONNECT_LOST_CONNECTION",
                r"database connection lost: manager ID: 0, .+",
            ),
            (
                0,
                "FATAL",
                "DHCP4_FATAL_DB_RECONNECT_DISABLED",
                rf"database reconnect is disabled: retries left: 0, reconnect wait time: 0, "
                rf"manager ID: 0, timer: {timer('MySqlLeaseMgr')}",
            ),
        ],
    )
    assert "DHCP4_STARTED" in run.ids()
    assert run.exit_code == 1
    assert run.attempts() == []


@covers("kea.reconnect-disabled", "doc.retry-on-startup")
def test_retry_on_startup_with_default_tries_continues_without_the_backend(simulate_text):
    """KB §2.7: with 0 tries "a serve-retry-continue server keeps running without the
    backend": ERROR DHCP4_DB_RECONNECT_DISABLED, no attempt, still serving."""
    config = dhcp4(lease_database=db(on_fail=CONTINUE, retry_on_startup=True))
    run = simulate_text(text(config, [{"at": 0, "down": LEASE}], until=5))
    (disabled,) = run.logs("DB_RECONNECT_DISABLED")
    assert disabled.data["id"] == "DHCP4_DB_RECONNECT_DISABLED"
    assert disabled.data["severity"] == "ERROR"
    assert "retries left: 0, reconnect wait time: 0, manager ID: 0" in disabled.data["text"]
    assert run.attempts() == []
    assert run.exit_code is None
    assert run.result.serving is True
    assert run.serving() == [(0, True)]


def lease_file_fails(config: dict, at: float) -> Any:
    """A memfile lease file that fails at `at` (unreadable at startup, a failed write later)."""
    parsed = scenario.parse(text(config, [{"at": at, "file-error": LEASE}]), "s.yaml", Path("."))
    return run_scenario(parsed)


@covers("doc.startup-fatal")
def test_memfile_ignores_retry_on_startup(simulate_text):
    """retry-on-startup is "ignored by memfile" (KB §1.2): a lease file that cannot be opened
    is fatal at startup even with retry-on-startup."""
    config = dhcp4(lease_database=db("memfile", retry_on_startup=True))
    run = lease_file_fails(config, at=0)
    assert run.ids(DB_IDS) == ["DHCP4_CONFIG_LOAD_FAIL", "DHCP4_INIT_FAIL"]
    assert run.exit_code == 1


@covers("kea.connect-order")
def test_backends_connect_config_then_lease_then_hosts(simulate_text):
    """KB §2.7: config backends connect while parsing (json_config_parser.cc:977-1000), then
    createManagers opens the lease database, then the host databases (cfg_db_access.cc:58-115)."""
    config = dhcp4(
        hosts_databases=[db("postgresql"), db("mysql")],
        lease_database=db("postgresql"),
        config_control={"config-databases": [db("mysql")]},
    )
    run = simulate_text(text(config, until=1))
    opened = [a.machine for _, a in run.result.transitions if a.trigger == "open"]
    assert opened == ["config-databases[0]", LEASE, "hosts-databases[0]", "hosts-databases[1]"]
    assert run.serving() == [(0, True)]


@covers("kea.connect-order", "doc.startup-fatal")
def test_configuration_stops_at_the_first_unreachable_backend(simulate_text):
    """KB §2.7: `createManagers` does not catch the DbOpenError of the lease database, so the
    host databases after it are never opened."""
    config = dhcp4(lease_database=db("mysql"), hosts_database=db("postgresql"))
    run = simulate_text(text(config, [{"at": 0, "down": LEASE}]))
    assert run.states("hosts-database") == []
    assert run.exit_code == 1


# ---------------------------------------------------------------------------------------------
# Schema version
# ---------------------------------------------------------------------------------------------


@covers("doc.schema-must-match", "kea.schema-mismatch-not-retried")
@pytest.mark.parametrize(
    ("kind", "found", "expected"),
    [
        (
            "mysql",
            "1.0",
            "MySQL schema version mismatch: expected version: 2.0, found version: 1.0",
        ),
        (
            "postgresql",
            "3.0",
            "PostgreSQL schema version mismatch: expected version: 2.0, found version: 3.0",
        ),
    ],
)
def test_schema_mismatch_at_startup_is_fatal_even_with_retry(simulate_text, kind, found, expected):
    """ "the database schema must be created and must match the version of the Kea server."
    KB §4: a mismatch (older or newer) is a DbOpenError, never DbOpenErrorWithRetry, so it is
    fatal at startup even with retry-on-startup (mysql_connection.cc:422-476)."""
    config = dhcp4(lease_database=db(kind, tries=3, wait=1000, retry_on_startup=True))
    run = simulate_text(text(config, [{"at": 0, "schema": LEASE, "version": found}]))
    assert run.ids(DB_IDS) == ["DHCP4_CONFIG_LOAD_FAIL", "DHCP4_INIT_FAIL"]
    assert run.texts("CONFIG_LOAD_FAIL")[0].endswith(f"reason: Unable to open database: {expected}")
    assert run.exit_code == 1
    assert run.attempts() == []


@covers("kea.schema-mismatch-not-retried")
def test_schema_mismatch_during_the_loop_fails_the_attempt(simulate_text):
    """KB §4 / rule kea.schema-mismatch-not-retried: "inside the reconnect loop it fails the
    attempt like any other open error" -- and the next attempt succeeds once it matches."""
    config = dhcp4(lease_database=db(tries=3, wait=1000))
    events = [
        {"at": 1, "down": LEASE},
        {"at": 1.5, "schema": LEASE, "version": "1.0"},
        {"at": 1.6, "up": LEASE},
        {"at": 2.5, "schema": LEASE, "version": "2.0"},
    ]
    run = simulate_text(text(config, events, until=5))
    assert run.attempts(LEASE) == [(1, 1, 3, False), (2, 2, 3, False), (3, 3, 3, True)]
    failed = run.texts("ATTEMPT_FAILED")
    assert failed[1] == (
        "database reconnect failed: MySQL schema version mismatch: expected version: 2.0, "
        "found version: 1.0"
    )
    assert run.result.serving is True


@covers("kea.schema-mismatch-not-retried", "doc.reconfig-fails-up")
def test_schema_mismatch_on_reconfiguration_is_not_retried(simulate_text):
    """KB §2.7-2.8: retry-on-startup also governs reconfiguration, but "Only connection
    failures are retried. A schema-version mismatch ... [is] still fatal": the config-set fails
    (result 1) and the server stays up without serving."""
    config = dhcp4(lease_database=db("postgresql", tries=3, wait=1000, retry_on_startup=True))
    events = [
        {"at": 1, "schema": LEASE, "version": "33.0"},
        {"at": 2, "command": cmd("config-set", **config)},
    ]
    run = simulate_text(text(config, events, until=5))
    answer = run.answer("config-set")
    assert answer["result"] == 1
    assert answer["text"] == (
        "Unable to open database: PostgreSQL schema version mismatch: expected version: 2.0, "
        "found version: 33.0"
    )
    assert run.ids("WITH_RETRY_FAILED|RECONNECT") == []
    assert run.attempts() == []
    assert run.result.state == "unconfigured"
    assert run.exit_code is None


# ---------------------------------------------------------------------------------------------
# The reconnect loop
# ---------------------------------------------------------------------------------------------


def _loop_run(simulate_text, mode: str, kind: str = "mysql", tries: int = 3, wait: int = 2000):
    config = dhcp4(lease_database=db(kind, tries=tries, wait=wait, on_fail=mode))
    return simulate_text(text(config, [{"at": DOWN_AT, "down": LEASE}], until=20))


@covers("kea.reconnect-loop", "kea.retries-exhausted", "doc.loss-reconnects")
@pytest.mark.parametrize("mode", ALL_MODES)
def test_reconnect_loop_logs_in_keas_order(simulate_text, mode):
    """KB §2.4/§2.10 (mysql_lease_mgr.cc:2348-2414, ctrl_dhcp4_srv.cc:1885-1972): the first
    attempt runs at the loss, the next every reconnect-wait-time ms, max-reconnect-tries in all;
    LOST_CONNECTION before every attempt, then ATTEMPT_FAILED and ATTEMPT_SCHEDULE ("scheduling
    attempt 2 of 3 in 2000 milliseconds"); after the last one the backend's
    MYSQL_LB_DB_RECONNECT_FAILED, then the server's FATAL (exit modes) or ERROR."""
    run = _loop_run(simulate_text, mode)
    lost = rf"database connection lost: manager ID: 3001, timer: {timer('MySqlLeaseMgr')}\."
    exhausted = (
        "maximum number of database reconnect attempts: 3, has been exhausted without success"
    )
    final = (
        ("FATAL", "DHCP4_FATAL_DB_RECONNECT_FAILED")
        if mode in EXIT_MODES
        else ("ERROR", "DHCP4_DB_RECONNECT_FAILED")
    )
    match(
        after(run, DOWN_AT),
        [
            (5, "INFO", "DHCP4_DB_RECONNECT_LOST_CONNECTION", lost),
            (5, "ERROR", "MYSQL_LB_DB_RECONNECT_ATTEMPT_FAILED", REFUSED),
            (
                5,
                "INFO",
                "MYSQL_LB_DB_RECONNECT_ATTEMPT_SCHEDULE",
                "scheduling attempt 2 of 3 in 2000 milliseconds",
            ),
            (7, "INFO", "DHCP4_DB_RECONNECT_LOST_CONNECTION", lost),
            (7, "ERROR", "MYSQL_LB_DB_RECONNECT_ATTEMPT_FAILED", REFUSED),
            (
                7,
                "INFO",
                "MYSQL_LB_DB_RECONNECT_ATTEMPT_SCHEDULE",
                "scheduling attempt 3 of 3 in 2000 milliseconds",
            ),
            (9, "INFO", "DHCP4_DB_RECONNECT_LOST_CONNECTION", lost),
            (9, "ERROR", "MYSQL_LB_DB_RECONNECT_ATTEMPT_FAILED", REFUSED),
            (9, "ERROR", "MYSQL_LB_DB_RECONNECT_FAILED", re.escape(exhausted)),
            (
                9,
                *final,
                re.escape(exhausted) + rf", manager ID: 3001, timer: {timer('MySqlLeaseMgr')}",
            ),
        ],
    )
    assert run.attempts(LEASE) == [(5, 1, 3, False), (7, 2, 3, False), (9, 3, 3, False)]


@covers("doc.stop-retry-exit", "doc.fatal-before-exit", "kea.retries-exhausted")
def test_stop_retry_exit_stops_service_then_exits(simulate_text):
    """ "stop-retry-exit - indicates that the server should stop the service while it tries to
    recover the connection, and exit if recovery is not successful after max-reconnect-tries."
    and "If the connection cannot be restored and the server is configured to exit, it issues a
    fatal error before shutdown." (exit code 1, KB §2.5)"""
    run = _loop_run(simulate_text, STOP)
    assert run.serving() == [(0, True), (DOWN_AT, False)]
    assert run.exit_code == 1
    types = [r.type for r in run.result.timeline()]
    assert types[-2:] == ["exit", "summary"]
    fatal = [r for r in run.result.timeline() if r.type == "log" and r.data["severity"] == "FATAL"]
    assert [r.data["id"] for r in fatal] == ["DHCP4_FATAL_DB_RECONNECT_FAILED"]
    assert run.result.timeline().index(fatal[0]) < types.index("exit")
    assert run.of_type("exit")[0].t == 9


@covers("doc.serve-retry-exit", "doc.fatal-before-exit")
def test_serve_retry_exit_serves_throughout_then_exits(simulate_text):
    """ "serve-retry-exit - indicates that the server should not stop the service while it tries
    to recover the connection, and exit if recovery is not successful after
    max-reconnect-tries." """
    run = _loop_run(simulate_text, SERVE_EXIT)
    assert all(serving for t, serving in run.serving() if t < 9)
    assert run.exit_code == 1
    assert run.of_type("exit")[0].t == 9
    assert fatal_ids(run) == ["DHCP4_FATAL_DB_RECONNECT_FAILED"]


@covers("doc.serve-retry-continue", "kea.retries-exhausted")
def test_serve_retry_continue_serves_throughout_and_stays_up(simulate_text):
    """ "serve-retry-continue - indicates that the server should not stop the service while it
    tries to recover the connection, and not exit if recovery is not successful after
    max-reconnect-tries." """
    run = _loop_run(simulate_text, CONTINUE)
    assert run.serving() == [(0, True)]
    assert run.exit_code is None
    assert run.of_type("exit") == []
    assert fatal_ids(run) == []
    assert run.result.state == "serving"


@covers("kea.retries-exhausted")
def test_serve_retry_continue_retries_no_more_until_reconfiguration(simulate_text):
    """kea.retries-exhausted: after the last attempt serve-retry-continue "retries no more
    until reconfiguration" (KB §2.6); a config-set once the database is back reconnects it."""
    config = dhcp4(hosts_database=db("postgresql", tries=2, wait=500, on_fail=CONTINUE))
    events = [
        {"at": 1, "down": "hosts-database"},
        {"at": 3, "up": "hosts-database"},
        {"at": 6, "command": cmd("config-set", **config)},
    ]
    run = simulate_text(text(config, events, until=10))
    assert run.attempts("hosts-database") == [(1, 1, 2, False), (1.5, 2, 2, False)]
    assert run.log_times("LOST_CONNECTION") == [1, 1.5]
    assert run.answer("config-set")["result"] == 0
    assert run.states("hosts-database")[-1] == (6, "opened", "online")


@covers("kea.reconnect-loop")
@pytest.mark.parametrize("mode", ALL_MODES)
def test_max_reconnect_tries_1_makes_one_immediate_attempt(simulate_text, mode):
    """KB §2.6 edge case: "max-reconnect-tries = 1, wait > 0: exactly one immediate attempt;
    wait time never used" (no ATTEMPT_SCHEDULE)."""
    run = _loop_run(simulate_text, mode, kind="postgresql", tries=1)
    assert run.attempts(LEASE) == [(DOWN_AT, 1, 1, False)]
    assert run.ids("SCHEDULE") == []
    assert run.texts("PGSQL_LB_DB_RECONNECT_FAILED") == [
        "maximum number of database reconnect attempts: 1, has been exhausted without success"
    ]
    assert run.exit_code == (1 if mode in EXIT_MODES else None)


def _reconnect_disabled_log(mode: str) -> tuple[str, str]:
    """The severity and ID Kea logs when a loss finds reconnection disabled, by on-fail."""
    if mode in EXIT_MODES:
        return "FATAL", "DHCP4_FATAL_DB_RECONNECT_DISABLED"
    return "ERROR", "DHCP4_DB_RECONNECT_DISABLED"


@covers("kea.reconnect-disabled")
@pytest.mark.parametrize("mode", ALL_MODES)
@pytest.mark.parametrize(("tries", "wait"), [(3, 0), (0, 2000), (0, 0)])
def test_zero_tries_or_zero_wait_disables_reconnect(simulate_text, mode, tries, wait):
    """KB §2.5/§2.6: "max-reconnect-tries = 0 or reconnect-wait-time = 0": no attempt at all;
    FATAL DHCP4_FATAL_DB_RECONNECT_DISABLED and exit 1 under the *-exit modes, ERROR
    DHCP4_DB_RECONNECT_DISABLED under serve-retry-continue (ctrl_dhcp4_srv.cc:1885-1925). The
    text gives the retries left (all of them: none was used) and the wait."""
    run = _loop_run(simulate_text, mode, kind="postgresql", tries=tries, wait=wait)
    severity, id_ = _reconnect_disabled_log(mode)
    match(
        after(run, DOWN_AT),
        [
            (
                5,
                "INFO",
                "DHCP4_DB_RECONNECT_LOST_CONNECTION",
                r"database connection lost: manager ID: 3002, .+",
            ),
            (
                5,
                severity,
                id_,
                rf"database reconnect is disabled: retries left: {tries}, reconnect wait time: "
                rf"{wait}, manager ID: 3002, timer: {timer('PgSqlLeaseMgr')}",
            ),
        ],
    )
    assert run.attempts() == []
    if mode in EXIT_MODES:
        assert run.exit_code == 1
        assert run.of_type("exit")[0].t == DOWN_AT
    else:
        assert run.exit_code is None
        assert run.serving() == [(0, True)]


@covers("doc.restored", "kea.stop-service-origin")
@pytest.mark.parametrize("k", [2, 3])
def test_recovery_on_attempt_k_restores_serving(simulate_text, k):
    """ "If connectivity to all backends is restored, the server returns to normal operations."
    KB §2.10: "If attempt k succeeds: timer unregistered, origin 6001 enabled, INFO
    DHCP4_DB_RECONNECT_SUCCEEDED database connection recovered: manager ID: 3001, timer: …."."""
    config = dhcp4(lease_database=db(tries=3, wait=2000))
    back = DOWN_AT + 2 * (k - 1) - 0.5
    events = [
        {"at": DOWN_AT, "down": LEASE},
        {"at": DOWN_AT + 1, "command": cmd("status-get")},
        {"at": back, "up": LEASE},
        {"at": 15, "command": cmd("status-get")},
    ]
    run = simulate_text(text(config, events))
    t_k = DOWN_AT + 2 * (k - 1)
    assert run.attempts(LEASE)[-1] == (t_k, k, 3, True)
    assert len(run.attempts(LEASE)) == k
    (success,) = run.logs("SUCCEEDED")
    assert success.t == t_k
    assert success.data["id"] == "DHCP4_DB_RECONNECT_SUCCEEDED"
    assert re.fullmatch(
        rf"database connection recovered: manager ID: 3001, timer: {timer('MySqlLeaseMgr')}\.",
        success.data["text"],
    )
    assert run.serving() == [(0, True), (DOWN_AT, False), (t_k, True)]
    assert db_state(run, DOWN_AT + 1)["disabled-by-db-connection"] == [6001]
    assert db_state(run, 15) == {
        "disabled-by-db-connection": [],
        "disabled-by-local-command": [],
        "disabled-by-remote-command": [],
        "disabled-by-user": False,
        "globally-disabled": False,
    }
    assert run.exit_code is None
    assert run.log_times("LOST_CONNECTION")[-1] == t_k, "no attempt after the recovery"


@covers("doc.restored", "kea.reconnect-loop")
def test_first_attempt_succeeds_when_the_server_is_already_back(simulate_text):
    """A broken connection stays broken once the database is back: the loss is noticed at the
    next use and the first, immediate attempt succeeds (KB §2.4: "The first reconnect attempt is
    immediate")."""
    config = dhcp4(lease_database=db(tries=3, wait=2000))
    events = [{"at": 1, "down": LEASE}, {"at": 1.5, "up": LEASE}, {"at": 2, "use": LEASE}]
    run = simulate_text(text(config, events, until=5, traffic="none"))
    assert run.attempts(LEASE) == [(2, 1, 3, True)]
    assert run.ids("RECONNECT") == [
        "DHCP4_DB_RECONNECT_LOST_CONNECTION",
        "DHCP4_DB_RECONNECT_SUCCEEDED",
    ]
    assert run.serving() == [(0, True), (2, False), (2, True)]


@covers("kea.stop-service-origin")
@pytest.mark.parametrize(
    ("section", "kind", "origin"),
    [
        ("lease-database", "mysql", 6001),
        ("lease-database", "postgresql", 6002),
        ("hosts-database", "mysql", 6011),
        ("hosts-database", "postgresql", 6012),
    ],
)
def test_stop_retry_exit_disables_the_backends_origin(simulate_text, section, kind, origin):
    """KB §2.2: the lost callback disables the service for origin 3000 + manager ID
    (ctrl_dhcp4_srv.cc:1896): 6001 MySQL lease, 6002 PgSQL lease, 6011 MySQL hosts, 6012 PgSQL
    hosts -- as status-get's "disabled-by-db-connection" shows (ctrl_dhcp4_srv.cc:1383)."""
    config = {"Dhcp4": {section: db(kind, tries=5, wait=1000)}}
    events = [{"at": 1, "down": section}, {"at": 2.5, "command": cmd("status-get")}]
    run = simulate_text(text(config, events, until=3))
    state = db_state(run, 2.5)
    assert state["disabled-by-db-connection"] == [origin]
    assert state["globally-disabled"] is True


@covers("doc.serve-retry-exit", "doc.serve-retry-continue")
@pytest.mark.parametrize("mode", [SERVE_EXIT, CONTINUE])
def test_serve_modes_disable_no_origin(simulate_text, mode):
    """KB §2.5: the origin is disabled only under stop-retry-exit (alterServiceState,
    reconnect_ctl.h:100-102); the serve-* modes leave status-get's dhcp-state untouched."""
    config = dhcp4(lease_database=db(tries=5, wait=1000, on_fail=mode))
    events = [{"at": 1, "down": LEASE}, {"at": 2.5, "command": cmd("status-get")}]
    run = simulate_text(text(config, events, until=3))
    state = db_state(run, 2.5)
    assert state["disabled-by-db-connection"] == []
    assert state["globally-disabled"] is False
    assert run.serving() == [(0, True)]


@covers("doc.restored", "kea.network-state", "kea.stop-service-origin")
def test_two_lost_backends_service_returns_when_both_are_restored(simulate_text):
    """ "If connectivity to all backends is restored, the server returns to normal operations."
    Two stop-retry-exit backends with different origins (MySQL lease 6001, MySQL config backend
    6021, KB §2.2): the service is enabled iff no origin remains (network_state.cc:55-67)."""
    config = dhcp4(
        lease_database=db(tries=10, wait=1000),
        config_control={
            "config-fetch-wait-time": 1,
            "config-databases": [db(tries=10, wait=1000)],
        },
    )
    events = [
        {"at": 1, "down": LEASE},
        {"at": 1, "down": "config-databases[0]"},
        {"at": 1.5, "command": cmd("status-get")},
        {"at": 2.5, "up": LEASE},
        {"at": 3.5, "command": cmd("status-get")},
        {"at": 4.5, "up": "config-databases[0]"},
    ]
    run = simulate_text(text(config, events, until=8))
    assert db_state(run, 1.5)["disabled-by-db-connection"] == [6001, 6021]
    assert run.attempts(LEASE)[-1] == (3, 3, 10, True)
    assert db_state(run, 3.5)["disabled-by-db-connection"] == [6021]
    assert run.attempts("config-databases[0]")[-1] == (5, 5, 10, True)
    assert run.serving() == [(0, True), (1, False), (5, True)]


@covers("kea.stop-service-origin", "doc.restored")
def test_two_startup_retries_share_origin_3000_but_service_waits_for_both(simulate_text):
    """Rule kea.stop-service-origin (differs from Kea): all startup retry controls use origin
    3000 in Kea, so the first recovery would re-enable service while the other backend is still
    down; dbfsm keeps one origin per backend so that service returns "If connectivity to all
    backends is restored"."""
    both = {"tries": 5, "wait": 1000, "retry_on_startup": True}
    config = dhcp4(lease_database=db("mysql", **both), hosts_database=db("postgresql", **both))
    events = [
        {"at": 0, "down": LEASE},
        {"at": 0, "down": "hosts-database"},
        {"at": 1.5, "up": LEASE},
        {"at": 2.5, "command": cmd("status-get")},
        {"at": 3.5, "up": "hosts-database"},
    ]
    run = simulate_text(text(config, events, until=6))
    assert run.attempts(LEASE)[-1] == (2, 3, 5, True)
    assert db_state(run, 2.5)["disabled-by-db-connection"] == [3000]
    assert run.attempts("hosts-database")[-1] == (4, 5, 5, True)
    assert run.serving() == [(0, False), (4, True)]


@covers("kea.loss-during-recovery")
def test_loss_noticed_during_recovery_starts_no_second_loop(simulate_text):
    """Rule kea.loss-during-recovery (generic_lease_mgr_unittest.cc:3797-3808): uses of a
    backend that is waiting between attempts, or has been given up, start nothing new."""
    config = dhcp4(hosts_database=db("postgresql", tries=2, wait=1000, on_fail=CONTINUE))
    events = [
        {"at": 1, "down": "hosts-database"},
        {"at": 1.5, "use": "hosts-database"},
        {"at": 3, "use": "hosts-database"},
    ]
    run = simulate_text(text(config, events, until=5))
    assert run.log_times("LOST_CONNECTION") == [1, 2]
    assert run.attempts("hosts-database") == [(1, 1, 2, False), (2, 2, 2, False)]


@covers("kea.loss-during-recovery")
def test_engine_ignores_a_second_loss_report_while_recovering():
    """Engine level: a `Lost` report for a backend that is reconnecting or waiting produces
    nothing (no LOST_CONNECTION log, no attempt)."""
    config = dhcp4(lease_database=db(tries=3, wait=1000))
    engine = Engine(from_document(config))
    (open_,) = [a for a in engine.start() if isinstance(a, Open)]
    engine.handle(Opened(LEASE, open_.instance))
    first = engine.handle(Lost(LEASE, open_.instance))
    assert [(a.attempt, a.of) for a in first if isinstance(a, Open)] == [(1, 3)]
    assert engine.backend_states() == {LEASE: "reconnecting"}
    assert [
        a for a in engine.handle(Lost(LEASE, open_.instance)) if isinstance(a, Open | Log)
    ] == []
    assert engine.backend_states() == {LEASE: "reconnecting"}


def _two_hosts(first: str, second: str, tries: tuple[int, int] = (3, 3)) -> dict:
    return dhcp4(
        hosts_databases=[
            db("postgresql", tries=tries[0], wait=500, on_fail=first),
            db("mysql", tries=tries[1], wait=500, on_fail=second),
        ]
    )


HOSTS_DOWN = [{"at": 2, "down": "hosts-databases[0]"}, {"at": 2, "down": "hosts-databases[1]"}]
REQUESTS = {"every": 0.5, "from": 0.25}


@covers("kea.one-loss-per-request")
@pytest.mark.parametrize(
    ("first", "second", "losses", "exit_at"),
    [
        # the first backend stops the service: later requests are dropped unread
        (STOP, CONTINUE, [(2.25, "PgSqlHostMgr")], 3.25),
        # the first keeps serving while it recovers: the next request reaches the second
        (CONTINUE, STOP, [(2.25, "PgSqlHostMgr"), (2.75, "MySqlHostMgr")], 3.75),
        (CONTINUE, CONTINUE, [(2.25, "PgSqlHostMgr"), (2.75, "MySqlHostMgr")], None),
    ],
)
def test_one_request_notices_one_lost_backend(simulate_text, first, second, losses, exit_at):
    """kea-two-host-databases.md: both host databases killed at 2 s, a request every 0.5 s
    from 0.25 s; the first broken database drops the packet, so no request logs two losses."""
    config = _two_hosts(first, second)
    run = simulate_text(text(config, HOSTS_DOWN, until=6, traffic=REQUESTS))
    first_loss: dict[str, float] = {}  # each failed attempt logs the loss again
    for r in run.logs("DHCP4_DB_RECONNECT_LOST_CONNECTION"):
        manager = re.search(r"\w+Mgr", r.data["text"]).group()
        first_loss.setdefault(manager, r.t)
    assert [(t, m) for m, t in first_loss.items()] == losses
    exits = run.of_type("exit")
    assert [r.t for r in exits] == ([] if exit_at is None else [exit_at])


@covers("kea.one-loss-per-request", "kea.reconnect-disabled-kept")
def test_a_kept_broken_connection_hides_the_databases_after_it(simulate_text):
    """A broken connection kept under serve-retry-continue (reconnection disabled) fails every
    request first, so the host database after it is never queried and its loss never seen."""
    config = _two_hosts(CONTINUE, STOP, tries=(0, 3))
    for traffic in (REQUESTS, "continuous"):
        run = simulate_text(text(config, HOSTS_DOWN, until=4, traffic=traffic))
        assert all("PgSqlHostMgr" in t for t in run.texts("DHCP4_DB_RECONNECT_LOST_CONNECTION"))
        assert run.attempts() == []
        assert run.serving() == [(0, True)]


@covers("kea.reconnect-disabled-kept")
@pytest.mark.parametrize(("tries", "wait"), [(0, 1000), (3, 0)])
def test_kept_broken_connection_logs_the_loss_at_every_request(simulate_text, tries, wait):
    """Kea 2.2 measured (kea-2x-log-facts.md, "After giving up"): with reconnection disabled
    under serve-retry-continue, every later request that uses the broken connection logs
    ..._LOST_CONNECTION and ..._DB_RECONNECT_DISABLED again, never attempting; here two
    requests a second after the loss at 5 s, until the server comes back and beyond (the
    kept connection stays broken: no attempt replaces it)."""
    config = dhcp4(lease_database=db(tries=tries, wait=wait, on_fail=CONTINUE))
    events = [{"at": DOWN_AT, "down": LEASE}, {"at": 6.2, "up": LEASE}]
    run = simulate_text(text(config, events, until=7, traffic={"every": 0.5, "from": 0.25}))
    ticks = [5.25, 5.75, 6.25, 6.75]
    assert run.log_times("LOST_CONNECTION") == ticks
    assert run.log_times("DHCP4_DB_RECONNECT_DISABLED") == ticks
    assert run.attempts() == []
    assert run.serving() == [(0, True)]


@covers("kea.reconnect-disabled-kept")
def test_kept_broken_connection_is_hit_by_each_use_and_each_instant(simulate_text):
    """Each `use` event hits the kept broken connection again; continuous traffic hits it
    once at each later instant at which anything happens (here a command at 8 s)."""
    config = dhcp4(lease_database=db(tries=0, on_fail=CONTINUE))
    events = [
        {"at": DOWN_AT, "down": LEASE},
        {"at": 6, "use": LEASE},
        {"at": 7, "use": LEASE},
        {"at": 8, "command": cmd("status-get")},
    ]
    run = simulate_text(text(config, events, until=10))
    assert run.log_times("LOST_CONNECTION") == [5, 6, 7, 8]
    assert run.log_times("DHCP4_DB_RECONNECT_DISABLED") == [5, 6, 7, 8]


@covers("kea.reconnect-disabled-kept", "kea.loss-during-recovery")
def test_no_loss_logged_after_the_attempts_ran_out(simulate_text):
    """kea-2x-log-facts.md: once the attempts are exhausted "the lease manager is gone ... no
    further loss lines": later requests log nothing more."""
    config = dhcp4(lease_database=db(tries=2, wait=1000, on_fail=CONTINUE))
    run = simulate_text(
        text(config, [{"at": DOWN_AT, "down": LEASE}], until=12, traffic={"every": 0.5})
    )
    assert run.log_times("LOST_CONNECTION") == [5.0, 6.0]
    assert run.ids("DB_RECONNECT_FAILED") == [
        "MYSQL_LB_DB_RECONNECT_FAILED",
        "DHCP4_DB_RECONNECT_FAILED",
    ]
    assert run.log_times("RECONNECT")[-1] == 6.0


@covers("kea.posted-recovery", "doc.retry-on-startup")
def test_startup_recoveries_run_one_job_each_with_its_first_attempt(simulate_text):
    """Both databases down at start with retry-on-startup: the lease database (serve-retry-
    continue, 3 tries) has its job first, which makes its first attempt (failed, the second
    scheduled); then the host database's job (stop-retry-exit, 0 tries) exits."""
    config = dhcp4(
        lease_database=db(tries=3, wait=1000, on_fail=CONTINUE, retry_on_startup=True),
        hosts_database=db(tries=0, wait=1000, on_fail=STOP, retry_on_startup=True),
    )
    run = simulate_text(
        text(config, [{"at": 0, "down": LEASE}, {"at": 0, "down": "hosts-database"}])
    )
    assert run.ids("RECONNECT") == [
        "DHCP4_DB_RECONNECT_LOST_CONNECTION",
        "MYSQL_LB_DB_RECONNECT_ATTEMPT_FAILED",
        "MYSQL_LB_DB_RECONNECT_ATTEMPT_SCHEDULE",
        "DHCP4_DB_RECONNECT_LOST_CONNECTION",
        "DHCP4_FATAL_DB_RECONNECT_DISABLED",
    ]
    assert run.attempts() == [(0, 1, 3, False)]
    assert run.exit_code == 1


@covers("kea.posted-recovery", "kea.stop-service-origin")
def test_a_posted_stop_retry_exit_recovery_stops_the_service_at_once(simulate_text):
    """Kea runs a stop-retry-exit backend's posted job before any command: a status-get at
    the commit finds its origin (3000, manager ID 0 under retry-on-startup) in force."""
    config = dhcp4(
        lease_database=db(tries=3, wait=1000, on_fail=STOP, retry_on_startup=True),
    )
    events = [{"at": 0, "down": LEASE}, {"at": 0, "command": cmd("status-get")}]
    run = simulate_text(text(config, events, until=1))
    assert db_state(run, 0)["disabled-by-db-connection"] == [3000]
    assert run.serving() == [(0, False)]


# ---------------------------------------------------------------------------------------------
# Memfile
# ---------------------------------------------------------------------------------------------


@covers("kea.reconnect-disabled")
@pytest.mark.parametrize("mode", ALL_MODES)
def test_memfile_write_error_is_a_loss_without_reconnect(simulate_text, mode):
    """KB §2.3/§2.6: a memfile write error calls the lost callback directly with a retry control
    of zero tries (manager ID 3003, timer memfile-lease-mgr): FATAL and exit 1 under the exit
    modes, ERROR only under serve-retry-continue; never an attempt."""
    config = dhcp4(lease_database=db("memfile", on_fail=mode))
    run = lease_file_fails(config, at=DOWN_AT)
    severity, id_ = _reconnect_disabled_log(mode)
    match(
        after(run, DOWN_AT),
        [
            (
                5,
                "INFO",
                "DHCP4_DB_RECONNECT_LOST_CONNECTION",
                r"database connection lost: manager ID: 3003, timer: memfile-lease-mgr\.",
            ),
            (
                5,
                severity,
                id_,
                r"database reconnect is disabled: retries left: 0, reconnect wait time: 0, "
                r"manager ID: 3003, timer: memfile-lease-mgr",
            ),
        ],
    )
    assert run.attempts() == []
    assert run.exit_code == (1 if mode in EXIT_MODES else None)


# ---------------------------------------------------------------------------------------------
# Reconfiguration
# ---------------------------------------------------------------------------------------------


@covers("doc.reconfig-disconnects")
def test_config_set_closes_and_reopens_every_backend(simulate_text):
    """ "During dynamic reconfiguration, all backends are disconnected and then reconnected
    using the new configuration." -- each backend is closed and a new connection opened (a new
    manager: a new timer name, KB §2.2), the answer is result 0."""
    config = dhcp4(lease_database=db(tries=3, wait=1000), hosts_database=db("postgresql"))
    events = [{"at": 2, "command": cmd("config-set", **config)}, {"at": 4, "down": LEASE}]
    run = simulate_text(text(config, events, until=5))
    for backend in (LEASE, "hosts-database"):
        at_2 = [(trigger, dest) for t, trigger, dest in run.states(backend) if t == 2]
        assert at_2 == [("close", "closed"), ("open", "connecting"), ("opened", "online")]
    answer = run.answer("config-set")
    assert (answer["result"], answer["text"]) == (0, "Configuration successful.")
    assert run.ids("CONFIG_COMPLETE|STARTED") == [
        "DHCP4_CONFIG_COMPLETE",
        "DHCP4_STARTED",
        "DHCP4_CONFIG_COMPLETE",
    ], "a reconfiguration completes a configuration but does not start the server again"
    lost = run.texts("LOST_CONNECTION")[0]
    assert "MySqlLeaseMgr[1]" not in lost, "the new manager has a new timer"


@covers("kea.reconfig-resets-origins", "doc.reconfig-disconnects")
def test_config_set_during_recovery_clears_db_origins_and_cancels_the_loop(simulate_text):
    """KB §2.8: "All existing timers are cancelled, including in-flight DB reconnect timers
    (json_config_parser.cc:819)" and "After createManagers() succeeds, all DB origins are
    cleared (resetForDbConnection, ctrl_dhcp4_srv.cc:1475)"."""
    config = dhcp4(lease_database=db(tries=5, wait=1000))
    events = [
        {"at": 1, "down": LEASE},
        {"at": 1.2, "up": LEASE},
        {"at": 1.5, "command": cmd("config-set", **config)},
        {"at": 2.5, "command": cmd("status-get")},
    ]
    run = simulate_text(text(config, events, until=8))
    assert run.attempts(LEASE) == [(1, 1, 5, False)]
    assert run.log_times("LOST_CONNECTION|ATTEMPT|SUCCEEDED") == [1, 1, 1]
    assert run.answer("config-set")["result"] == 0
    assert db_state(run, 2.5)["disabled-by-db-connection"] == []
    assert run.serving() == [(0, True), (1, False), (1.5, True)]


@covers("kea.reconfig-resets-origins", "kea.user-disable")
def test_config_set_keeps_the_user_origin(simulate_text):
    """resetForDbConnection clears only origins >= 3000 (network_state.cc:72-82): a
    dhcp-disable from the user survives a reconfiguration."""
    config = dhcp4()
    events = [
        {"at": 1, "command": cmd("dhcp-disable")},
        {"at": 2, "command": cmd("config-set", **config)},
        {"at": 3, "command": cmd("status-get")},
    ]
    run = simulate_text(text(config, events, until=4))
    assert run.answer("config-set")["result"] == 0
    assert db_state(run, 3)["disabled-by-user"] is True
    assert run.result.state == "not_serving"
    assert run.serving() == [(0, True), (1, False)]


@covers("doc.reconfig-fails-up", "doc.commands-during-recovery")
def test_config_set_with_unreachable_backend_keeps_the_server_up(simulate_text):
    """ "If connectivity to any of the backends cannot be established, the server logs a fatal
    error but remains up. It is able to process commands but does not serve clients."
    -- result 1 "Unable to open database: ..." (ctrl_dhcp4_srv.cc:1478-1481) and FATAL
    DHCP4_CONFIG_UNRECOVERABLE_ERROR (the documented fatal error, rule doc.reconfig-fails-up)."""
    config = dhcp4(lease_database=db("postgresql"))
    events = [
        {"at": 1, "down": LEASE},
        {"at": 2, "command": cmd("config-set", **config)},
        {"at": 3, "command": cmd("status-get")},
    ]
    run = simulate_text(text(config, events, until=5, traffic="none"))
    answer = run.answer("config-set")
    assert answer["result"] == 1
    assert answer["text"].startswith("Unable to open database: ")
    match(
        after(run, 2),
        [
            (
                2,
                "FATAL",
                "DHCP4_CONFIG_UNRECOVERABLE_ERROR",
                "DHCPv4 server new configuration failed with an error which cannot be recovered",
            )
        ],
    )
    status = run.answer("status-get")
    assert status["result"] == 0
    assert status["arguments"]["sockets"] == {"status": "failed"}, "no DHCP socket is open"
    assert run.exit_code is None
    assert run.result.state == "unconfigured"
    assert run.serving() == [(0, True), (2, False)]


@covers("doc.reconfig-fails-up")
def test_good_config_set_after_a_failed_one_restores_serving(simulate_text):
    """ "This allows the configuration to be corrected via the config-set or remote-*
    commands, if required." -- a later good config-set brings service back."""
    config = dhcp4(lease_database=db("postgresql"))
    events = [
        {"at": 1, "down": LEASE},
        {"at": 2, "command": cmd("config-set", **config)},
        {"at": 3, "up": LEASE},
        {"at": 4, "command": cmd("config-set", **config)},
    ]
    run = simulate_text(text(config, events, until=5, traffic="none"))
    assert [a["result"] for _, a in run.answers("config-set")] == [1, 0]
    assert run.result.state == "serving"
    assert run.serving() == [(0, True), (2, False), (4, True)]


@covers("doc.retry-on-startup", "kea.reconfig-resets-origins")
def test_retry_on_startup_also_governs_reconfiguration(simulate_text):
    """ "the server will start reconnection attempts even at server startup or on reconfigure
    events" (KB §2.8: retry_ is true in every processConfig): config-set succeeds without the
    backend and recovery runs as manager 0."""
    config = dhcp4(lease_database=db(tries=3, wait=1000, retry_on_startup=True))
    events = [
        {"at": 1, "down": LEASE},
        {"at": 1, "command": cmd("config-set", **config)},
        {"at": 1.5, "up": LEASE},
    ]
    run = simulate_text(text(config, events, until=4, traffic="none"))
    assert run.answer("config-set")["result"] == 0
    assert run.ids("WITH_RETRY_FAILED") == [
        "DHCPSRV_LEASE_MGR_DB_OPEN_CONNECTION_WITH_RETRY_FAILED"
    ]
    assert all("manager ID: 0," in line for line in run.texts("LOST_CONNECTION"))
    assert run.attempts(LEASE)[-1] == (2, 2, 3, True)
    assert run.result.serving is True


@covers("doc.reconfig-disconnects")
def test_config_reload_rereads_the_file(tmp_path):
    """config-reload (SIGHUP) runs the same path as startup with the file read again
    (KB §2.8, ctrl_dhcp4_srv.cc:82-89): a change made to the file after startup is applied."""
    path = tmp_path / "kea.json"
    path.write_text(json.dumps(dhcp4(lease_database=db("mysql"))))
    parsed = scenario.parse(
        text("kea.json", [{"at": 1, "command": cmd("config-reload")}], until=2), "s.yaml", tmp_path
    )
    path.write_text(json.dumps(dhcp4(lease_database=db("mysql"), hosts_database=db("postgresql"))))
    result = simulate.run(parsed)
    hosts = [(t, a.trigger, a.dest) for t, a in result.transitions if a.machine == "hosts-database"]
    assert hosts == [(1, "open", "connecting"), (1, "opened", "online")]
    command = [r.data for r in result.records if r.type == "command"]
    assert command == [
        {"command": "config-reload", "result": 0, "text": "Configuration successful."}
    ]


@covers("doc.reconfig-fails-up")
def test_config_reload_failure_logs_dynamic_reconfiguration_fail(simulate_text, tmp_path):
    """KB §2.8/§3: a failed config-reload logs ERROR DHCP4_DYNAMIC_RECONFIGURATION_FAIL
    `dynamic server reconfiguration failed with file: %1` (ctrl_dhcp4_srv.cc:263-271); the
    server stays up (documented fatal error, result 1)."""
    path = tmp_path / "kea.json"
    path.write_text(json.dumps(dhcp4(lease_database=db("mysql"))))
    events = [{"at": 1, "down": LEASE}, {"at": 1, "command": cmd("config-reload")}]
    run = simulate_text(text("kea.json", events, until=3, traffic="none"))
    (failed,) = run.logs("DYNAMIC_RECONFIGURATION_FAIL")
    assert failed.data["severity"] == "ERROR"
    assert failed.data["text"] == f"dynamic server reconfiguration failed with file: {path}"
    assert fatal_ids(run) == ["DHCP4_CONFIG_UNRECOVERABLE_ERROR"]
    assert run.answer("config-reload")["result"] == 1
    assert run.exit_code is None


@covers("doc.reconfig-fails-up")
def test_config_reload_failure_also_logs_config_load_fail(simulate_text, tmp_path):
    """KB §2.8: "config-reload logs ERROR DHCP4_CONFIG_LOAD_FAIL +
    DHCP4_DYNAMIC_RECONFIGURATION_FAIL, ctrl_dhcp4_srv.cc:263-271"."""
    (tmp_path / "kea.json").write_text(json.dumps(dhcp4(lease_database=db("mysql"))))
    events = [{"at": 1, "down": LEASE}, {"at": 1, "command": cmd("config-reload")}]
    run = simulate_text(text("kea.json", events, until=3, traffic="none"))
    ids = run.ids("CONFIG_LOAD_FAIL|DYNAMIC_RECONFIGURATION_FAIL")
    assert ids == ["DHCP4_CONFIG_LOAD_FAIL", "DHCP4_DYNAMIC_RECONFIGURATION_FAIL"]


# ---------------------------------------------------------------------------------------------
# Commands that change the service
# ---------------------------------------------------------------------------------------------


@covers("kea.user-disable")
def test_dhcp_disable_and_enable_use_the_user_origin(simulate_text):
    """kea.user-disable: "dhcp-disable adds the user origin, dhcp-enable removes it"."""
    events = [
        {"at": 1, "command": cmd("dhcp-disable")},
        {"at": 1.5, "command": cmd("status-get")},
        {"at": 2, "command": cmd("dhcp-enable")},
    ]
    run = simulate_text(text(dhcp4(), events, until=3))
    assert run.answer("dhcp-disable") == {"result": 0, "text": "DHCPv4 service disabled"}
    assert run.answer("dhcp-enable")["result"] == 0
    state = db_state(run, 1.5)
    assert state["disabled-by-user"] is True
    assert state["globally-disabled"] is True
    assert state["disabled-by-db-connection"] == []
    assert run.serving() == [(0, True), (1, False), (2, True)]


@covers("kea.user-disable")
def test_dhcp_disable_max_period_reenables(simulate_text):
    """kea.user-disable: "max-period re-enables the service after that many seconds"."""
    events = [{"at": 3, "command": cmd("dhcp-disable", max_period=2)}]
    run = simulate_text(text(dhcp4(), events, until=10))
    assert run.serving() == [(0, True), (3, False), (5, True)]


@covers("kea.user-disable")
def test_dhcp_enable_before_max_period_cancels_the_delayed_enable(simulate_text):
    """A dhcp-enable lifts the origin at once; a later dhcp-disable is not undone by the
    first one's max-period timer."""
    events = [
        {"at": 1, "command": cmd("dhcp-disable", max_period=5)},
        {"at": 2, "command": cmd("dhcp-enable")},
        {"at": 3, "command": cmd("dhcp-disable")},
    ]
    run = simulate_text(text(dhcp4(), events, until=10))
    assert run.serving() == [(0, True), (1, False), (2, True), (3, False)]


@covers("kea.user-disable", "kea.stop-service-origin")
@pytest.mark.parametrize(("kind", "origin"), [("mysql", 6001), ("postgresql", 6002)])
def test_dhcp_enable_origin_id_lifts_a_db_origin(simulate_text, kind, origin):
    """KB §2.2: "A user can lift a DB origin manually: dhcp-enable with "origin-id": 6001 calls
    enableService(6001) (ctrl_dhcp4_srv.cc:676-712)" -- the backend keeps recovering."""
    config = dhcp4(lease_database=db(kind, tries=5, wait=1000))
    events = [
        {"at": 1, "down": LEASE},
        {"at": 1.2, "command": cmd("status-get")},
        {"at": 1.5, "command": cmd("dhcp-enable", origin_id=origin)},
        {"at": 1.7, "command": cmd("status-get")},
    ]
    run = simulate_text(text(config, events, until=3))
    assert db_state(run, 1.2)["disabled-by-db-connection"] == [origin]
    assert run.answer("dhcp-enable")["result"] == 0
    assert db_state(run, 1.7)["disabled-by-db-connection"] == []
    assert run.serving() == [(0, True), (1, False), (1.5, True)]
    assert [n for _, n, _, _ in run.attempts(LEASE)] == [1, 2, 3]


@covers("kea.network-state")
def test_disabling_the_same_origin_twice_needs_one_enable(simulate_text):
    """kea.network-state: "disabling the same origin twice needs one enable"
    (network_state_unittest.cc:383-391)."""
    events = [
        {"at": 1, "command": cmd("dhcp-disable")},
        {"at": 2, "command": cmd("dhcp-disable")},
        {"at": 3, "command": cmd("dhcp-enable")},
    ]
    run = simulate_text(text(dhcp4(), events, until=4))
    assert run.serving() == [(0, True), (1, False), (3, True)]


@covers("kea.network-state", "kea.user-disable")
def test_user_origin_and_db_origin_both_must_go(simulate_text):
    """kea.network-state: "The service is enabled iff the set of disabling origins is empty":
    a recovered backend does not re-enable a service the user disabled."""
    config = dhcp4(lease_database=db(tries=5, wait=1000))
    events = [
        {"at": 1, "down": LEASE},
        {"at": 1.2, "command": cmd("dhcp-disable")},
        {"at": 1.5, "up": LEASE},
        {"at": 3, "command": cmd("dhcp-enable")},
    ]
    run = simulate_text(text(config, events, until=4))
    assert run.attempts(LEASE)[-1] == (2, 2, 5, True)
    assert run.serving() == [(0, True), (1, False), (3, True)]


@covers("kea.shutdown")
@pytest.mark.parametrize(("arguments", "code"), [({}, 0), ({"exit_value": 7}, 7)])
def test_shutdown_exits_with_its_exit_value(simulate_text, arguments, code):
    """kea.shutdown: "The shutdown command stops the server with its exit-value argument
    (default 0)." -- answered before the exit."""
    config = dhcp4(lease_database=db(tries=5, wait=1000))
    events = [{"at": 1, "down": LEASE}, {"at": 1.5, "command": cmd("shutdown", **arguments)}]
    run = simulate_text(text(config, events, until=5))
    assert run.answer("shutdown") == {"result": 0, "text": "Shutting down."}
    tail = [(r.t, r.type, r.data.get("code")) for r in run.result.timeline() if r.type != "log"]
    assert tail[-3:] == [(1.5, "command", None), (1.5, "exit", code), (1.5, "summary", None)]
    assert run.exit_code == code
    assert run.attempts(LEASE) == [(1, 1, 5, False)], "the reconnect timer died with the server"


@covers("doc.commands-during-recovery")
@pytest.mark.parametrize("mode", ALL_MODES)
def test_commands_are_answered_during_recovery(simulate_text, mode):
    """ "During the recovery process, the server ceases to serve clients according to the on-fail
    configured option but continues to respond to commands." """
    config = dhcp4(lease_database=db(tries=5, wait=1000, on_fail=mode))
    names = ["status-get", "version-get", "list-commands", "config-get", "dhcp-disable"]
    events = [{"at": 1, "down": LEASE}] + [
        {"at": 1.5 + i / 10, "command": cmd(name)} for i, name in enumerate(names)
    ]
    run = simulate_text(text(config, events, until=3))
    assert [(r.data["command"], r.data["result"]) for r in run.of_type("command")] == [
        (name, 0) for name in names
    ]


# ---------------------------------------------------------------------------------------------
# DHCPv6
# ---------------------------------------------------------------------------------------------


def test_dhcp6_uses_dhcp6_message_ids(simulate_text):
    """kea-dhcp6 is identical with DHCP6_ IDs (KB §2.12, ctrl_dhcp6_srv.cc:1672-1760; §3 "v6
    same text with DHCP6_ prefix")."""
    config = {"Dhcp6": {"lease-database": db("postgresql", tries=2, wait=1000)}}
    run = simulate_text(text(config, [{"at": 1, "down": LEASE}], until=5))
    assert run.ids(r"^DHCP4_") == []
    assert run.ids(r"STARTED|RECONNECT") == [
        "DHCP6_STARTED",
        "DHCP6_DB_RECONNECT_LOST_CONNECTION",
        "PGSQL_LB_DB_RECONNECT_ATTEMPT_FAILED",
        "PGSQL_LB_DB_RECONNECT_ATTEMPT_SCHEDULE",
        "DHCP6_DB_RECONNECT_LOST_CONNECTION",
        "PGSQL_LB_DB_RECONNECT_ATTEMPT_FAILED",
        "PGSQL_LB_DB_RECONNECT_FAILED",
        "DHCP6_FATAL_DB_RECONNECT_FAILED",
    ]
    assert run.texts("STARTED")[0].startswith("Kea DHCPv6 server version ")
    assert run.exit_code == 1


def test_dhcp6_startup_failure_and_config_backend_ids(simulate_text):
    """DHCPv6 startup failure logs DHCP6_CONFIG_LOAD_FAIL and DHCP6_INIT_FAIL; config backend
    messages carry the 6 suffix and the DHCPv6 timer (mysql_cb_messages.mes:727-749,
    mysql_cb_impl.cc:63-67)."""
    cb = {
        "config-databases": [db(tries=2, wait=1000, on_fail=CONTINUE)],
        "config-fetch-wait-time": 1,
    }
    config = {"Dhcp6": {"config-control": cb}}
    run = simulate_text(text(config, [{"at": 1.5, "down": "config-databases[0]"}], until=5))
    assert run.ids("MYSQL_CB") == [
        "MYSQL_CB_RECONNECT_ATTEMPT_FAILED6",
        "MYSQL_CB_RECONNECT_ATTEMPT_SCHEDULE6",
        "MYSQL_CB_RECONNECT_ATTEMPT_FAILED6",
        "MYSQL_CB_RECONNECT_FAILED6",
    ]
    assert re.search(timer("MySqlConfigBackendDHCPv6"), run.texts("LOST_CONNECTION")[0])
    assert run.ids("DHCP4") == []

    failed = simulate_text(text({"Dhcp6": {"lease-database": db()}}, [{"at": 0, "down": LEASE}]))
    assert failed.ids(DB_IDS) == ["DHCP6_CONFIG_LOAD_FAIL", "DHCP6_INIT_FAIL"]


# ---------------------------------------------------------------------------------------------
# When a loss is noticed
# ---------------------------------------------------------------------------------------------


def _first_loss(run: Any) -> float | None:
    times = run.log_times("LOST_CONNECTION")
    return times[0] if times else None


@covers("doc.loss-reconnects")
def test_continuous_traffic_notices_a_loss_at_once(simulate_text):
    """KB §2.3: a loss is detected by the query that fails; with continuous traffic that is the
    instant the database goes down."""
    config = dhcp4(lease_database=db(tries=3, wait=1000))
    run = simulate_text(text(config, [{"at": 1.1, "down": LEASE}], until=3))
    assert _first_loss(run) == 1.1


@pytest.mark.parametrize(("down", "noticed"), [(1.1, 1.25), (0.75, 0.75), (0.1, 0.25)])
def test_periodic_traffic_notices_a_loss_at_the_next_request(simulate_text, down, noticed):
    """Periodic traffic `{every: 0.5, from: 0.25}`: requests at 0.25, 0.75, 1.25, ...; a loss
    is noticed at the first request at or after it."""
    config = dhcp4(lease_database=db(tries=3, wait=1000))
    traffic = {"every": 0.5, "from": 0.25}
    run = simulate_text(text(config, [{"at": down, "down": LEASE}], until=3, traffic=traffic))
    assert _first_loss(run) == noticed
    assert run.attempts(LEASE)[0] == (noticed, 1, 3, False)


def test_no_traffic_notices_a_loss_only_at_use_events(simulate_text):
    """`traffic: none`: only `use` events touch a backend."""
    config = dhcp4(lease_database=db(tries=3, wait=1000))
    unused = simulate_text(text(config, [{"at": 1.1, "down": LEASE}], until=5, traffic="none"))
    assert _first_loss(unused) is None
    assert unused.result.serving is True
    used = simulate_text(
        text(
            config, [{"at": 1.1, "down": LEASE}, {"at": 2.2, "use": LEASE}], until=5, traffic="none"
        )
    )
    assert _first_loss(used) == 2.2


@covers("doc.commands-during-recovery")
def test_a_server_that_does_not_serve_notices_no_lease_or_host_loss(simulate_text):
    """KB §2.2: while the service is disabled every DHCP packet is dropped before processing
    (dhcp4_srv.cc:1308-1317), so no query reaches the lease or host database: a loss is noticed
    only once the server serves again."""
    config = dhcp4(hosts_database=db("postgresql", tries=3, wait=1000, on_fail=CONTINUE))
    events = [
        {"at": 1, "command": cmd("dhcp-disable")},
        {"at": 1.5, "down": "hosts-database"},
        {"at": 2, "use": "hosts-database"},
        {"at": 3, "command": cmd("dhcp-enable")},
    ]
    run = simulate_text(text(config, events, until=4))
    assert _first_loss(run) == 3


@covers("doc.loss-reconnects")
def test_config_backend_loss_is_noticed_at_the_fetch_poll(simulate_text):
    """KB §2.11: config backends are used by the config-fetch-wait-time poll
    (Dhcp4CBFetchTimer), whether or not the server serves; a `use` event touches one at once."""
    cb = {
        "config-databases": [db(tries=3, wait=1000, on_fail=CONTINUE)],
        "config-fetch-wait-time": 5,
    }
    config = dhcp4(config_control=cb)
    polled = simulate_text(text(config, [{"at": 1.1, "down": "config-databases[0]"}], until=12))
    assert _first_loss(polled) == 5
    assert "manager ID: 3021" in polled.texts("LOST_CONNECTION")[0]
    events = [
        {"at": 1, "command": cmd("dhcp-disable")},
        {"at": 1.1, "down": "config-databases[0]"},
        {"at": 2, "use": "config-databases[0]"},
    ]
    used = simulate_text(text(config, events, until=3))
    assert _first_loss(used) == 2


def test_config_fetch_wait_time_0_means_no_polling(simulate_text):
    """Kea: "Only schedule the CB fetch timer if the fetch wait time is greater than 0"
    (ctrl_dhcp4_srv.cc, processConfig): with 0 a config backend loss is noticed only on use."""
    cb = {"config-databases": [db(tries=3, wait=1000)], "config-fetch-wait-time": 0}
    events = [{"at": 1.1, "down": "config-databases[0]"}, {"at": 4, "use": "config-databases[0]"}]
    run = simulate_text(text(dhcp4(config_control=cb), events, until=5))
    assert _first_loss(run) == 4


# ---------------------------------------------------------------------------------------------
# Access strings in logs
# ---------------------------------------------------------------------------------------------


@covers("doc.retry-on-startup")
def test_open_retry_log_redacts_the_password(simulate_text):
    """DHCPSRV_LEASE_MGR_DB_OPEN_CONNECTION_WITH_RETRY_FAILED `Failed to connect to database: %1
    with error: %2` shows the redacted access string (password=*****, KB §3)."""
    config = dhcp4(lease_database=db(tries=3, wait=1000, retry_on_startup=True, password="hunter2"))
    run = simulate_text(text(config, [{"at": 0, "down": LEASE}, {"at": 0.5, "up": LEASE}], until=2))
    (line,) = run.texts("WITH_RETRY_FAILED")
    assert line.startswith("Failed to connect to database: ")
    assert " with error: " in line
    assert "password=*****" in line
    assert "hunter2" not in json.dumps([r.to_json() for r in run.records])


def test_open_retry_log_spells_booleans_as_kea_does(simulate_text):
    """The access string in ..._WITH_RETRY_FAILED is Kea's: booleans are `true`/`false`."""
    config = dhcp4(lease_database=db(tries=3, wait=1000, retry_on_startup=True))
    run = simulate_text(text(config, [{"at": 0, "down": LEASE}, {"at": 0.5, "up": LEASE}], until=2))
    (line,) = run.texts("WITH_RETRY_FAILED")
    assert "retry-on-startup=true" in line
    assert "True" not in line and "False" not in line


# ---------------------------------------------------------------------------------------------
# Entry points agree; every rule covered
# ---------------------------------------------------------------------------------------------


def test_simulate_run_gives_the_fixtures_records(simulate_text, tmp_path):
    """The fixture runs scenarios exactly as `dbfsm.simulate.run` does."""
    body = text(
        dhcp4(lease_database=db(tries=2, wait=500, on_fail=CONTINUE)), [{"at": 1, "down": LEASE}]
    )
    direct = simulate.run(scenario.parse(textwrap.dedent(body), "scenario.yaml", Path(tmp_path)))
    assert direct.records == simulate_text(body).records


def test_every_rule_has_a_test():
    """Each rule of `fsm.rules` is checked by at least one test of this module."""
    assert sorted(set(RULES) - COVERED) == []


SPEC = Path(__file__).resolve().parents[2] / "specs" / "kea-database-connectivity.txt"


def test_every_rule_quotes_its_source():
    """doc.* rules quote the documentation word for word; kea.* rules cite a Kea file."""
    spec = " ".join(SPEC.read_text().split())
    for rule in RULES.values():
        if rule.id.startswith("doc."):
            assert " ".join(rule.text.split()) in spec, rule.id
        else:
            assert re.search(r"\.(cc|h)\b", rule.cite), rule.id
