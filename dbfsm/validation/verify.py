"""`dbfsm verify`: every reachable state of the engine over a bounded space, checked.

The bound names the configurations: each `on-fail` mode, `retry-on-startup` off and on,
each `max-reconnect-tries`, `reconnect-wait-time` zero or not, for one backend; mixed modes
for two and three. For each configuration `dbfsm.statespace` explores every state the world
of `dbfsm.explore` can reach (faults, recoveries, requests, timers, commands in any order),
checking on every step the invariants of `dbfsm.invariants` and that nothing is left waiting
for what cannot come. Over the whole state graph it then checks two things no single step
shows: every loss episode ends within max-reconnect-tries attempts, and from every state
where the server is up, all databases coming back leads to serving again.

A violation is shown with its shortest path, written as a scenario that `dbfsm simulate`
replays, and exit status 1.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from dbfsm.files.output import write_file
from dbfsm.fsm.settings import DbType, OnFail, Role
from dbfsm.scaleout import SerialExecutor, executor, run_in_order
from dbfsm.validation.counterexample import scenario
from dbfsm.validation.explore import ANSWER, COMMANDS, Setup, Violation, World, WorldStep
from dbfsm.validation.invariants import PASSWORD_MARK
from dbfsm.validation.statespace import Found, StateGraph, explore

DEFAULT_OUTPUT = "verify-counterexample.yaml"
_EPISODE = frozenset({"waiting", "reconnecting"})
# The backends of mixed configurations, in this order: two take the first two, three all.
_MIXED_ROLES = (
    (Role.LEASE, DbType.MYSQL),
    (Role.HOSTS, DbType.POSTGRESQL),
    (Role.CONFIG, DbType.MYSQL),
)


@dataclass(frozen=True)
class Database:
    """One backend of a generated configuration."""

    role: Role
    type: DbType
    on_fail: OnFail
    retry_on_startup: bool
    tries: int
    wait_ms: int

    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": self.type.value, "name": "kea"}
        if self.type is not DbType.MEMFILE:
            entry |= {"user": "kea", "password": f"pw-{PASSWORD_MARK}"}
        return entry | {
            "on-fail": self.on_fail.value,
            "retry-on-startup": self.retry_on_startup,
            "max-reconnect-tries": self.tries,
            "reconnect-wait-time": self.wait_ms,
        }

    def __str__(self) -> str:
        startup = ", retry-on-startup" if self.retry_on_startup else ""
        wait = f"{self.wait_ms} ms"
        return f"{self.type} {self.on_fail} {self.tries} tries {wait}{startup}"


def document(databases: Sequence[Database]) -> dict[str, Any]:
    """A Dhcp4 configuration with these backends: the first lease database, host databases,
    config databases (polled never: a config backend is used only by `use` events)."""
    server: dict[str, Any] = {}
    for d in databases:
        if d.role is Role.LEASE:
            server["lease-database"] = d.entry()
        elif d.role is Role.HOSTS:
            server.setdefault("hosts-databases", []).append(d.entry())
        else:
            control = server.setdefault("config-control", {"config-fetch-wait-time": 0})
            control.setdefault("config-databases", []).append(d.entry())
    return {"Dhcp4": server}


@dataclass(frozen=True)
class Bound:
    """Which configurations are explored, and how far."""

    backends: int = 2
    tries: tuple[int, ...] = (0, 1, 2, 3)
    modes: tuple[OnFail, ...] = tuple(OnFail)
    wait_ms: int = 1000
    commands: tuple[str, ...] = tuple(COMMANDS)
    max_states: int = 100_000  # per configuration
    mixed_tries: int = 1  # max-reconnect-tries of each backend of a mixed configuration
    same_instant: int = 1  # events after a request or command, before the answers to it

    def configurations(self) -> Iterator[tuple[Database, ...]]:
        """One backend: every combination. Two and three: every pair of modes, `mixed_tries`
        each (one failed try already shows the loop), `retry-on-startup` varied."""
        yield from self._singles()
        mixed_tries = self.mixed_tries
        n = len(self.modes)
        pairs = [(a, b) for a in range(n) for b in range(n)]
        if self.backends >= 2:
            for i, (a, b) in enumerate(pairs):
                startup = ((True, False), (False, True), (True, True), (False, False))[i % 4]
                two = (self.modes[a], self.modes[b])
                yield self._mixed(_MIXED_ROLES, two, startup, mixed_tries)
        if self.backends >= 3:
            # Every pair of modes in every two positions (an orthogonal array of strength 2).
            for i, (a, b) in enumerate(pairs):
                three = (self.modes[a], self.modes[b], self.modes[(a + b) % n])
                on_startup = ((True, False, True), (False, True, False))[i % 2]
                yield self._mixed(_MIXED_ROLES, three, on_startup, mixed_tries)

    def _singles(self) -> Iterator[tuple[Database, ...]]:
        waits = [(t, self.wait_ms) for t in self.tries] + [(t, 0) for t in self.tries if t > 0]
        for mode in self.modes:
            for startup in (False, True):
                for i, (tries, wait) in enumerate(waits):
                    kind = (DbType.MYSQL, DbType.POSTGRESQL)[i % 2]
                    yield (Database(Role.LEASE, kind, mode, startup, tries, wait),)
                if 0 in self.tries:
                    yield (Database(Role.LEASE, DbType.MEMFILE, mode, startup, 0, 0),)

    def _mixed(
        self,
        roles: Sequence[tuple[Role, DbType]],
        modes: Sequence[OnFail],
        startup: Sequence[bool],
        tries: int,
    ) -> tuple[Database, ...]:
        wait = self.wait_ms if tries else 0
        return tuple(
            Database(role, kind, mode, ros, tries, wait)
            for (role, kind), mode, ros in zip(roles, modes, startup, strict=False)
        )

    def describe(self) -> str:
        tries = ", ".join(map(str, self.tries))
        if self.backends == 1:
            backends = "1 backend"
        else:
            backends = (
                f"1 to {self.backends} backends (mixed: every pair of on-fail modes, "
                f"max-reconnect-tries {self.mixed_tries})"
            )
        return (
            f"{backends}; on-fail {', '.join(self.modes)}; retry-on-startup off and on; "
            f"max-reconnect-tries {tries}; reconnect-wait-time 0 or {self.wait_ms} ms; "
            f"commands {', '.join(self.commands)}; {self.same_instant} more event(s) before "
            f"the answers to a request or command; at most {self.max_states} states per "
            "configuration"
        )


@dataclass
class Report:
    configurations: int = 0
    states: int = 0
    transitions: int = 0
    truncated: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def peak_memory_mb(self) -> float:
        """The largest of this process and the worker processes it waited for."""
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        return max(own, workers) / 1024


@dataclass
class Counterexample:
    databases: tuple[Database, ...]
    setup: Setup
    path: list[WorldStep]
    invariant: str

    def scenario(self, wait_ms: int) -> str:
        world = replay_until_violation(self.setup, self.path)
        description = f"dbfsm verify counterexample: {self.invariant}"
        return scenario(self.setup.document, world.log, wait_ms, description)


def replay_until_violation(
    setup: Setup, path: list[WorldStep], world: World | None = None
) -> World:
    """A world that took `path` up to its end or up to the step that broke an invariant."""
    world = world or World(setup)
    try:
        for step in path:
            world.apply(step)
    except Violation:
        pass
    return world


@dataclass(frozen=True)
class Task:
    """One configuration to explore and check: what a worker process or cluster node gets."""

    databases: tuple[Database, ...]
    commands: tuple[str, ...]
    same_instant: int
    max_states: int

    def setup(self) -> Setup:
        return Setup.of(
            document(self.databases), commands=self.commands, same_instant=self.same_instant
        )

    @property
    def cost(self) -> float:
        """A guess at the work: more backends, then more tries, take longer."""
        return len(self.databases) * 100 + sum(d.tries for d in self.databases)


@dataclass(frozen=True)
class Outcome:
    """What exploring one configuration found (picklable: it comes back from a worker)."""

    task: Task
    states: int
    transitions: int
    complete: bool
    seconds: float
    found: Found | None


def explore_configuration(task: Task) -> Outcome:
    """Explore one configuration's every state, then the checks over its whole graph."""
    began = time.perf_counter()
    graph, found = explore(task.setup(), task.max_states)
    if found is None and graph.complete:
        found = recovery_problem(graph) or episode_problem(graph)
    seconds = time.perf_counter() - began
    return Outcome(task, len(graph), graph.transitions, graph.complete, seconds, found)


