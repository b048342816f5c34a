"""`dbfsm.documents`: YAML and JSON read fast into plain JSON data, errors located on demand.

The same document written as JSON (the `json` module's path) and as YAML (libyaml's events)
gives the same data and the same error locations; what YAML can express beyond JSON data is
refused on one located line.
"""

from __future__ import annotations

import json
import re

import pytest

from dbfsm.files import documents
from dbfsm.fsm.errors import ConfigError

DATA = {
    "config": {"Dhcp4": {"lease-database": {"type": "mysql", "name": "kea", "port": 3306}}},
    "until": 12.5,
    "traffic": "none",
    "events": [{"at": 0, "down": "lease-database"}, {"at": 1, "up": "lease-database"}],
    "description": None,
    "flags": [True, False],
}
YAML = """\
config:
  Dhcp4:
    lease-database: {type: mysql, name: kea, port: 3306}
until: 12.5
traffic: none
events:
  - {at: 0, down: lease-database}
  - {at: 1, up: lease-database}
description: null
flags: [true, false]
"""


def refusal(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        documents.parse(text, "s.yaml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_json_and_yaml_give_the_same_data() -> None:
    assert documents.parse(json.dumps(DATA), "s.json").data == DATA
    assert documents.parse(YAML, "s.yaml").data == DATA
    assert documents.parse(json.dumps(DATA, indent=2), "s.json").data == DATA


@pytest.mark.parametrize("text", [json.dumps(DATA, indent=2), YAML], ids=["json", "yaml"])
def test_errors_are_located_on_demand(text: str) -> None:
    """Positions are found by reading again: the same place whichever reader read it."""
    doc = documents.parse(text, "s")
    lines = text.splitlines()
    where = doc.where(("events", 1, "up"))
    line, column = (int(n) for n in where.split(":")[1:])
    assert lines[line - 1][column - 1 :].lstrip("\"'").startswith("lease-database"), where
    error = doc.error(("until",), "too long")
    assert re.fullmatch(r"s:\d+:\d+: until: too long", str(error)), error
    assert doc.where(("events", 7, "at")) == doc.where(("events",))  # nearest ancestor


def test_aliases_and_merge_keys_are_yaml_conveniences_that_stay() -> None:
    doc = documents.parse(
        "base: &db {type: mysql, name: kea}\nother: {<<: *db, name: hosts}\nsame: *db\n", "s"
    )
    assert doc.data["other"] == {"type": "mysql", "name": "hosts"}
    assert doc.data["same"] == {"type": "mysql", "name": "kea"}


@pytest.mark.parametrize(
    "text,words",
    [
        ("? [1, 2]\n: 3\n", "a map key must be a string"),
        ("1: x\n", "a map key must be a string, not 1"),
        ("a: &a [*a]\n", "recursive alias"),
        ("a: *nowhere\n", "undefined anchor"),
        ("a: 1\na: 2\n", "a: duplicate key"),
        ("a: !!python/name:os.system x\n", "unsupported tag"),
        ("a: !!int twelve\n", "does not fit its tag !!int"),
        ("a: " + "9" * 5000 + "\n", "integer out of range"),
        ("a: " + "9" * 30 + "\n", "integer out of range"),
        ("a: .nan\n", "not finite"),
        ("a: 1\n---\nb: 2\n", "a single document"),
        ("a: \x01\n", "character #x0001 is not allowed"),
        ("a:" + " [" * 150 + "\n", "nesting deeper than 100"),
        ('{"a": 1, "a": 2}', "a: duplicate key"),
        ('{"a": 1e999}', "a: number out of range (not finite)"),
    ],
)
def test_what_is_not_json_data_is_refused(text: str, words: str) -> None:
    message = refusal(text)
    assert re.match(r"s\.yaml:\d+:\d+: ", message), message
    assert words in message, message


def test_an_alias_bomb_is_refused_without_being_expanded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    message = refusal("\n".join(lines))
    assert "more than 1000000 values" in message
