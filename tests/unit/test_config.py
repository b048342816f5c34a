"""Tests for fsm.config / fsm.jsonc: reading Kea configurations and refusing what Kea refuses.

Docstrings cite the rule checked as `kea-behaviour.md:<line>` (the project's reference,
/work/shared/reference/kea-behaviour.md) or, where that file is silent, the Kea source file
and line the rule was read from. Every rejection is checked twice, through `parse_text`
(location `FILE:LINE:COL`) and through `from_document` (location = JSON path).
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest

from dbfsm.files import reading
from dbfsm.fsm import config, jsonc
from dbfsm.fsm.errors import ConfigError, InputError
from dbfsm.fsm.settings import DbType, OnFail, Role

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "kea-examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("kea[46]/*.json"))
SECRET = "S3cr3t-pw"


def test_kea_examples_are_present() -> None:
    """The example files are part of the repository: their absence is a failure, not a skip."""
    assert len(EXAMPLE_FILES) >= 50, f"Kea examples missing from {EXAMPLES}"


def needs_examples(test: Any) -> Any:
    return test


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def at(text: str, needle: str, *, shift: int = 0, source: str = "t.json") -> str:
    """`source:line:col` of the (unique) `needle` in `text`, moved `shift` characters on."""
    assert text.count(needle) == 1, f"{needle!r} must occur once in the test text"
    offset = text.index(needle) + shift
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{source}:{line}:{column}"


def file_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        reading.load_file(path)
    return info.value


def text_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config.parse_text(text, "t.json")
    return info.value


def doc_error(document: object, where: str = "arguments") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config.from_document(document, where)
    return info.value


def rejects(document: dict[str, Any], message: str, path: str, needle: str, shift: int = 0) -> None:
    """Both input paths refuse `document` with `message`, located at `needle` / `path`."""
    text = json.dumps(document, indent=2)
    err = text_error(text)
    assert (err.message, err.where) == (message, at(text, needle, shift=shift))
    err = doc_error(document)
    assert (err.message, err.where) == (message, f"arguments.{path}")


def value_at(key: str, value: str) -> tuple[str, int]:
    """(needle, shift) pointing at the value of `"key": value` in json.dumps output."""
    needle = f'"{key}": {value}'
    return needle, len(f'"{key}": ')


def lease(**params: Any) -> dict[str, Any]:
    """A Dhcp4 document whose lease-database holds `params` (underscores become dashes)."""
    return {"Dhcp4": {"lease-database": {k.replace("_", "-"): v for k, v in params.items()}}}


def hosts(*maps: dict[str, Any]) -> dict[str, Any]:
    return {"Dhcp4": {"hosts-databases": list(maps)}}


def mysql(**params: Any) -> dict[str, Any]:
    return lease(type="mysql", name="kea", **params)


# ---------------------------------------------------------------------------------------------
# Kea's own examples
# ---------------------------------------------------------------------------------------------


@needs_examples
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_kea_example_reads(path: Path) -> None:
    """kea-behaviour.md:499-510 (§7): every shipped Kea example is a valid configuration."""
    settings = reading.load_file(path)
    assert settings.universe == int(path.parent.name[-1])
    assert settings.source == str(path)
    assert settings.backend("lease-database").role is Role.LEASE


@needs_examples
@pytest.mark.parametrize("universe", [4, 6])
def test_all_keys_backends(universe: int) -> None:
    """kea-behaviour.md:503 and :512-534: all-keys.json has a mysql config backend, a memfile
    lease database and mysql + postgresql host databases, in Kea's connect order (:266-271)."""
    settings = reading.load_file(EXAMPLES / f"kea{universe}" / "all-keys.json")
    kinds = [(b.key, b.role, b.type) for b in settings.backends]
    assert kinds == [
        ("config-databases[0]", Role.CONFIG, DbType.MYSQL),
        ("lease-database", Role.LEASE, DbType.MEMFILE),
        ("hosts-databases[0]", Role.HOSTS, DbType.MYSQL),
        ("hosts-databases[1]", Role.HOSTS, DbType.POSTGRESQL),
    ]
    my = settings.backend("hosts-databases[0]")
    assert (my.max_reconnect_tries, my.reconnect_wait_time, my.on_fail) == (
        3,
        3000,
        OnFail.STOP_RETRY_EXIT,
    )
    assert my.parameters["read-timeout"] == 120 and my.parameters["connect-timeout"] == 100
    pg = settings.backend("hosts-databases[1]")
    assert pg.parameters["ssl-mode"] == "verify-ca" and pg.parameters["tcp-user-timeout"] == 100
    assert settings.backend("lease-database").parameters["lfc-interval"] == 3600
    assert settings.config_fetch_wait_time == 30.0


@needs_examples
@pytest.mark.parametrize("universe", [4, 6])
def test_config_backend_example(universe: int) -> None:
    """kea-behaviour.md:506 and :360: config-backend.json, mysql CB polled every 20 s."""
    settings = reading.load_file(EXAMPLES / f"kea{universe}" / "config-backend.json")
    assert [b.key for b in settings.backends] == ["config-databases[0]", "lease-database"]
    cb = settings.backend("config-databases[0]")
    assert (cb.type, cb.role, cb.manager_id) == (DbType.MYSQL, Role.CONFIG, 3021)
    assert (cb.max_reconnect_tries, cb.reconnect_wait_time) == (3, 3000)
    assert settings.config_fetch_wait_time == 20.0


