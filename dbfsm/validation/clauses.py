"""Clause files: the documentation as cases a person reviews and `dbfsm spec run` runs.

A clause file is YAML:

```yaml
title: Normal operation
clauses:
  - id: normal.stop-retry-exit
    quote: "stop-retry-exit - indicates that the server should stop the service while ..."
    rule: doc.stop-retry-exit        # a rule of fsm/rules.py (kea.* rules cite Kea's code)
    cases:
      - name: service returns when the connection is recovered
        config: {Dhcp4: {lease-database: {...}}}   # config, until, traffic, events: a scenario
        events: [{at: 5, down: lease-database}, {at: 8, up: lease-database}]
        expect:
          - {t: 5, serving: false}
          - {t: 9, attempt: lease-database, n: 3, of: 3, ok: true}
          - {t: 9, any-order: [{serving: true}, {log: DHCP4_DB_RECONNECT_SUCCEEDED}]}
        exact: [serving, exit]       # no other records of these types
        never: [{log: DHCP4_FATAL_DB_RECONNECT_FAILED}]
        end: {serving: true, state: serving}
```

A case is a `dbfsm simulate` scenario (read by `dbfsm.scenario`, positions and all) plus what
must be observed, in the vocabulary of the simulator's JSON records (`fsm.records`).
`divergence` says how a run matches a case; every error and every divergence names the place
in the file it comes from.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbfsm.files import documents
from dbfsm.files.documents import DocPath, Document
from dbfsm.files.reading import read_text
from dbfsm.fsm.errors import ConfigError, kind
from dbfsm.fsm.graph import GRAPHS
from dbfsm.fsm.records import Record
from dbfsm.fsm.rules import RULES, Rule
from dbfsm.simulation import scenario
from dbfsm.simulation.scenario import Scenario

# The record types an expectation can name, and the record field its key's value is.
MAIN_FIELD: Mapping[str, str] = {
    "log": "id",
    "serving": "serving",
    "attempt": "backend",
    "command": "command",
    "exit": "code",
}
# Further fields each type accepts; `text` matches when it appears in the record's text.
MORE_FIELDS: Mapping[str, Mapping[str, type]] = {
    "log": {"severity": str, "text": str},
    "serving": {},
    "attempt": {"n": int, "of": int, "ok": bool},
    "command": {"result": int, "text": str},
    "exit": {},
}
MAIN_TYPES: Mapping[str, type] = {
    "log": str,
    "serving": bool,
    "attempt": str,
    "command": str,
    "exit": int,
}
END_FIELDS: Mapping[str, tuple[type, ...]] = {
    "exit_code": (int, type(None)),
    "serving": (bool,),
    "state": (str,),
}
FOLLOWS = ("documentation", "kea")
SAME_INSTANT = 1e-6  # records carry times rounded to the microsecond

_CLAUSE_KEYS = {
    "id",
    "quote",
    "rule",
    "follows",
    "why",
    "cases",
    "outside-the-model",
    "not-simulated",
}
_CASE_KEYS = frozenset({"name", "expect", "exact", "never", "end"})
_ID = re.compile(r"[a-z0-9][a-z0-9.-]*")


@dataclass(frozen=True)
class Pattern:
    """One expected observation: a record of `type` whose fields equal `fields` (for `text`,
    contain it), at time `t` (None in `never`, where any time counts)."""

    type: str
    fields: Mapping[str, Any]
    t: float | None
    where: str

    def matches(self, record: Record, *, timed: bool = True) -> bool:
        if record.type != self.type:
            return False
        if timed and self.t is not None and abs(record.t - self.t) > SAME_INSTANT:
            return False
        for key, value in self.fields.items():
            got = record.data.get(key)
            if key == "text":
                if not isinstance(got, str) or value not in got:
                    return False
            elif got != value or type(got) is not type(value):
                return False
        return True

    def describe(self, *, timed: bool = True) -> str:
        fields = {k: f'"{v}"' if k == "text" else v for k, v in self.fields.items()}
        return _flow(self.type, self.t if timed else None, fields)


@dataclass(frozen=True)
class Group:
    """Observations at one instant in any order (`any-order`)."""

    t: float
    members: tuple[Pattern, ...]
    where: str

    def describe(self) -> str:
        inner = ", ".join(p.describe(timed=False) for p in self.members)
        return f"{{t: {self.t:g}, any-order: [{inner}]}}"


Expectation = Pattern | Group


@dataclass(frozen=True)
class Case:
    name: str
    scenario: Scenario
    expect: tuple[Expectation, ...]
    exact: frozenset[str]  # record types of which nothing unlisted may happen
    exact_where: str
    never: tuple[Pattern, ...]
    end: Mapping[str, Any]  # fields of the final summary record
    where: str


@dataclass(frozen=True)
class Unsimulated:
    """A transition no simulated run can take, with the reason (checked elsewhere)."""

    graph: str
    index: int
    why: str
    where: str


@dataclass(frozen=True)
class Clause:
    id: str
    quote: str  # a sentence of the documentation, word for word ("" when only a rule)
    rule: Rule | None
    follows: str  # documentation or kea, where the two disagree
    why: str
    cases: tuple[Case, ...]
    outside_the_model: str  # why the statement has no case, if it has none
    unsimulated: tuple[Unsimulated, ...]
    where: str


@dataclass(frozen=True)
class ClauseFile:
    path: str
    title: str
    clauses: tuple[Clause, ...]


@dataclass(frozen=True)
class _Reader:
    doc: Document
    base: Path  # configuration paths in cases are relative to the clause file
    documentation: str  # normalised, for quotes
    seen: dict[str, str]  # clause id -> where it was first defined


def normalise(text: str) -> str:
    return " ".join(text.split())


def read(paths: Sequence[str], documentation: str) -> list[ClauseFile]:
    """Read clause files (directories: their *.yaml files, sorted); ids are unique across
    all of them; quotes must appear, word for word, in `documentation`."""
    seen: dict[str, str] = {}
    return [
        parse(read_text(path, "clause file"), path, Path(path).parent, documentation, seen)
        for path in expand(paths)
    ]


def parse(
    text: str, source: str, base: Path, documentation: str, seen: dict[str, str] | None = None
) -> ClauseFile:
    """One clause file's text; `seen` (clause id -> where) carries ids across files."""
    ids = {} if seen is None else seen
    doc = documents.parse(text, source).located()
    return _file(_Reader(doc, base, normalise(documentation), ids))


