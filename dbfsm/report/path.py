"""The lifecycle path a run took, as `dbfsm diagram --highlight` draws it.

Records do not say which transitions were taken; the engine does, as `Transitioned` actions.
A run of dbfsm has them at hand (`simulate --report`, `run --report` listen for them). For a
recorded run, `conform` finds inputs that make the engine emit what the trace shows; replayed
on a fresh engine, those inputs give the model's own path, and its serving changes, which a
Kea log does not state.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from dbfsm.docs.render import edge_label, to_image
from dbfsm.docs.views import VIEWS, Highlight, PathStep, View
from dbfsm.files.reading import load_file
from dbfsm.fsm.actions import Action, Transitioned
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.errors import InputError
from dbfsm.fsm.events import Event
from dbfsm.fsm.graph import BACKEND, SERVER
from dbfsm.fsm.records import record_of
from dbfsm.fsm.settings import OnFail, ServerSettings
from dbfsm.report.model import Change

NAME = "this run"  # what the diagrams' titles call the path


def steps(transitions: Iterable[Transitioned], settings: ServerSettings | None) -> list[PathStep]:
    """The state changes as `views.PathStep`s; a backend's mode is its on-fail in `settings`."""
    modes: dict[str, OnFail] = {}
    for b in settings.backends if settings is not None else ():
        modes[b.key] = b.on_fail
    found = []
    for t in transitions:
        server = t.machine == "server"
        graph = SERVER if server else BACKEND
        mode = None if server else modes.get(t.machine)
        found.append(PathStep(t.machine, mode, graph.name, t.index, t.source, t.trigger, t.dest))
    return found


@dataclass(frozen=True)
class Replay:
    """What the engine did on a trace's explaining inputs."""

    transitions: tuple[Transitioned, ...]
    changes: tuple[Change, ...]


def replay(
    settings: ServerSettings, config_path: str, inputs: Iterable[tuple[float, Event]]
) -> Replay:
    """Run the inputs `conform` found on a fresh engine, as conform's own engines run."""
    now = [0.0]
    engine = Engine(
        settings, clock=lambda: now[0], loader=functools.partial(load_file, config_path)
    )
    transitions: list[Transitioned] = []
    changes: list[Change] = []

    def absorb(actions: Iterable[Action]) -> None:
        for action in actions:
            if isinstance(action, Transitioned):
                transitions.append(action)
                continue
            record = record_of(action, now[0])
            if record is not None and record.type == "serving":
                changes.append(Change(record.t, bool(record.data["serving"])))

    absorb(engine.start())
    for t, event in inputs:
        now[0] = t
        absorb(engine.handle(event))
    return Replay(tuple(transitions), tuple(changes))


@dataclass(frozen=True)
class Diagram:
    """One view with the path drawn on it: Graphviz's SVG, or why there is none."""

    view: View
    svg: str | None
    problem: str
    taken: tuple[tuple[str, int], ...]  # (edge as labelled, times), in the view's edge order


def views_taken(highlight: Highlight) -> list[View]:
    """The views the path shows on: each on-fail mode of a backend that changed state, then
    the server lifecycle."""
    modes = [m for m in OnFail if any(s.mode is m for s in highlight.steps)]
    views = [VIEWS[m.value] for m in modes] + [VIEWS["server"]]
    return [v for v in views if highlight.counts(v)]


def diagrams(highlight: Highlight) -> list[Diagram]:
    out = []
    for n, view in enumerate(views_taken(highlight)):
        counts = highlight.counts(view)
        taken = tuple(
            (f"{e.source} \u2192 {e.dest}: {edge_label(view, e)}", counts[e])
            for e in view.edges
            if e in counts
        )
        try:
            svg, problem = inline_svg(to_image(view, "svg", highlight), f"p{n}-"), ""
        except InputError as err:  # no Graphviz: the page says so and lists the path
            svg, problem = None, str(err)
        out.append(Diagram(view, svg, problem, taken))
    return out


_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_ID = re.compile(r'\bid="([^"]*)"')


def inline_svg(data: bytes, prefix: str) -> str:
    """Graphviz's SVG document as an element of the page: no XML prolog or doctype, and
    ids made unique to it (several diagrams share the page)."""
    text = _PROLOG.sub("", data.decode("utf-8"), count=1)
    return _ID.sub(lambda m: f'id="{prefix}{m[1]}"', text)