@needs_examples
@pytest.mark.parametrize(
    ("name", "db_type"),
    [("mysql-reservations.json", DbType.MYSQL), ("pgsql-reservations.json", DbType.POSTGRESQL)],
)
@pytest.mark.parametrize("universe", [4, 6])
def test_reservation_examples(universe: int, name: str, db_type: DbType) -> None:
    """kea-behaviour.md:507-510: the reservation examples hold one SQL host database."""
    settings = reading.load_file(EXAMPLES / f"kea{universe}" / name)
    assert [b.key for b in settings.backends] == ["lease-database", "hosts-databases[0]"]
    host = settings.backend("hosts-databases[0]")
    assert (host.type, host.max_reconnect_tries, host.reconnect_wait_time) == (db_type, 3, 3000)
    assert host.parameters["password"] == "1234"


@needs_examples
def test_biggest_example_parses_fast() -> None:
    """Kea's biggest example (all-keys.json) must read in a few milliseconds."""
    text = (EXAMPLES / "kea4" / "all-keys.json").read_text()
    jsonc.parse(text)
    start = time.perf_counter()
    for _ in range(10):
        config.parse_text(text)
    assert (time.perf_counter() - start) / 10 < 0.05


@needs_examples
def test_truncated_example_never_tracebacks() -> None:
    """Any input gives a ConfigError, never a traceback: every prefix of all-keys.json."""
    text = (EXAMPLES / "kea4" / "all-keys.json").read_text()
    for end in range(0, len(text), 811):
        with pytest.raises(ConfigError):
            config.parse_text(text[:end])


# ---------------------------------------------------------------------------------------------
# The reader: comments, duplicates, syntax errors
# ---------------------------------------------------------------------------------------------


def test_three_comment_styles() -> None:
    """kea-behaviour.md:20-21 (files go through Kea's lexer): `//`, `#` and `/* */` comments,
    positions counted through them (Kea's dhcp4_lexer.ll `#.*`, `"//"(.*)`, `"/*"`)."""
    text = (
        "// line comment\n"
        "# hash comment\n"
        "/* block\n   comment */ {\n"
        '  "Dhcp4": { /* inline */ "lease-database": { "type": "mysql", # tail\n'
        '    "name": "kea", "port": 99999 } } }\n'
    )
    err = text_error(text)
    assert err.message == "port value: 99999 is out of range, expected value: 0..65535"
    assert err.where == at(text, "99999")


def test_comment_markers_inside_strings_are_text() -> None:
    """`//`, `#` and `/*` inside a JSON string are part of the string, not comments."""
    text = '{"Dhcp4": {"lease-database": {"type": "memfile", "name": "/a//b#c/*d"}}}'
    settings = config.parse_text(text)
    assert settings.backend("lease-database").parameters["name"] == "/a//b#c/*d"


def test_positions_of_values_and_keys() -> None:
    """Every value and object key keeps its 1-based line and column (Kea's loc2pos)."""
    parsed = jsonc.parse('{\n  "a": [1,\n    {"b": true}]\n}')
    assert parsed.position(()) == (1, 1)
    assert parsed.position(("a",), key=True) == (2, 3)
    assert parsed.position(("a",)) == (2, 8)
    assert parsed.position(("a", 1, "b"), key=True) == (3, 6)
    assert parsed.position(("a", 1, "b")) == (3, 11)
    assert parsed.value == {"a": [1, {"b": True}]}


@pytest.mark.parametrize(
    ("text", "needle", "context"),
    [
        (
            '{"Dhcp4": {"lease-database": {"type": "a", "type": "b"}}}',
            '"type": "b"',
            "lease-database",
        ),
        ('{"Dhcp4": {"valid-lifetime": 1, "valid-lifetime": 2}}', '"valid-lifetime": 2', "Dhcp4"),
        ('{"Dhcp4": {}, "Dhcp4": {}}', '"Dhcp4": {}}', "toplevel"),
        ('{"Dhcp4": {"hosts-databases": [{"a": 1, "a": 2}]}}', '"a": 2', "hosts-databases"),
    ],
)
def test_duplicate_keys(text: str, needle: str, context: str) -> None:
    """kea-behaviour.md:27-28: `duplicate <k> entries in <ctx> map (previous at <pos>)`."""
    err = text_error(text)
    key = needle.split('"')[1]
    first = text.index(f'"{key}"')
    assert err.message == (
        f"duplicate {key} entries in {context} map (previous at t.json:1:{first + 1})"
    )
    assert err.where == at(text, needle)


