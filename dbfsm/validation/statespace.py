"""Breadth-first exploration of every reachable state of one configuration's world.

States are the abstract keys of `dbfsm.explore.World`; each is reached by its shortest path,
so the first violation found has the shortest counterexample. A state is expanded on a world
standing in it, forked for each step that drives the engine (`World.fork`); only a state
found while too many worlds stand waiting is reached again by replaying its path.
"""

from __future__ import annotations

import contextlib
import gc
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from dbfsm.validation.explore import Setup, Summary, Violation, World, WorldStep, replay

_STANDING = 3000  # worlds kept standing at most (memory: tens of kilobytes each)


@dataclass
class Found:
    """A violation: the path of steps that breaks `invariant` (what broke, in words)."""

    path: list[WorldStep]
    invariant: str


@dataclass
class StateGraph:
    """The states found, by index (0: the server not yet started): the state and step that
    first reached each one (its shortest path), what it looks like, and every explored edge."""

    parent: list[int] = field(default_factory=list)
    via: list[WorldStep | None] = field(default_factory=list)
    summaries: list[Summary] = field(default_factory=list)
    edges: list[dict[WorldStep, int]] = field(default_factory=list)
    transitions: int = 0
    complete: bool = True

    def __len__(self) -> int:
        return len(self.parent)

    def path(self, index: int) -> list[WorldStep]:
        steps: list[WorldStep] = []
        while index > 0:
            step = self.via[index]
            assert step is not None
            steps.append(step)
            index = self.parent[index]
        return steps[::-1]

    def add(self, parent: int, via: WorldStep | None, summary: Summary) -> int:
        self.parent.append(parent)
        self.via.append(via)
        self.summaries.append(summary)
        self.edges.append({})
        return len(self.parent) - 1


def explore(setup: Setup, max_states: int) -> tuple[StateGraph, Found | None]:
    """Every state reachable from the unstarted server, up to `max_states` of them."""
    with _cycle_collector_paused():
        return _explore(setup, max_states)


@contextlib.contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """The search leaves no garbage in cycles (each world it is done with is closed), so
    Python's cycle collector would find nothing: it would only walk the growing graph."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _explore(setup: Setup, max_states: int) -> tuple[StateGraph, Found | None]:
    graph = StateGraph()
    root = World(setup)
    index = {root.key(): graph.add(-1, None, root.summary())}
    queue = deque([0])
    # A world standing in each state found and not yet expanded (whatever path took it
    # there: equal keys have equal futures); a state without one is reached by replay.
    standing: dict[int, World] = {0: root}
    while queue:
        node = queue.popleft()
        world = standing.pop(node, None) or replay(setup, graph.path(node))
        steps = world.enabled()
        if not steps and not world.engine.exited:
            return graph, Found(
                graph.path(node), "no deadlock: the server is up and nothing can happen"
            )
        # Steps that only change the database servers are tried on this world and undone
        # (and taken on a fork of it when they lead to a new state); every other step is
        # taken on a fork of it, but the last, which takes the world itself.
        steps.sort(key=lambda s: s.rank)
        last = max((i for i, s in enumerate(steps) if s.drives_engine), default=-1)
        world_stands = False
        for i, step in enumerate(steps):
            successor = None
            if not step.drives_engine:
                key = world.peek(step)
                target = index.get(key)
                if target is None:  # a new state: a world to stand in it, for later
                    successor = world.fork()
                    successor.apply(step)
            else:
                successor = world if i == last else world.fork()
                try:
                    successor.apply(step)
                except Violation as violation:
                    return graph, Found([*graph.path(node), step], str(violation))
                key = successor.key()
                target = index.get(key)
            graph.transitions += 1
            if target is None and len(graph) < max_states:
                assert successor is not None  # a new state is always reached on a world
                target = index[key] = graph.add(node, step, successor.summary())
                queue.append(target)
            if target is None:
                graph.complete = False
            else:
                graph.edges[node][step] = target
            if successor is not None:
                stands = target is not None and _stand(standing, node, target, successor)
                if successor is world:
                    world_stands = stands
                elif not stands:
                    successor.close()
        if not world_stands:
            world.close()
    return graph, None


def _stand(standing: dict[int, World], node: int, target: int, world: World) -> bool:
    """Keep `world` standing in `target` if that state is still to be expanded (found after
    `node`, in breadth-first order), has no world yet, and fewer than `_STANDING` stand."""
    if target <= node or target in standing or len(standing) >= _STANDING:
        return False
    standing[target] = world
    return True
