"""The compiled tables take the transitions `transitions` takes, for the same declaration.

The engine runs `fsm.compiled` tables; `fsm.compiled.reference_machine` hands the same
declaration of `fsm.graph` to the `transitions` library. Random trigger sequences with random
guard inputs (backend settings, retries left, schema mismatch, configuration applied, origins)
drive one model through each; after every trigger both must agree on whether a transition was
taken, which declaration it was, the state reached and the effects run.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transitions import MachineError

from dbfsm.fsm.compiled import Tables, reference_machine, select
from dbfsm.fsm.graph import BACKEND, SERVER, Graph
from dbfsm.fsm.settings import BackendSettings, DbType, OnFail, Role


def _model_class(graph: Graph) -> type:
    """A model whose effects only record their names: the guard inputs are set by the test."""

    def effect(name: str) -> Any:
        def run(self: Any, _: Any = None) -> None:
            self.effects.append(name)

        return run

    return type(f"Fake{graph.name}", (), {name: effect(name) for name in graph.effects})


FAKES = {graph.name: _model_class(graph) for graph in (BACKEND, SERVER)}


def _run(
    graph: Graph, inputs: Any, steps: list[tuple[str, dict[str, Any]]], compiled_from: Any = None
) -> None:
    """Drive both; `compiled_from` compiles the tables from another declaration instead."""
    cls = FAKES[graph.name]
    reference, compiled = cls(), cls()
    for model in (reference, compiled):
        model.effects = []
        for name, value in inputs.items():
            setattr(model, name, value)
    taken: list[int] = []
    reference_machine(graph, reference, lambda _event, index: taken.append(index))
    compiled.state = graph.initial
    table = Tables(compiled_from or graph, cls).for_model(compiled)
    for trigger, values in steps:
        for model in (reference, compiled):
            for name, value in values.items():
                setattr(model, name, value)
        taken.clear()
        try:
            expected: Any = taken[0] if getattr(reference, trigger)() else "no guard holds"
        except MachineError:
            expected = "no transition"
        try:
            step = select(table, compiled.state, trigger, compiled)
        except KeyError:
            got: Any = "no transition"
        else:
            got = "no guard holds" if step is None else step.index
            if step is not None:
                for effect in step.effects:
                    effect(compiled)
                if step.dest is not None:
                    compiled.state = step.dest
        assert got == expected, (trigger, compiled.state, values)
        assert compiled.state == reference.state
        assert compiled.effects == reference.effects


backend_settings = st.builds(
    BackendSettings,
    key=st.just("lease-database"),
    role=st.just(Role.LEASE),
    type=st.sampled_from(DbType),
    max_reconnect_tries=st.sampled_from((0, 1, 3)),
    reconnect_wait_time=st.sampled_from((0, 1000)),
    on_fail=st.sampled_from(OnFail),
    retry_on_startup=st.booleans(),
)
backend_inputs = st.fixed_dictionaries(
    {
        "schema_mismatch": st.booleans(),
        "retries_left": st.integers(0, 3),
        "config_applied": st.booleans(),
    }
)
server_inputs = st.fixed_dictionaries(
    {
        "backend_unreachable": st.booleans(),
        "origins": st.sampled_from(({}, {"lease-database": 3001})),
        "starts_disabled": st.booleans(),
    }
)


@settings(max_examples=300, deadline=None)
@given(
    backend_settings,
    st.lists(st.tuples(st.sampled_from(BACKEND.triggers), backend_inputs), max_size=40),
)
def test_backend_tables_take_what_transitions_takes(
    settings_: BackendSettings, steps: list[tuple[str, dict[str, Any]]]
) -> None:
    _run(BACKEND, {"settings": settings_}, steps)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SERVER.triggers), server_inputs), max_size=40))
def test_server_table_takes_what_transitions_takes(
    steps: list[tuple[str, dict[str, Any]]],
) -> None:
    _run(SERVER, {"settings": None}, steps)


def test_the_differential_run_can_fail() -> None:
    """Tables compiled from a declaration with one guard dropped (retries left, when an
    attempt fails) are caught on the first sequence that needs the guard."""
    broken = tuple(
        dataclasses.replace(t, when=()) if t.when == ("retries_left",) else t
        for t in BACKEND.transitions
    )
    graph = dataclasses.replace(BACKEND, transitions=broken)
    settings_ = BackendSettings("lease-database", Role.LEASE, DbType.MYSQL, 3, 1000)
    fine = {"schema_mismatch": False, "retries_left": 3, "config_applied": True}
    steps = [("open", fine), ("opened", fine), ("lost", fine), ("open_failed", fine)]
    _run(BACKEND, {"settings": settings_}, steps, compiled_from=graph)  # the guard holds
    last = [*steps[:-1], ("open_failed", {**fine, "retries_left": 0})]
    with pytest.raises(AssertionError):
        _run(BACKEND, {"settings": settings_}, last, compiled_from=graph)