@pytest.mark.parametrize(
    ("text", "message", "needle"),
    [
        ("", "empty document: no JSON value found", ""),
        ("  // only a comment\n", "empty document: no JSON value found", ""),
        ('{"Dhcp4": "abc', "unterminated string", '"abc'),
        ('{"Dhcp4": "ab\nc"}', "unterminated string", '"ab'),
        ('{"Dhcp4": {}} /* open', "unterminated /* comment", "/*"),
        ('{"Dhcp4": {}} []', "expected end of document, found '['", "[]"),
        ('{"Dhcp4": {}} x', "expected end of document, found an unexpected character", "x"),
        ('{"Dhcp4": 12ab}', "invalid number", "12ab"),
        ('{"Dhcp4": -}', "invalid number", "-"),
        ('{"Dhcp4": 1e999}', "number out of range", "1e999"),
        (
            '{"Dhcp4": 99999999999999999999}',
            "integer out of range (64-bit)",
            "99999999999999999999}",
        ),
        ('{"Dhcp4": True}', "expected a value (true, false and null are lower case only)", "T"),
        ('{"Dhcp4" {}}', "expected ':', found '{'", "{}"),
        ('{"Dhcp4": {} "x": 1}', "expected ',' or '}', found '\"'", '"x"'),
        ("{Dhcp4: {}}", "expected a string key, found an unexpected character", "Dhcp4"),
        ('{"Dhcp4": [1 2]}', "expected ',' or ']', found an unexpected character", "2]"),
        ('{"Dhcp4": ,}', "expected a value, found ','", ",}"),
        ('{"Dhcp4": {"a": [1,', "unexpected end of file: list opened at 1:17 is not closed", ""),
        ('{"Dhcp4": {', "unexpected end of file: object opened at 1:11 is not closed", ""),
        ('{"Dhcp4": "a\\qb"}', "invalid escape sequence in string", "\\q"),
        ('{"Dhcp4": "a\tb"}', "invalid control character in string", "\t"),
        ('{"Dhcp4": "\\ud800"}', "invalid \\u escape (unpaired surrogate) in string", "\\u"),
        ("[" * 300, "nesting deeper than 100 levels", None),
        ('{"a": ' * 300, "nesting deeper than 100 levels", None),
    ],
)
def test_syntax_errors(text: str, message: str, needle: str | None) -> None:
    """kea-behaviour.md:20-21: files are read by Kea's lexer/grammar; every syntax error is a
    ConfigError at FILE:LINE:COL (Kea: dhcp4_lexer.ll, e.g. `Comment not closed`)."""
    err = text_error(text)
    assert err.message == message
    if needle == "":
        assert err.where == at(text + "\0", "\0")
    elif needle is not None:
        assert err.where == at(text, needle)


def test_kea_lexer_leniencies() -> None:
    """Kea's lexer also takes `.5`, leading zeros and extra commas (dhcp4_lexer.ll number rules,
    dhcp4_parser.yy `warnAboutExtraCommas`); all-keys.json uses `"t1-percent": .5`."""
    parsed = jsonc.parse('{"a": .5, "b": 007, "c": [1, 2,], "d": 1e2, "e": -0.25,}')
    assert parsed.value == {"a": 0.5, "b": 7, "c": [1, 2], "d": 100.0, "e": -0.25}
    assert isinstance(parsed.value["b"], int)


def test_string_escapes() -> None:
    """JSON escapes, including \\u escapes and surrogate pairs, decode as in JSON."""
    parsed = jsonc.parse(r'["a\"b\\c\/d\b\f\n\r\t", "\u00e9\ud83d\ude00"]')
    assert parsed.value == ['a"b\\c/d\b\f\n\r\t', "\u00e9\U0001f600"]


# ---------------------------------------------------------------------------------------------
# Document structure
# ---------------------------------------------------------------------------------------------


def test_root_must_be_a_map() -> None:
    """A configuration is a JSON map (Kea's `syntax_map`, dhcp4_parser.yy)."""
    assert text_error("[1]").message == "a configuration must be a map holding 'Dhcp4' or 'Dhcp6'"
    assert text_error("[1]").where == "t.json:1:1"
    assert doc_error([1]).where == "arguments"


def test_root_needs_dhcp4_or_dhcp6() -> None:
    """Kea requires its server map (`ctx.require("Dhcp4", ...)`, dhcp4_parser.yy)."""
    err = text_error('{"Control-agent": {}}')
    assert (err.message, err.where) == ("missing 'Dhcp4' or 'Dhcp6' map", "t.json:1:1")
    assert doc_error({}).where == "arguments"


def test_root_holds_one_server() -> None:
    """One server per configuration: Dhcp4 and Dhcp6 together are refused."""
    rejects(
        {"Dhcp4": {}, "Dhcp6": {}},
        "a configuration holds one server: 'Dhcp4' or 'Dhcp6', not both",
        "Dhcp6",
        '"Dhcp6"',
    )


def test_server_must_be_a_map() -> None:
    """The Dhcp4/Dhcp6 value is a map (dhcp4_parser.yy `global_object`)."""
    rejects({"Dhcp6": [1]}, "Dhcp6 must be a map", "Dhcp6", "[", 0)


def test_other_top_level_keys_are_kept() -> None:
    """Unknown top-level keys do not break reading and stay in the document."""
    settings = config.from_document({"Dhcp6": {}, "Control-agent": {"x": 1}})
    assert settings.universe == 6 and settings.root == "Dhcp6"
    assert settings.document["Control-agent"] == {"x": 1}


def test_implicit_memfile_lease_database() -> None:
    """kea-behaviour.md:50-51: without `lease-database` the lease access string is
    `type=memfile`; memfile defaults (:77) apply."""
    settings = config.from_document({"Dhcp4": {}})
    assert len(settings.backends) == 1
    backend = settings.backend("lease-database")
    assert (backend.role, backend.type, backend.manager_id) == (Role.LEASE, DbType.MEMFILE, 3003)
    assert backend.parameters == {
        "type": "memfile",
        "persist": True,
        "lfc-interval": 3600,
        "max-row-errors": 0,
        "max-reconnect-tries": 0,
        "reconnect-wait-time": 0,
        "on-fail": "stop-retry-exit",
        "retry-on-startup": False,
        "readonly": False,
    }


def test_backend_order_is_kea_connect_order() -> None:
    """kea-behaviour.md:266-271: config backends connect first (while parsing), then
    createManagers: the lease database, then the host databases in list order."""
    document = {
        "Dhcp4": {
            "hosts-databases": [
                {"type": "postgresql", "name": "h0"},
                {"type": "mysql", "name": "h1"},
            ],
            "lease-database": {"type": "mysql", "name": "l"},
            "config-control": {"config-databases": [{"type": "postgresql", "name": "c"}]},
        }
    }
    settings = config.from_document(document)
    assert [(b.key, b.manager_id) for b in settings.backends] == [
        ("config-databases[0]", 3022),
        ("lease-database", 3001),
        ("hosts-databases[0]", 3012),
        ("hosts-databases[1]", 3011),
    ]


