"""The `dbfsm` command line (`dbfsm.cli.main`): simulate's outputs, and bad input of every kind
as exactly one line on stderr with exit status 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from dbfsm.fsm import __version__
from dbfsm.fsm.records import to_jsonl, to_text
from dbfsm.simulation import scenario, simulate
from tests.cli import invoke

DEFAULT = str(resources.files("dbfsm") / "examples" / "default.yaml")
REPO = Path(__file__).resolve().parents[2]


def bad_input(capsys, *argv: str) -> str:
    """Exit 2, nothing on stdout, one line on stderr starting with `dbfsm`; that line."""
    code, out, err = invoke(capsys, *argv)
    assert "Traceback" not in err
    assert code == 2, (argv, err)
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    assert err.startswith("dbfsm")
    return err.rstrip("\n")


# ---------------------------------------------------------------------------------------------
# simulate
# ---------------------------------------------------------------------------------------------


def test_simulate_default_prints_the_text_timeline(capsys, monkeypatch, tmp_path):
    """`dbfsm simulate` runs the built-in default scenario and prints its timeline."""
    monkeypatch.chdir(tmp_path)  # outside the package: file names in logs are absolute
    code, out, err = invoke(capsys, "simulate")
    assert (code, err) == (0, "")
    expected = to_text(simulate.run(scenario.load(DEFAULT)).records)
    assert out == expected
    assert out.splitlines()[-1].split("s  ", 1)[1].startswith("end: ")


def test_simulate_json_prints_json_lines(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke(capsys, "simulate", "--format", "json")
    assert (code, err) == (0, "")
    assert out == to_jsonl(simulate.run(scenario.load(DEFAULT)).timeline())
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[-1]["type"] == "summary"
    assert all({"t", "type"} <= set(line) for line in lines)


def test_simulate_text_is_the_default_format(capsys):
    assert invoke(capsys, "simulate", "--format", "text") == invoke(capsys, "simulate")


@pytest.mark.parametrize(
    "name", ["default", "stop-retry-exit", "serve-retry-exit", "serve-retry-continue"]
)
def test_simulate_each_example(capsys, name):
    path = str(resources.files("dbfsm") / "examples" / f"{name}.yaml")
    code, out, err = invoke(capsys, "simulate", path, "--format", "json")
    assert (code, err) == (0, "")
    summary = json.loads(out.splitlines()[-1])
    assert summary["type"] == "summary"


def test_simulate_with_config_override(capsys, tmp_path):
    """--config replaces the scenario's configuration (here by a DHCPv6 one)."""
    config = tmp_path / "kea6.json"
    config.write_text(
        json.dumps({"Dhcp6": {"lease-database": {"type": "postgresql", "name": "kea"}}})
    )
    path = tmp_path / "s.yaml"
    path.write_text("config: {Dhcp4: {}}\nuntil: 3\n")
    code, out, err = invoke(
        capsys, "simulate", str(path), "--config", str(config), "--format", "json"
    )
    assert (code, err) == (0, "")
    ids = [json.loads(line).get("id", "") for line in out.splitlines()]
    assert "DHCP6_STARTED" in ids
    assert not [i for i in ids if i.startswith("DHCP4_")]


def test_simulate_exit_status_is_0_even_when_the_server_exits(capsys, tmp_path):
    """The simulated server's exit code is data (the exit record), not dbfsm's status."""
    path = str(resources.files("dbfsm") / "examples" / "stop-retry-exit.yaml")
    code, out, _ = invoke(capsys, "simulate", path, "--format", "json")
    assert code == 0
    assert json.loads(out.splitlines()[-1])["exit_code"] == 1


# ---------------------------------------------------------------------------------------------
# bad input: exit 2, one line, no traceback
# ---------------------------------------------------------------------------------------------


def test_no_subcommand(capsys):
    assert "command" in bad_input(capsys)


@pytest.mark.parametrize(
    "argv",
    [
        ("bogus",),
        ("simulate", "--format", "xml"),
        ("simulate", "--bogus"),
        ("simulate", "a.yaml", "b.yaml"),
        ("simulate", "--config"),
        ("check",),
    ],
)
def test_bad_options(capsys, argv):
    bad_input(capsys, *argv)


def test_missing_scenario_file(capsys, tmp_path):
    line = bad_input(capsys, "simulate", str(tmp_path / "nope.yaml"))
    assert str(tmp_path / "nope.yaml") in line


def test_missing_config_override(capsys, tmp_path):
    line = bad_input(capsys, "simulate", "--config", str(tmp_path / "nope.json"))
    assert str(tmp_path / "nope.json") in line


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("config: {Dhcp4: {}}\nfoo: 1\n", ":2:"),
        ("config: {Dhcp4: {}}\nevents:\n  - {at: 1, down: hosts-database}\n", ":3:"),
        ("config: {Dhcp4: {lease-database: {type: oracle}}}\n", ":1:"),
        ("config: {Dhcp4: {}\n", ":2:"),
        ("- just a list\n", ":1:"),
    ],
)
def test_bad_scenario(capsys, tmp_path, body, where):
    """A bad scenario: `dbfsm simulate: FILE:LINE:COL: message`."""
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    line = bad_input(capsys, "simulate", str(path))
    assert line.startswith(f"dbfsm simulate: {path}{where}"), line


def test_bad_configuration_file_named_by_the_scenario(capsys, tmp_path):
    (tmp_path / "kea.json").write_text('{"Dhcp4": {"lease-database": {"type": "mysql"}}}')
    path = tmp_path / "s.yaml"
    path.write_text("config: kea.json\n")
    line = bad_input(capsys, "simulate", str(path))
    assert f"{tmp_path / 'kea.json'}:1:" in line
    assert "must specify a name for the database" in line


def test_bad_config_override(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"Dhcp4": {"lease-database": {"type": "mysql", "name": "k", "port": -1}}}')
    line = bad_input(capsys, "simulate", "--config", str(bad))
    assert f"{bad}:1:" in line


def test_scenario_that_is_not_utf8(capsys, tmp_path):
    """Not UTF-8: one line locating the first bad byte, exit 2 (no UnicodeDecodeError)."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"description: \xe9t\xe9\nconfig: {Dhcp4: {}}\n")
    assert bad_input(capsys, "simulate", str(path)).startswith(f"dbfsm simulate: {path}:1:")


# ---------------------------------------------------------------------------------------------
# help and version
# ---------------------------------------------------------------------------------------------


def test_help(capsys):
    code, out, err = invoke(capsys, "--help")
    assert (code, err) == (0, "")
    assert "simulate" in out


def test_python_dash_m_version():
    """`python -m dbfsm --version` prints the version (the one subprocess of the unit suite)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "dbfsm", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == f"dbfsm {__version__}\n"
