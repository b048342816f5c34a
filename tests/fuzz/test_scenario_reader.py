"""Scenarios from hostile files (`dbfsm simulate`, `dbfsm diagram --highlight`).

Every input is accepted and simulated, or refused with one line naming the file, line and
column (exit status 2), within `hostile.SECONDS`; no error quotes a scalar of the input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from dbfsm.files import reading
from dbfsm.fsm.errors import ConfigError
from dbfsm.simulation import scenario, simulate

from . import hostile
from .profiles import FUZZ, THOROUGH
from .strategies import damaged, json_text

CORPUS = Path(__file__).parents[1] / "data" / "fuzz" / "scenario"
SEEDS = sorted([*CORPUS.glob("*.yaml"), *CORPUS.glob("every-event.json")])
EVERY_BYTE = [p for p in SEEDS if not p.name.startswith("broken-")]

TEMPLATE: dict[str, Any] = {
    "config": {
        "Dhcp4": {
            "lease-database": {
                "type": "mysql",
                "name": "kea",
                "max-reconnect-tries": 2,
                "reconnect-wait-time": 500,
                "on-fail": "serve-retry-continue",
            },
            "hosts-databases": [{"type": "postgresql", "name": "h"}],
        }
    },
    "until": 10,
    "traffic": {"every": 0.5, "from": 0.25},
    "events": [
        {"at": 0, "down": "hosts-databases[0]"},
        {"at": 1, "up": "hosts-databases[0]"},
        {"at": 2, "down": "lease-database"},
        {"at": 3, "use": "lease-database"},
        {"at": 4, "schema": "lease-database", "version": "1.0"},
        {"at": 5, "command": {"command": "dhcp-disable", "arguments": {"max-period": 2}}},
    ],
}


def _simulate(path: str) -> None:
    """Read and run the scenario at `path` as `dbfsm simulate` does (in this process)."""
    simulate.run(scenario.load(path))


def test_the_corpus_is_what_its_names_say() -> None:
    for path in SEEDS:
        if path.name.startswith("broken-"):
            with pytest.raises(ConfigError):
                scenario.load(path)
        else:
            simulate.run(scenario.load(path))


@pytest.mark.parametrize("seed", EVERY_BYTE, ids=lambda p: p.name)
def test_every_truncation_flip_and_encoding_damage(seed: Path, tmp_path: Path) -> None:
    # Relative configuration paths in the seeds resolve next to the fuzzed file.
    (tmp_path / "kea-dhcp4.json").write_bytes((CORPUS / "kea-dhcp4.json").read_bytes())
    flips = 2000 if THOROUGH else 200
    inputs = hostile.variants(seed.read_bytes(), flips=flips)
    for result in hostile.fuzz_reader("scenario file", _simulate, inputs, tmp_path):
        if result.error is not None:
            assert str(result.error).startswith(f"{tmp_path / 'input'}:"), result


@pytest.mark.parametrize("seed", [p for p in SEEDS if p not in EVERY_BYTE], ids=lambda p: p.name)
def test_flips_in_broken_files(seed: Path, tmp_path: Path) -> None:
    inputs = [item for item in hostile.variants(seed.read_bytes()) if "truncated" not in item[0]]
    hostile.fuzz_reader("scenario file", _simulate, inputs, tmp_path)


@pytest.mark.parametrize(
    "label,text", hostile.HOSTILE_TEXTS, ids=[t[0] for t in hostile.HOSTILE_TEXTS]
)
def test_simulate_on_hostile_texts(label: str, text: bytes, tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    # With a configuration, so that the reader gets past the first check.
    path.write_bytes(text if text.lstrip()[:1] in (b"{", b"[") else b"config: {Dhcp4: {}}\n" + text)
    hostile.survive_cli(["simulate", str(path)], label)
    hostile.survive_cli(["diagram", "--highlight", str(path)], label)


@pytest.mark.parametrize("label", hostile.HOSTILE_PATHS)
def test_simulate_and_highlight_on_hostile_paths(
    label: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "STREAM_TIMEOUT", 0.5)
    path = hostile.HOSTILE_PATHS[label](tmp_path)
    hostile.survive_cli(["simulate", path], label, seconds=5)
    hostile.survive_cli(["simulate", "--config", path], label, seconds=5)
    hostile.survive_cli(["diagram", "--highlight", path], label, seconds=5)


@FUZZ
@given(damaged(TEMPLATE))
def test_damaged_scenarios(document: Any) -> None:
    """Wrong types, missing fields, huge and non-finite numbers anywhere, as JSON and as YAML
    (the YAML reader gets JSON text too; it is a superset)."""
    text = json_text(document)
    if text is None:
        return
    for label, source in (("json", "s.json"), ("yaml", "s.yaml")):
        read = text if label == "json" else " " + text  # a leading blank: not the JSON path
        hostile.survive(
            "scenario document",
            label,
            lambda s=source, r=read: simulate.run(scenario.parse(r, s, Path("."))),
        )


def test_errors_quote_no_scalar_of_a_secret_map(tmp_path: Path) -> None:
    """A database map where a backend name belongs, or a password behind a wrong tag, is
    refused without echoing the password."""
    secret = "pw-4f1c-SECRET"
    texts = (
        f"config: {{Dhcp4: {{}}}}\nevents: [{{at: 1, down: {{type: mysql, password: {secret}}}}}]",
        f"config: {{Dhcp4: {{lease-database: {{type: mysql, password: !!int {secret}}}}}}}",
        f"config: {{Dhcp4: {{lease-database: {{type: mysql, password: !vault {secret}}}}}}}",
        f"config: {{Dhcp4: {{}}}}\nuntil: {{password: {secret}}}",
        f"config: {{Dhcp4: {{}}}}\ntraffic: {{every: {{password: {secret}}}}}",
        f"config: {{Dhcp4: {{}}}}\nevents: [{{at: 1, schema: lease-database, "
        f"version: [{secret}]}}]",
    )
    for text in texts:
        path = tmp_path / "s.yaml"
        path.write_text(text)
        run = hostile.survive_cli(["simulate", str(path)], text)
        assert run.code == 2 and secret not in run.err, run.err