def expand(paths: Sequence[str]) -> list[str]:
    """Each path, a directory replaced by its clause files; anything else is read as a file
    (`read_text` refuses what is missing, unreadable or never ends, naming why)."""
    out: list[str] = []
    for path in paths:
        if _is_directory(path):
            found = sorted(str(f) for f in Path(path).glob("*.yaml"))
            if not found:
                raise ConfigError("no clause files (*.yaml) in this directory", path)
            out += found
        else:
            out.append(path)
    return out


def _is_directory(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):  # missing, a name too long, a NUL byte: read_text says so
        return False


def _file(r: _Reader) -> ClauseFile:
    data = r.doc.data
    if not isinstance(data, dict):
        raise r.doc.error((), "a clause file must be a map with 'clauses'")
    for key in data:
        if key not in ("title", "clauses"):
            raise r.doc.error((key,), "unknown key (expected one of clauses, title)", key=True)
    title = _string(r.doc, data, "title", required=False)
    clauses = data.get("clauses")
    if not isinstance(clauses, list) or not clauses:
        raise r.doc.error(("clauses",), "must be a non-empty list of clauses")
    items = tuple(_clause(r, item, ("clauses", i)) for i, item in enumerate(clauses))
    return ClauseFile(r.doc.source, title, items)


def _clause(r: _Reader, item: Any, path: DocPath) -> Clause:
    doc = r.doc.within(path)
    if not isinstance(item, dict):
        raise doc.error((), "a clause must be a map with id, quote or rule, and cases")
    _known_keys(doc, item, _CLAUSE_KEYS)
    clause_id = _string(doc, item, "id")
    if not _ID.fullmatch(clause_id):
        raise doc.error(("id",), f"{clause_id!r}: lower case letters, digits, '.' and '-' only")
    if clause_id in r.seen:
        raise doc.error(
            ("id",), f"duplicate clause id {clause_id!r} (first at {r.seen[clause_id]})"
        )
    r.seen[clause_id] = doc.where(("id",))
    quote = normalise(_string(doc, item, "quote", required=False))
    if quote and quote not in r.documentation:
        raise doc.error(("quote",), "not found word for word in the documentation")
    rule = _rule(doc, item)
    if not quote and rule is None:
        raise doc.error((), "a clause needs a 'quote' of the documentation or a 'rule'")
    follows = _string(doc, item, "follows", required=False)
    why = normalise(_string(doc, item, "why", required=False))
    if rule is not None and rule.differs_from_kea and not (follows and why):
        raise doc.error(
            ("rule",),
            f"{rule.id} differs from Kea: say which one dbfsm follows ('follows') and 'why'",
        )
    if follows and follows not in FOLLOWS:
        raise doc.error(("follows",), f"must be one of {', '.join(FOLLOWS)}")
    if follows and not why:
        raise doc.error(("follows",), "needs 'why'")
    outside = normalise(_string(doc, item, "outside-the-model", required=False))
    cases = _cases(r, doc, item.get("cases"), outside)
    unsimulated = _unsimulated(doc, item.get("not-simulated", []))
    where = doc.where(())
    return Clause(clause_id, quote, rule, follows, why, cases, outside, unsimulated, where)


