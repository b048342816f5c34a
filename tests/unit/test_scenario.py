"""Scenario parsing (`dbfsm.scenario`): what a good scenario becomes, and how a bad one is refused.

Every refusal is a `ConfigError` whose str is one line, `FILE:LINE:COL: message` (1-based), so
that the CLI can print it as is (exit 2, no traceback).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dbfsm.fsm.errors import ConfigError, InputError
from dbfsm.simulation import scenario, simulate
from dbfsm.simulation.scenario import ScenarioEvent, Traffic

SOURCE = "scenario.yaml"
CONFIG = "config: {Dhcp4: {lease-database: {type: mysql, name: kea}}}\n"


def parse(text: str, base: Path | None = None, override: str | None = None) -> scenario.Scenario:
    return scenario.parse(text, SOURCE, base or Path("."), override)


def refusal(text: str, base: Path | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text, base)
    return info.value


def one_line(err: Exception) -> str:
    message = str(err)
    assert "\n" not in message and "\r" not in message, message
    assert message.strip() == message and message
    return message


def located(err: Exception, line: int, col: int | None = None) -> str:
    """The message after `scenario.yaml:LINE:COL: `; checks the location (column if given)."""
    message = one_line(err)
    found = re.match(rf"{re.escape(SOURCE)}:(\d+):(\d+): (.+)", message)
    assert found, f"no {SOURCE}:LINE:COL in {message!r}"
    assert int(found.group(1)) == line, message
    if col is not None:
        assert int(found.group(2)) == col, message
    assert int(found.group(2)) >= 1
    return found.group(3)


# ---------------------------------------------------------------------------------------------
# Bad scenarios: one line, file:line:col
# ---------------------------------------------------------------------------------------------

BAD = [
    # (id, text, line, col, words in the message)
    ("a list", "- 1\n- 2\n", 1, 1, "must be a map"),
    ("a scalar", "hello\n", 1, 1, "must be a map"),
    ("empty", "", 1, 1, "must be a map"),
    ("unknown key", CONFIG + "foo: 1\n", 2, None, "foo: unknown key"),
    ("missing config", "until: 3\n", 1, 1, "missing 'config'"),
    ("config not a map or path", "config: 3\n", 1, 9, "config: must be a file path"),
    ("traffic word", CONFIG + "traffic: sometimes\n", 2, 10, "traffic: must be continuous, none"),
    ("traffic list", CONFIG + "traffic: [1]\n", 2, 10, "traffic: must be"),
    (
        "traffic every 0",
        CONFIG + "traffic: {every: 0}\n",
        2,
        None,
        "traffic.every: must be greater",
    ),
    ("traffic no every", CONFIG + "traffic: {from: 1}\n", 2, 10, "needs 'every'"),
    ("traffic unknown key", CONFIG + "traffic: {every: 1, x: 1}\n", 2, 10, "unknown key 'x'"),
    ("traffic negative from", CONFIG + "traffic: {every: 1, from: -1}\n", 2, None, "traffic.from"),
    ("until 0", CONFIG + "until: 0\n", 2, 8, "until: must be greater than 0"),
    ("until text", CONFIG + "until: soon\n", 2, 8, "until: must be a number"),
    ("until bool", CONFIG + "until: true\n", 2, 8, "until: must be a number"),
    ("events not a list", CONFIG + "events: {at: 1}\n", 2, 9, "events: must be a list"),
    ("event not a map", CONFIG + "events:\n  - 3\n", 3, 5, "events[0]: an event must be a map"),
    ("event without at", CONFIG + "events:\n  - {down: lease-database}\n", 3, 5, "missing 'at'"),
    (
        "at not a number",
        CONFIG + "events:\n  - {at: x, down: lease-database}\n",
        3,
        None,
        "events[0].at",
    ),
    (
        "at negative",
        CONFIG + "events:\n  - {at: -1, down: lease-database}\n",
        3,
        None,
        "events[0].at",
    ),
    (
        "at after until",
        CONFIG + "until: 5\nevents:\n  - {at: 6, down: lease-database}\n",
        4,
        None,
        "events[0].at: 6.0 is after the end of the scenario (5.0)",
    ),
    (
        "two kinds",
        CONFIG + "events:\n  - {at: 1, down: lease-database, up: lease-database}\n",
        3,
        5,
        "needs exactly one of",
    ),
    ("no kind", CONFIG + "events:\n  - {at: 1}\n", 3, 5, "needs exactly one of"),
    (
        "unknown event key",
        CONFIG + "events:\n  - {at: 1, down: lease-database, foo: 2}\n",
        3,
        None,
        "events[0].foo: unknown key",
    ),
    (
        "unknown backend",
        CONFIG + "events:\n  - {at: 1, down: hosts-database}\n",
        3,
        None,
        "events[0].down: no backend 'hosts-database' (known: lease-database)",
    ),
    (
        "not a backend name",
        CONFIG + "events:\n  - {at: 1, up: leases}\n",
        3,
        None,
        "'leases' is not a backend name",
    ),
    (
        "version without schema",
        CONFIG + "events:\n  - {at: 1, down: lease-database, version: '1.0'}\n",
        3,
        5,
        "'version' goes with 'schema'",
    ),
    (
        "schema without version",
        CONFIG + "events:\n  - {at: 1, schema: lease-database}\n",
        3,
        5,
        "'version' goes with 'schema'",
    ),
    (
        "command not a map",
        CONFIG + "events:\n  - {at: 1, command: status-get}\n",
        3,
        None,
        "events[0].command: must be a map",
    ),
    (
        "description not text",
        CONFIG + "description: [a]\n",
        2,
        None,
        "description: must be a string",
    ),
    ("bad YAML: unclosed list", CONFIG + "events: [\n", 3, 1, "invalid YAML/JSON"),
    ("bad YAML: unclosed map", "config: {Dhcp4: {}\nuntil: 3\n", 2, None, "invalid YAML/JSON"),
    ("bad YAML: tab indent", CONFIG + "events:\n\t- {at: 1}\n", 3, None, "invalid YAML/JSON"),
    ("bad JSON", '{"config": {"Dhcp4": {}}, "until": 3]\n', 1, None, "invalid YAML/JSON"),
    (
        "inline config: bad type",
        "config: {Dhcp4: {lease-database: {type: oracle}}}\n",
        1,
        9,
        "config.Dhcp4.lease-database.type: unknown backend database type: oracle",
    ),
    (
        "inline config: port out of range",
        "until: 3\nconfig:\n  Dhcp4:\n    lease-database: {type: mysql, name: k, port: 70000}\n",
        3,
        None,
        "config.Dhcp4.lease-database.port: port value: 70000 is out of range",
    ),
    ("inline config: no Dhcp4", "config: {Dhcp5: {}}\n", 1, 9, "missing 'Dhcp4' or 'Dhcp6'"),
]


@pytest.mark.parametrize(
    ("text", "line", "col", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_a_bad_scenario_is_one_located_line(text, line, col, words):
    """Each refusal names the scenario file, the line and column of the offending node, and
    says what is wrong, on one line."""
    message = located(refusal(text), line, col)
    assert words in message


def test_errors_are_dbfsm_errors():
    """The CLI catches InputError: a scenario error must be one."""
    assert isinstance(refusal("hello\n"), InputError)


def test_unreadable_scenario_file(tmp_path):
    """A file that cannot be read: one line naming the file and the reason (there is no line
    or column to give)."""
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as info:
        scenario.load(missing)
    assert one_line(info.value) == f"{missing}: cannot read scenario: No such file or directory"
    with pytest.raises(ConfigError) as info:
        scenario.load(tmp_path)
    assert one_line(info.value).startswith(f"{tmp_path}: cannot read scenario: ")


def test_scenario_that_is_not_utf8(tmp_path):
    """A scenario file that is not UTF-8 is refused in one line naming it (as fsm.config does
    for configuration files: "file is not valid UTF-8" at FILE:LINE:COL)."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"description: \xe9t\xe9\n" + CONFIG.encode())
    with pytest.raises(InputError) as info:
        scenario.load(path)
    assert one_line(info.value).startswith(str(path))


