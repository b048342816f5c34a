"""The declared graphs compiled into lookup tables, once, at import.

`fsm.graph` stays the one source of truth; this module only reshapes it for speed. A table
maps (state, trigger) to the transitions declared for that pair, in declaration order, each
with its guards folded into one function and its effects resolved to the model's methods.
A backend's `on-fail` never changes, so a backend table is compiled per mode: guards that
depend only on the mode are decided at compile time and transitions impossible in that mode
are left out. `tests/unit/test_engine_differential.py` runs the same declaration with the
`transitions` library and checks that both take the same transition in every case.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fsm.graph import Graph, Transition
from fsm.settings import OnFail

Check = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class Step:
    """One declared transition, ready to run: `guard` is None when nothing is to check."""

    index: int  # its position in the graph's `transitions`
    trigger: str
    dest: str | None
    guard: Check | None
    effects: tuple[Callable[[Any], object], ...]


Table = Mapping[tuple[str, str], tuple[Step, ...]]


def _fold(when: tuple[Check, ...], unless: tuple[Check, ...]) -> Check | None:
    """One function for `all(when) and not any(unless)`, without a generator per call."""
    if not when and not unless:
        return None
    if len(when) == 1 and not unless:
        return when[0]

    def guard(model: Any) -> bool:
        for check in when:
            if not check(model):
                return False
        for check in unless:  # noqa: SIM110 (no generator per call: the docstring)
            if check(model):
                return False
        return True

    return guard


def _step(graph: Graph, index: int, t: Transition, model: type, mode: OnFail | None) -> Step:
    def dynamic(names: tuple[str, ...]) -> tuple[Check, ...]:
        # Under a known mode, a guard that depends only on the mode is already decided.
        keep = (n for n in names if mode is None or graph.guards[n].modes is None)
        return tuple(graph.guards[n].holds for n in keep)

    effects = tuple(getattr(model, name) for name in t.effects)
    return Step(index, t.trigger, t.dest, _fold(dynamic(t.when), dynamic(t.unless)), effects)


def compile_graph(graph: Graph, model: type, mode: OnFail | None = None) -> Table:
    """The table of `graph` for instances of `model`; with `mode`, for backends in it."""
    table: dict[tuple[str, str], list[Step]] = {}
    for index, t in enumerate(graph.transitions):
        if mode is not None and not graph.possible_in_mode(t, mode):
            continue
        step = _step(graph, index, t, model, mode)
        for source in t.source:
            table.setdefault((source, t.trigger), []).append(step)
    return {key: tuple(steps) for key, steps in table.items()}


def select(table: Table, state: str, trigger: str, model: Any) -> Step | None:
    """The transition `model` takes on `trigger` in `state`; None if no guard holds.
    Raises KeyError when the graph declares nothing for the pair."""
    for step in table[(state, trigger)]:
        if step.guard is None or step.guard(model):
            return step
    return None


def reference_machine(graph: Graph, model: Any, observe: Callable[[Any, int], None]) -> Any:
    """The same declaration run by the `transitions` library: the reference the tables are
    checked against. Each transition gets its declared guards as one condition, a
    before-callback telling `observe` which declaration (its index) is taken, and its
    declared effects, in order, as methods of the model."""
    from transitions import Machine

    def spec(index: int, t: Transition) -> dict[str, Any]:
        holds = graph.condition(t)
        effects = t.effects

        def run_effects(event: Any) -> None:
            for name in effects:
                getattr(event.model, name)(event)

        return {
            "trigger": t.trigger,
            "source": list(t.source),
            "dest": t.dest,
            "conditions": [lambda event: holds(event.model)] if t.when or t.unless else [],
            "before": [lambda event: observe(event, index)],
            "after": [run_effects] if effects else [],
        }

    logging.getLogger("transitions").setLevel(logging.WARNING)  # it logs every callback
    return Machine(
        model=model,
        states=list(graph.state_names),
        initial=graph.initial,
        transitions=[spec(i, t) for i, t in enumerate(graph.transitions)],
        send_event=True,
        auto_transitions=False,
    )
