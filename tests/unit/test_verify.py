"""`dbfsm verify`: the default bound holds, broken graphs are caught with short counterexamples,
and every path the model takes is one `dbfsm simulate` replays step for step."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

import dbfsm.fsm.engine
from dbfsm import cli
from dbfsm.fsm.actions import Action, Log, Transitioned
from dbfsm.fsm.backend import Backend
from dbfsm.fsm.compiled import Tables
from dbfsm.fsm.graph import BACKEND, Graph
from dbfsm.fsm.settings import DbType, OnFail, Role
from dbfsm.simulation import scenario, simulate
from dbfsm.validation.counterexample import scenario as scenario_text
from dbfsm.validation.explore import ANSWER, Setup, Summary, World, WorldStep, replay
from dbfsm.validation.statespace import StateGraph, explore
from dbfsm.validation.verify import (
    Bound,
    Database,
    document,
    episode_problem,
    recovery_problem,
    replay_until_violation,
    run,
)

STOP = OnFail.STOP_RETRY_EXIT
CONTINUE = OnFail.SERVE_RETRY_CONTINUE
Move = tuple[str, str, str, str]


def _moves(transitions: list[Transitioned]) -> list[Move]:
    return [(t.machine, t.trigger, t.source, t.dest) for t in transitions]


def model_moves(setup: Setup, path: list[WorldStep]) -> list[Move]:
    """The state changes the model makes along `path` (up to a violation, if any)."""
    world = World(setup)
    seen: list[Transitioned] = []

    def note(action: Action) -> None:
        if isinstance(action, Transitioned):
            seen.append(action)

    world.engine.subscribe(note)
    replay_until_violation(setup, path, world)
    return _moves(seen)


def simulated_moves(text: str, tmp_path: Path) -> list[Move]:
    """The state changes `dbfsm simulate` makes replaying a scenario."""
    file = tmp_path / "counterexample.yaml"
    file.write_text(text)
    result = simulate.run(scenario.load(file))
    return _moves([t for _, t in result.transitions])


def replays(setup: Setup, path: list[WorldStep], text: str, tmp_path: Path) -> list[Move]:
    """Simulate makes the model's moves up to the one that broke an invariant (and then the
    rest of that step's); the moves simulate made."""
    model = model_moves(setup, path)
    simulated = simulated_moves(text, tmp_path)
    assert simulated[: len(model)] == model
    return simulated


def scenario_of(setup: Setup, path: list[WorldStep], wait_ms: int = 1000) -> str:
    world = replay_until_violation(setup, path)
    return scenario_text(setup.document, world.log, wait_ms, "test")


# -- the default bound --------------------------------------------------------------------------


def test_the_default_bound_holds() -> None:
    report, counterexample = run(Bound())
    assert counterexample is None, counterexample and counterexample.invariant
    assert report.truncated == []
    singles = [c for c in Bound().configurations() if len(c) == 1]
    assert report.configurations == len(singles) + 9 and len(singles) == 48
    assert report.states > 3000 and report.transitions > 3 * report.states


def test_commands_and_faults_come_between_a_request_and_its_answers() -> None:
    """A config-set while the previous one still connects, a fault before the answer."""
    doc = document((Database(Role.LEASE, DbType.MYSQL, STOP, True, 1, 1000),))
    graph, found = explore(Setup.of(doc), max_states=10_000)
    assert found is None and graph.complete
    reconfiguring = [n for n, s in enumerate(graph.summaries) if s.state == "reconfiguring"]
    assert reconfiguring
    assert any(WorldStep("command", "config-set") in graph.edges[n] for n in reconfiguring)
    assert any(WorldStep("down", "lease-database") in graph.edges[n] for n in reconfiguring)
    narrow, _ = explore(Setup.of(doc, same_instant=0), max_states=10_000)
    waiting = [n for n, s in enumerate(narrow.summaries) if s.state == "reconfiguring"]
    assert waiting and all(list(narrow.edges[n]) == [ANSWER] for n in waiting)


