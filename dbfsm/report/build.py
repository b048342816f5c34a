"""An incident page, whole: from a file, from a simulation, from a live run.

`from_input` is `dbfsm report`: it reads the input, and with a configuration asks `conform`
whether the model allows the run; the inputs that explain it, replayed, give the path (and for
a Kea log the serving changes). `simulate_with_report` and `LiveReport` are the `--report`
options of `dbfsm simulate` and `dbfsm run`: those runs know their own path, so they keep
their state changes while they write their records as usual.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from dbfsm.docs.views import Highlight, PathStep
from dbfsm.files.output import write_file
from dbfsm.files.reading import load_file
from dbfsm.fsm.actions import Action, Transitioned
from dbfsm.fsm.records import JsonLines, Record, text_line
from dbfsm.fsm.settings import ServerSettings
from dbfsm.report import path as lifecycle
from dbfsm.report.model import Change, Incident, build
from dbfsm.report.page import PageParts, Scrub, render
from dbfsm.report.read import DBFSM, STDIN, Source, input_text, parse
from dbfsm.simulation.scenario import Scenario
from dbfsm.validation import conform


def page(
    incident: Incident,
    title: str,
    settings: ServerSettings | None,
    steps: Sequence[PathStep] | None,
    *,
    no_path: str = "",
    verdict: str | None = None,
    verdict_ok: bool = False,
) -> str:
    """The HTML of `incident`, its path drawn from `steps` (None: no path known)."""
    diagrams = None
    if steps:
        diagrams = lifecycle.diagrams(Highlight(lifecycle.NAME, tuple(steps)))
    parts = PageParts(title, diagrams, no_path, verdict, verdict_ok)
    return render(incident, parts, Scrub(settings))


def write(path: str, html: str) -> None:
    write_file(path, html.encode("utf-8"), "the report")


def default_title(name: str) -> str:
    return f"Incident: {os.path.basename(name) or name}"


# -- dbfsm report -----------------------------------------------------------------------------


def from_input(input_path: str, config_path: str | None, title: str | None) -> str:
    """The page of a recorded run: dbfsm JSON Lines or a Kea log (`-`: standard input)."""
    settings = load_file(config_path) if config_path is not None else None
    text, name = input_text(input_path)
    source = parse(text, name, settings)
    title = title or default_title(source.name)
    if settings is None or config_path is None:
        why = "give --config (the configuration the run used) to trace its path"
        return page(build(source), title, None, None, no_path=why)
    trace = _trace(input_path, text, settings)
    verdict = conform.conform(settings, config_path, trace)
    steps: list[PathStep] | None = None
    changes: Sequence[Change] | None = None
    why = ""
    if verdict.failure is None:
        replayed = lifecycle.replay(settings, config_path, verdict.inputs)
        steps = lifecycle.steps(replayed.transitions, settings)
        changes = replayed.changes if source.kea else None
    else:
        why = "conform found no path of the model that gives this run (below: where it leaves)"
    incident = build(source, settings, serving=changes, exit_code=verdict.exit_code)
    return page(
        incident,
        title,
        settings,
        steps,
        no_path=why,
        verdict=conform.report(verdict),
        verdict_ok=verdict.failure is None,
    )


def _trace(input_path: str, text: str, settings: ServerSettings) -> conform.Trace:
    """conform's reading of the input; standard input, read once already, from a copy."""
    if input_path != STDIN:
        return conform.read_trace(input_path, settings)
    with tempfile.TemporaryDirectory(prefix="dbfsm-report-") as tmp:
        copy = os.path.join(tmp, "stdin")
        with open(copy, "w", encoding="utf-8") as out:
            out.write(text)
        return replace(conform.read_trace(copy, settings), name="<stdin>")


# -- simulate --report, run --report ----------------------------------------------------------


class Output(Protocol):
    def write(self, text: str, /) -> object: ...


def simulate_with_report(scenario: Scenario, form: str, report: str, out: Output) -> int:
    """`dbfsm simulate --report FILE`: the run's records to `out` in `form` (json or
    text), as without the option, and its page to `report`. The run is collected (to keep
    its state changes), then written."""
    from dbfsm.simulation import simulate

    result = simulate.run(scenario)
    lines = JsonLines()
    write_out = out.write
    for record in result.records:
        if form != "json":
            write_out(text_line(record))
        elif record.type != "scenario":
            write_out(lines.line(record))
    source = Source(scenario.source, DBFSM, result.timeline())
    incident = build(source, scenario.settings)
    steps = lifecycle.steps((t for _, t in result.transitions), scenario.settings)
    title = f"Simulated incident: {os.path.basename(scenario.source)}"
    write(report, page(incident, title, scenario.settings, steps))
    return 0


class _Engine(Protocol):
    def subscribe(self, listener: Callable[[Action], None]) -> Callable[[], None]: ...


class LiveRun(Protocol):
    """What `run --report` needs of a `live.run.LiveRun`."""

    sink: Callable[[Record], None]

    @property
    def engine(self) -> _Engine: ...


_UNDER_WAY = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>dbfsm run</title>'
    "</head><body><p>The run is under way: this page is written when it ends.</p></body></html>\n"
)


class LiveReport:
    """`dbfsm run --report FILE`: keeps the records and state changes of a live run as
    they happen (the records still go where they went), and writes the page at the run's
    end: with its last record, the summary."""

    def __init__(self, path: str, settings: ServerSettings, title: str | None = None) -> None:
        self.path = path
        self.settings = settings
        self.title = title
        self.records: list[Record] = []
        self.transitions: list[Transitioned] = []
        self.wall_start: datetime | None = None

    def attach(self, live: LiveRun) -> None:
        """Listen to `live`; the file is written at once (a page saying the run is under
        way), so that a name that cannot be written is an error before the run, not after."""
        write(self.path, _UNDER_WAY)
        forward = live.sink

        def sink(record: Record) -> None:
            if self.wall_start is None:  # the wall clock at t = 0 of the run
                self.wall_start = datetime.now() - timedelta(seconds=record.t)
            self.records.append(record)
            forward(record)
            if record.type == "summary":
                self.write()

        live.sink = sink
        live.engine.subscribe(self._observe)

    def _observe(self, action: Action) -> None:
        if type(action) is Transitioned:
            self.transitions.append(action)

    def html(self) -> str:
        source = self.settings.source or "dbfsm run"
        records = Source(source, DBFSM, tuple(self.records), wall_start=self.wall_start)
        incident = build(records, self.settings)
        steps = lifecycle.steps(self.transitions, self.settings)
        title = self.title or f"Incident: dbfsm run {os.path.basename(source)}"
        return page(incident, title, self.settings, steps)

    def write(self) -> None:
        write(self.path, self.html())
