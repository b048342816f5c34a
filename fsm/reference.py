"""The declaration as a `transitions` machine: the lifecycle to step through by hand.

`fsm.graph` is data; `fsm.compiled` turns it into the tables the engine runs and also hands
it, unchanged, to the `transitions` library (`reference_machine`), the reference the tables
are checked against. `transitions_machine` is that machine offered to a user: to walk a
lifecycle trigger by trigger, in a notebook, a test or a teaching example, with the guards
and effects the graph declares.

    >>> machine = transitions_machine()           # the backend lifecycle, on a `Walk`
    >>> walk = machine.model
    >>> walk.open(), walk.opened(), walk.state
    (True, True, 'online')
    >>> walk.config_applied = True                # a guard holds once it is set
    >>> walk.lost(), walk.state, walk.effects[-2:]
    (True, 'reconnecting', ['begin_episode', 'request_attempt'])
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dbfsm.fsm.compiled import reference_machine
from dbfsm.fsm.graph import BACKEND, Graph

if TYPE_CHECKING:
    from transitions import Machine

__all__ = ["Walk", "transitions_machine"]

Observe = Callable[[Any, int], None]


class Walk:
    """The model `transitions_machine` uses when given none: every guard of the graph is a
    plain attribute named after it, False until set (`walk.retries_left = True`), so any
    path of the graph can be taken by choosing which guards hold; every effect only
    appends its name to `effects`, in the order the graph runs them."""

    def __init__(self, graph: Graph) -> None:
        self.effects: list[str] = []
        for name in graph.guards:
            setattr(self, name, False)
        for name in graph.effects:
            setattr(self, name, functools.partial(self._record, name))

    def _record(self, name: str, _event: object = None) -> None:
        self.effects.append(name)


def transitions_machine(
    graph: Graph = BACKEND, model: object | None = None, *, observe: Observe | None = None
) -> Machine:
    """A `transitions.Machine` of `graph` (`fsm.graph.BACKEND` or `SERVER`) on `model`.

    The model gets `state` (the graph's initial state) and one method per trigger
    (`model.open()`, `model.lost()`, ...): a trigger takes the one declared transition
    whose guards hold and returns True, returns False when none holds (the state is
    kept), and raises `transitions.MachineError` when the graph declares nothing for the
    trigger in the current state, as the engine raises `UnexpectedEvent`.

    Without `model`, a `Walk` stands in: the guards are flags to set by hand and the
    effects are recorded by name, so the lifecycle can be stepped through without a
    configuration, a server or a driver. With `model`, the declaration runs on it as the
    engine runs it: each guard is the graph's own function of the model (a backend's
    `settings`, `retries_left`, `schema_mismatch`, `config_applied`; a server's
    `backend_unreachable`, `origins`, `starts_disabled`), and each effect is the model's
    method of that name, given the `transitions` event, run in declared order after the
    state has changed. `observe(event, index)`, if given, is told before each transition
    which declaration (its index in `graph.transitions`) is taken.

    Raises `ValueError`, without a model, when a guard or an effect of the graph has a name
    the machine adds to the model (a trigger, `state`, `is_<state>`, `may_<trigger>`): the
    `Walk` could not hold both. (`fsm.engine.check_model` checks a model of your own.)
    """
    if model is None:
        _check_names(graph)
        flags = {
            name: dataclasses.replace(guard, holds=operator.attrgetter(name))
            for name, guard in graph.guards.items()
        }
        graph = dataclasses.replace(graph, guards=flags)
        model = Walk(graph)
    return reference_machine(graph, model, observe)


def _check_names(graph: Graph) -> None:
    added = {"state", "trigger", *graph.triggers}
    added |= {f"is_{state}" for state in graph.state_names}
    added |= {f"may_{trigger}" for trigger in graph.triggers}
    clash = sorted(added & {"effects", *graph.guards, *graph.effects})
    if clash:
        raise ValueError(f"{graph.name}: {', '.join(clash)} would be shadowed on a Walk")