def test_the_bound_covers_every_mode_tries_wait_and_startup_setting() -> None:
    configurations = list(Bound(backends=3).configurations())
    singles = {c[0] for c in configurations if len(c) == 1}
    for mode in OnFail:
        for startup in (False, True):
            for tries in range(4):
                assert any(
                    (d.on_fail, d.retry_on_startup, d.tries, d.wait_ms > 0)
                    == (mode, startup, tries, True)
                    for d in singles
                )
            assert any(d.on_fail == mode and d.wait_ms == 0 and d.tries > 0 for d in singles)
    pairs = [tuple(d.on_fail for d in c) for c in configurations if len(c) == 2]
    triples = [c for c in configurations if len(c) == 3]
    assert sorted(pairs) == sorted((a, b) for a in OnFail for b in OnFail)
    for i, j in ((0, 1), (0, 2), (1, 2)):  # every pair of modes in every two positions
        assert {(c[i].on_fail, c[j].on_fail) for c in triples} == {
            (a, b) for a in OnFail for b in OnFail
        }
    assert {d.role for c in triples for d in c} == set(Role)


# -- broken graphs are caught -------------------------------------------------------------------


def break_backends(
    monkeypatch: pytest.MonkeyPatch, graph: Graph = BACKEND, **methods: object
) -> None:
    """Make the engine run `graph` with these `Backend` methods replaced. The engine compiles
    the declaration into tables at import, binding the effects then, so the tables are built
    again from the broken pieces (and restored with the monkeypatch)."""
    for name, method in methods.items():
        monkeypatch.setattr(Backend, name, method)
    monkeypatch.setattr(dbfsm.fsm.engine, "_BACKEND_TABLES", Tables(graph, Backend))


def _no_effect(self: Backend, event: object = None) -> None:
    pass


