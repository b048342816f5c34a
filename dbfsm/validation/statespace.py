"""Breadth-first exploration of every reachable state of one configuration's world.

States are the abstract keys of `dbfsm.explore.World`; each is reached by its shortest path,
so the first violation found has the shortest counterexample. Engines are not copied: a state
is reached again by replaying its path on a new world (see `dbfsm.explore.replay`).
"""

from __future__ import annotations

from collections import deque
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
    graph = StateGraph()
    root = World(setup)
    index = {root.key(): graph.add(-1, None, root.summary())}
    queue = deque([0])
    # Worlds already standing in a state not yet expanded (whatever path took them there:
    # equal keys have equal futures), each saving one replay when that state is expanded.
    standing: dict[int, list[World]] = {0: [root]}
    kept = 1
    while queue:
        node = queue.popleft()
        path = graph.path(node)
        spare = standing.pop(node, [])
        kept -= len(spare)
        world: World | None = spare.pop() if spare else replay(setup, path)
        assert world is not None
        here = world.key()
        steps = world.enabled()
        if not steps and not world.engine.exited:
            return graph, Found(path, "no deadlock: the server is up and nothing can happen")
        # Steps that only change the database servers are tried on this world and undone.
        # Every other step needs a world standing in this state: this one as long as the
        # steps tried on it led back here (a refused command), else a replay.
        steps.sort(key=lambda s: s.rank)
        for step in steps:
            if not step.drives_engine:
                assert world is not None
                successor = None
                key, summary = world.peek(step)
            else:
                successor = world or (spare.pop() if spare else replay(setup, path))
                try:
                    successor.apply(step)
                except Violation as violation:
                    return graph, Found([*path, step], str(violation))
                key, summary = successor.key(), successor.summary()
                world = successor if key == here else None
            graph.transitions += 1
            target = index.get(key)
            if target is None:
                if len(graph) >= max_states:
                    graph.complete = False
                    continue
                target = index[key] = graph.add(node, step, summary)
                queue.append(target)
            if successor is not None and target > node and kept < _STANDING:
                standing.setdefault(target, []).append(successor)  # expanded later: FIFO order
                kept += 1
            graph.edges[node][step] = target
    return graph, None