def test_missing_configuration_file_names_it(tmp_path):
    """A scenario whose `config` file does not exist: one line naming that file."""
    with pytest.raises(ConfigError) as info:
        parse("config: nope.json\n", tmp_path)
    message = one_line(info.value)
    assert f"{tmp_path / 'nope.json'}" in message
    assert "cannot read configuration file" in message


def test_missing_configuration_file_points_at_the_scenario_line(tmp_path):
    """Like every other bad scenario, a `config:` naming a missing file is located in the
    scenario (here line 2, column 9)."""
    with pytest.raises(ConfigError) as info:
        parse("until: 3\nconfig: nope.json\n", tmp_path)
    located(info.value, 2, 9)


def test_a_bad_configuration_file_is_located_in_that_file(tmp_path):
    """Errors inside a configuration file are located in that file (its line and column)."""
    (tmp_path / "kea.json").write_text('{"Dhcp4": {\n  "lease-database": {"type": "oracle"}\n}}\n')
    with pytest.raises(ConfigError) as info:
        parse("config: kea.json\n", tmp_path)
    message = one_line(info.value)
    assert re.match(rf"{re.escape(str(tmp_path / 'kea.json'))}:2:\d+: ", message), message
    assert "unknown backend database type: oracle" in message


# ---------------------------------------------------------------------------------------------
# Good scenarios
# ---------------------------------------------------------------------------------------------


