"""`dbfsm spec run` and `dbfsm spec coverage`: the clauses of `specs/` against the engine.

`run` simulates every case of every clause and says, per clause, whether the engine does what
the clause says, with the first divergence of a failing case; `--junit FILE` writes the same
as JUnit XML for CI. `coverage` says which states, transitions and guards of both graphs the
cases exercise, read from the engine's own notifications (`Transitioned`, `Stayed`: which
declaration was taken), and which rules of `fsm/rules.py` have no clause, so a gap in the
specification is visible and fails.
"""

from __future__ import annotations

import os
import re
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dbfsm.files.output import write_file
from dbfsm.files.reading import read_text
from dbfsm.fsm.actions import Action, Stayed, Transitioned
from dbfsm.fsm.errors import InputError
from dbfsm.fsm.graph import GRAPHS, Graph, Transition
from dbfsm.fsm.rules import RULES
from dbfsm.simulation.simulate import Simulation
from dbfsm.validation.clauses import (
    Case,
    Clause,
    ClauseFile,
    Divergence,
    divergence,
    normalise,
    read,
)

DOCUMENTATION = "kea-database-connectivity.txt"  # the section the clauses quote, in specs/
_CHECKOUT_SPECS = Path(__file__).resolve().parents[2] / "specs"

Taken = tuple[str, int]  # (graph name, index of the declaration in its graph)


@dataclass(frozen=True)
class CaseOutcome:
    """What running one case of a clause gave: its divergence (none: it passed), the
    declarations it took, and how long it ran."""

    file: ClauseFile
    clause: Clause
    case: Case
    divergence: Divergence | None
    taken: frozenset[Taken]
    seconds: float

    @property
    def passed(self) -> bool:
        return self.divergence is None


def run_case(case: Case) -> tuple[Divergence | None, frozenset[Taken]]:
    """Simulate one case; what it observed are the records `dbfsm simulate` would write (a
    server blocked behind a black hole does not serve, whatever its engine says), the
    declarations it took come from the engine's notifications."""
    sim = Simulation(case.scenario, markers=False)
    taken: set[Taken] = set()

    def observe(action: Action) -> None:
        match action:
            case Transitioned(machine=machine, index=index) | Stayed(machine=machine, index=index):
                taken.add(("server" if machine == "server" else "backend", index))

    sim.engine.subscribe(observe)
    *records, end = sim.run().records  # the summary comes last
    return divergence(case, records, end), frozenset(taken)


def run_all(files: Sequence[ClauseFile]) -> list[CaseOutcome]:
    outcomes = []
    for file in files:
        for clause in file.clauses:
            for case in clause.cases:
                started = time.perf_counter()
                found, taken = run_case(case)
                seconds = time.perf_counter() - started
                outcomes.append(CaseOutcome(file, clause, case, found, taken, seconds))
    return outcomes


def default_specs() -> Path:
    """`specs/` of the project: in the working directory, else beside the package (a source
    checkout); either must hold the documentation the clauses quote."""
    for candidate in (Path("specs"), _CHECKOUT_SPECS):
        if (candidate / DOCUMENTATION).is_file():
            return candidate
    raise InputError(
        f"no specs/ directory with {DOCUMENTATION} here: run from the project, or give "
        "PATHS and --documentation"
    )


def read_documentation(path: str | None = None) -> str:
    """The documentation the quotes come from, read within the bounds of every file a user
    names (`dbfsm.files.reading.read_text`: no hang on a FIFO, no unbounded file)."""
    return read_text(path if path else default_specs() / DOCUMENTATION, "the documentation")


def _paths(paths: Sequence[str]) -> list[str]:
    if paths:
        return list(paths)
    specs = default_specs()
    relative = os.path.relpath(specs)
    return [str(specs.resolve()) if relative.startswith("..") else relative]


# --------------------------------------------------------------------------------------------
# spec run
# --------------------------------------------------------------------------------------------