def test_a_dropped_effect_is_caught_with_a_short_counterexample_that_replays(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """stop-retry-exit no longer stops the service when a loss episode begins."""
    break_backends(monkeypatch, stop_service=_no_effect)
    _, found = run(Bound(backends=1, modes=(STOP,), tries=(2,)))
    assert found is not None
    assert found.invariant.startswith("invariant 1 (stop-retry-exit stops service)")
    assert [str(s) for s in found.path] == ["start", "down lease-database", "use lease-database"]
    text = found.scenario(1000)
    data = yaml.safe_load(text)
    assert data["events"] == [
        {"at": 0.001, "down": "lease-database"},
        {"at": 0.002, "use": "lease-database"},
    ]
    moves = replays(found.setup, found.path, text, tmp_path)
    assert ("lease-database", "lost", "online", "reconnecting") in moves
    # The same scenario with the effect in place stops the service.
    monkeypatch.undo()
    result = simulate.run(scenario.load(tmp_path / "counterexample.yaml"))
    assert result.serving is False


def test_a_removed_guard_is_caught_with_a_short_counterexample_that_replays(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A failed attempt schedules the next one even when no retries are left."""
    broken = tuple(
        dataclasses.replace(t, when=tuple(g for g in t.when if g != "retries_left"))
        if (t.trigger, t.dest) == ("open_failed", "waiting")
        else t
        for t in BACKEND.transitions
    )
    break_backends(monkeypatch, dataclasses.replace(BACKEND, transitions=broken))
    _, found = run(Bound(backends=1, modes=(CONTINUE,), tries=(1,)))
    assert found is not None
    assert found.invariant.startswith("invariant 4 (reconnect loop)")
    path = ["start", "down lease-database", "use lease-database", "answer"]
    assert [str(s) for s in found.path] == path
    text = found.scenario(1000)
    moves = replays(found.setup, found.path, text, tmp_path)
    assert ("lease-database", "open_failed", "reconnecting", "waiting") in moves


def test_a_recovery_that_never_comes_is_caught(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A restored stop-retry-exit backend no longer gives its origin back: every database is
    back, yet the server never serves again (no step alone shows it; invariant 5 does, so
    this test switches it off by making the backend look still lost to the checker)."""
    break_backends(monkeypatch, resume_service=_resume_without_enabling)
    _, found = run(Bound(backends=1, modes=(STOP,), tries=(2,)))
    assert found is not None
    assert "invariant 5" in found.invariant or found.invariant.startswith("recovery")
    replays(found.setup, found.path, found.scenario(1000), tmp_path)


def _resume_without_enabling(self: Backend, event: object = None) -> None:
    self.retries_left = self.settings.max_reconnect_tries


def test_posted_work_that_never_runs_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine that posts recovery work and never runs it leaves the loss unanswered."""
    monkeypatch.setattr(dbfsm.fsm.engine.Engine, "_next_job", lambda self: None)
    _, found = run(Bound(backends=1, modes=(CONTINUE,), tries=(1,)))
    assert found is not None
    assert found.invariant == "no deadlock: posted work 'lost' of lease-database never runs"
    assert [str(s) for s in found.path] == ["start", "down lease-database", "use lease-database"]


# -- posted recovery work -----------------------------------------------------------------------


def test_recoveries_posted_after_an_attempt_wait_for_its_answer_and_are_told_apart() -> None:
    """Two losses noticed in one instant: the second backend's recovery waits while the first
    one's attempt is out, and the states with and without that waiting work differ."""
    doc = document(
        (
            Database(Role.LEASE, DbType.MYSQL, CONTINUE, True, 1, 1000),
            Database(Role.HOSTS, DbType.POSTGRESQL, STOP, True, 1, 1000),
        )
    )
    setup = Setup.of(doc, commands=("config-set",))
    graph, found = explore(setup, max_states=10_000)
    assert found is None and graph.complete
    held = []
    for node in range(len(graph)):
        work = replay(setup, graph.path(node)).engine.posted_work()
        if work[1]:
            held.append(node)
            assert work == ("lease-database", (("hosts-databases[0]", "online", "lost"),))
            assert list(graph.edges[node]) == [ANSWER]  # nothing else until the answer
    assert held
    path = [str(s) for s in graph.path(held[0])]
    assert path[-2:] == ["use lease-database", "use hosts-databases[0]"]
    # The answer ends the lease database's attempt before the host database's job runs.
    world = replay(setup, graph.path(held[0]))
    moves: list[tuple[str, str]] = []
    world.engine.subscribe(
        lambda a: moves.append((a.machine, a.trigger)) if isinstance(a, Transitioned) else None
    )
    world.apply(ANSWER)
    lease_failed = moves.index(("lease-database", "open_failed"))
    assert lease_failed < moves.index(("hosts-databases[0]", "lost"))


def test_a_kept_broken_connection_is_used_again_and_logs_the_loss_again(tmp_path: Path) -> None:
    """serve-retry-continue with reconnection disabled keeps the broken connection: every
    later use logs the loss again, leaving the state as it was."""
    doc = document((Database(Role.LEASE, DbType.MYSQL, CONTINUE, False, 0, 1000),))
    setup = Setup.of(doc, commands=("config-set",))
    graph, found = explore(setup, max_states=10_000)
    assert found is None and graph.complete
    use = WorldStep("use", "lease-database")
    again = [n for n in range(len(graph)) if graph.edges[n].get(use) == n]
    assert again
    assert all(
        dict((k, s) for k, s, _ in graph.summaries[n].backends) == {"lease-database": "abandoned"}
        for n in again
    )
    world = replay(setup, graph.path(again[0]))
    logged: list[str] = []
    world.engine.subscribe(lambda a: logged.append(a.message.id) if isinstance(a, Log) else None)
    world.apply(use)
    assert any(i.endswith("LOST_CONNECTION") for i in logged), logged
    assert any(i.endswith("RECONNECT_DISABLED") for i in logged), logged
    # dbfsm simulate makes the same moves, the loss noticed again included
    path = [*graph.path(again[0]), use, use]
    moves = replays(setup, path, scenario_of(setup, path), tmp_path)
    assert moves.count(("lease-database", "lost", "abandoned", "abandoned")) == 2


# -- the model and the simulator agree ----------------------------------------------------------


_TWO = (
    Database(Role.LEASE, DbType.MYSQL, STOP, True, 2, 1000),
    Database(Role.HOSTS, DbType.POSTGRESQL, CONTINUE, False, 2, 1000),
)
_THREE = (
    Database(Role.LEASE, DbType.POSTGRESQL, OnFail.SERVE_RETRY_EXIT, True, 2, 1000),
    Database(Role.HOSTS, DbType.MYSQL, STOP, True, 1, 1000),
    Database(Role.CONFIG, DbType.MYSQL, CONTINUE, True, 1, 1000),
)

# A memfile lease database's faults are its lease file's: counterexamples say file-error and
# file-ok, which simulate accepts for memfile only.
_MEMFILE_AND_HOSTS = (
    Database(Role.LEASE, DbType.MEMFILE, CONTINUE, False, 0, 0),
    Database(Role.HOSTS, DbType.MYSQL, CONTINUE, False, 2, 1000),
)


@pytest.mark.parametrize(
    ("databases", "same_instant", "fires", "together"),
    [(_TWO, 0, 10, 0), (_THREE, 0, 10, 0), (_TWO, 1, 3, 3), (_MEMFILE_AND_HOSTS, 0, 3, 0)],
    ids=["two", "three", "two, events before answers", "memfile: file-error and file-ok"],
)
def test_every_explored_path_replays_in_simulate(
    databases: tuple[Database, ...], same_instant: int, fires: int, together: int, tmp_path: Path
) -> None:
    """The deepest paths of a state space (overlapping reconnect loops, faults between timer
    expiries, commands, events between a request and its answers), timed and replayed by
    `dbfsm simulate`, make the same moves."""
    doc = document(databases)
    # fewer commands, so that the bound reaches deeper
    commands = ("config-set",) if len(databases) == 3 else ("config-set", "dhcp-disable")
    setup = Setup.of(doc, commands=commands, same_instant=same_instant)
    graph, found = explore(setup, max_states=400 if len(databases) == 3 else 250)
    assert found is None
    # Paths to every state and through every timer expiry (rarely on a shortest path).
    paths = [graph.path(n) for n in range(len(graph))]
    paths += [
        [*graph.path(n), s] for n in range(len(graph)) for s in graph.edges[n] if s.kind == "fire"
    ]
    deepest = sorted(paths, key=lambda p: (sum(s.kind == "fire" for s in p), len(p)))[-25:]
    same_time = 0
    for path in deepest:
        world = replay(setup, path)
        while world.answers_due:  # simulate ends the instant: timers due, then the answers
            step = ANSWER if ANSWER in world.enabled() else world.enabled()[0]
            world.apply(step)
            path = [*path, step]
        same_time += sum(entry.together and entry.step != ANSWER for entry in world.log)
        assert simulated_moves(scenario_of(setup, path), tmp_path) == model_moves(setup, path), path
    assert sum(s.kind == "fire" for p in deepest for s in p) >= fires
    assert same_time >= together


# -- command line -------------------------------------------------------------------------------


def test_cli_prints_the_bound_and_figures(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["verify", "--backends", "1", "--modes", "serve-retry-exit", "--tries", "1"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0].startswith("bound: 1 backend; on-fail serve-retry-exit;")
    assert out[1].startswith("explored 4 configurations: ")
    assert " states, " in out[1] and " transitions in " in out[1] and "states/s" in out[1]
    assert out[2].startswith("every invariant holds")


def test_cli_writes_the_counterexample_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    break_backends(monkeypatch, stop_service=_no_effect)
    output = tmp_path / "cx.yaml"
    code = cli.main(
        [
            "verify",
            "--backends",
            "1",
            "--modes",
            "stop-retry-exit",
            "--tries",
            "1",
            "-o",
            str(output),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "VIOLATION" in out and "invariant 1" in out
    assert f"dbfsm simulate {output}" in out
    assert yaml.safe_load(output.read_text())["traffic"] == "none"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tries", "1,9"], "each value must be 0 to 5"),
        (["--tries", "x"], "not a list of numbers"),
        (["--modes", "serve-forever"], "unknown 'serve-forever'"),
        (["--backends", "4"], "invalid choice"),
        (["--wait", "0"], "must be greater than 0"),
        (["--commands", "reboot"], "unknown 'reboot'"),
        (["--max-states", "-3"], "must be greater than 0"),
    ],
)
def test_cli_bad_options_exit_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        cli.main(["verify", *args])
    err = capsys.readouterr().err
    assert exit.value.code == 2
    assert len(err.strip().splitlines()) == 1 and message in err


def test_cli_unwritable_output_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    break_backends(monkeypatch, stop_service=_no_effect)
    target = tmp_path / "missing" / "cx.yaml"
    code = cli.main(["verify", "--backends", "1", "--modes", "stop-retry-exit", "-o", str(target)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "cannot write the counterexample" in err


def test_the_readme_example_is_real(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```console\n\$ dbfsm verify (.*?)\n(.*?)```", readme, flags=re.S)
    assert block is not None
    assert cli.main(["verify", *block.group(1).split()]) == 0
    actual = capsys.readouterr().out.splitlines()
    figures = re.compile(r" in [\d.]+ s \(\d+ states/s, peak memory \d+ MB\)")
    shown = block.group(2).splitlines()
    assert [figures.sub("", line) for line in shown] == [figures.sub("", line) for line in actual]


def test_a_crash_of_the_engine_is_a_violation_with_its_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_close(self: Backend, event: object = None) -> None:
        raise KeyError(self.key)

    break_backends(monkeypatch, request_close=broken_close)
    _, found = run(Bound(backends=1, modes=(CONTINUE,), tries=(1,)))
    assert found is not None
    assert found.invariant == "crash: KeyError: 'lease-database'"
    assert [str(s) for s in found.path] == ["start", "command config-set"]


def test_cli_too_small_a_state_limit_is_not_a_proof(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        ["verify", "--backends", "1", "--modes", "stop-retry-exit", "--max-states", "5"]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "NOT PROVEN: 16 configurations have more than --max-states 5 states" in out


def test_cli_a_narrower_set_of_commands_still_proves(capsys: pytest.CaptureFixture[str]) -> None:
    """Without dhcp-enable, a user's dhcp-disable is never lifted: not a recovery failure."""
    argv = ["verify", "--backends", "1", "--tries", "1", "--commands", "dhcp-disable"]
    assert cli.main(argv) == 0
    assert "commands dhcp-disable;" in capsys.readouterr().out


# -- the checks over the state graph, on graphs made by hand -----------------------------------


def _summary(state: str, backend: str, *, down: tuple[str, ...] = ()) -> Summary:
    serving = state == "serving"
    return Summary(state, serving, (("lease-database", backend, 1),), False, "", down)


def test_a_loss_episode_that_never_ends_is_found() -> None:
    graph = StateGraph()
    graph.add(-1, None, _summary("starting", "configured"))
    waiting = graph.add(0, WorldStep("command", "x"), _summary("serving", "waiting"))
    again = graph.add(waiting, WorldStep("fire", "lease-database"), _summary("serving", "waiting"))
    graph.edges[0][WorldStep("command", "x")] = waiting
    graph.edges[waiting][WorldStep("fire", "lease-database")] = again
    graph.edges[again][WorldStep("fire", "lease-database")] = again
    found = episode_problem(graph)
    assert found is not None
    assert (
        found.invariant
        == "loss episode: lease-database still waiting after 1 more attempts (1 retries were left)"
    )
    assert [str(s) for s in found.path] == ["command x", "fire lease-database"]
    graph.summaries[again] = _summary("serving", "online")
    assert episode_problem(graph) is None


def test_a_recovery_that_stops_short_is_found() -> None:
    graph = StateGraph()
    graph.add(-1, None, _summary("starting", "configured"))
    lost = graph.add(
        0,
        WorldStep("down", "lease-database"),
        _summary("not_serving", "waiting", down=("lease-database",)),
    )
    back = graph.add(lost, WorldStep("up", "lease-database"), _summary("not_serving", "waiting"))
    graph.edges[0][WorldStep("down", "lease-database")] = lost
    graph.edges[lost][WorldStep("up", "lease-database")] = back
    found = recovery_problem(graph)
    assert found is not None and found.invariant.startswith(
        "recovery: every database back, yet server not_serving"
    )
    assert [str(s) for s in found.path] == ["down lease-database", "up lease-database"]
    graph.summaries[back] = _summary("serving", "online")
    assert recovery_problem(graph) is None


# -- scale-out: the same report whatever runs it --------------------------------------------------

_TIMING = re.compile(r"in [0-9.]+ s \([0-9]+ states/s, peak memory [0-9]+ MB\)|[0-9.]+ s  ")


def verify_output(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The exit status and stdout of `dbfsm verify ARGS`, with the timings blanked."""
    code = cli.main(["verify", "-v", *args])
    return code, _TIMING.sub("<time>", capsys.readouterr().out)


def test_workers_1_and_2_give_the_same_report(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--backends", "2", "--modes", "serve-retry-exit,stop-retry-exit", "--tries", "1"]
    one = verify_output([*args, "--workers", "1"], capsys)
    two = verify_output([*args, "--workers", "2"], capsys)
    assert one[0] == 0 and "explored 12 configurations: 925 states, 3314 transitions" in one[1]
    assert two == one


def test_workers_1_and_2_give_the_same_counterexample(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The planted violation shows first in a later configuration of the bound (the
    serve-retry-exit ones hold), while the pool starts the larger two-backend ones first:
    the first violation in bound order is still the one reported, with the same path."""
    break_backends(monkeypatch, stop_service=_no_effect)  # the forked workers inherit it
    args = ["--backends", "2", "--modes", "serve-retry-exit,stop-retry-exit", "--tries", "1"]
    reports, files = [], []
    for workers in ("1", "2"):
        output = tmp_path / f"cx{workers}.yaml"
        reports.append(verify_output([*args, "--workers", workers, "-o", str(output)], capsys))
        files.append(output.read_bytes())
    assert reports[0][0] == 1 and "VIOLATION" in reports[0][1]
    assert "serve-retry-exit" in reports[0][1].split("VIOLATION")[0]  # configurations before it
    assert reports[1] == (1, reports[0][1].replace(str(tmp_path / "cx1"), str(tmp_path / "cx2")))
    assert files[1] == files[0]


def test_verify_checks_the_invariants_under_python_O(tmp_path: Path) -> None:
    """`python -O` strips asserts: the invariants must still be checked."""
    import subprocess
    import sys

    script = f"""
import sys
assert False, "asserts are on: this test needs python -O"
import dbfsm.fsm.engine
from dbfsm import cli
from dbfsm.fsm.backend import Backend
from dbfsm.fsm.compiled import Tables
from dbfsm.fsm.graph import BACKEND
Backend.stop_service = lambda self, event=None: None
dbfsm.fsm.engine._BACKEND_TABLES = Tables(BACKEND, Backend)
sys.exit(cli.main(["verify", "--backends", "1", "--modes", "stop-retry-exit", "--tries", "1",
                   "-o", {str(tmp_path / "cx.yaml")!r}]))
"""
    done = subprocess.run(
        [sys.executable, "-O", "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "VIOLATION" in done.stdout and "invariant 1 (stop-retry-exit" in done.stdout
