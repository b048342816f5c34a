"""Forks (`Engine.fork`, `World.fork`): a fork is in its original's state and shares nothing
either one changes later, so that exploring on forks finds exactly what exploring by replaying
every path from the start finds."""

from __future__ import annotations

import contextlib
import gc
import weakref
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest

from dbfsm.drivers.simulated import SimulatedDriver
from dbfsm.fsm.actions import Open
from dbfsm.fsm.backend import Backend
from dbfsm.fsm.config import from_document
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.errors import ConfigError, UsageError
from dbfsm.fsm.events import Command, TimerFired
from dbfsm.fsm.server import Server
from dbfsm.fsm.settings import DbType, OnFail, Role
from dbfsm.validation.explore import Setup, World, WorldStep, replay
from dbfsm.validation.invariants import LifecycleChecker
from dbfsm.validation.statespace import StateGraph, explore
from dbfsm.validation.verify import Bound, Database, document

_CONTAINERS = (list, dict, set, deque)


def replay_explore(setup: Setup, max_states: int = 100_000) -> StateGraph:
    """The same breadth-first search as `statespace.explore`, every state and step reached by
    replaying its whole path on a new world: no fork anywhere."""
    graph = StateGraph()
    root = World(setup)
    index = {root.key(): graph.add(-1, None, root.summary())}
    queue = deque([0])
    while queue:
        node = queue.popleft()
        path = graph.path(node)
        steps = sorted(replay(setup, path).enabled(), key=lambda s: s.rank)
        for step in steps:
            world = replay(setup, [*path, step])
            key = world.key()
            graph.transitions += 1
            target = index.get(key)
            if target is None:
                target = index[key] = graph.add(node, step, world.summary())
                queue.append(target)
            graph.edges[node][step] = target
    return graph


def _configurations() -> list[Any]:
    """One backend and mixed pairs, every mode among them, and the smallest triple (replay
    makes the reference search slow: a path per state and step)."""
    every = list(Bound(backends=3).configurations())
    triples = [d for d in every if len(d) == 3]
    return [d for d in every[::7] if len(d) < 3] + [triples[1]]


@pytest.mark.parametrize("databases", _configurations(), ids=lambda d: "; ".join(map(str, d)))
def test_exploring_on_forks_finds_what_replaying_every_path_finds(databases: Any) -> None:
    setup = Setup.of(document(databases))
    forked, found = explore(setup, 100_000)
    assert found is None
    replayed = replay_explore(setup)
    assert len(forked) == len(replayed) > 10
    assert forked.transitions == replayed.transitions
    assert forked.parent == replayed.parent
    assert forked.via == replayed.via
    assert forked.summaries == replayed.summaries
    assert forked.edges == replayed.edges


def _shared_containers(a: object, b: object) -> list[str]:
    return [
        name
        for name, value in vars(a).items()
        if isinstance(value, _CONTAINERS) and vars(b).get(name) is value
    ]


_MIDWAY = (
    "start",
    "answer",
    "down lease-database",
    "use lease-database",
    "answer",
    "command dhcp-disable",
    "down hosts-databases[0]",
    "command dhcp-enable",
    "use hosts-databases[0]",
)
_RECONFIGURING = ("start", "answer", "down lease-database", "use lease-database", "answer")
_RECONFIGURING += ("command config-set",)


def _midway_world(steps: tuple[str, ...] = _MIDWAY) -> World:
    """A world with a bit of everything going on: by default a loss episode waiting for its
    next attempt, commands answered, another loss's attempt still to be answered."""
    databases = (
        Database(Role.LEASE, DbType.MYSQL, OnFail.SERVE_RETRY_CONTINUE, False, 3, 1000),
        Database(Role.HOSTS, DbType.POSTGRESQL, OnFail.SERVE_RETRY_CONTINUE, False, 3, 1000),
    )
    world = World(Setup.of(document(databases)))
    for step in steps:
        kind, _, target = step.partition(" ")
        world.apply(WorldStep(kind, target))
    return world


@pytest.mark.parametrize("steps", [_MIDWAY, _RECONFIGURING], ids=["recovering", "reconfiguring"])
def test_no_fork_shares_a_container_with_its_original(steps: tuple[str, ...]) -> None:
    world = _midway_world(steps)
    checker = world.checker
    assert checker.sent and checker.episodes
    assert world.engine.server.timers if steps is _MIDWAY else world.engine.server.reply
    twin = world.fork()
    pairs: list[tuple[object, object]] = [
        (world, twin),
        (world.engine, twin.engine),
        (world.engine.server, twin.engine.server),
        (world.checker, twin.checker),
        (world.driver, twin.driver),
    ]
    pairs += zip(
        world.engine.server.backends.values(), twin.engine.server.backends.values(), strict=True
    )
    sent = list(zip(world.checker.sent.values(), twin.checker.sent.values(), strict=True))
    episodes = zip(world.checker.episodes.values(), twin.checker.episodes.values(), strict=True)
    episodes = list(episodes)
    # A command answered and an episode over are shared: neither changes again.
    assert all((a is b) == bool(a.replies) for a, b in sent)
    assert all((a is b) == a.over for a, b in episodes)
    pairs += [(a, b) for a, b in [*sent, *episodes] if a is not b]
    pairs += zip(world.driver.servers.values(), twin.driver.servers.values(), strict=True)
    shared = {f"{type(a).__name__}.{name}" for a, b in pairs for name in _shared_containers(a, b)}
    # The command as it was sent (read, never changed) is all a deferred command shares.
    unanswered = any(not s.replies for s in checker.sent.values())
    assert shared == ({"Sent.request"} if unanswered else set())
    assert {type(a) for a, _ in pairs} >= {World, Engine, Server, Backend, LifecycleChecker}


