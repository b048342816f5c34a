"""`fsm.reference.transitions_machine`: the declaration runs on the `transitions` library
through a public function, on a `Walk` (guards set by hand) or on a model of one's own.

The paths below are the documented lifecycles (a loss and its recovery, an exit mode running
out of tries, a configuration settling): a change of `fsm.graph` that breaks one fails here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from transitions import MachineError

from dbfsm.fsm.graph import BACKEND, SERVER, Graph, Guard
from dbfsm.fsm.reference import Walk, transitions_machine
from dbfsm.fsm.settings import BackendSettings, DbType, OnFail, Role


def test_a_backend_walks_a_loss_and_its_recovery() -> None:
    walk = transitions_machine().model
    assert isinstance(walk, Walk) and walk.state == BACKEND.initial == "configured"
    assert walk.open() and walk.opened() and walk.state == "online"
    walk.config_applied = True
    walk.effects.clear()
    assert walk.lost() and walk.state == "reconnecting"
    assert walk.effects == ["begin_episode", "request_attempt"]
    walk.retries_left = True
    assert walk.open_failed() and walk.state == "waiting"
    assert walk.timer_fired() and walk.state == "reconnecting"
    assert walk.opened() and walk.state == "online"
    assert walk.effects == [
        "begin_episode",
        "request_attempt",
        "log_attempt_failed",
        "schedule_attempt",
        "log_lost_again",
        "request_attempt",
        "log_tls",
        "resume_service",
    ]


def test_stop_retry_exit_stops_the_service_then_exits_when_tries_run_out() -> None:
    walk = transitions_machine(BACKEND).model
    walk.open(), walk.opened()
    walk.config_applied = walk.stops_service_on_loss = walk.exits_on_failure = True
    walk.effects.clear()
    walk.lost()
    assert (walk.state, walk.effects) == (
        "reconnecting",
        ["begin_episode", "stop_service", "request_attempt"],
    )
    walk.open_failed()  # no retries left: the guard was never set
    assert walk.state == "fatal"
    assert walk.effects[-3:] == ["log_attempt_failed", "report_retries_exhausted", "request_exit"]


def test_a_loss_before_the_configuration_is_in_waits_for_it() -> None:
    walk = transitions_machine().model
    walk.open(), walk.opened(), walk.lost()
    assert walk.state == "retry_pending" and "begin_episode" not in walk.effects


def test_a_trigger_the_graph_does_not_declare_there_raises() -> None:
    walk = transitions_machine().model
    with pytest.raises(MachineError):
        walk.lost()  # not opened yet
    assert walk.state == "configured"


def test_the_server_settles_serves_and_shuts_down() -> None:
    walk = transitions_machine(SERVER).model
    assert walk.start() and walk.state == "starting" and walk.effects == ["open_backends"]
    assert walk.settled() and walk.state == "serving"
    walk.service_disabled = True
    assert walk.service_changed() and walk.state == "not_serving"
    assert walk.shutdown() and walk.state == "exited"
    assert walk.effects == ["open_backends", "commit", "close_backends", "exit"]


def test_observe_is_told_which_declaration_is_taken() -> None:
    taken: list[int] = []
    walk = transitions_machine(observe=lambda _event, index: taken.append(index)).model
    walk.open(), walk.opened()
    assert [BACKEND.transitions[i].trigger for i in taken] == ["open", "opened"]
    assert BACKEND.transitions[taken[1]].source == ("connecting",)


@pytest.mark.parametrize("graph", [BACKEND, SERVER], ids=lambda g: g.name)
def test_every_declared_transition_is_taken_when_its_own_guards_hold(graph: Graph) -> None:
    """On a Walk with exactly a transition's `when` set, from each of its sources, that very
    declaration is the one taken, to its destination, with its effects."""
    for index, t in enumerate(graph.transitions):
        for source in t.source:
            taken: list[int] = []
            machine = transitions_machine(graph, observe=lambda _e, i, taken=taken: taken.append(i))
            walk = machine.model
            machine.set_state(source, model=walk)
            for name in t.when:
                setattr(walk, name, True)
            assert getattr(walk, t.trigger)(), (index, source)
            assert taken == [index], (index, source)
            assert walk.state == (t.dest or source)
            assert walk.effects == list(t.effects)


class _Backend:
    """A backend model of one's own: the inputs the graph's guards read, and effects that
    record their names."""

    def __init__(self, on_fail: OnFail, tries: int) -> None:
        self.settings = BackendSettings(
            "lease-database", Role.LEASE, DbType.MYSQL, tries, 1000, on_fail
        )
        self.retries_left = 0
        self.schema_mismatch = False
        self.config_applied = True
        self.done: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name not in BACKEND.effects:
            raise AttributeError(name)
        return lambda _event: self.done.append(name)


def test_a_model_of_ones_own_gets_the_declared_guards() -> None:
    """The guards are the graph's functions of the model: its settings decide the mode."""
    for on_fail, end in (
        (OnFail.SERVE_RETRY_CONTINUE, "abandoned"),
        (OnFail.STOP_RETRY_EXIT, "fatal"),
    ):
        backend = _Backend(on_fail, tries=1)
        machine = transitions_machine(BACKEND, backend)
        assert machine.model is backend
        backend.open(), backend.opened(), backend.lost()
        assert backend.state == "reconnecting"
        assert ("stop_service" in backend.done) is (on_fail is OnFail.STOP_RETRY_EXIT)
        backend.open_failed()  # retries_left is 0
        assert backend.state == end


def test_a_walk_refuses_a_guard_that_a_trigger_would_shadow() -> None:
    clash = Guard("open", "a guard named like a trigger", lambda m: True)
    graph = dataclasses.replace(BACKEND, guards={**BACKEND.guards, "open": clash})
    with pytest.raises(ValueError, match="open"):
        transitions_machine(graph)
