"""Traces from hostile files (`dbfsm conform TRACE --config CONFIG`): dbfsm's JSON Lines and
Kea's logs.

Every input is accepted (read, and the search for an explanation run to its verdict) or
refused with one line naming the file and line (exit status 2), within `hostile.SECONDS`.
The search itself is bounded by `conform.SEARCH_BUDGET`; a trace is bounded by the
64 MiB every file a user names is held to (`dbfsm.files.reading.MAX_FILE_BYTES`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from dbfsm.files import reading
from dbfsm.fsm.errors import InputError
from dbfsm.fsm.records import Record, to_jsonl
from dbfsm.validation import conform, traces

from . import hostile
from .profiles import FUZZ, THOROUGH
from .strategies import damaged, json_text

CORPUS = Path(__file__).parents[1] / "data" / "fuzz" / "trace"
# Each trace with the configuration of the run it records (the broken ones: any).
CONFIGS = {
    "stop-retry-exit.jsonl": "stop-retry-exit.json",
    "kea22-pgsql-stop-retry-exit.log": "pgsql-stop-retry-exit.json",
    "kea3-two-backends.log": "two-backends.json",
    "year-one-to-9999.log": "stop-retry-exit.json",
    "pid-of-5000-digits.log": "stop-retry-exit.json",  # a continuation line, not a header
}
SEEDS = sorted(p for p in CORPUS.iterdir() if p.suffix in (".jsonl", ".log"))
BROKEN = [p for p in SEEDS if p.name.startswith("broken-")]


def _config(seed: Path) -> str:
    return str(CORPUS / CONFIGS.get(seed.name, "stop-retry-exit.json"))


def _conform(config_path: str) -> Any:
    settings = reading.load_file(config_path)

    def check(path: str) -> conform.Verdict:
        """Read the trace at `path` and search for its explanation, as `dbfsm conform` does."""
        verdict = conform.conform(settings, config_path, conform.read_trace(path, settings))
        conform.report(verdict)
        return verdict

    return check


def test_the_corpus_is_what_its_names_say() -> None:
    for seed in SEEDS:
        check = _conform(_config(seed))
        if seed in BROKEN:
            with pytest.raises(InputError) as refused:
                check(str(seed))
            message = str(refused.value)
            assert message.startswith(f"{seed}:") and "\n" not in message, message
        else:  # the real runs conform; the others leave the model (exit 1)
            conforms = check(str(seed)).failure is None
            assert conforms == (seed.name in CONFIGS), seed.name


@pytest.mark.parametrize("seed", [p for p in SEEDS if p not in BROKEN], ids=lambda p: p.name)
def test_every_truncation_flip_and_encoding_damage(seed: Path, tmp_path: Path) -> None:
    data = seed.read_bytes()
    # Every byte of the small seeds; every 15th of a long log (a line is ~150 bytes: every
    # line is still cut at ten places), all of them with HYPOTHESIS_PROFILE=thorough.
    step = 1 if THOROUGH or len(data) < 3000 else 15
    flips = 2000 if THOROUGH else 200
    inputs = [
        (label, variant)
        for label, variant in hostile.variants(data, flips=flips)
        if not label.startswith("truncated") or int(label.rsplit(" ", 1)[1]) % step == 0
    ]
    check = _conform(_config(seed))
    for result in hostile.fuzz_reader("trace file", check, inputs, tmp_path):
        if result.error is not None:
            assert str(result.error).startswith(f"{tmp_path / 'input'}:"), result


@pytest.mark.parametrize("seed", BROKEN, ids=lambda p: p.name)
def test_flips_in_broken_traces(seed: Path, tmp_path: Path) -> None:
    inputs = [
        item for item in hostile.variants(seed.read_bytes(), flips=50) if "truncated" not in item[0]
    ]
    hostile.fuzz_reader("trace file", _conform(_config(seed)), inputs, tmp_path)


def _survive_conform(argv: list[str], label: str, seconds: float = hostile.SECONDS) -> Any:
    """`dbfsm conform` survives: a verdict (0 conforms, 1 leaves the model), or refused."""
    return hostile.survive_cli(argv, label, seconds, verdicts=(0, 1))


KEA_LINE = (
    b"2026-11-25 20:36:10.118.204 INFO  [kea-dhcp4.dhcp4/25539.140654118367744] "
    b"DHCP4_STARTED Kea DHCPv4 server version 3.1.0 started\n"
)


@pytest.mark.parametrize(
    "label,text", hostile.HOSTILE_TEXTS, ids=[t[0] for t in hostile.HOSTILE_TEXTS]
)
def test_conform_on_hostile_texts(label: str, text: bytes, tmp_path: Path) -> None:
    """Each text as a whole trace, as one JSON Lines record, and as a Kea log's message."""
    trace = tmp_path / "trace"
    config_path = str(CORPUS / "stop-retry-exit.json")
    one_line = text.replace(b"\n", b" ")
    for form, data in (
        ("whole", text),
        ("a record", b'{"t": 0, "type": "serving", "serving": true}\n' + one_line),
        (
            "a record's text",
            b'{"t": 0, "type": "log", "id": "DHCP4_STARTED", "severity": '
            b'"INFO", "text": ' + json.dumps(one_line.decode("utf-8", "replace")).encode() + b"}",
        ),
        ("a log message", KEA_LINE + KEA_LINE[:75] + one_line + b"\n"),
        ("a log continuation", KEA_LINE + text),
    ):
        trace.write_bytes(data)
        run = _survive_conform(["conform", str(trace), "--config", config_path], label)
        if run.code == 2:
            assert run.err.startswith(f"dbfsm conform: {trace}:"), (label, form, run.err)