def test_defaults():
    """until 60 s, continuous traffic, no events, no description."""
    parsed = parse(CONFIG)
    assert parsed.until == 60
    assert parsed.traffic == Traffic("continuous")
    assert parsed.events == ()
    assert parsed.description == ""
    assert parsed.source == SOURCE
    assert [b.key for b in parsed.settings.backends] == ["lease-database"]


def test_everything_parsed():
    text = CONFIG + (
        "description: a test\n"
        "until: 10\n"
        "traffic: {every: 0.5, from: 0.25}\n"
        "events:\n"
        "  - {at: 3, up: lease-database}\n"
        "  - {at: 1, down: lease-database}\n"
        "  - {at: 2, schema: lease-database, version: 34.0}\n"
        "  - {at: 2, use: lease-database}\n"
        "  - {at: 10, command: {command: status-get}}\n"
    )
    parsed = parse(text)
    assert parsed.description == "a test"
    assert parsed.until == 10
    assert parsed.traffic == Traffic("periodic", 0.5, 0.25)
    assert parsed.events == (
        ScenarioEvent(1, "down", LEASE),
        ScenarioEvent(2, "schema", LEASE, "34.0"),
        ScenarioEvent(2, "use", LEASE),
        ScenarioEvent(3, "up", LEASE),
        ScenarioEvent(10, "command", command={"command": "status-get"}),
    ), "sorted by time, stable for equal times; a numeric version becomes text; at == until is in"


LEASE = "lease-database"


@pytest.mark.parametrize("traffic", ["continuous", "none"])
def test_traffic_words(traffic):
    assert parse(CONFIG + f"traffic: {traffic}\n").traffic == Traffic(traffic)


def test_a_json_scenario_is_accepted():
    """YAML is a superset of JSON: a JSON scenario parses the same."""
    as_json = json.dumps(
        {
            "config": {"Dhcp4": {"lease-database": {"type": "mysql", "name": "kea"}}},
            "until": 5,
            "events": [{"at": 1, "use": "lease-database"}],
        }
    )
    parsed = parse(as_json)
    assert parsed.until == 5
    assert parsed.events == (ScenarioEvent(1, "use", LEASE),)


def test_backend_keys_of_every_kind():
    text = (
        "config:\n"
        "  Dhcp4:\n"
        "    lease-database: {type: postgresql, name: l}\n"
        "    hosts-databases: [{type: mysql, name: a}, {type: postgresql, name: b}]\n"
        "    config-control: {config-databases: [{type: mysql, name: c}]}\n"
        "events:\n"
        "  - {at: 1, down: 'hosts-databases[1]'}\n"
        "  - {at: 1, down: 'config-databases[0]'}\n"
        "  - {at: 1, down: lease-database}\n"
    )
    assert [e.backend for e in parse(text).events] == [
        "hosts-databases[1]",
        "config-databases[0]",
        LEASE,
    ]


