"""`dbfsm check` on memfile and default ports, `simulate --config` without a scenario, and
`simulate --collapse-repeats`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.cli import invoke

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "kea-examples" / "kea4"


def write(tmp_path: Path, name: str, document: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return str(path)


def test_check_says_memfile_has_no_connectivity_lifecycle(capsys):
    code, out, err = invoke(capsys, "check", str(EXAMPLES / "single-subnet.json"))
    assert (code, err) == (0, "")
    assert "lease-database (memfile)\n" in out  # no on-fail in the heading: nothing to lose
    assert "no connectivity lifecycle: memfile keeps the leases" in out
    assert "unreachable at startup" not in out and "lost while serving" not in out
    assert "  a write to the lease file fails (a full disk, say): the server stops serving" in out


def test_check_names_the_default_port(capsys, tmp_path):
    document = {
        "Dhcp4": {
            "lease-database": {"type": "mysql", "name": "kea"},
            "hosts-database": {"type": "postgresql", "name": "kea"},
            "config-control": {"config-databases": [{"type": "mysql", "name": "c", "port": 3307}]},
        }
    }
    code, out, _ = invoke(capsys, "check", write(tmp_path, "kea.json", document))
    assert code == 0
    ports = re.findall(r"^  port: (.*)$", out, re.MULTILINE)
    assert ports == ["3307", "3306 (default)", "5432 (default)"]  # config, lease, hosts


def test_simulate_config_alone_takes_down_each_backend_in_turn(capsys, tmp_path):
    """No scenario: each backend the configuration has goes down and comes back, in turn."""
    document = {
        "Dhcp4": {
            "lease-database": {"type": "mysql", "name": "kea"},  # reconnection disabled
            "hosts-databases": [
                {
                    "type": "postgresql",
                    "name": "h",
                    "max-reconnect-tries": 4,
                    "reconnect-wait-time": 1000,
                    "on-fail": "serve-retry-continue",
                }
            ],
        }
    }
    config = write(tmp_path, "kea.json", document)
    code, out, err = invoke(capsys, "simulate", "--config", config, "--format", "json")
    assert (code, err) == (0, "")
    records = [json.loads(line) for line in out.splitlines()]
    lost = [r for r in records if r["type"] == "log" and r["id"].endswith("LOST_CONNECTION")]
    assert "MySqlLeaseMgr" in lost[0]["text"]
    # the lease database under stop-retry-exit with no loop ends the run: an exit, no second
    assert [r["code"] for r in records if r["type"] == "exit"] == [1]

    lease = {"on-fail": "serve-retry-continue", "max-reconnect-tries": 2}
    document["Dhcp4"]["lease-database"] |= lease | {"reconnect-wait-time": 1000}
    config = write(tmp_path, "kea.json", document)
    code, out, _ = invoke(capsys, "simulate", "--config", config)
    assert code == 0
    downs = re.findall(r"^ *([\d.]+)s  -- (\S+) (down|up)$", out, re.MULTILINE)
    assert downs == [
        ("2.000", "lease-database", "down"),
        ("2.500", "lease-database", "up"),  # halfway between attempts 1 and 2
        ("6.000", "hosts-databases[0]", "down"),  # 3 s after the loop's end
        ("7.500", "hosts-databases[0]", "up"),  # halfway between attempts 2 and 3 of 4
    ]
    assert "    3.000s  attempt 2 of 2 on lease-database succeeded" in out
    assert "    8.000s  attempt 3 of 4 on hosts-databases[0] succeeded" in out


def test_simulate_config_alone_with_memfile_only_has_nothing_to_take_down(capsys):
    code, out, _ = invoke(capsys, "simulate", "--config", str(EXAMPLES / "single-subnet.json"))
    assert code == 0
    assert " down" not in out and out.splitlines()[-1].endswith("server state serving")


KEPT_BROKEN = """\
config: {Dhcp4: {lease-database: {type: mysql, name: kea, on-fail: serve-retry-continue}}}
until: 80
traffic: {every: 0.5}
events:
  - {at: 2, down: lease-database}
  - {at: 40, command: {command: status-get}}