def report(files: Sequence[ClauseFile], outcomes: Sequence[CaseOutcome]) -> str:
    """One line per clause, PASS or FAIL; under a failing clause, each failing case and its
    first divergence. A clause outside the model says so and why."""
    by_clause: dict[str, list[CaseOutcome]] = {}
    for outcome in outcomes:
        by_clause.setdefault(outcome.clause.id, []).append(outcome)
    lines = []
    for file in files:
        lines.append(f"{file.path}: {file.title}" if file.title else file.path)
        for clause in file.clauses:
            mine = by_clause.get(clause.id, [])
            if not clause.cases:
                lines.append(f"  ----  {clause.id}: outside the model: {clause.outside_the_model}")
                continue
            failed = [o for o in mine if not o.passed]
            verdict = "FAIL" if failed else "PASS"
            lines.append(f"  {verdict}  {clause.id} ({_cases(len(mine))})")
            for o in failed:
                lines.append(f"        case {o.case.name!r} ({o.case.where})")
                lines.append(f"          {o.divergence}")
    clauses = sum(len(f.clauses) for f in files)
    outside = sum(1 for f in files for c in f.clauses if not c.cases)
    failed_clauses = len({o.clause.id for o in outcomes if not o.passed})
    failed_cases = sum(1 for o in outcomes if not o.passed)
    lines.append(
        f"{clauses} clauses ({outside} outside the model), {_cases(len(outcomes))}: "
        f"{clauses - outside - failed_clauses} clauses pass, {failed_clauses} fail "
        f"({_cases(failed_cases)} failing)"
    )
    return "\n".join(lines) + "\n"


def _cases(n: int) -> str:
    return f"{n} case" if n == 1 else f"{n} cases"


def junit(outcomes: Sequence[CaseOutcome], files: Sequence[ClauseFile]) -> bytes:
    """JUnit XML: one testsuite per clause file, one testcase per case (classname: the
    clause id), a failure element with the divergence; clauses outside the model are
    skipped testcases."""
    root = ET.Element("testsuites", name="dbfsm spec")
    for file in files:
        mine = [o for o in outcomes if o.file is file]
        skipped = [c for c in file.clauses if not c.cases]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=file.path,
            tests=str(len(mine) + len(skipped)),
            failures=str(sum(1 for o in mine if not o.passed)),
            errors="0",
            skipped=str(len(skipped)),
            time=f"{sum(o.seconds for o in mine):.3f}",
        )
        for o in mine:
            case = ET.SubElement(
                suite, "testcase", classname=o.clause.id, name=o.case.name, time=f"{o.seconds:.3f}"
            )
            if o.divergence is not None:
                failure = ET.SubElement(case, "failure", message=str(o.divergence))
                failure.text = f"{o.case.where}\n{o.divergence}\n"
        for clause in skipped:
            case = ET.SubElement(
                suite, "testcase", classname=clause.id, name="outside the model", time="0.000"
            )
            ET.SubElement(case, "skipped", message=clause.outside_the_model)
    for name in ("tests", "failures", "errors", "skipped"):
        root.set(name, str(sum(int(s.get(name, "0")) for s in root)))
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True)) + b"\n"


# --------------------------------------------------------------------------------------------
# spec coverage
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """What the cases exercised of each graph; `count[(graph, index)]` is the number of cases
    that took that declaration."""

    count: Counter[Taken]
    unsimulated: dict[Taken, str]  # declared not reachable by a simulated run: why, where
    rules_without_clause: tuple[str, ...]
    unquoted: tuple[str, ...]  # sentences of the documentation that no clause quotes

    def gaps(self) -> list[Taken]:
        """Transitions never taken and not declared unreachable by simulation."""
        return [
            (g.name, i)
            for g in GRAPHS.values()
            for i in range(len(g.transitions))
            if not self.count[(g.name, i)] and (g.name, i) not in self.unsimulated
        ]


def coverage(
    files: Sequence[ClauseFile], outcomes: Iterable[CaseOutcome], documentation: str
) -> Coverage:
    count: Counter[Taken] = Counter()
    for outcome in outcomes:
        count.update(outcome.taken)
    unsimulated = {
        (u.graph, u.index): f"{u.why} ({u.where})"
        for f in files
        for c in f.clauses
        for u in c.unsimulated
    }
    cited = {c.rule.id for f in files for c in f.clauses if c.rule is not None}
    missing = tuple(r for r in RULES if r not in cited)
    quotes = [c.quote for f in files for c in f.clauses if c.quote]
    unquoted = tuple(
        s for s in sentences(documentation) if not any(s in q or q in s for q in quotes)
    )
    return Coverage(count, unsimulated, missing, unquoted)


def sentences(documentation: str) -> list[str]:
    """The documentation's sentences and list items, whitespace normalised as quotes are;
    headings (a numbered title, "Note") are left out."""
    out = []
    for paragraph in re.split(r"\n\s*\n", documentation):
        for item in paragraph.split("\u2022"):
            text = normalise(item)
            if not text or (re.fullmatch(r"[\d.]+ .*|Note", text) and not text.endswith(".")):
                continue
            out += [p for p in re.split(r"(?:(?<=[.:])|(?<=\.\)))\s+(?=[A-Z(])", text) if p]
    return out