def test_single_hosts_database_key() -> None:
    """Kea still reads the deprecated single `hosts-database` map
    (json_config_parser.cc:526-541)."""
    settings = config.from_document({"Dhcp4": {"hosts-database": {"type": "mysql", "name": "h"}}})
    assert settings.backend("hosts-database").role is Role.HOSTS


def test_hosts_database_and_hosts_databases_exclusive() -> None:
    """Kea json_config_parser.cc:531-533: `can't use hosts-database and hosts-databases at the
    same time`."""
    document = {
        "Dhcp4": {
            "hosts-database": {"type": "mysql", "name": "a"},
            "hosts-databases": [{"type": "mysql", "name": "b"}],
        }
    }
    rejects(
        document,
        "can't use hosts-database and hosts-databases at the same time",
        "Dhcp4.hosts-databases",
        '"hosts-databases"',
    )


def test_hosts_databases_must_be_a_list() -> None:
    """`hosts-databases` is a list of maps (dhcp4_parser.yy `hosts_databases`)."""
    document = {"Dhcp4": {"hosts-databases": {"type": "mysql"}}}
    needle, shift = value_at("hosts-databases", "{")
    rejects(document, "hosts-databases must be a list", "Dhcp4.hosts-databases", needle, shift)


def test_config_databases_must_be_a_list() -> None:
    """Kea config_ctl_parser.cc:29-33: `config-databases must be a list`."""
    document = {"Dhcp4": {"config-control": {"config-databases": "mysql"}}}
    needle, shift = value_at("config-databases", '"mysql"')
    path = "Dhcp4.config-control.config-databases"
    rejects(document, "config-databases must be a list", path, needle, shift)


def test_database_map_must_be_a_map() -> None:
    """kea-behaviour.md:37-38: DbAccessParser reads a map; anything else is refused."""
    document = {"Dhcp4": {"lease-database": "memfile"}}
    needle, shift = value_at("lease-database", '"memfile"')
    rejects(document, "lease-database must be a map", "Dhcp4.lease-database", needle, shift)
    document = hosts({"type": "mysql", "name": "a"}, ["mysql"])  # type: ignore[arg-type]
    path = "Dhcp4.hosts-databases[1]"
    rejects(document, "hosts-databases[1] must be a map", path, '[\n        "mysql"')


def test_config_control_must_be_a_map() -> None:
    """Kea config_ctl_parser.cc: config-control is a map."""
    document: dict[str, Any] = {"Dhcp4": {"config-control": []}}
    needle, shift = value_at("config-control", "[]")
    rejects(document, "config-control must be a map", "Dhcp4.config-control", needle, shift)


def test_config_control_unknown_keyword() -> None:
    """Kea dhcp4_parser.yy:3123-3125: config-control holds only config-databases and
    config-fetch-wait-time."""
    document = {"Dhcp4": {"config-control": {"config-fetch-wait": 5}}}
    rejects(
        document,
        'got unexpected keyword "config-fetch-wait" in config-control map.',
        "Dhcp4.config-control.config-fetch-wait",
        '"config-fetch-wait"',
    )


def test_config_fetch_wait_time() -> None:
    """kea-behaviour.md:360: `config-fetch-wait-time` (seconds, default 30) is kept; Kea reads
    it with getInteger(0, 65535) (config_ctl_parser.cc:46-50, simple_parser.cc)."""
    base: dict[str, Any] = {"Dhcp4": {"config-control": {"config-databases": []}}}
    assert config.from_document(base).config_fetch_wait_time == 30.0
    path = "Dhcp4.config-control.config-fetch-wait-time"
    for value, message in [
        (
            70000,
            "The 'config-fetch-wait-time' value (70000) is not within expected range: (0 - 65535)",
        ),
        (1.5, "invalid type specified for parameter 'config-fetch-wait-time'"),
    ]:
        document = copy.deepcopy(base)
        document["Dhcp4"]["config-control"]["config-fetch-wait-time"] = value
        needle, shift = value_at("config-fetch-wait-time", str(value))
        rejects(document, message, path, needle, shift)
    base["Dhcp4"]["config-control"]["config-fetch-wait-time"] = 7
    assert config.from_document(base).config_fetch_wait_time == 7.0


# ---------------------------------------------------------------------------------------------
# Database maps: keys, types, type
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "path", "context"),
    [
        (lease(type="mysql", name="a", bogus=1), "Dhcp4.lease-database.bogus", "lease-database"),
        (hosts({"type": "mysql", "bogus": 1}), "Dhcp4.hosts-databases[0].bogus", "hosts-databases"),
        (
            {"Dhcp4": {"config-control": {"config-databases": [{"type": "mysql", "bogus": 1}]}}},
            "Dhcp4.config-control.config-databases[0].bogus",
            "config-database",
        ),
    ],
)
def test_unknown_keyword(document: dict[str, Any], path: str, context: str) -> None:
    """kea-behaviour.md:22-26: only the grammar's keys;
    `got unexpected keyword "<k>" in <lease-database|hosts-databases|config-database> map.`"""
    message = f'got unexpected keyword "bogus" in {context} map.'
    rejects(document, message, path, '"bogus"')


def test_type_is_mandatory() -> None:
    """kea-behaviour.md:28-30 and :58: `type` is required in every database map (text from
    dbaccess_parser.cc:141-147)."""
    message = (
        "database access parameters must include the keyword 'type' to determine type "
        "of database to be accessed"
    )
    needle, shift = value_at("lease-database", "{")
    rejects(lease(name="kea"), message, "Dhcp4.lease-database", needle, shift)


