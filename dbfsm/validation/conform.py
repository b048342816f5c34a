"""`dbfsm conform`: is this recorded run one the model allows?

A trace (dbfsm's JSON Lines, or a kea-dhcp4/kea-dhcp6 log) shows what a server did, never why:
not when a database went down or came back, nor how long a connection attempt took. So the
check is a search for *some* sequence of inputs (losses noticed, answers to connection
attempts, timer expiries, commands) that makes the real engine emit what the trace shows, in
order. The engine decides; the search only proposes inputs and compares outputs.

The search is depth first over hypotheses (`dbfsm.validation.hypotheses`): a hypothesis that
fails is dropped and an earlier choice revisited, until one explains the whole trace or
`SEARCH_BUDGET` hypotheses have been dropped. The verdict names the deepest point any
hypothesis reached. A trace is read by `dbfsm.validation.traces` into the observations of
`dbfsm.validation.observations`; this module runs the search and states the verdict.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from dbfsm.files.reading import load_file
from dbfsm.fsm.errors import InputError
from dbfsm.fsm.events import Event
from dbfsm.fsm.rules import RULES
from dbfsm.fsm.settings import ServerSettings
from dbfsm.validation.hypotheses import Branch, Context, Counts, Failure
from dbfsm.validation.observations import Trace, observe
from dbfsm.validation.traces import read_trace

__all__ = [
    "DEFAULT_TOLERANCE",
    "SEARCH_BUDGET",
    "Failure",
    "Trace",
    "Verdict",
    "check_trace",
    "conform",
    "observe",
    "read_trace",
    "report",
]

DEFAULT_TOLERANCE = 0.5
SEARCH_BUDGET = 20_000  # hypotheses dropped before the search gives up on an explanation


# -- the verdict ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The outcome: no failure means the run conforms (with what explained it)."""

    trace: Trace
    failure: Failure | None
    counts: Counts
    exit_code: int | None
    exhausted: bool  # the search stopped at its budget
    # The inputs that explained the run, at their times (empty if none did): replayed on a
    # fresh engine, they give the model's own records and path (`dbfsm report` draws them).
    inputs: tuple[tuple[float, Event], ...] = ()


def conform(
    settings: ServerSettings,
    config_path: str,
    trace: Trace,
    tolerance: float = DEFAULT_TOLERANCE,
    exit_code: int | None = None,
) -> Verdict:
    """Search for inputs that make the engine emit what the trace shows."""
    wanted = trace.exit_code if exit_code is None else exit_code
    ctx = Context(settings, config_path, trace, tolerance, wanted)
    stack: list[Iterator[Branch]] = [iter([Branch.start(ctx)])]
    best: Failure | None = None
    dead_ends = 0
    while stack and dead_ends < SEARCH_BUDGET:
        branch = next(stack[-1], None)
        if branch is None:
            stack.pop()
            continue
        step = branch.advance()
        if step is None:
            code = branch.engine.exit_code
            return Verdict(trace, None, branch.counts, code, False, tuple(branch.inputs))
        if isinstance(step, Failure):
            best = step if best is None else best.merged(step)
            dead_ends += 1
            continue
        stack.append(branch.children(step))
    if best is None:  # the budget ran out before any hypothesis failed
        best = Failure(0, ("(no hypothesis was followed to its end)",), ())
    return Verdict(trace, best, Counts(), None, bool(stack))


def report(verdict: Verdict) -> str:
    trace = verdict.trace
    if verdict.failure is None:
        c = verdict.counts
        ending = "still running" if verdict.exit_code is None else f"exit {verdict.exit_code}"
        return (
            f"{trace.name}: conforms ({trace.format.value}, {len(trace.observations)} "
            f"observations compared: losses {c.losses}, reconnect attempts {c.attempts}, "
            f"reconfigurations {c.reconfigurations}; {ending})\n"
        )
    f = verdict.failure
    if f.at < len(trace.observations):
        o = trace.observations[f.at]
        head = f"{trace.name}:{o.line}: leaves the model at {o.t:.3f}s: {o.shown}"
    else:
        head = f"{trace.name}:{trace.last_line}: leaves the model where the trace ends"
    lines = [head]
    if f.reason:
        lines.append(f"  {f.reason}")
    lines.append("  the model allows here: " + " | ".join(f.allowed))
    for rule_id in f.rules[-2:]:
        lines.append(f'  why: {rule_id}: "{RULES[rule_id].text}"')
    if verdict.exhausted:
        lines.append(
            f"  (the search stopped after dropping {SEARCH_BUDGET} hypotheses: the run may "
            "still be one the model allows)"
        )
    return "\n".join(lines) + "\n"


# -- `dbfsm conform` -------------------------------------------------------------------------


def check_trace(path: str, config: str, tolerance: float, exit_code: int | None) -> int:
    """`dbfsm conform`: the trace file `path` checked against the configuration file `config`
    (a timer `tolerance` seconds late at most; `exit_code` the run's exit status, if known),
    the verdict printed on stdout; the exit status (1: the run leaves the model)."""
    if not math.isfinite(tolerance) or tolerance < 0:
        raise InputError(f"--tolerance must be a number of seconds >= 0, not {tolerance}")
    settings = load_file(config)
    trace = read_trace(os.fspath(path), settings)
    verdict = conform(settings, config, trace, tolerance, exit_code)
    sys.stdout.write(report(verdict))
    return 0 if verdict.failure is None else 1