@pytest.mark.parametrize("kind", ["down", "up", "tls", "no-tls"])
def test_a_memfile_backend_has_no_connection_to_break(kind):
    """memfile is a file, not a connection: an event that breaks, restores or uses a
    database connection is refused, naming the event, the backend and the place."""
    text = "config: {Dhcp4: {}}\nevents:\n" + f"  - {{at: 1, {kind}: lease-database}}\n"
    with pytest.raises(ConfigError) as caught:
        parse(text)
    message = str(caught.value)
    assert message.startswith("scenario.yaml:3:")
    assert f"events[0].{kind}: '{kind}' of lease-database: a memfile backend" in message


def test_file_error_is_memfile_s_fault_and_only_memfile_s():
    memfile = "config: {Dhcp4: {}}\nevents:\n  - {at: 1, file-error: lease-database}\n"
    assert parse(memfile).events == (ScenarioEvent(1, "file-error", LEASE),)
    back = memfile + "  - {at: 2, use: lease-database}\n  - {at: 3, file-ok: lease-database}\n"
    assert [e.kind for e in parse(back).events] == ["file-error", "use", "file-ok"]
    mysql = memfile.replace("{Dhcp4: {}}", "{Dhcp4: {lease-database: {type: mysql, name: l}}}")
    with pytest.raises(ConfigError) as caught:
        parse(mysql)
    assert str(caught.value) == (
        "scenario.yaml:3:25: events[0].file-error: 'file-error' of lease-database: only a "
        "memfile lease database has a lease file; this is a mysql database (its faults are down "
        "and up)"
    )


def test_memfile_is_judged_by_the_configuration_in_force():
    """A lease database that a config-set turns from memfile into MySQL may fail after it,
    and not before it: a fault listed before it at the same instant meets the memfile."""
    head = "config: {Dhcp4: {}}\nevents:\n"
    change = (
        "  - {at: 1, command: {command: config-set, arguments: "
        "{Dhcp4: {lease-database: {type: mysql, name: l}}}}}\n"
    )
    assert [e.kind for e in parse(head + change + "  - {at: 2, down: lease-database}\n").events]
    with pytest.raises(ConfigError, match="memfile backend"):
        parse(head + "  - {at: 1, down: lease-database}\n" + change)
    schema = '  - {at: 0.5, schema: lease-database, version: "1.0"}\n'
    with pytest.raises(ConfigError, match="'schema' of lease-database"):
        parse(head + change + schema)


def test_events_may_name_backends_a_config_set_brings():
    """A backend that only a later config-set configures may be named by events."""
    text = CONFIG + (
        "events:\n"
        "  - {at: 1, command: {command: config-set, arguments: "
        "{Dhcp4: {hosts-database: {type: mysql, name: h}}}}}\n"
        "  - {at: 2, down: hosts-database}\n"
    )
    assert parse(text).events[1] == ScenarioEvent(2, "down", "hosts-database")


def test_an_invalid_config_set_is_a_legitimate_event():
    """A config-set whose arguments are invalid is kept: it is answered with result 1."""
    text = CONFIG + "events:\n  - {at: 1, command: {command: config-set, arguments: {Dhcp4: 3}}}\n"
    assert parse(text).events[0].kind == "command"


def test_a_relative_config_path_is_read_from_the_scenarios_directory(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "kea.json").write_text(
        json.dumps({"Dhcp6": {"lease-database": {"type": "postgresql", "name": "p"}}})
    )
    path = tmp_path / "s.yaml"
    path.write_text("config: conf/kea.json\n")
    parsed = scenario.load(path)
    assert parsed.settings.universe == 6
    assert parsed.settings.source == str(tmp_path / "conf" / "kea.json")
    assert parsed.source == str(path)


