"""Kea configurations from hostile files (`dbfsm check`) and hostile documents (`config-set`).

Every input is accepted or refused with one line naming the file and where (exit status 2
from the command line), within `hostile.SECONDS`; `check` stays linear in the number of
backends.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from dbfsm.files import reading
from dbfsm.fsm import config, jsonc
from dbfsm.fsm.errors import ConfigError
from dbfsm.simulation.check import report

from . import hostile
from .profiles import FUZZ, THOROUGH
from .strategies import damaged, json_text, values

CORPUS = Path(__file__).parents[1] / "data" / "fuzz" / "config"
SEEDS = sorted(CORPUS.glob("*.json"))
# Truncated at every byte: the small real files (the others get flips and encoding damage).
EVERY_BYTE = [p for p in SEEDS if not p.name.startswith("broken-") and p.stat().st_size < 4000]

TEMPLATE: dict[str, Any] = {
    "Dhcp4": {
        "config-control": {
            "config-databases": [{"type": "mysql", "name": "cb", "on-fail": "stop-retry-exit"}],
            "config-fetch-wait-time": 30,
        },
        "lease-database": {
            "type": "postgresql",
            "name": "kea",
            "password": "pw",
            "max-reconnect-tries": 3,
            "reconnect-wait-time": 100,
            "on-fail": "serve-retry-exit",
        },
        "hosts-databases": [
            {"type": "mysql", "name": "h", "retry-on-startup": True, "port": 3306},
        ],
    }
}


def test_the_corpus_is_what_its_names_say() -> None:
    for path in SEEDS:
        if path.name.startswith("broken-"):
            with pytest.raises(ConfigError):
                reading.load_file(path)
        else:
            reading.load_file(path)


@pytest.mark.parametrize("seed", EVERY_BYTE, ids=lambda p: p.name)
def test_every_truncation_flip_and_encoding_damage(seed: Path, tmp_path: Path) -> None:
    flips = 2000 if THOROUGH else 200
    inputs = hostile.variants(seed.read_bytes(), flips=flips)
    results = hostile.fuzz_reader("config file", reading.load_file, inputs, tmp_path)
    for result in results:
        if result.error is not None:
            assert str(result.error).startswith(f"{tmp_path / 'input'}"), result


@pytest.mark.parametrize("seed", EVERY_BYTE, ids=lambda p: p.name)
def test_the_fast_reader_agrees_with_the_careful_one(seed: Path) -> None:
    """Whatever `jsonc.plain` (the json module, comments blanked) reads, `jsonc.parse` reads
    the same; what they disagree on, `plain` leaves to `parse`."""
    agreed = 0
    for label, data in hostile.variants(seed.read_bytes(), flips=1000):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            continue
        fast = jsonc.plain(text)
        if fast is jsonc.NOT_PLAIN:
            continue
        try:
            careful = jsonc.parse(text).value
        except ConfigError:
            # The careful reader refuses only what the configuration check then refuses.
            with pytest.raises(ConfigError):
                config.parse_text(text)
            continue
        assert fast == careful, label
        agreed += 1
    assert agreed > 0 or jsonc.plain(seed.read_text()) is jsonc.NOT_PLAIN  # extra commas


def test_extra_commas_are_kea_s_not_json_s() -> None:
    """Kea takes one comma after the last item; never a comma alone or two in a row."""
    assert config.parse_text('{"Dhcp4": {"lease-database": {"type": "memfile",},},}').root
    for text in ('{"Dhcp4": {,}}', '{"Dhcp4": {"x": [,]}}', '{"Dhcp4": {"x": [1,,]}}'):
        with pytest.raises(ConfigError):
            config.parse_text(text)


@pytest.mark.parametrize("seed", [p for p in SEEDS if p not in EVERY_BYTE], ids=lambda p: p.name)
def test_flips_in_larger_and_broken_files(seed: Path, tmp_path: Path) -> None:
    data = seed.read_bytes()
    inputs = [item for item in hostile.variants(data) if not item[0].startswith("truncated")]
    inputs += [(f"truncated at byte {n}", data[:n]) for n in range(0, len(data), 97)]
    hostile.fuzz_reader("config file", reading.load_file, inputs, tmp_path)


@pytest.mark.parametrize(
    "label,text", hostile.HOSTILE_TEXTS, ids=[t[0] for t in hostile.HOSTILE_TEXTS]
)
def test_check_on_hostile_texts(label: str, text: bytes, tmp_path: Path) -> None:
    path = tmp_path / "kea.json"
    path.write_bytes(text)
    hostile.survive_cli(["check", str(path)], label)


@pytest.mark.parametrize("label", hostile.HOSTILE_PATHS)
def test_check_on_hostile_paths(
    label: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "STREAM_TIMEOUT", 0.5)
    path = hostile.HOSTILE_PATHS[label](tmp_path)
    hostile.survive_cli(["check", path], label, seconds=5)


def test_a_fifo_with_a_writer_is_read(tmp_path: Path) -> None:
    """A FIFO is refused only when nothing writes to it: `dbfsm check <(...)` works."""
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    text = (CORPUS / "kea-dhcp4.json").read_bytes()
    writer = threading.Thread(target=fifo.write_bytes, args=(text,))
    writer.start()
    try:
        assert reading.load_file(fifo).root == "Dhcp4"
    finally:
        writer.join(timeout=10)


@FUZZ
@given(damaged(TEMPLATE))
def test_damaged_documents_from_text_and_as_documents(document: Any) -> None:
    """Wrong types, missing fields, huge and non-finite numbers anywhere: both readers (the text
    one of `check` and the document one of `config-set`) accept or refuse on one line."""
    result = hostile.survive("config document", "damaged", lambda: config.from_document(document))
    if result.error is None:  # what check says of it, from simulated outages, in bounded time
        hostile.survive("check report", "damaged", lambda: report(config.from_document(document)))
    text = json_text(document)
    if text is None:
        return
    hostile.survive("config text", "damaged", lambda: config.parse_text(text, "kea.json"))


@FUZZ
@given(values)
def test_anything_as_a_document(document: Any) -> None:
    hostile.survive("config document", "anything", lambda: config.from_document(document))


def test_python_objects_that_are_not_json_data() -> None:
    """`config-set` documents come from callers too: cycles, sets, non-string keys, bytes."""
    cyclic: dict[str, Any] = {"Dhcp4": {}}
    cyclic["Dhcp4"]["lease-database"] = cyclic
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    for label, document in (
        ("a cycle", cyclic),
        ("100,000 nested lists", {"Dhcp4": {"x": deep}}),
        ("a set", {"Dhcp4": {"lease-database": {"type": "mysql", "name": {1, 2}}}}),
        ("an int key", {"Dhcp4": {1: "x"}}),
        ("bytes", {"Dhcp4": {"lease-database": {"type": b"mysql"}}}),
        ("NaN", {"Dhcp4": {"lease-database": {"type": "mysql", "port": float("nan")}}}),
        ("10**5000", {"Dhcp4": {"lease-database": {"type": "mysql", "port": 10**5000}}}),
    ):
        result = hostile.survive(
            "config document", label, lambda d=document: config.from_document(d)
        )
        assert result.error is not None, label


def test_check_is_linear_in_the_number_of_backends(tmp_path: Path) -> None:
    """200 host databases, each with its own reconnect settings, against 20 of them: the time
    per backend stays within 3x (it was quadratic: 23 s for 200)."""

    def seconds(count: int) -> float:
        hosts = [
            {
                "type": "mysql",
                "name": f"h{i}",
                "max-reconnect-tries": i % 7,
                "reconnect-wait-time": 10 * i,
            }
            for i in range(count)
        ]
        path = tmp_path / f"{count}.json"
        path.write_text(json.dumps({"Dhcp4": {"hosts-databases": hosts}}))
        start = time.perf_counter()
        run = hostile.run_cli(["check", str(path)])
        assert run.code == 0, run.err
        assert run.out.count("unreachable at startup") == count  # the memfile lease: no such
        assert run.out.count("lease file unusable at startup") == 1
        return (time.perf_counter() - start) / count

    small, large = seconds(20), seconds(200)
    assert large < 3 * small, (small, large)