def test_type_must_be_known() -> None:
    """kea-behaviour.md:58: `unknown backend database type: <t>` (dbaccess_parser.cc:157-159)."""
    needle, shift = value_at("type", '"cql"')
    rejects(
        lease(type="cql"),
        "unknown backend database type: cql",
        "Dhcp4.lease-database.type",
        needle,
        shift,
    )


def test_memfile_is_not_a_host_backend() -> None:
    """kea-behaviour.md:58: `The type of host backend: 'memfile' is not supported`."""
    document = hosts({"type": "mysql", "name": "a"}, {"type": "memfile"})
    path = "Dhcp4.hosts-databases[1].type"
    rejects(document, "The type of host backend: 'memfile' is not supported", path, '"memfile"')


def test_memfile_is_not_a_config_backend() -> None:
    """The config-backend factory refuses memfile like the host one (kea-behaviour.md:58;
    text from base_config_backend_mgr.h:175-176)."""
    document = {"Dhcp4": {"config-control": {"config-databases": [{"type": "memfile"}]}}}
    message = "The type of the configuration backend: 'memfile' is not supported"
    rejects(document, message, "Dhcp4.config-control.config-databases[0].type", '"memfile"')


@pytest.mark.parametrize(
    ("param", "value", "literal"),
    [
        ("port", 3306.0, "3306.0"),
        ("port", "3306", '"3306"'),
        ("max-reconnect-tries", True, "true"),
        ("connect-timeout", None, "null"),
        ("retry-on-startup", "true", '"true"'),
        ("readonly", 1, "1"),
        ("host", 127, "127"),
        ("on-fail", ["stop-retry-exit"], "["),
        ("type", 3, "3"),
    ],
)
def test_wrong_json_type(param: str, value: object, literal: str) -> None:
    """kea-behaviour.md:30-31 and :43-47: integers must be JSON integers, booleans JSON booleans,
    all other keys strings: `invalid value type specified for parameter '<name>'`."""
    document = mysql()
    document["Dhcp4"]["lease-database"][param] = value
    message = f"invalid value type specified for parameter '{param}'"
    needle, shift = value_at(param, literal)
    rejects(document, message, f"Dhcp4.lease-database.{param}", needle, shift)


# ---------------------------------------------------------------------------------------------
# Database maps: values
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("port", 65536, "port value: 65536 is out of range, expected value: 0..65535"),
        ("port", -1, "port value: -1 is out of range, expected value: 0..65535"),
        (
            "connect-timeout",
            4294967296,
            "connect-timeout value: 4294967296 is out of range, expected value: 0..4294967295",
        ),
        (
            "read-timeout",
            -5,
            "read-timeout value: -5 is out of range, expected value: 0..4294967295",
        ),
        (
            "write-timeout",
            -5,
            "write-timeout value: -5 is out of range, expected value: 0..4294967295",
        ),
        ("max-reconnect-tries", -1, "max-reconnect-tries cannot be less than zero"),
        (
            "reconnect-wait-time",
            4294967296,
            "reconnect-wait-time 4294967296 must be in range 0...MAX_UINT32 (4294967295)",
        ),
        (
            "lfc-interval",
            -1,
            "lfc-interval value: -1 is out of range, expected value: 0..4294967295",
        ),
        (
            "max-row-errors",
            4294967296,
            "max-row-errors value: 4294967296 is out of range, expected value: 0..4294967295",
        ),
    ],
)
def test_parser_ranges(param: str, value: int, message: str) -> None:
    """kea-behaviour.md:60,63-68,77: DbAccessParser's ranges and texts
    (dbaccess_parser.cc:163-256)."""
    document = mysql(**{param.replace("-", "_"): value})
    needle, shift = value_at(param, str(value))
    rejects(document, message, f"Dhcp4.lease-database.{param}", needle, shift)


def test_max_reconnect_tries_above_uint32() -> None:
    """kea-behaviour.md:67: Kea does not bound max-reconnect-tries in the parser but silently
    uses 0 above UINT32 (inferred); dbfsm refuses such a value instead, with Kea's range text."""
    message = "max-reconnect-tries value: 4294967296 is out of range, expected value: 0..4294967295"
    needle, shift = value_at("max-reconnect-tries", "4294967296")
    path = "Dhcp4.lease-database.max-reconnect-tries"
    rejects(mysql(max_reconnect_tries=4294967296), message, path, needle, shift)


@pytest.mark.parametrize("param", ["read-timeout", "write-timeout"])
@pytest.mark.parametrize("db_type", ["postgresql", "memfile"])
def test_read_write_timeout_mysql_only(param: str, db_type: str) -> None:
    """kea-behaviour.md:64-65: `<p> value is only supported by the mysql backend` (value > 0);
    0 is accepted everywhere."""
    zero = lease(type=db_type, name="kea", **{param.replace("-", "_"): 0})
    config.from_document(zero)
    document = lease(type=db_type, name="kea", **{param.replace("-", "_"): 10})
    message = f"{param} value is only supported by the mysql backend"
    needle, shift = value_at(param, "10")
    rejects(document, message, f"Dhcp4.lease-database.{param}", needle, shift)


@pytest.mark.parametrize("db_type", ["mysql", "memfile"])
def test_tcp_user_timeout_postgresql_only(db_type: str) -> None:
    """kea-behaviour.md:66: `tcp-user-timeout value is only supported by the postgresql backend`."""
    document = lease(type=db_type, name="kea", tcp_user_timeout=10)
    message = "tcp-user-timeout value is only supported by the postgresql backend"
    needle, shift = value_at("tcp-user-timeout", "10")
    rejects(document, message, "Dhcp4.lease-database.tcp-user-timeout", needle, shift)