def _rule(doc: Document, item: Mapping[str, Any]) -> Rule | None:
    rule_id = _string(doc, item, "rule", required=False)
    if not rule_id:
        return None
    if rule_id not in RULES:
        raise doc.error(("rule",), f"no rule {rule_id!r} in fsm/rules.py")
    return RULES[rule_id]


def _cases(r: _Reader, doc: Document, value: Any, outside: str) -> tuple[Case, ...]:
    if outside:
        if value is not None:
            raise doc.error(("cases",), "a clause outside the model has no cases")
        return ()
    if not isinstance(value, list) or not value:
        raise doc.error(("cases",), "must be a non-empty list (or say 'outside-the-model' and why)")
    return tuple(_case(r, doc.within(("cases", i)), item) for i, item in enumerate(value))


def _case(r: _Reader, doc: Document, item: Any) -> Case:
    if not isinstance(item, dict):
        raise doc.error((), "a case must be a map: name, a scenario, and expect")
    name = _string(doc, item, "name")
    sc = scenario.from_data(doc, item, r.base, other_keys=_CASE_KEYS)
    expect = _expectations(doc, item.get("expect", []), sc.until)
    exact = _types(doc, item.get("exact", []), "exact")
    never = _never(doc, item.get("never", []))
    end = _end(doc, item.get("end", {}))
    if not expect and not exact and not never and not end:
        raise doc.error((), "a case must expect something (expect, exact, never or end)")
    where = doc.where(())
    exact_where = doc.where(("exact",)) if exact else where
    return Case(name, sc, expect, exact, exact_where, never, end, where)