def run(
    bound: Bound,
    progress: Callable[[str], None] = lambda line: None,
    deadline: float | None = None,
    pool: Executor | None = None,
) -> tuple[Report, Counterexample | None]:
    """Explore every configuration of the bound (those begun before `deadline`, a
    `time.perf_counter()` value, if given) and check it; stop at the first violation in
    bound order. With `pool`, configurations run there, largest first; the report is the
    same as without."""
    report = Report()
    start = time.perf_counter()
    tasks = [
        Task(databases, bound.commands, bound.same_instant, bound.max_states)
        for databases in bound.configurations()
    ]
    outcomes = run_in_order(
        pool or SerialExecutor(),
        explore_configuration,
        tasks,
        cost=lambda task: task.cost,
        stop=lambda outcome: outcome.found is not None,
    )
    for i, outcome in enumerate(outcomes):
        label = "; ".join(map(str, outcome.task.databases))
        report.configurations += 1
        report.states += outcome.states
        report.transitions += outcome.transitions
        progress(
            f"{outcome.states:7d} states {outcome.transitions:8d} transitions "
            f"{outcome.seconds:6.1f} s  {label}"
        )
        if not outcome.complete:
            report.truncated.append(label)
        if outcome.found is not None:
            report.seconds = time.perf_counter() - start
            task, found = outcome.task, outcome.found
            example = Counterexample(task.databases, task.setup(), found.path, found.invariant)
            return report, example
        if deadline is not None and time.perf_counter() > deadline and i + 1 < len(tasks):
            report.truncated.append("(time limit) " + "; ".join(map(str, tasks[i + 1].databases)))
            break
    report.seconds = time.perf_counter() - start
    return report, None


