"""The fuzz suite's summary: how many inputs each reader was given, accepted and refused."""

from __future__ import annotations

import pytest

from .hostile import TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    readers = sorted({reader for reader, _ in TALLY})
    if not readers:
        return
    terminalreporter.section("fuzz: inputs per reader")
    for reader in readers:
        accepted, refused = TALLY[(reader, "accepted")], TALLY[(reader, "refused")]
        terminalreporter.write_line(
            f"{reader}: {accepted + refused} inputs ({accepted} accepted, {refused} refused)"
        )
