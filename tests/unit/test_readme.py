"""The README stays true: its diagram, timelines and check output are what the code gives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dbfsm import cli

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(fence: str) -> list[str]:
    return re.findall(rf"```{fence}\n(.*?)```", README, flags=re.S)


def _run(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> str:
    monkeypatch.chdir(ROOT)
    assert cli.main(argv) == 0
    return capsys.readouterr().out


def test_inline_diagram_is_generated(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (block,) = _blocks("mermaid")
    assert block == _run(["diagram", "--view", "stop-retry-exit"], capsys, monkeypatch)


@pytest.mark.parametrize("mode", ["stop-retry-exit", "serve-retry-exit", "serve-retry-continue"])
def test_on_fail_timelines_are_real(
    mode: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = f"`dbfsm simulate dbfsm/examples/{mode}.yaml`"
    after = README[README.index(marker) :]
    block = re.search(r"```\n(.*?)```", after, flags=re.S)
    assert block is not None
    actual = _run(["simulate", f"dbfsm/examples/{mode}.yaml"], capsys, monkeypatch).splitlines()
    shown = [line for line in block.group(1).splitlines() if line.strip() != "..."]
    assert shown and all(line in actual for line in shown), mode


def test_check_output_is_real(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    console = next(b for b in _blocks("console") if "dbfsm check dbfsm/examples" in b)
    actual = _run(["check", "dbfsm/examples/kea-dhcp4.json"], capsys, monkeypatch).splitlines()
    shown = [line for line in console.splitlines()[1:] if line.strip() != "..."]
    assert shown and all(line in actual for line in shown)
