"""One root for every error dbfsm raises on purpose (`fsm.errors.Error`), in three kinds: bad
input (`InputError`: one line, exit status 2), a caller's bug (`UsageError`: never exit 2)
and a database saying no (`DriverError`)."""

from __future__ import annotations

import argparse

import pytest

from dbfsm import cli
from dbfsm.cli import simulation as check
from dbfsm.drivers.session import DriverError, OpenError, QueryFailed, SessionLost
from dbfsm.fsm.config import parse_text
from dbfsm.fsm.engine import Engine, UnexpectedEvent
from dbfsm.fsm.errors import ConfigError, Error, InputError, UsageError

MEMFILE = '{"Dhcp4": {"lease-database": {"type": "memfile"}}}'


def test_every_error_has_one_root() -> None:
    for kind in (InputError, ConfigError, UsageError, UnexpectedEvent, DriverError):
        assert issubclass(kind, Error)
    for kind in (SessionLost, QueryFailed, OpenError):
        assert issubclass(kind, DriverError)
    assert issubclass(ConfigError, InputError)


def test_the_three_kinds_are_apart() -> None:
    """A caller's bug and a database's refusal are not bad input, nor each other."""
    assert issubclass(UnexpectedEvent, UsageError)
    for kind in (UsageError, UnexpectedEvent, DriverError):
        assert not issubclass(kind, InputError)
    assert not issubclass(DriverError, UsageError)
    assert not issubclass(UsageError, DriverError)


def test_an_engine_misused_raises_a_usage_error_not_an_input_error() -> None:
    engine = Engine(parse_text(MEMFILE))
    engine.start()
    with pytest.raises(UsageError) as raised:
        engine.start()
    assert isinstance(raised.value, UnexpectedEvent)
    assert not isinstance(raised.value, InputError)


def test_the_cli_prints_an_input_error_as_one_line_and_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_: argparse.Namespace) -> int:
        raise InputError("bad input\nwith a second line")

    monkeypatch.setattr(check, "check", refuse)
    assert cli.main(["check", "config.json"]) == cli.EXIT_BAD_INPUT == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "dbfsm check: bad input\\nwith a second line\n"


def test_the_cli_prints_a_config_error_where_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "/nonexistent/kea.json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("dbfsm check: /nonexistent/kea.json: cannot read configuration file")


def test_the_cli_does_not_map_a_usage_error_to_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller's bug is a traceback to fix, not a line about the input."""

    def misuse(_: argparse.Namespace) -> int:
        raise UnexpectedEvent("no transition for 'open' in online")

    monkeypatch.setattr(check, "check", misuse)
    with pytest.raises(UsageError):
        cli.main(["check", "config.json"])