@pytest.mark.parametrize("label", hostile.HOSTILE_PATHS)
def test_conform_on_hostile_paths(
    label: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "STREAM_TIMEOUT", 0.5)
    path = hostile.HOSTILE_PATHS[label](tmp_path)
    config_path = str(CORPUS / "stop-retry-exit.json")
    trace = str(CORPUS / "stop-retry-exit.jsonl")
    run = _survive_conform(["conform", path, "--config", config_path], label, seconds=5)
    assert run.code == 2 or label == "a file without read permission", (label, run)
    run = _survive_conform(["conform", trace, "--config", path], label, seconds=5)
    assert run.code == 2 or label == "a file without read permission", (label, run)


@pytest.mark.parametrize(
    "option",
    [
        ["--tolerance", "nan"],
        ["--tolerance", "-1"],
        ["--tolerance", "1e999"],
        ["--exit-code", "x"],
        ["--exit-code", "9" * 5000],
        ["--tolerance", "9" * 5000],
    ],
    ids=lambda o: f"{o[0]} {o[1][:8]}",
)
def test_conform_on_hostile_options(option: list[str]) -> None:
    trace, config_path = CORPUS / "stop-retry-exit.jsonl", CORPUS / "stop-retry-exit.json"
    _survive_conform(["conform", str(trace), "--config", str(config_path), *option], option[0])


RECORD: dict[str, Any] = {
    "t": 1.5,
    "type": "attempt",
    "backend": "lease-database",
    "n": 1,
    "of": 3,
    "ok": False,
}
LOG: dict[str, Any] = {
    "t": 2,
    "type": "log",
    "id": "MYSQL_LB_DB_RECONNECT_ATTEMPT_SCHEDULE",
    "severity": "INFO",
    "text": "scheduling attempt 1 of 3 in 2000 milliseconds",
}
SUMMARY: dict[str, Any] = {
    "t": 9,
    "type": "summary",
    "exit_code": 1,
    "serving": False,
    "state": "exited",
}


@FUZZ
@given(damaged({"records": [RECORD, LOG, SUMMARY]}))
def test_damaged_records(document: Any) -> None:
    """Records with wrong types, missing fields, huge and non-finite numbers anywhere."""
    records = document.get("records") if isinstance(document, dict) else None
    lines = records if isinstance(records, list) else [document]
    texts = [json_text(line) for line in lines]
    if None in texts:
        return
    text = "\n".join(map(str, texts))
    settings = reading.load_file(CORPUS / "stop-retry-exit.json")

    def check() -> None:
        trace = traces._read_jsonl(text, "t.jsonl", settings)
        conform.report(conform.conform(settings, "unused", trace))

    hostile.survive("trace record", "damaged", check)


def test_a_long_trace_stays_bounded(tmp_path: Path) -> None:
    """A legal trace of 200,000 records that the model cannot explain past its start: the
    search gives up within its budget."""
    records = [Record(0.0, "serving", {"serving": True})]
    records += [Record(1.0 + i, "serving", {"serving": i % 2 == 0}) for i in range(200_000)]
    path = tmp_path / "long.jsonl"
    path.write_text(to_jsonl(records))
    config_path = str(CORPUS / "stop-retry-exit.json")
    run = _survive_conform(["conform", str(path), "--config", config_path], "long")
    assert run.code == 1 and "leaves the model" in run.out