def _expectations(doc: Document, value: Any, until: float) -> tuple[Expectation, ...]:
    if not isinstance(value, list):
        raise doc.error(("expect",), "must be a list of observations such as {t: 5, exit: 1}")
    out: list[Expectation] = []
    last = 0.0
    for i, item in enumerate(value):
        path: DocPath = ("expect", i)
        if not isinstance(item, dict) or "t" not in item:
            raise doc.error(
                path, "an observation is a map with 't' (seconds), e.g. {t: 5, exit: 1}"
            )
        t = item["t"]
        if isinstance(t, bool) or not isinstance(t, int | float) or t < 0:
            raise doc.error((*path, "t"), f"must be a number of seconds, got {kind(t)}")
        if t < last:
            raise doc.error(
                (*path, "t"),
                f"{t} is before the observation above ({last}): list them in time order",
            )
        if t > until:
            raise doc.error((*path, "t"), f"{t} is after the end of the scenario ({until})")
        last = float(t)
        rest = {k: v for k, v in item.items() if k != "t"}
        if "any-order" in rest:
            out.append(_group(doc, rest, path, float(t)))
        else:
            out.append(_pattern(doc, rest, path, float(t)))
    return tuple(out)


def _group(doc: Document, item: Mapping[str, Any], path: DocPath, t: float) -> Group:
    if set(item) != {"any-order"}:
        raise doc.error(path, "'any-order' goes with 't' alone: {t: 5, any-order: [...]}")
    members = item["any-order"]
    if not isinstance(members, list) or len(members) < 2:
        raise doc.error((*path, "any-order"), "must list at least two observations")
    patterns = []
    for i, member in enumerate(members):
        where = (*path, "any-order", i)
        if isinstance(member, dict) and "t" in member:
            raise doc.error((*where, "t"), "the group's 't' applies to every member")
        patterns.append(_pattern(doc, member, where, t))
    return Group(t, tuple(patterns), doc.where(path))


def _never(doc: Document, value: Any) -> tuple[Pattern, ...]:
    if not isinstance(value, list):
        raise doc.error(("never",), "must be a list of observations without 't'")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, dict) and "t" in item:
            raise doc.error(("never", i, "t"), "'never' means at no time: no 't'")
        out.append(_pattern(doc, item, ("never", i), None))
    return tuple(out)


def _pattern(doc: Document, item: Any, path: DocPath, t: float | None) -> Pattern:
    if not isinstance(item, dict):
        raise doc.error(path, "an observation must be a map such as {log: DHCP4_STARTED}")
    kinds = [k for k in MAIN_FIELD if k in item]
    if len(kinds) != 1:
        raise doc.error(path, f"needs exactly one of {', '.join(MAIN_FIELD)}")
    kind = kinds[0]
    fields: dict[str, Any] = {MAIN_FIELD[kind]: _typed(doc, item, kind, MAIN_TYPES[kind], path)}
    allowed = MORE_FIELDS[kind]
    for key in item:
        if key == kind:
            continue
        if key not in allowed:
            names = ", ".join(allowed) or "nothing"
            raise doc.error(
                (*path, key), f"unknown key for a {kind} observation (it takes {names})"
            )
        fields[key] = _typed(doc, item, key, allowed[key], path)
    return Pattern(kind, fields, t, doc.where(path))


def _typed(doc: Document, item: Mapping[str, Any], key: str, want: type, path: DocPath) -> Any:
    value = item[key]
    if isinstance(value, bool) != (want is bool) or not isinstance(value, want):
        raise doc.error((*path, key), f"must be {_KIND_NAMES[want]}, got {kind(value)}")
    return value


_KIND_NAMES = {str: "a string", int: "an integer", bool: "true or false"}


