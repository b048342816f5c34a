"""Every run `dbfsm simulate` records conforms: the JSON Lines of each built-in example and of
each scenario the JSON Lines schema is tested with (startup failures, retry-on-startup,
dhcp-disable with max-period, a failed config-set, a polled config backend...), checked
against its configuration. Also a long run (a simulated hour of faults) stays quick, and
changing one attempt in it is noticed at that line."""

from __future__ import annotations

import json
import textwrap
from importlib import resources
from pathlib import Path

import pytest
from test_simulate_json import INLINE

from dbfsm.files.reading import load_file
from dbfsm.fsm.records import to_jsonl
from dbfsm.simulation import scenario, simulate
from dbfsm.validation import conform

EXAMPLES = sorted(
    p.name for p in (resources.files("dbfsm") / "examples").iterdir() if p.name.endswith(".yaml")
)


def record(tmp_path: Path, parsed: scenario.Scenario) -> tuple[Path, Path]:
    """The scenario's configuration and its recorded run, as files."""
    config = tmp_path / "kea.json"
    config.write_text(json.dumps(parsed.settings.document))
    trace = tmp_path / "run.jsonl"
    trace.write_text(to_jsonl(simulate.run(parsed).timeline()))
    return config, trace


def verdict(config: Path, trace: Path) -> conform.Verdict:
    settings = load_file(config)
    return conform.conform(settings, str(config), conform.read_trace(str(trace), settings))


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_conforms(tmp_path: Path, name: str) -> None:
    path = resources.files("dbfsm") / "examples" / name
    config, trace = record(tmp_path, scenario.load(str(path)))
    result = verdict(config, trace)
    assert result.failure is None, conform.report(result)
    assert result.counts.losses >= 1
    assert len(result.trace.observations) > 10


@pytest.mark.parametrize("name", sorted(INLINE))
def test_every_schema_scenario_conforms(tmp_path: Path, name: str) -> None:
    parsed = scenario.parse(textwrap.dedent(INLINE[name]), "scenario.yaml", tmp_path, None)
    config, trace = record(tmp_path, parsed)
    result = verdict(config, trace)
    assert result.failure is None, conform.report(result)


HOUR = """
config:
  Dhcp4:
    lease-database: {type: postgresql, name: kea, max-reconnect-tries: 5,
                     reconnect-wait-time: 700, on-fail: stop-retry-exit}
    hosts-databases:
      - {type: mysql, name: kea, max-reconnect-tries: 4, reconnect-wait-time: 300,
         on-fail: serve-retry-continue}
until: 3600
traffic: {every: 0.25}
events:
"""


def test_a_long_run_conforms_and_one_changed_attempt_is_found(tmp_path: Path) -> None:
    events = []
    for k in range(60):
        backend = "lease-database" if k % 2 else "hosts-databases[0]"
        start = 10 + 55 * k
        events.append(f"  - {{at: {start}, down: '{backend}'}}")
        events.append(f"  - {{at: {start + 0.4 + (k % 5) * 0.5}, up: '{backend}'}}")
        if k % 10 == 9:
            events.append(f"  - {{at: {start + 20}, command: {{command: config-reload}}}}")
    text = HOUR + "\n".join(events) + "\n"
    parsed = scenario.parse(text, "hour.yaml", tmp_path, None)
    config, trace = record(tmp_path, parsed)
    result = verdict(config, trace)
    assert result.failure is None, conform.report(result)
    lines = trace.read_text().splitlines(keepends=True)
    episodes = sum('"type": "attempt"' in line and '"n": 1,' in line for line in lines)
    assert result.counts.losses == episodes > 30
    assert result.counts.reconfigurations == 6

    attempts = [i for i, line in enumerate(lines) if '"type": "attempt"' in line]
    changed = attempts[len(attempts) // 2]
    item = json.loads(lines[changed])
    item["of"] += 1
    lines[changed] = json.dumps(item) + "\n"
    trace.write_text("".join(lines))
    result = verdict(config, trace)
    assert result.failure is not None
    assert result.trace.observations[result.failure.at].line == changed + 1