def test_a_fork_points_at_its_own_objects_only() -> None:
    world = _midway_world()
    twin = world.fork()
    engine = twin.engine
    assert engine.server.machinery is engine
    assert all(b.host is engine.server for b in engine.server.backends.values())
    assert set(engine._machines) == {engine.server, *engine.server.backends.values()}
    current = set(engine.server.backends.values())
    assert all(owner in current for owner in engine.server.timers.values())
    assert engine.clock() == twin.t_ms / 1000
    twin.t_ms += 5000
    assert engine.clock() == twin.t_ms / 1000 != world.engine.clock()


def test_what_a_fork_does_leaves_its_original_as_it_was() -> None:
    world = _midway_world()
    before = world.key(), world.summary()
    twin = world.fork()
    assert (twin.key(), twin.summary()) == before
    while twin.enabled():
        twin.apply(sorted(twin.enabled(), key=lambda s: -s.rank)[0])  # shutdown comes last
        assert (world.key(), world.summary()) == before
    world.apply(WorldStep("command", "shutdown"))  # the original still goes on by itself
    assert world.engine.exited and world.key() != before[0]


def test_an_engine_is_forked_only_between_calls() -> None:
    world = _midway_world()
    engine = world.engine
    engine._queue.append((engine.server, "settled"))
    with pytest.raises(UsageError, match="between calls"):
        engine.fork(clock=lambda: 0.0)


def test_a_delayed_enable_fires_on_the_fork_that_armed_it() -> None:
    engine = Engine(from_document({"Dhcp4": {"lease-database": {"type": "memfile"}}}))
    (opening,) = [a for a in engine.start() if isinstance(a, Open)]
    engine.handle(SimulatedDriver().open_now(opening))
    assert engine.serving
    engine.handle(Command({"command": "dhcp-disable", "arguments": {"max-period": 5}}, 1))
    twin = engine.fork(clock=lambda: 0.0)
    assert not twin.serving and not engine.serving
    twin.handle(TimerFired("network-state-timer-1"))
    assert twin.serving
    assert not engine.serving and engine.server.timers  # the original's timer is its own
    engine.handle(TimerFired("network-state-timer-1"))
    assert engine.serving


def test_the_same_configuration_is_validated_once_and_its_refusal_raised_anew() -> None:
    doc: dict[str, Any] = {"Dhcp4": {"lease-database": {"type": "memfile"}}}
    assert from_document(doc) is from_document({"Dhcp4": {"lease-database": {"type": "memfile"}}})
    doc["Dhcp4"]["lease-database"]["type"] = "mysql"  # the caller's change does not leak
    assert from_document({"Dhcp4": {"lease-database": {"type": "memfile"}}}).backends[0].type == (
        "memfile"
    )
    bad = {"Dhcp4": {"lease-database": {"type": "memfile", "on-fail": "retry-forever"}}}
    errors = []
    for _ in range(2):
        with pytest.raises(ConfigError) as caught:
            from_document(bad, where="arguments")
        errors.append(caught.value)
    assert str(errors[0]) == str(errors[1])
    assert "retry-forever" in str(errors[0]) and "arguments.Dhcp4.lease-database" in str(errors[0])
    assert errors[0] is not errors[1]


@pytest.fixture
def no_cycle_collector() -> Iterator[None]:
    """Python's cycle collector off, and what it would collect from now on kept in
    `gc.garbage`."""
    enabled = gc.isenabled()
    gc.disable()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()


@pytest.mark.usefixtures("no_cycle_collector")
def test_a_closed_engine_and_its_parts_are_freed_without_the_cycle_collector() -> None:
    world = _midway_world()
    engine = world.fork().engine  # the fork's world is dropped here: the engine is all left
    parts = [engine, engine.server, *engine.server.backends.values()]
    alive = [weakref.ref(part) for part in parts]
    assert engine.server.timers and engine.server.backends
    engine.close()
    del engine, parts
    assert [ref() for ref in alive] == [None] * len(alive)
    world.apply(WorldStep("command", "shutdown"))  # the original is untouched by the close
    assert world.engine.exited


@pytest.mark.usefixtures("no_cycle_collector")
def test_exploring_leaves_nothing_to_the_cycle_collector() -> None:
    """What lets the explorer pause the collector: memory stays what refcounting frees."""
    databases = next(d for d in Bound(backends=2).configurations() if len(d) == 2)
    graph, found = explore(Setup.of(document(databases)), 100_000)
    assert found is None and len(graph) > 100
    gc.collect()
    assert sorted({type(o).__qualname__ for o in gc.garbage}) == []


def test_the_cycle_collector_runs_again_after_exploring() -> None:
    assert gc.isenabled()
    explore(Setup.of(document(next(Bound().configurations()))), 100)
    assert gc.isenabled()


@pytest.mark.usefixtures("no_cycle_collector")
def test_a_kept_refusal_keeps_nothing_of_its_first_caller_alive() -> None:
    class Held:
        pass

    def caller() -> weakref.ref[Held]:
        held = Held()  # in the frame that the refusal's traceback would go up through
        with contextlib.suppress(ConfigError):
            from_document({"Dhcp4": {"lease-database": {"type": "mysql", "port": -7}}})
        return weakref.ref(held)

    assert caller()() is None