def describe_coverage(cov: Coverage) -> str:
    lines = []
    for graph in GRAPHS.values():
        lines += _graph_coverage(graph, cov)
    lines.append(f"documentation sentences no clause quotes ({len(cov.unquoted)}):")
    lines += [f"  - {s}" for s in cov.unquoted]
    if cov.rules_without_clause:
        lines.append(f"rules without a clause: {', '.join(cov.rules_without_clause)}")
    else:
        lines.append(f"rules: all {len(RULES)} rules of fsm/rules.py have a clause")
    gaps = cov.gaps()
    if gaps:
        names = [_label(GRAPHS[g], GRAPHS[g].transitions[i]) for g, i in gaps]
        lines.append(f"NOT EXERCISED: {len(gaps)} transitions: " + "; ".join(names))
    else:
        lines.append("every transition is exercised, or declared unreachable by simulation")
    return "\n".join(lines) + "\n"


def _graph_coverage(graph: Graph, cov: Coverage) -> list[str]:
    taken = [i for i in range(len(graph.transitions)) if cov.count[(graph.name, i)]]
    entered = {graph.initial} | {
        graph.transitions[i].dest or s for i in taken for s in graph.transitions[i].source
    }
    held = {g for i in taken for g in graph.transitions[i].when}
    not_held = {g for i in taken for g in graph.transitions[i].unless}
    both = [g for g in graph.guards if g in held and g in not_held]
    lines = [
        f"{graph.title} ({graph.name}): {len(taken)} of {len(graph.transitions)} transitions, "
        f"{len(entered)} of {len(graph.states)} states, {len(both)} of {len(graph.guards)} "
        "guards seen both holding and not holding",
        "  transitions (cases that took each):",
    ]
    for i, t in enumerate(graph.transitions):
        n = cov.count[(graph.name, i)]
        why = cov.unsimulated.get((graph.name, i))
        mark = f"{n:5d}" if n else ("  n/s" if why else "   NO")
        lines.append(f"  {mark}  {_label(graph, t)}  [{t.rule}]")
        if why and not n:
            lines.append(f"         not reachable by a simulated run: {why}")
    lines.append("  states:")
    for state in graph.states:
        lines.append(f"  {'  yes' if state.name in entered else '   NO'}  {state.name}")
    lines.append("  guards (held / not held):")
    for name in graph.guards:
        seen = f"{_yes(name in held)} / {_yes(name in not_held)}"
        lines.append(f"  {seen:>9}  {name}")
    return lines


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def _label(graph: Graph, t: Transition) -> str:
    guards = [*t.when, *(f"not {g}" for g in t.unless)]
    sources = "|".join(t.source) if len(t.source) <= 3 else f"any of {len(t.source)} states"
    dest = t.dest or "(stays)"
    condition = f" [{', '.join(guards)}]" if guards else ""
    return f"{graph.name}: {sources} --{t.trigger}--> {dest}{condition}"


# --------------------------------------------------------------------------------------------
# `dbfsm spec run` and `dbfsm spec coverage`
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeaTarget:
    """`dbfsm spec run --target kea`'s options (`dbfsm.validation.kea`)."""

    dhcp4: str | None
    dhcp6: str | None
    admin: str | None
    only: tuple[str, ...]
    keep: str | None
    jobs: int


def check_clauses(
    which: str,
    paths: Sequence[str],
    documentation: str | None,
    junit_file: str | None,
    kea: KeaTarget | None = None,
) -> int:
    """`dbfsm spec run` (`which` "run") or `dbfsm spec coverage` ("coverage") over the clause
    files or directories `paths` (none: specs/), quoting `documentation` (None: specs/'s); the
    results printed on stdout (and written as JUnit XML to `junit_file`); the exit status.
    With `kea`, the cases run against a real Kea instead of the model."""
    text = read_documentation(documentation)
    files = read(_paths(paths), text)
    if kea is not None:
        from dbfsm.validation.kea.run import check_kea

        specs = Path(paths[0]) if len(paths) == 1 and Path(paths[0]).is_dir() else default_specs()
        return check_kea(
            files,
            specs,
            dhcp4=kea.dhcp4,
            dhcp6=kea.dhcp6,
            admin=kea.admin,
            only=kea.only,
            junit_file=junit_file,
            keep=kea.keep,
            jobs=kea.jobs,
        )
    outcomes = run_all(files)
    if which == "coverage":
        cov = coverage(files, outcomes, text)
        sys.stdout.write(describe_coverage(cov))
        return 1 if cov.gaps() or cov.rules_without_clause else 0
    sys.stdout.write(report(files, outcomes))
    if junit_file:
        write_file(junit_file, junit(outcomes, files), "JUnit XML")
    return 0 if all(o.passed for o in outcomes) else 1