def test_ssl_mode_postgresql_only() -> None:
    """kea-behaviour.md:76 and :484: MySQL ignores ssl-mode; no Kea example sets it on MySQL
    (only on the postgresql host database of all-keys.json), so dbfsm refuses it there."""
    document = mysql(ssl_mode="require")
    message = "ssl-mode is only supported by the postgresql backend"
    needle, shift = value_at("ssl-mode", '"require"')
    rejects(document, message, "Dhcp4.lease-database.ssl-mode", needle, shift)


def test_on_fail_values() -> None:
    """kea-behaviour.md:31 and :69: on-fail is one of the three keywords; Kea's text for
    another value is `Invalid action on connection loss: <text>` (reconnect_ctl.cc:36), to which
    dbfsm adds the key and the accepted values, keeping the location."""
    for action in OnFail:
        assert config.from_document(mysql(on_fail=action.value)).backends[0].on_fail is action
    document = hosts(
        {"type": "mysql", "name": "a"}, {"type": "mysql", "name": "b", "on-fail": "retry"}
    )
    message = (
        "Invalid action on connection loss: retry "
        "(on-fail must be one of: stop-retry-exit, serve-retry-exit, serve-retry-continue)"
    )
    needle, shift = value_at("on-fail", '"retry"')
    rejects(document, message, "Dhcp4.hosts-databases[1].on-fail", needle, shift)


def test_ssl_mode_values() -> None:
    """kea-behaviour.md:32 and :76: ssl-mode is one of
    disable|prefer|require|verify-ca|verify-full."""
    for mode in ("disable", "prefer", "require", "verify-ca", "verify-full"):
        settings = config.from_document(lease(type="postgresql", name="k", ssl_mode=mode))
        assert settings.backends[0].parameters["ssl-mode"] == mode
    document = lease(type="postgresql", name="k", ssl_mode="allow")
    message = "invalid ssl-mode value: allow, expected disable|prefer|require|verify-ca|verify-full"
    needle, shift = value_at("ssl-mode", '"allow"')
    rejects(document, message, "Dhcp4.lease-database.ssl-mode", needle, shift)


def test_password_and_password_file_exclusive() -> None:
    """kea-behaviour.md:62: `can't specify both 'password' and 'password-file'`."""
    document = mysql(password=SECRET, password_file="/etc/kea/pw")
    needle, shift = value_at("lease-database", "{")
    message = "can't specify both 'password' and 'password-file'"
    rejects(document, message, "Dhcp4.lease-database", needle, shift)


@pytest.mark.parametrize("param", ["max-reconnect-tries", "reconnect-wait-time"])
def test_memfile_does_not_reconnect(param: str) -> None:
    """kea-behaviour.md:67-68: memfile refuses values > 0 (memfile_lease_mgr.cc:1103-1111)."""
    config.from_document(lease(type="memfile", **{param.replace("-", "_"): 0}))
    document = lease(type="memfile", **{param.replace("-", "_"): 3})
    message = f"'{param}' values greater than zero are not supported by memfile"
    needle, shift = value_at(param, "3")
    rejects(document, message, f"Dhcp4.lease-database.{param}", needle, shift)


@pytest.mark.parametrize(
    ("param", "value", "low"),
    [
        ("connect-timeout", 0, 1),
        ("connect-timeout", 2147483648, 1),
        ("read-timeout", 2147483648, 0),
    ],
)
def test_backend_timeout_ranges(param: str, value: int, low: int) -> None:
    """kea-behaviour.md:63-64: the parser takes 0..4294967295 but the backend refuses
    connect-timeout 0 and any timeout > 2147483647 with its runtime text (DbInvalidTimeout)."""
    document = mysql(**{param.replace("-", "_"): value})
    message = f"{param} parameter ({value}) must be an integer between {low} and 2147483647"
    needle, shift = value_at(param, str(value))
    rejects(document, message, f"Dhcp4.lease-database.{param}", needle, shift)


def test_backend_checks_only_for_types_that_use_them() -> None:
    """kea-behaviour.md:63 (honoured by MySQL, PgSQL): memfile never opens a connection, so a
    connect-timeout of 0 passes there as it does in Kea."""
    settings = config.from_document(lease(type="memfile", connect_timeout=0))
    assert settings.backends[0].parameters["connect-timeout"] == 0


@pytest.mark.parametrize("db_type", ["mysql", "postgresql"])
def test_sql_database_needs_a_name(db_type: str) -> None:
    """kea-behaviour.md:61: `must specify a name for the database` (NoDatabaseName)."""
    needle, shift = value_at("lease-database", "{")
    message = "must specify a name for the database"
    rejects(lease(type=db_type), message, "Dhcp4.lease-database", needle, shift)
    config.from_document(lease(type="memfile"))  # memfile: the name is an optional file name


def test_grammar_errors_come_before_parser_errors() -> None:
    """kea-behaviour.md:18-41: the three layers run in order, so an unknown key (grammar) is
    reported before a missing `type` (parser) and a bad range before a missing name (backend)."""
    assert text_error('{"Dhcp4": {"lease-database": {"x": 1}}}').message.startswith(
        "got unexpected"
    )
    err = doc_error(lease(type="mysql", port=70000))
    assert err.message.startswith("port value: 70000")


# ---------------------------------------------------------------------------------------------
# Effective parameters
# ---------------------------------------------------------------------------------------------