# -- checks over the whole state graph ------------------------------------------------------


class _Walk:
    """A walk along the explored edges from one state."""

    def __init__(self, graph: StateGraph, node: int) -> None:
        self.graph = graph
        self.node = node
        self.steps: list[WorldStep] = []

    def take(self, step: WorldStep) -> bool:
        target = self.graph.edges[self.node].get(step)
        if target is None:
            return False
        self.steps.append(step)
        self.node = target
        return True

    def first(self, kind: str) -> WorldStep | None:
        """The first explored step of `kind` that leads elsewhere (a kept broken connection
        used again, for one, changes nothing)."""
        edges = self.graph.edges[self.node]
        return next((s for s, t in edges.items() if s.kind == kind and t != self.node), None)

    def settle(self) -> None:
        """The driver answers, requests notice every broken connection and timers fire,
        until nothing is left."""
        for _ in range(1000):
            step = self.first("answer") or self.first("use") or self.first("fire")
            if step is None or not self.take(step):
                return

    def found(self, origin: int, invariant: str) -> Found:
        return Found([*self.graph.path(origin), *self.steps], invariant)


def recovery_problem(graph: StateGraph) -> Found | None:
    """From every state where the server is up: all databases coming back, requests noticing
    what broke meanwhile and timers running out lead to serving again; a user's dhcp-disable
    needs a dhcp-enable, a failed reconfiguration a new one. The one exit allowed on the
    way is the one the rules require: a broken connection noticed under reconnect disabled
    and an exit mode."""
    for node, summary in enumerate(graph.summaries):
        if summary.state in ("starting", "exited") or ANSWER in graph.edges[node]:
            continue  # not yet started, ended, or the instant's answers are still to come
        walk = _Walk(graph, node)
        if not all(walk.take(WorldStep("up", key)) for key in summary.down):
            continue
        walk.settle()
        reconfigured = False
        now = graph.summaries[walk.node]
        if now.state != "exited" and now.command_origins:
            if not walk.take(WorldStep("command", "dhcp-enable")):
                continue  # not a command of the bound: nothing to conclude
            walk.settle()
        if graph.summaries[walk.node].state == "unconfigured":
            if not walk.take(WorldStep("command", "config-set")):
                continue
            reconfigured = True
            walk.settle()
        end = graph.summaries[walk.node]
        if end.state == "exited":
            if end.exit_cause != "reconnect disabled":
                return walk.found(node, f"recovery: exited ({end.exit_cause}) after all came back")
            continue
        offline = [key for key, state, _ in end.backends if state != "online"]
        if not end.serving or (reconfigured and offline):
            what = f"server {end.state}" + (f", {', '.join(offline)} not online" if offline else "")
            return walk.found(
                node, f"recovery: every database back, yet {what} (from {summary.state})"
            )
    return None