"""


def test_collapse_repeats_counts_what_each_request_logs_again(capsys, tmp_path):
    scenario = write(tmp_path, "kept.yaml", KEPT_BROKEN)
    code, full, _ = invoke(capsys, "simulate", scenario)
    assert code == 0
    code, short, _ = invoke(capsys, "simulate", scenario, "--collapse-repeats")
    assert code == 0
    assert full.count("DHCP4_DB_RECONNECT_DISABLED") == 157  # 2 s to 80 s, every 0.5 s
    counted = [int(n) for n in re.findall(r"the 2 lines above repeated (\d+) more", short)]
    shown = short.count("DHCP4_DB_RECONNECT_DISABLED")
    assert shown + sum(counted) == 157 and len(short.splitlines()) < 25
    assert "   40.000s  -- command status-get" in short  # what is not a repeat is all there
    assert short.splitlines()[-1] == full.splitlines()[-1]  # the summary, last


def test_collapse_repeats_changes_nothing_without_repeats(capsys):
    code, plain, _ = invoke(capsys, "simulate")
    assert code == 0
    assert invoke(capsys, "simulate", "--collapse-repeats") == (0, plain, "")


def _states(text: str, tmp_path: Path, repeats: bool) -> tuple[list[tuple[Any, ...]], int]:
    """Every state a run goes through (time, serving, server state, backend states) and the
    number of records it wrote."""
    from dbfsm.simulation import scenario, simulate

    parsed = scenario.parse(text, "s.yaml", tmp_path)
    seen: list[tuple[Any, ...]] = []
    written: list[Any] = []
    sim: simulate.Simulation

    def observe() -> None:
        engine = sim.engine
        backends = tuple((k, b.state) for k, b in engine.server.backends.items())
        state = (engine.serving, engine.state, engine.exit_code, backends)
        if not seen or seen[-1][1:] != state:
            seen.append((sim.clock.now, *state))

    sim = simulate.Simulation(parsed, written.append, observe=observe, repeats=repeats)
    sim.run()
    return seen, len(written)


KEPT_THEN_MORE = """\
config:
  Dhcp4:
    lease-database: {type: mysql, name: kea, max-reconnect-tries: 2, reconnect-wait-time: 1000,
      on-fail: serve-retry-exit}
    hosts-databases:
      - {type: postgresql, name: a, on-fail: serve-retry-continue}
      - {type: mysql, name: b, max-reconnect-tries: 2, reconnect-wait-time: 1000}
    config-control:
      config-fetch-wait-time: 2
      config-databases: [{type: mysql, name: c, on-fail: serve-retry-continue}]
until: 3000
traffic: {every: 0.5}
events:
  - {at: 2, down: "hosts-databases[0]"}
  - {at: 2, down: "hosts-databases[1]"}
  - {at: 5, down: "config-databases[0]"}
  - {at: 800, up: "hosts-databases[0]"}
  - {at: 800, up: "hosts-databases[1]"}
  - {at: 800, up: "config-databases[0]"}
  - {at: 900, command: {command: config-reload}}
  - {at: 2000, down: lease-database}
"""


def test_without_repeats_a_run_goes_through_the_same_states(tmp_path):
    """`repeats=False` (what availability runs) leaves out only the uses of kept broken
    connections, which log the loss again and change nothing: the states and their times
    are those of the full run, with far fewer records."""
    full, full_records = _states(KEPT_THEN_MORE, tmp_path, repeats=True)
    short, short_records = _states(KEPT_THEN_MORE, tmp_path, repeats=False)
    assert short == full
    assert len(full) > 5  # the config-reload, the recovery and the lease loss are all there
    assert full_records > 10 * short_records
