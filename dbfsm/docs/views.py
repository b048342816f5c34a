"""What a diagram shows: views cut from the declared graphs, and a scenario's path through them.

A *view* is a graph of `fsm.graph` (the backend or the server lifecycle), optionally cut down
to one `on-fail` mode: then it keeps only the transitions that mode can take
(`Graph.possible_in_mode`) and only the states a backend of that mode can reach from the
initial state with them. Nothing here restates the graph: every state, edge and label is read
from `fsm.graph`, so a diagram cannot drift from the machine that runs.

An *edge* is one transition from one of its source states; a transition that stays in its
state (declared with `dest=None`) is an edge back to its source, marked `internal`.

A *highlight* is the path a `dbfsm simulate` scenario takes: for every state change the
simulator reports, the declared transition that was taken. The report names only trigger,
source and destination; where two declarations share those three (for example the two
ways a configuration stops at an unreachable backend), the guards are evaluated on the
machine's model at the moment of the change, which names the one declaration taken.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from dbfsm.fsm.errors import InputError
from dbfsm.fsm.graph import BACKEND, SERVER, Graph, State, Transition
from dbfsm.fsm.settings import OnFail


@dataclass(frozen=True)
class Edge:
    """One transition drawn from one of its sources."""

    index: int  # position of `transition` in its graph's `transitions`
    transition: Transition
    source: str
    dest: str  # the source itself for an internal transition

    @property
    def internal(self) -> bool:
        return self.transition.dest is None

    @property
    def trigger(self) -> str:
        return self.transition.trigger


@dataclass(frozen=True)
class View:
    name: str
    graph: Graph
    mode: OnFail | None = None

    @property
    def title(self) -> str:
        if self.mode is None:
            return self.graph.title
        return f"{self.graph.title}, on-fail {self.mode.value}"

    @cached_property
    def transitions(self) -> tuple[tuple[int, Transition], ...]:
        """(index, transition) of every declared transition this view's mode can take."""
        return tuple(
            (i, t)
            for i, t in enumerate(self.graph.transitions)
            if self.mode is None or self.graph.possible_in_mode(t, self.mode)
        )

    @cached_property
    def states(self) -> tuple[State, ...]:
        """The states reachable from the initial state, in the graph's declaration order."""
        reached = {self.graph.initial}
        frontier = [self.graph.initial]
        while frontier:
            state = frontier.pop()
            for _, t in self.transitions:
                if state in t.source and t.dest is not None and t.dest not in reached:
                    reached.add(t.dest)
                    frontier.append(t.dest)
        return tuple(s for s in self.graph.states if s.name in reached)

    @cached_property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    @property
    def final(self) -> tuple[str, ...]:
        return tuple(s for s in self.graph.final if s in self.state_names)

    @cached_property
    def edges(self) -> tuple[Edge, ...]:
        """Every edge from a reachable state, sorted by source, destination (both in the
        graph's order of states), trigger (by name), then order of declaration."""
        order = {name: i for i, name in enumerate(self.graph.state_names)}
        edges = [
            Edge(i, t, source, t.dest if t.dest is not None else source)
            for i, t in self.transitions
            for source in t.source
            if source in self.state_names
        ]
        return tuple(
            sorted(edges, key=lambda e: (order[e.source], order[e.dest], e.trigger, e.index))
        )

    def machine_shown(self, machine: str, mode: OnFail | None) -> bool:
        """Whether a state change of `machine` (running under `mode`) belongs on this view."""
        if self.graph is SERVER:
            return machine == "server"
        return machine != "server" and (self.mode is None or mode is self.mode)


def _views() -> dict[str, View]:
    views = [View("backend", BACKEND), View("server", SERVER)]
    views += [View(mode.value, BACKEND, mode) for mode in OnFail]
    return {v.name: v for v in views}


VIEWS: Mapping[str, View] = _views()


def get_view(name: str) -> View:
    try:
        return VIEWS[name]
    except KeyError:
        raise InputError(f"unknown view {name!r} (expected one of: {', '.join(VIEWS)})") from None


# --------------------------------------------------------------------------------------------
# A scenario's path
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathStep:
    """One state change of a simulation, resolved to the declaration that made it."""

    machine: str  # "server" or a backend key
    mode: OnFail | None  # the backend's on-fail when it changed state; None for the server
    graph: str
    index: int  # the declared transition taken
    source: str
    trigger: str
    dest: str


@dataclass(frozen=True)
class Highlight:
    """The path a scenario took; `name` (the scenario's file name) goes into titles."""

    name: str
    steps: tuple[PathStep, ...]
    description: str = ""  # the scenario's own description

    def counts(self, view: View) -> Counter[Edge]:
        """How often each edge of `view` was taken by the machines the view shows."""
        by_key = {(e.index, e.source): e for e in view.edges}
        taken: Counter[Edge] = Counter()
        for step in self.steps:
            edge = by_key.get((step.index, step.source))
            if (
                step.graph == view.graph.name
                and edge is not None
                and view.machine_shown(step.machine, step.mode)
            ):
                taken[edge] += 1
        return taken

    def states(self, view: View) -> tuple[str, ...]:
        """The states of `view` the path visits, in declaration order."""
        visited = {s for e in self.counts(view) for s in (e.source, e.dest)}
        return tuple(s for s in view.state_names if s in visited)


def trace(scenario_path: str | Path) -> Highlight:
    """Simulate the scenario at `scenario_path` and return the path it takes."""
    from dbfsm.fsm.actions import Transitioned
    from dbfsm.simulation import scenario
    from dbfsm.simulation.simulate import Simulation

    path = Path(scenario_path)
    loaded = scenario.load(path)
    sim = Simulation(loaded)
    steps: list[PathStep] = []

    def observe(action: object) -> None:
        if not isinstance(action, Transitioned):
            return
        mode: OnFail | None = None
        graph = SERVER
        if action.machine != "server":
            graph = BACKEND
            backend = sim.engine.server.backends.get(action.machine)
            mode = backend.settings.on_fail if backend is not None else None
        step = PathStep(
            action.machine,
            mode,
            graph.name,
            action.index,
            action.source,
            action.trigger,
            action.dest,
        )
        steps.append(step)

    sim.engine.subscribe(observe)
    sim.run()
    return Highlight(path.name, tuple(steps), " ".join(loaded.description.split()))


def views_named(names: Iterable[str]) -> tuple[View, ...]:
    return tuple(get_view(n) for n in names)