def episode_problem(graph: StateGraph) -> Found | None:
    """Every loss episode ends (restored, given up or exited) within the attempts left: with
    nothing else happening (the answers come, timers expire), a backend with N retries left
    is out of its reconnect loop after N more of its own attempts."""
    for node, summary in enumerate(graph.summaries):
        for key, state, left in summary.backends:
            if state not in _EPISODE:
                continue
            walk, own = _Walk(graph, node), 0
            while True:
                now = graph.summaries[walk.node]
                state = {k: s for k, s, _ in now.backends}.get(key, "")
                if now.state == "exited" or state not in _EPISODE:
                    break
                step = walk.first("answer") or walk.first("fire")
                if (state == "waiting" and own >= left) or step is None:
                    return walk.found(
                        node,
                        f"loss episode: {key} still {state} after {own} more attempts "
                        f"({left} retries were left)",
                    )
                if not walk.take(step):
                    break
                own += step.kind == "fire" and step.target == key
    return None


# -- `dbfsm verify` --------------------------------------------------------------------------


def check_bound(
    bound: Bound, output: str, *, verbose: bool, workers: int = 1, cluster: str | None = None
) -> int:
    """`dbfsm verify`: every configuration of `bound` explored (on `workers` processes, or on
    a Dask `cluster`), the figures printed on stdout (with `verbose`, a line per
    configuration too), a counterexample written to `output` as a scenario; the exit status."""
    with executor(workers, cluster) as pool:  # refuses a cluster before anything is printed
        return _check_on(pool, bound, output, verbose=verbose)


def _check_on(pool: Executor, bound: Bound, output: str, *, verbose: bool) -> int:
    out = sys.stdout
    out.write(f"bound: {bound.describe()}\n")

    def progress(line: str) -> None:
        if verbose:
            out.write(f"  {line}\n")
            out.flush()

    report, counterexample = run(bound, progress, pool=pool)
    rate = report.states / report.seconds if report.seconds else 0.0
    out.write(
        f"explored {report.configurations} configurations: {report.states} states, "
        f"{report.transitions} transitions in {report.seconds:.1f} s "
        f"({rate:.0f} states/s, peak memory {report.peak_memory_mb:.0f} MB)\n"
    )
    if counterexample is not None:
        text = counterexample.scenario(bound.wait_ms)
        write_file(output, text.encode("utf-8"), "the counterexample")
        config = "; ".join(map(str, counterexample.databases))
        out.write(f"VIOLATION in configuration: {config}\n  {counterexample.invariant}\n")
        out.write(f"shortest counterexample, {len(counterexample.path)} steps: ")
        out.write(", ".join(map(str, counterexample.path)) + "\n")
        out.write(f"written to {output}: replay it with `dbfsm simulate {output}`\n")
        return 1
    if report.truncated:
        out.write(
            f"NOT PROVEN: {len(report.truncated)} configurations have more than "
            f"--max-states {bound.max_states} states, e.g. {report.truncated[0]}\n"
        )
        return 1
    out.write(
        "every invariant holds in every state: the lifecycle invariants, no deadlock, "
        "every loss episode ends, recovery leads to serving\n"
    )
    return 0
