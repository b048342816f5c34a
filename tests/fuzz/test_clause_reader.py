"""Clause files from hostile files (`dbfsm spec run FILE`, `--documentation FILE`).

Every input is accepted (read and every case run) or refused with one line naming the file,
line and column (exit status 2), within `hostile.SECONDS`; no error quotes a value of the
input (a case's configuration may hold a password).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from dbfsm.files import reading
from dbfsm.fsm.errors import ConfigError
from dbfsm.validation import clauses, spec

from . import hostile
from .profiles import FUZZ, THOROUGH
from .strategies import damaged, json_text

CORPUS = Path(__file__).parents[1] / "data" / "fuzz" / "clauses"
SEEDS = sorted(CORPUS.glob("*.yaml"))
SPECS = sorted((Path(__file__).parents[2] / "specs").glob("*.yaml"))
DOCUMENTATION = spec.read_documentation(
    str(Path(__file__).parents[2] / "specs" / spec.DOCUMENTATION)
)

CASE: dict[str, Any] = {
    "name": "a case",
    "config": {
        "Dhcp4": {
            "lease-database": {
                "type": "mysql",
                "name": "kea",
                "max-reconnect-tries": 2,
                "reconnect-wait-time": 500,
                "on-fail": "serve-retry-continue",
            }
        }
    },
    "until": 5,
    "events": [{"at": 1, "down": "lease-database"}, {"at": 2, "up": "lease-database"}],
    "expect": [
        {"t": 0, "serving": True},
        {"t": 1, "any-order": [{"log": "DHCP4_DB_RECONNECT_LOST_CONNECTION"}, {"serving": True}]},
        {"t": 2, "attempt": "lease-database", "n": 1, "of": 2, "ok": True},
    ],
    "exact": ["exit"],
    "never": [{"log": "DHCP4_FATAL_DB_RECONNECT_FAILED", "severity": "FATAL", "text": "x"}],
    "end": {"exit_code": None, "serving": True, "state": "serving"},
}
TEMPLATE: dict[str, Any] = {
    "title": "t",
    "clauses": [
        {
            "id": "a.clause",
            "rule": "kea.reconnect-disabled",
            "follows": "kea",
            "why": "because",
            "cases": [CASE],
            "not-simulated": [
                {
                    "graph": "backend",
                    "trigger": "lost",
                    "from": "reconnecting",
                    "to": None,
                    "why": "w",
                }
            ],
        },
        {
            "id": "b",
            "quote": "The key-file specifies the private key file name.",
            "outside-the-model": "o",
        },
    ],
}


def _spec_run(path: str) -> None:
    """Read the clause file at `path` and run every case, as `dbfsm spec run` does."""
    spec.run_all(clauses.read([path], DOCUMENTATION))


def test_the_corpus_is_what_its_names_say() -> None:
    for path in SEEDS:
        if path.name.startswith("broken-"):
            with pytest.raises(ConfigError):
                _spec_run(str(path))
        else:
            assert all(o.passed for o in spec.run_all(clauses.read([str(path)], DOCUMENTATION)))


@pytest.mark.parametrize("seed", [p for p in SEEDS if not p.name.startswith("broken-")])
def test_every_truncation_flip_and_encoding_damage(seed: Path, tmp_path: Path) -> None:
    flips = 2000 if THOROUGH else 200
    inputs = hostile.variants(seed.read_bytes(), flips=flips)
    for result in hostile.fuzz_reader("clause file", _spec_run, inputs, tmp_path):
        if result.error is not None:
            assert str(result.error).startswith(f"{tmp_path / 'input'}:"), result


@pytest.mark.parametrize(
    "seed", [*SPECS, *(p for p in SEEDS if p.name.startswith("broken-"))], ids=lambda p: p.name
)
def test_flips_in_the_specs_and_broken_files(seed: Path, tmp_path: Path) -> None:
    """The project's own clause files (read only: running them is `dbfsm spec run`'s test)."""
    inputs = [
        item
        for item in hostile.variants(seed.read_bytes(), flips=100 if not THOROUGH else 1000)
        if "truncated" not in item[0]
    ]
    read = lambda path: clauses.read([path], DOCUMENTATION)  # noqa: E731
    for result in hostile.fuzz_reader("clause file", read, inputs, tmp_path):
        if result.error is not None:
            assert str(result.error).startswith(f"{tmp_path / 'input'}:"), result


@pytest.mark.parametrize(
    "label,text", hostile.HOSTILE_TEXTS, ids=[t[0] for t in hostile.HOSTILE_TEXTS]
)
def test_spec_run_on_hostile_texts(label: str, text: bytes, tmp_path: Path) -> None:
    path = tmp_path / "clauses.yaml"
    path.write_bytes(text)
    run = hostile.survive_cli(["spec", "run", str(path)], label)
    if run.code == 2:
        assert run.err.startswith(f"dbfsm spec: {path}:"), (label, run.err)
    # The same text as a case (what a clause file mostly holds).
    if text.lstrip()[:1] not in (b"{", b"["):
        case = b"clauses:\n- id: x\n  rule: kea.reconnect-disabled\n  follows: kea\n  why: w\n"
        case += b"  cases:\n  - name: c\n    config: {Dhcp4: {}}\n"
        case += b"".join(b"    " + line + b"\n" for line in text.splitlines())
        path.write_bytes(case)
        hostile.survive_cli(["spec", "run", str(path)], label)


@pytest.mark.parametrize("label", hostile.HOSTILE_PATHS)
def test_spec_run_on_hostile_paths(
    label: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "STREAM_TIMEOUT", 0.5)
    path = hostile.HOSTILE_PATHS[label](tmp_path)
    run = hostile.survive_cli(["spec", "run", path], label, seconds=5)
    assert run.code == 2 or label == "a file without read permission", (label, run)
    hostile.survive_cli(["spec", "run", "--documentation", path, str(SEEDS[0])], label, seconds=5)
    hostile.survive_cli(
        ["spec", "run", "--junit", path, str(CORPUS / "every-key.yaml")], label, seconds=5
    )


@FUZZ
@given(damaged(TEMPLATE))
def test_damaged_clause_files(document: Any) -> None:
    """Wrong types, missing fields, huge and non-finite numbers anywhere (as JSON text, which
    the YAML reader takes too)."""
    text = json_text(document)
    if text is None:
        return
    hostile.survive(
        "clause document",
        "damaged",
        lambda: spec.run_all([clauses.parse(text, "c.yaml", Path("."), DOCUMENTATION)]),
    )


def test_errors_quote_no_value_of_a_secret_map(tmp_path: Path) -> None:
    """A map holding a password where a clause expects a name or a value is refused without
    echoing the password."""
    secret = "pw-91c2-SECRET"
    places = (
        "exact: [{password: S}]",
        "end: {state: {password: S}}",
        "end: {serving: [S]}",
        "never: [{log: {password: S}}]",
        "expect: [{t: {password: S}, exit: 1}]",
    )
    head = "clauses:\n- id: x\n  rule: kea.reconnect-disabled\n  follows: kea\n  why: w\n"
    for place in places:
        text = head + "  cases:\n  - name: c\n    config: {Dhcp4: {}}\n    until: 2\n"
        text += f"    {place.replace('S', secret)}\n"
        path = tmp_path / "c.yaml"
        path.write_text(text)
        run = hostile.survive_cli(["spec", "run", str(path)], place)
        assert run.code == 2 and secret not in run.err, run.err
    for place in ("graph: {password: S}", "trigger: [S]", "from: {S: 1}", "why: {password: S}"):
        fields = {"graph": "backend", "trigger": "lost", "from": "online", "to": "null", "why": "w"}
        fields.update([place.replace("S", secret).split(": ", 1)])
        entry = ", ".join(f"{k}: {v}" for k, v in fields.items())
        path.write_text(head + f"  outside-the-model: o\n  not-simulated: [{{{entry}}}]\n")
        run = hostile.survive_cli(["spec", "run", str(path)], place)
        assert run.code == 2 and secret not in run.err, run.err
