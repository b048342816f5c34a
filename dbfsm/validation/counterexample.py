"""A path of `dbfsm verify` as a scenario that `dbfsm simulate` replays.

The model keeps no clock: a path says only in which order things happen. Here each step gets
a time (milliseconds) such that `dbfsm simulate` does the same things in the same order:
a timer fires exactly its delay after the step that armed it, an event that the model put
in the same instant as the step before (before that step's answers) gets the same time,
every other event comes strictly after the step before it, and every step comes strictly
before any timer still pending is due. These
are difference constraints; the earliest times meeting them are the longest paths from the
start (Bellman-Ford). A finer unit is tried when milliseconds leave no room.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from dbfsm.fsm.config import from_document
from dbfsm.fsm.settings import DbType
from dbfsm.validation.explore import COMMANDS, StepLog

# (later, earlier, least gap): t[later] - t[earlier] >= gap
Constraint = tuple[int, int, int]


def timed(log: Sequence[StepLog], delay_ms: int) -> tuple[list[int], int]:
    """The steps' times, and how many of their units make a second (ms, else µs)."""
    for per_second in (1000, 1_000_000):
        times = _earliest(log, delay_ms * per_second // 1000)
        if times is not None:
            return times, per_second
    raise ValueError("the path cannot be given times: a bug in dbfsm verify's model")


def _constraints(log: Sequence[StepLog], delay: int) -> list[Constraint]:
    out: list[Constraint] = []
    armed_at: dict[str, int] = {}
    started = next((i for i, e in enumerate(log) if e.step.kind == "start"), len(log))
    for i, entry in enumerate(log):
        fire = entry.step.kind == "fire"
        if 0 < i <= started:  # faults before startup, and startup, at 0
            out += [(i, 0, 0), (0, i, 0)]
        elif entry.together:  # an event or the answers of the same instant
            out += [(i, i - 1, 0), (i - 1, i, 0)]
        elif i > 0:
            together = fire and log[i - 1].step.kind == "fire"
            out.append((i, i - 1, 0 if together else 1))
        ended = list(entry.ended)
        if fire:
            arm = armed_at.pop(ended.pop(0))
            out += [(i, arm, delay), (arm, i, -delay)]
        for arm in armed_at.values():  # pending: not after its expiry, and a fire never first
            out.append((arm, i, -delay if fire else 1 - delay))
        for name in ended:
            armed_at.pop(name, None)
        for name in entry.armed:
            armed_at[name] = i
    return out


def _earliest(log: Sequence[StepLog], delay: int) -> list[int] | None:
    constraints = _constraints(log, delay)
    times = [0] * len(log)
    for _ in range(len(log) + 1):
        changed = False
        for later, earlier, gap in constraints:
            if times[later] < times[earlier] + gap:
                times[later] = times[earlier] + gap
                changed = True
        if not changed:
            return times if not times or times[0] == 0 else None
    return None  # a positive cycle: no times meet every constraint


def scenario(
    document: Mapping[str, Any], log: Sequence[StepLog], delay_ms: int, description: str
) -> str:
    """The scenario text (YAML): the configuration inline, no traffic, the events timed."""
    times, per_second = timed(log, delay_ms)
    memfile = memfile_backends(document)
    events: list[dict[str, Any]] = []
    for entry, t in zip(log, times, strict=True):
        step, at = entry.step, t / per_second
        match step.kind:
            case "down" | "up" | "use":
                kind = _MEMFILE.get(step.kind, step.kind) if step.target in memfile else step.kind
                events.append({"at": at, kind: step.target})
            case "command":
                events.append({"at": at, "command": COMMANDS[step.target](document)})
    data = {
        "description": description,
        "config": dict(document),
        "until": max(max(times, default=0) / per_second, 0.001),
        "traffic": "none",
        "events": events,
    }
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=100)


# A memfile backend's lease file stands for its server: it fails and works again.
_MEMFILE = {"down": "file-error", "up": "file-ok"}


def memfile_backends(document: Mapping[str, Any]) -> frozenset[str]:
    """The keys of the configuration's memfile backends."""
    settings = from_document(dict(document), where="counterexample")
    return frozenset(b.key for b in settings.backends if b.type is DbType.MEMFILE)


class _Dumper(yaml.SafeDumper):
    """Writes a configuration used twice (inline and in a config-set) twice: no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True
