"""The declared graphs compiled into lookup tables.

`fsm.graph` stays the one source of truth; this module only reshapes it for speed. A table
maps (state, trigger) to the transitions declared for that pair, in declaration order, each
with its guards folded into one function and its effects resolved to the model's methods.
A backend's settings never change, `on-fail` included, so a backend table is compiled per
combination of the guards that depend only on them (`Tables`): those guards are decided at
compile time and transitions they rule out are left out.
`tests/unit/test_engine_differential.py` runs the same declaration with the `transitions`
library and checks that both take the same transition in every case.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dbfsm.fsm.graph import Graph, Transition

if TYPE_CHECKING:
    from transitions import Machine

Check = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class CompiledTransition:
    """One declared transition, ready to run: `guard` is None when nothing is to check."""

    index: int  # its position in the graph's `transitions`
    trigger: str
    dest: str | None
    guard: Check | None
    effects: tuple[Callable[[Any], object], ...]


Table = Mapping[tuple[str, str], tuple[CompiledTransition, ...]]
Known = Mapping[str, bool]  # guards whose values are known for every model a table serves
_NOTHING_KNOWN: Known = {}


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


def _step(graph: Graph, index: int, t: Transition, model: type, known: Known) -> CompiledTransition:
    def unknown(names: tuple[str, ...]) -> tuple[Check, ...]:
        return tuple(graph.guards[n].holds for n in names if n not in known)

    effects = tuple(getattr(model, name) for name in t.effects)
    return CompiledTransition(
        index, t.trigger, t.dest, _fold(unknown(t.when), unknown(t.unless)), effects
    )


def _possible(t: Transition, known: Known) -> bool:
    """Whether `t` can be taken at all where the guards of `known` have those values."""
    return all(known.get(n, True) for n in t.when) and not any(
        known.get(n, False) for n in t.unless
    )


def compile_graph(graph: Graph, model: type, known: Known = _NOTHING_KNOWN) -> Table:
    """The table of `graph` for instances of `model`; with `known`, for those of them for
    which these guards have these values: those guards are decided here, and transitions
    they rule out are left out."""
    table: dict[tuple[str, str], list[CompiledTransition]] = {}
    for index, t in enumerate(graph.transitions):
        if not _possible(t, known):
            continue
        step = _step(graph, index, t, model, known)
        for source in t.source:
            table.setdefault((source, t.trigger), []).append(step)
    return {key: tuple(steps) for key, steps in table.items()}


class Tables:
    """The tables of a graph for its models, one per combination of the values of its fixed
    guards (`Guard.fixed`: a backend's settings never change for its life), each compiled
    when a model first needs it: a few at most."""

    def __init__(self, graph: Graph, model: type) -> None:
        self.graph = graph
        self.model = model
        self._fixed = tuple((name, g.holds) for name, g in graph.guards.items() if g.fixed)
        self._tables: dict[tuple[bool, ...], Table] = {}

    def for_model(self, model: Any) -> Table:
        values = tuple(bool(holds(model)) for _, holds in self._fixed)
        table = self._tables.get(values)
        if table is None:
            known = {name: value for (name, _), value in zip(self._fixed, values, strict=True)}
            table = self._tables[values] = compile_graph(self.graph, self.model, known)
        return table


def select(table: Table, state: str, trigger: str, model: Any) -> CompiledTransition | None:
    """The transition `model` takes on `trigger` in `state`; None if no guard holds.
    Raises KeyError when the graph declares nothing for the pair."""
    for step in table[(state, trigger)]:
        if step.guard is None or step.guard(model):
            return step
    return None


def reference_machine(
    graph: Graph, model: Any, observe: Callable[[Any, int], None] | None = None
) -> Machine:
    """The same declaration run by the `transitions` library: the reference the tables are
    checked against (and `fsm.reference.transitions_machine`, its public form). Each
    transition gets its declared guards as one condition, a before-callback telling
    `observe` (if given) which declaration (its index) is taken, and its declared effects,
    in order, as methods of the model."""
    from transitions import Machine

    def spec(index: int, t: Transition) -> dict[str, Any]:
        holds = graph.condition(t)
        effects = t.effects
        before: list[Callable[[Any], None]] = []
        if observe is not None:
            report = observe
            before.append(lambda event: report(event, index))

        def run_effects(event: Any) -> None:
            for name in effects:
                getattr(event.model, name)(event)

        return {
            "trigger": t.trigger,
            "source": list(t.source),
            "dest": t.dest,
            "conditions": [lambda event: holds(event.model)] if t.when or t.unless else [],
            "before": before,
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