# ---------------------------------------------------------------------------------------------
# --config override
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def override(tmp_path) -> Path:
    path = tmp_path / "override.json"
    path.write_text(json.dumps({"Dhcp4": {"hosts-database": {"type": "postgresql", "name": "o"}}}))
    return path


def test_config_override_replaces_an_inline_configuration(override):
    parsed = parse(CONFIG, override=str(override))
    assert [b.key for b in parsed.settings.backends] == [LEASE, "hosts-database"]
    assert parsed.settings.backend(LEASE).type.value == "memfile"
    assert parsed.settings.source == str(override)


def test_config_override_makes_config_optional(override):
    parsed = parse("until: 3\n", override=str(override))
    assert parsed.until == 3
    assert parsed.settings.source == str(override)


def test_config_override_is_what_events_are_checked_against(override):
    """Events are validated against the overriding configuration's backends."""
    ok = parse(CONFIG + "events:\n  - {at: 1, down: hosts-database}\n", override=str(override))
    assert ok.events[0].backend == "hosts-database"
    with pytest.raises(ConfigError) as info:
        parse("events:\n  - {at: 1, down: 'hosts-databases[0]'}\n", override=str(override))
    assert "no backend 'hosts-databases[0]'" in located(info.value, 2)


def test_config_override_is_what_config_reload_reads(override):
    """load_config (used by config-reload) reads the override file again."""
    parsed = parse(CONFIG, override=str(override))
    override.write_text(json.dumps({"Dhcp6": {}}))
    assert parsed.load_config().universe == 6


def test_config_override_that_cannot_be_read(tmp_path):
    with pytest.raises(ConfigError) as info:
        parse(CONFIG, override=str(tmp_path / "absent.json"))
    assert one_line(info.value).startswith(str(tmp_path / "absent.json"))


def test_config_override_through_load_and_run(tmp_path, override):
    """`scenario.load(path, config_override=...)` and a run use the override."""
    path = tmp_path / "s.yaml"
    path.write_text(CONFIG + "until: 2\nevents:\n  - {at: 1, down: hosts-database}\n")
    result = simulate.run(scenario.load(path, config_override=str(override)))
    machines = {a.machine for _, a in result.transitions}
    assert "hosts-database" in machines


def test_tls_events_set_what_the_server_offers_at_later_opens():
    """`no-tls` makes a backend's server refuse TLS from its next open on, `tls` offers it
    again: a MySQL backend with TLS configured logs MYSQL_LB_NO_TLS at each clear-text open."""
    text = (
        "config: {Dhcp4: {lease-database: {type: mysql, name: kea, trust-anchor: /ca.pem, "
        "max-reconnect-tries: 3, reconnect-wait-time: 1000, on-fail: serve-retry-continue}}}\n"
        "until: 6\n"
        "events:\n"
        "  - {at: 0, no-tls: lease-database}\n"
        "  - {at: 2, tls: lease-database}\n"
        "  - {at: 2, down: lease-database}\n"
        "  - {at: 2.5, up: lease-database}\n"
        "  - {at: 4, no-tls: lease-database}\n"
        "  - {at: 4, down: lease-database}\n"
        "  - {at: 4.5, up: lease-database}\n"
    )
    parsed = parse(text)
    assert parsed.events[0] == ScenarioEvent(0, "no-tls", LEASE)
    assert parsed.events[1] == ScenarioEvent(2, "tls", LEASE)
    assert parsed.events[0].describe() == "lease-database server does not offer TLS"
    records = simulate.run(parsed).timeline()
    no_tls = [r.t for r in records if r.type == "log" and r.data["id"] == "MYSQL_LB_NO_TLS"]
    reopened = [r.t for r in records if r.type == "attempt" and r.data["ok"]]
    assert reopened == [3.0, 5.0]
    assert no_tls == [0.0, 5.0], "at startup and at the reopen after no-tls, not at 3"


def test_a_tls_event_names_a_backend():
    message = located(refusal(CONFIG + "events:\n  - {at: 1, no-tls: true}\n"), 3, 21)
    assert "events[0].no-tls: true is not a backend name" in message