def test_mysql_defaults() -> None:
    """kea-behaviour.md:59-71: MySQL defaults host localhost, port 0, connect-timeout 5,
    read/write-timeout 0, reconnect 0/0, on-fail stop-retry-exit, flags false."""
    backend = config.from_document(lease(type="mysql", name="kea")).backends[0]
    assert backend.parameters == {
        "type": "mysql",
        "name": "kea",
        "host": "localhost",
        "connect-timeout": 5,
        "read-timeout": 0,
        "write-timeout": 0,
        "port": 0,
        "max-reconnect-tries": 0,
        "reconnect-wait-time": 0,
        "on-fail": "stop-retry-exit",
        "retry-on-startup": False,
        "readonly": False,
    }
    assert (backend.max_reconnect_tries, backend.reconnect_wait_time) == (0, 0)
    assert (backend.on_fail, backend.retry_on_startup, backend.readonly) == (
        OnFail.STOP_RETRY_EXIT,
        False,
        False,
    )


def test_postgresql_defaults() -> None:
    """kea-behaviour.md:59-71 and :495: PostgreSQL has tcp-user-timeout 0, no read/write-timeout
    and, without TLS keys, no ssl-mode (libpq's default applies)."""
    params = config.from_document(lease(type="postgresql", name="kea")).backends[0].parameters
    assert params["tcp-user-timeout"] == 0 and params["connect-timeout"] == 5
    assert "read-timeout" not in params and "ssl-mode" not in params


def test_given_values_win_over_defaults() -> None:
    """kea-behaviour.md:49: defaults only fill what the map does not give."""
    document = mysql(host="db", port=3306, max_reconnect_tries=4, reconnect_wait_time=250)
    document["Dhcp4"]["lease-database"].update(
        {"on-fail": "serve-retry-continue", "retry-on-startup": True, "readonly": True}
    )
    backend = config.from_document(document).backends[0]
    assert (backend.parameters["host"], backend.parameters["port"]) == ("db", 3306)
    assert (backend.max_reconnect_tries, backend.reconnect_wait_time) == (4, 250)
    assert backend.on_fail is OnFail.SERVE_RETRY_CONTINUE
    assert backend.retry_on_startup and backend.readonly


def test_memfile_defaults() -> None:
    """kea-behaviour.md:77: persist true, lfc-interval 3600, max-row-errors 0
    (memfile_lease_mgr.cc lfcSetup and initLeaseFilePath)."""
    params = config.from_document(lease(type="memfile", lfc_interval=0)).backends[0].parameters
    assert (params["persist"], params["lfc-interval"], params["max-row-errors"]) == (True, 0, 0)
    assert "host" not in params and "connect-timeout" not in params


@pytest.mark.parametrize(
    ("given", "mode"),
    [
        ({"trust-anchor": "ca"}, "verify-ca"),
        ({"trust-anchor": "ca", "ssl-mode": "disable"}, "disable"),
        ({"cert-file": "c", "key-file": "k"}, "require"),
        ({"key-file": "k"}, "require"),
        ({"cipher-list": "AES"}, None),
        ({}, None),
    ],
)
def test_postgresql_effective_ssl_mode(given: dict[str, str], mode: str | None) -> None:
    """kea-behaviour.md:486-495 (§5): trust-anchor without ssl-mode -> verify-ca; other TLS keys
    -> require; cipher-list does not count; no TLS key -> no ssl-mode."""
    document = lease(type="postgresql", name="kea")
    document["Dhcp4"]["lease-database"].update(given)
    params = config.from_document(document).backends[0].parameters
    assert params.get("ssl-mode") == mode


def test_mysql_tls_keys_are_kept() -> None:
    """kea-behaviour.md:72-75: trust-anchor, cert-file, key-file, cipher-list are MySQL strings."""
    document = mysql(trust_anchor="ca", cert_file="c", key_file="k", cipher_list="AES")
    params = config.from_document(document).backends[0].parameters
    assert [params[k] for k in ("trust-anchor", "cert-file", "key-file", "cipher-list")] == [
        "ca",
        "c",
        "k",
        "AES",
    ]
    assert "ssl-mode" not in params


# ---------------------------------------------------------------------------------------------
# The document, sources, files, redaction, secrets
# ---------------------------------------------------------------------------------------------


def test_document_is_kept_untouched() -> None:
    """config-get shows the configuration as given: no defaults injected into the document
    (kea-behaviour.md:49: Kea injects no SimpleParser defaults for database maps)."""
    document: dict[str, Any] = {
        "Dhcp4": {
            "lease-database": {"type": "mysql", "name": "kea", "password": SECRET},
            "subnet4": [{"id": 1, "subnet": "192.0.2.0/24"}],
            "user-context": {"anything": [1, 2.5, None, True]},
        },
        "extra": "kept",
    }
    from_doc = config.from_document(document)
    assert from_doc.document == document
    from_text = config.parse_text(json.dumps(document))
    assert from_text.document == document
    document["Dhcp4"]["lease-database"]["name"] = "changed later"
    assert from_doc.document["Dhcp4"]["lease-database"]["name"] == "kea"


def test_from_document_where_prefix() -> None:
    """Errors from documents carry the JSON path under the caller's prefix."""
    document = hosts({"type": "mysql", "name": "a"}, {"type": "mysql", "name": "b", "on-fail": "x"})
    assert doc_error(document).where == "arguments.Dhcp4.hosts-databases[1].on-fail"
    assert str(doc_error(document, "scenario.config")).startswith("scenario.config.Dhcp4.")
    assert str(doc_error(document)).startswith("arguments.Dhcp4.hosts-databases[1].on-fail: ")


def test_source_recorded() -> None:
    """`ServerSettings.source` names the file; text without a name has none."""
    assert config.parse_text('{"Dhcp4": {}}').source is None
    assert config.parse_text('{"Dhcp4": {}}', "kea.conf").source == "kea.conf"


