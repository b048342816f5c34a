"""Shared fixtures: run an inline scenario on the virtual clock and read what it recorded.

`simulate_text` parses a scenario with `dbfsm.scenario.parse` and runs it exactly as
`dbfsm.simulate.run` does (`Simulation(scenario).run()`), additionally keeping the full answer
of every command (records keep only `result` and `text`; `status-get` tests need the
`arguments`).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dbfsm.fsm.actions import Reply
from dbfsm.fsm.records import Record
from dbfsm.simulation import scenario, simulate


@dataclass(frozen=True)
class Run:
    """One finished simulation: its result plus every command answer in full."""

    result: simulate.Result
    replies: tuple[tuple[float, str, dict[str, Any]], ...]  # (t, command, response)

    @property
    def records(self) -> tuple[Record, ...]:
        return self.result.records

    @property
    def exit_code(self) -> int | None:
        return self.result.exit_code

    def of_type(self, kind: str) -> list[Record]:
        return [r for r in self.result.timeline() if r.type == kind]

    def logs(self, pattern: str = ".") -> list[Record]:
        """Log records whose ID matches the regular expression `pattern`."""
        return [r for r in self.of_type("log") if re.search(pattern, r.data["id"])]

    def ids(self, pattern: str = ".") -> list[str]:
        return [r.data["id"] for r in self.logs(pattern)]

    def log_times(self, pattern: str) -> list[float]:
        return [r.t for r in self.logs(pattern)]

    def texts(self, pattern: str) -> list[str]:
        return [r.data["text"] for r in self.logs(pattern)]

    def serving(self) -> list[tuple[float, bool]]:
        return [(r.t, r.data["serving"]) for r in self.of_type("serving")]

    def attempts(self, backend: str | None = None) -> list[tuple[float, int, int, bool]]:
        return [
            (r.t, r.data["n"], r.data["of"], r.data["ok"])
            for r in self.of_type("attempt")
            if backend is None or r.data["backend"] == backend
        ]

    def answers(self, command: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, response) for t, name, response in self.replies if name == command]

    def answer(self, command: str, at: float | None = None) -> dict[str, Any]:
        """The (only, or the one at time `at`) answer to `command`."""
        found = [r for t, r in self.answers(command) if at is None or t == at]
        assert len(found) == 1, f"expected one answer to {command} at {at}: {found}"
        return found[0]

    def states(self, machine: str = "server") -> list[tuple[float, str, str]]:
        """(t, trigger, destination) of every change of state of `machine`."""
        return [(t, a.trigger, a.dest) for t, a in self.result.transitions if a.machine == machine]

    def serving_at(self, t: float) -> bool:
        """Whether the server served just after time `t` (from the serving records)."""
        state = False
        for when, serving in self.serving():
            if when <= t:
                state = serving
        return state


SimulateText = Callable[..., Run]


@pytest.fixture
def simulate_text(tmp_path: Path) -> SimulateText:
    """`simulate_text(yaml, base=..., config=...)`: parse and run an inline scenario."""

    def run(text: str, *, base: Path | None = None, config: str | None = None) -> Run:
        parsed = scenario.parse(textwrap.dedent(text), "scenario.yaml", base or tmp_path, config)
        return run_scenario(parsed)

    return run


def run_scenario(parsed: scenario.Scenario) -> Run:
    """Run a scenario already built (`simulate_text` parses one first)."""
    sim = simulate.Simulation(parsed)
    replies: list[tuple[float, str, dict[str, Any]]] = []

    def keep(action: object) -> None:
        if isinstance(action, Reply):
            replies.append((sim.clock.now, action.command, action.response))

    sim.engine.subscribe(keep)
    return Run(sim.run(), tuple(replies))