def _types(doc: Document, value: Any, key: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(_named(v, MAIN_FIELD) for v in value):
        raise doc.error((key,), f"must be a list of record types ({', '.join(MAIN_FIELD)})")
    return frozenset(value)


def _end(doc: Document, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise doc.error(("end",), "must be a map such as {serving: true, state: serving}")
    for key, v in value.items():
        kinds = END_FIELDS.get(key)
        if kinds is None:
            raise doc.error(("end", key), f"unknown key (expected one of {', '.join(END_FIELDS)})")
        if isinstance(v, bool) != (bool in kinds) or not isinstance(v, kinds):
            raise doc.error(("end", key), f"unexpected value: {kind(v)}")
    return dict(value)


def _unsimulated(doc: Document, value: Any) -> tuple[Unsimulated, ...]:
    if not isinstance(value, list):
        raise doc.error(("not-simulated",), "must be a list of {graph, trigger, from, to, why}")
    out = []
    for i, item in enumerate(value):
        path: DocPath = ("not-simulated", i)
        if not isinstance(item, dict) or set(item) != {"graph", "trigger", "from", "to", "why"}:
            raise doc.error(path, "needs exactly graph, trigger, from, to (null: stays) and why")
        graph = GRAPHS[item["graph"]] if _named(item["graph"], GRAPHS) else None
        if graph is None:
            raise doc.error((*path, "graph"), f"must be one of {', '.join(GRAPHS)}")
        found = [
            n
            for n, t in enumerate(graph.transitions)
            if t.trigger == item["trigger"] and item["from"] in t.source and t.dest == item["to"]
        ]
        if len(found) != 1:
            raise doc.error(path, f"names {len(found)} transitions of {graph.name}, not one")
        why = normalise(_string(doc.within(path), item, "why"))
        out.append(Unsimulated(graph.name, found[0], why, doc.where(path)))
    return tuple(out)


def _named(value: Any, names: Mapping[str, Any]) -> bool:
    """Whether `value` is one of `names`: a document's value may be a list or a map, which
    no lookup by hash can take."""
    return isinstance(value, str) and value in names


def _known_keys(doc: Document, item: Mapping[str, Any], known: set[str]) -> None:
    for key in item:
        if key not in known:
            message = f"unknown key (expected one of {', '.join(sorted(known))})"
            raise doc.error((key,), message, key=True)


def _string(doc: Document, item: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    if key not in item:
        if required:
            raise doc.error((), f"missing '{key}'")
        return ""
    value = item[key]
    if not isinstance(value, str) or not value.strip():
        raise doc.error((key,), "must be a non-empty string")
    return value


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------------------------
# Matching: does a run show what a case expects?
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Divergence:
    """The first point where a run differs from its case: when, what the case says there,
    what the run shows, and where in the clause file the expectation is."""

    t: float
    expected: str
    happened: str
    where: str

    def __str__(self) -> str:
        return f"at {self.t:g}s: expected {self.expected}; happened {self.happened} ({self.where})"


def divergence(case: Case, records: Sequence[Record], summary: Record) -> Divergence | None:
    """Match a run's records (in the order they happened) against `case`.

    Each expectation, in the order listed, matches the first record after the one the
    previous expectation matched that has its type, its time and its fields (`text`: is
    contained); an `any-order` group matches distinct records at its instant in any order.
    Unlisted records are allowed, except of the types listed in `exact`. A `never` pattern
    must match no record at all; `end` compares the final summary. The divergence reported
    is the earliest in time of: an expectation not found, an unlisted record of an `exact`
    type, a record matching a `never` pattern; then a wrong end.
    """
    used: set[int] = set()
    after = 0
    missing: Expectation | None = None
    for expectation in case.expect:
        found = _find(expectation, records, after)
        if found is None:
            missing = expectation
            break
        used.update(found)
        after = max(found) + 1
    horizon = _instant(missing) if missing is not None else math.inf
    candidates: list[Divergence] = []
    if missing is not None:
        candidates.append(_missing(missing, records, after))
    for i, record in enumerate(records):
        if record.type in case.exact and i not in used and record.t < horizon - SAME_INSTANT:
            expected = f"no {record.type} record but those listed (exact: {record.type})"
            candidates.append(Divergence(record.t, expected, flow(record), case.exact_where))
            break
    for pattern in case.never:
        hit = next((r for r in records if pattern.matches(r)), None)
        if hit is not None:
            candidates.append(
                Divergence(hit.t, f"never {pattern.describe()}", flow(hit), pattern.where)
            )
    if candidates:
        return min(candidates, key=lambda d: d.t)
    for key, value in case.end.items():
        got = summary.data.get(key)
        if got != value:
            return Divergence(
                summary.t, f"at the end {key} {_show(value)}", f"{key} {_show(got)}", case.where
            )
    return None


def _find(expectation: Expectation, records: Sequence[Record], after: int) -> list[int] | None:
    """Indices of the records that `expectation` matches at or after `after`, or None."""
    if isinstance(expectation, Pattern):
        return next(
            ([i] for i in range(after, len(records)) if expectation.matches(records[i])), None
        )
    members = expectation.members
    at_instant = [
        i for i in range(after, len(records)) if abs(records[i].t - expectation.t) <= SAME_INSTANT
    ]
    # The shortest run of records at that instant in which every member finds its own record.
    for end in range(len(members), len(at_instant) + 1):
        chosen = _assign(members, [(i, records[i]) for i in at_instant[:end]])
        if chosen is not None:
            return chosen
    return None


def _assign(members: Sequence[Pattern], candidates: list[tuple[int, Record]]) -> list[int] | None:
    """A distinct record for every member (bipartite matching by augmenting paths)."""
    owner: dict[int, int] = {}  # record index -> member

    def place(m: int, tried: set[int]) -> bool:
        for i, record in candidates:
            if i in tried or not members[m].matches(record):
                continue
            tried.add(i)
            if i not in owner or place(owner[i], tried):
                owner[i] = m
                return True
        return False

    for m in range(len(members)):
        if not place(m, set()):
            return None
    return sorted(owner)


def _missing(expectation: Expectation, records: Sequence[Record], after: int) -> Divergence:
    """What happened instead: the records at that instant after the previous match, and
    where the first unmatched observation did happen, if anywhere."""
    t = _instant(expectation)
    there = [r for r in records[after:] if abs(r.t - t) <= SAME_INSTANT]
    if there:
        happened = "; ".join(flow(r) for r in there)
    else:
        happened = f"nothing more at {t:g}s" + (" after the observation above" if after else "")
    patterns = expectation.members if isinstance(expectation, Group) else (expectation,)
    for pattern in patterns:
        if any(pattern.matches(r) for r in there):
            continue
        same = [i for i, r in enumerate(records[:after]) if pattern.matches(r)]
        elsewhere = [r.t for r in records if pattern.matches(r, timed=False)]
        if same:
            happened += (
                f"; {pattern.describe()} happened before the observation listed above it"
                " (list them in the order they happen, or use any-order)"
            )
        elif elsewhere:
            times = ", ".join(f"{x:g}s" for x in elsewhere[:5])
            happened += f"; {pattern.describe(timed=False)} happened at {times}"
        break
    return Divergence(t, expectation.describe(), happened, expectation.where)


def _instant(expectation: Expectation) -> float:
    """The time of an observation of `expect`, which always has one (only `never` has none)."""
    assert expectation.t is not None
    return expectation.t


def flow(record: Record) -> str:
    """A record in the expectations' own syntax, without its text: {t: 5, log: ID, ...}."""
    fields = {MAIN_FIELD[record.type]: record.data[MAIN_FIELD[record.type]]}
    fields.update({k: record.data[k] for k in MORE_FIELDS[record.type] if k != "text"})
    return _flow(record.type, record.t, fields)


def _flow(kind: str, t: float | None, fields: Mapping[str, Any]) -> str:
    main = MAIN_FIELD[kind]
    parts = [] if t is None else [f"t: {t:g}"]
    parts.append(f"{kind}: {_show(fields[main])}")
    parts += [f"{k}: {_show(v)}" for k, v in fields.items() if k != main]
    return "{" + ", ".join(parts) + "}"