def test_load_file_reads_comments_and_locates_errors(tmp_path: Path) -> None:
    """kea-behaviour.md:20-21: a file goes through Kea's reader; errors carry FILE:LINE:COL."""
    path = tmp_path / "kea.conf"
    path.write_text('# kea\n{"Dhcp6": {\n  "lease-database": {"type": "mysql"}\n}}\n')
    err = file_error(path)
    assert (err.message, err.where) == ("must specify a name for the database", f"{path}:3:21")
    assert str(err) == f"{path}:3:21: must specify a name for the database"


def test_load_file_unreadable(tmp_path: Path) -> None:
    """An unreadable file is a ConfigError naming the file and the OS reason."""
    missing = tmp_path / "missing.json"
    err = file_error(missing)
    assert str(err) == f"{missing}: cannot read configuration file: No such file or directory"
    err = file_error(tmp_path)
    assert err.where == str(tmp_path) and "Is a directory" in err.message
    binary = tmp_path / "binary.json"
    binary.write_bytes(b'{"Dhcp4":\n {"name": "\xff"}}')
    err = file_error(binary)
    assert (err.message, err.where) == ("file is not valid UTF-8", f"{binary}:2:12")


def test_config_error_shape() -> None:
    """The CLI prints str(err) as one line; ConfigError is an InputError."""
    err = ConfigError("bad", "f.json:1:2")
    assert isinstance(err, InputError)
    assert (str(err), err.message, err.where) == ("f.json:1:2: bad", "bad", "f.json:1:2")
    assert str(ConfigError("bad")) == "bad"


def test_redact() -> None:
    """config-get and printing never show a password: every `password` value, at any depth,
    becomes `*****` in a deep copy."""
    document = {
        "Dhcp4": {
            "lease-database": {"type": "mysql", "password": SECRET, "password-file": "/p"},
            "control-sockets": [{"authentication": {"clients": [{"password": SECRET}]}}],
            "hosts-databases": [{"password": 5}],
        }
    }
    original = copy.deepcopy(document)
    redacted = config.redact(document)
    assert document == original
    assert SECRET not in json.dumps(redacted)
    assert redacted == {
        "Dhcp4": {
            "lease-database": {"type": "mysql", "password": "*****", "password-file": "/p"},
            "control-sockets": [{"authentication": {"clients": [{"password": "*****"}]}}],
            "hosts-databases": [{"password": "*****"}],
        }
    }


class Uncopyable:
    """Not plain data: deepcopy fails."""

    def __deepcopy__(self, memo: object) -> Uncopyable:
        raise TypeError("cannot copy")


BAD_WITH_SECRET = [
    f'{{"Dhcp4": {{"lease-database": {{"type": "mysql", "password": {SECRET}}}}}}}',
    f'{{"Dhcp4": {{"lease-database": {{"type": "mysql", "password": "{SECRET}\\q"}}}}}}',
    f'{{"Dhcp4": {{"lease-database": {{"type": "mysql", "password": "{SECRET}',
    f'{{"Dhcp4": {{"lease-database": {{"type": "mysql", "password": "{SECRET}\t"}}}}}}',
    f'{{"Dhcp4": {{"lease-database": {{"password": "{SECRET}", "password": "{SECRET}"}}}}}}',
    f'{{"Dhcp4": {{"lease-database": {{"password": "{SECRET}", "type": "x"}}}}}}',
    f'{{"Dhcp4": {{"lease-database": {{"type": "mysql", "password": ["{SECRET}"]}}}}}}',
    f'{{"Dhcp4": {{"lease-database": {{"type": "mysql", "password": "{SECRET}", '
    '"password-file": "f", "name": "n"}}}',
    f'{{"Dhcp4": {{"lease-database": {{"type": "mysql", "password": "{SECRET}"}}}}}}',
    '{"Dhcp4": {"lease-database": {"type": "mysql", "password": 987654321}}}',
    '{"Dhcp4": {"lease-database": {"type": "mysql", "password": 98765e4321}}}',
    '{"Dhcp4": {"lease-database": {"type": "mysql", "password": 98765x4321}}}',
]


@pytest.mark.parametrize("text", BAD_WITH_SECRET)
def test_password_never_in_messages(text: str) -> None:
    """A password (or what was meant as one) never appears in an error message, whether the
    error is a syntax error, a type error or a rule (kea-behaviour.md:43: the type error names
    the parameter only)."""
    err = text_error(text)
    for secret in (SECRET, "987654321", "98765"):
        assert secret not in str(err)
    try:
        document = json.loads(text)
    except ValueError:
        return
    assert SECRET not in str(doc_error(document))


@pytest.mark.parametrize(
    "document",
    [
        None,
        42,
        "Dhcp4",
        {"Dhcp4": None},
        {"Dhcp4": {"lease-database": None}},
        {"Dhcp4": {"lease-database": {1: "x", "type": "mysql"}}},
        {"Dhcp4": {"lease-database": {"type": {"nested": 1}}}},
        {"Dhcp4": {"lease-database": {"type": "mysql", "name": "a", "port": float("nan")}}},
        {"Dhcp4": {"hosts-databases": [None]}},
        {"Dhcp4": {"config-control": {"config-databases": [[]]}}},
        {"Dhcp4": {"config-control": {"config-fetch-wait-time": "30"}}},
        {"Dhcp4": {}, "x": Uncopyable()},
    ],
)
def test_odd_documents_raise_config_error(document: object) -> None:
    """No traceback for any input: every bad document is a ConfigError."""
    doc_error(document)
