"""Recovery work runs one job at a time, as on Kea's IOService (kea-behaviour.md §2.3-§2.7).

Kea posts one reconnect job per lost backend (startRecoverDbConnection), in the order the
losses were found: the lease database before the host databases at startup and on
reconfiguration (createManagers), in request order otherwise. A job runs the lost callback
and the first reconnect attempt, a synchronous open, before the next job starts.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from dbfsm.fsm.actions import Action, AttemptResult, Exit, Log, Open
from dbfsm.fsm.config import from_document
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.events import Lost, Opened, OpenFailed
from dbfsm.simulation import scenario, simulate

LEASE, HOSTS = "lease-database", "hosts-database"


def _db(on_fail: str, tries: int, wait: int, **more: Any) -> dict[str, Any]:
    params = {"type": "mysql", "name": "kea", "on-fail": on_fail}
    params.update({"max-reconnect-tries": tries, "reconnect-wait-time": wait}, **more)
    return params


def _config(lease: dict[str, Any], hosts: dict[str, Any]) -> dict[str, Any]:
    return {"Dhcp4": {"lease-database": lease, "hosts-database": hosts}}


def _simulate(tmp_path: Path, config: dict[str, Any], events: list[dict[str, Any]]) -> Any:
    lines = [f"config: {json.dumps(config)}", "until: 10", "events:"]
    lines += [f"  - {json.dumps(e)}" for e in events]
    text = textwrap.dedent("\n".join(lines) + "\n")
    return simulate.run(scenario.parse(text, "scenario.yaml", tmp_path, None))


def _story(actions: list[Action]) -> list[str]:
    """What a reader of the log sees: message IDs, attempts and the exit, in order."""
    story = []
    for a in actions:
        match a:
            case Log(message):
                story.append(message.id)
            case Open(backend, _, _, n, _) if n is not None:
                story.append(f"attempt {n} {backend}")
            case AttemptResult(backend, n, _, ok):
                story.append(f"attempt {n} {backend} {'ok' if ok else 'failed'}")
            case Exit(code):
                story.append(f"exit {code}")
    return story


def test_startup_runs_the_lease_job_with_its_attempt_before_the_host_job(tmp_path: Path) -> None:
    """The example of the specification's divergence: lease serve-retry-continue (3 tries,
    1000 ms), host stop-retry-exit with 0 tries, both down at start with retry-on-startup.
    Kea makes the lease database's first attempt (it fails and schedules the second), then
    runs the host job, which finds reconnection disabled and exits."""
    config = _config(
        _db("serve-retry-continue", 3, 1000, **{"retry-on-startup": True}),
        _db("stop-retry-exit", 0, 1000, **{"retry-on-startup": True}),
    )
    result = _simulate(tmp_path, config, [{"at": 0, "down": LEASE}, {"at": 0, "down": HOSTS}])
    logs = [
        (r.data.get("id") or f"attempt {r.data['n']} {r.data['backend']}")
        for r in result.timeline()
        if r.type in ("log", "attempt") and "RECONNECT" in str(r.data.get("id", "RECONNECT"))
    ]
    assert logs == [
        "DHCP4_DB_RECONNECT_LOST_CONNECTION",
        "attempt 1 lease-database",
        "MYSQL_LB_DB_RECONNECT_ATTEMPT_FAILED",
        "MYSQL_LB_DB_RECONNECT_ATTEMPT_SCHEDULE",
        "DHCP4_DB_RECONNECT_LOST_CONNECTION",
        "DHCP4_FATAL_DB_RECONNECT_DISABLED",
    ]
    assert result.exit_code == 1
    assert result.records[-2].type == "exit" and result.records[-2].t == 0


def _engine_with_both_online(hosts_on_fail: str = "serve-retry-continue") -> tuple[Engine, int]:
    config = _config(_db("serve-retry-continue", 3, 1000), _db(hosts_on_fail, 2, 500))
    engine = Engine(from_document(config, where="test"))
    instances = {}
    actions = engine.start()
    while opens := [a for a in actions if isinstance(a, Open)]:
        instances[opens[0].backend] = opens[0].instance
        actions = engine.handle(Opened(opens[0].backend, opens[0].instance))
    assert engine.serving and set(instances) == {LEASE, HOSTS}
    return engine, instances[HOSTS]


def test_a_second_loss_waits_for_the_first_attempts_answer() -> None:
    """Two losses found at the same instant: the second backend's lost callback runs only
    once the first backend's first attempt has been answered, in the same engine call."""
    engine, hosts = _engine_with_both_online()
    first = engine.handle(Lost(LEASE, 1))
    assert _story(first) == ["DHCP4_DB_RECONNECT_LOST_CONNECTION", "attempt 1 lease-database"]
    assert engine.handle(Lost(HOSTS, hosts)) == []  # posted: the lease attempt is still out
    assert engine.backend_states() == {LEASE: "reconnecting", HOSTS: "online"}
    answered = engine.handle(OpenFailed(LEASE, 1, "Connection refused"))
    assert _story(answered) == [
        "attempt 1 lease-database failed",
        "MYSQL_LB_DB_RECONNECT_ATTEMPT_FAILED",
        "MYSQL_LB_DB_RECONNECT_ATTEMPT_SCHEDULE",
        "DHCP4_DB_RECONNECT_LOST_CONNECTION",
        "attempt 1 hosts-database",
    ]
    assert engine.backend_states() == {LEASE: "waiting", HOSTS: "reconnecting"}


def test_work_posted_twice_runs_once() -> None:
    """Requests noticing the same loss while it waits post it once: one loss, one attempt."""
    engine, hosts = _engine_with_both_online()
    engine.handle(Lost(LEASE, 1))
    engine.handle(Lost(HOSTS, hosts))
    engine.handle(Lost(HOSTS, hosts))
    answered = engine.handle(Opened(LEASE, 1))
    assert _story(answered).count("DHCP4_DB_RECONNECT_LOST_CONNECTION") == 1
    assert [a.attempt for a in answered if isinstance(a, Open)] == [1]


def test_posted_work_of_a_closed_backend_is_dropped() -> None:
    """A reconfiguration closes the backends: the loss posted for the old connection is
    stale, and the new configuration's opens are not held by the old attempt."""
    engine, hosts = _engine_with_both_online()
    engine.handle(Lost(LEASE, 1))
    engine.handle(Lost(HOSTS, hosts))
    config = _config(_db("serve-retry-continue", 3, 1000), _db("serve-retry-continue", 2, 500))
    actions = engine.command({"command": "config-set", "arguments": config})
    assert [(a.backend, a.attempt) for a in actions if isinstance(a, Open)] == [(LEASE, None)]
    assert "DHCP4_DB_RECONNECT_LOST_CONNECTION" not in _story(actions)


def test_a_loss_that_ends_without_an_attempt_holds_nothing() -> None:
    """A job that makes no attempt (reconnect disabled) lets the next job run at once."""
    config = _config(_db("serve-retry-continue", 0, 1000), _db("serve-retry-continue", 2, 500))
    engine = Engine(from_document(config, where="test"))
    engine.start()
    engine.handle(Opened(LEASE, 1))
    engine.handle(Opened(HOSTS, 2))
    assert _story(engine.handle(Lost(LEASE, 1))) == [
        "DHCP4_DB_RECONNECT_LOST_CONNECTION",
        "DHCP4_DB_RECONNECT_DISABLED",
    ]
    assert _story(engine.handle(Lost(HOSTS, 2)))[-1] == "attempt 1 hosts-database"
