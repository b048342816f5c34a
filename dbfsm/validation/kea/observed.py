"""What a real Kea run showed, as records of `fsm.records` a case can be matched against.

Kea's log gives the log records (read by `dbfsm.validation.kealog`, 3.x IDs) and, from its
reconnect-loop messages, the attempt records (Kea 2.x names no backend: the message ID says
which kind, the count since the loop began gives `n`); the wire gives the serving records;
the control socket the command records; the process its exit.

A real clock is not a simulated one: a record comes some milliseconds after the instant a
case names (a database is noticed lost at the next request, a timer fires late, never
early). `snap` moves each record to the latest instant the case names that is at most
`LATE` seconds before it (or `EARLY` after); one with no such instant keeps its time. Order
within an instant is exact in one log, but the wire and the control socket are other
clocks: `loosen` lets serving and command observations match in any order within their
instant.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from dbfsm.fsm import messages
from dbfsm.fsm.records import Record
from dbfsm.fsm.settings import DbType, ServerSettings
from dbfsm.validation import kealog
from dbfsm.validation.clauses import Case, Expectation, Group, Pattern

# Kea's timers share its packet loop: with traffic they drift late, ~0.25 s an attempt at most.
LATE = 1.0
RESOLUTION = 0.05  # instants closer than this are one instant on a real clock
EARLY = 0.05
_STAMP = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}\.[0-9]{3})(?:\.([0-9]{3}))?")
_FLOATING = frozenset({"serving", "command"})


@dataclass(frozen=True)
class Timed:
    """Something seen outside the log: at wall-clock `at` (seconds since the epoch)."""

    at: float
    record: Record


def log_text(file_text: str, console_text: str) -> str:
    """The file log with the console's messages the file lacks, in time order: startup and
    configuration errors reach only the console (before, or instead of, the file logger)."""
    blocks = _blocks(file_text)
    known = {_body(b[0]) for b in blocks}
    blocks += [b for b in _blocks(console_text) if _body(b[0]) not in known]
    blocks.sort(key=lambda b: b[0][:23])  # sort is stable: the file's order within a millisecond
    return "\n".join(line for b in blocks for line in b)


def _blocks(text: str) -> list[list[str]]:
    """Messages with their continuation lines (lines before any message are dropped)."""
    out: list[list[str]] = []
    for line in kealog.split_lines(text):
        if kealog.looks_like_kea_log(line):
            out.append([line])
        elif out:
            out[-1].append(line)
    return out


def _body(header: str) -> str:
    """A message without its time (the console shows milliseconds only)."""
    return header.split("] ", 1)[-1]


def _wall(line: str) -> float | None:
    found = _STAMP.match(line)
    if found is None:
        return None
    when = datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S.%f").timestamp()
    return when + int(found[2] or 0) / 1e6


def log_records(text: str, universe: int, start: float, settings: ServerSettings) -> list[Record]:
    """Log records (times from `start`, wall clock) with the attempt records derived."""
    if not any(kealog.looks_like_kea_log(ln) for ln in text.splitlines()):
        return []
    log = kealog.read(text, universe, "kea.log")
    first = next(
        ln
        for ln in kealog.split_lines(text)
        if kealog.looks_like_kea_log(ln) and f"[kea-dhcp{universe}" in ln
    )
    offset = (_wall(first) or start) - start
    records = [replace_t(line.record, line.record.t + offset) for line in log.lines]
    return _with_attempts(records, settings)


def replace_t(record: Record, t: float) -> Record:
    return Record(t, record.type, record.data)


_FATAL = {
    "DATABASE_PGSQL_FATAL_ERROR": DbType.POSTGRESQL,
    "DATABASE_MYSQL_FATAL_ERROR": DbType.MYSQL,
}
_LOOP = ("DB_RECONNECT_ATTEMPT_FAILED", "DB_RECONNECT_FAILED")


def _families(settings: ServerSettings) -> dict[str, tuple[str, list[str]]]:
    """For each reconnect-loop message ID: which message it is, and the backends (keys) it
    can be about (the catalogue's IDs; config backends' hooks spell theirs differently)."""
    out: dict[str, tuple[str, list[str]]] = {}
    for b in settings.backends:
        for name in _LOOP:
            try:
                message_id = messages.backend_template(b.role, b.type, settings.universe, name).id
            except KeyError:
                continue
            out.setdefault(message_id, (name, []))[1].append(b.key)
    return out


def _with_attempts(records: list[Record], settings: ServerSettings) -> list[Record]:
    families = _families(settings)
    tries = {b.key: b.max_reconnect_tries for b in settings.backends}
    made: dict[str, int] = {}  # attempts made in the current loop, per backend
    lost: list[str] = []
    out: list[Record] = []
    for record in records:
        message_id = str(record.data.get("id", ""))
        _retune(record, message_id, settings, tries)
        name, keys = families.get(message_id, ("", []))
        if message_id in _FATAL:  # which kind of database the next loss is about
            lost = [b.key for b in settings.backends if b.type == _FATAL[message_id]]
        key = _pick(keys, made)
        if name == "DB_RECONNECT_ATTEMPT_FAILED" and key is not None:
            made[key] = made.get(key, 0) + 1
            out.append(_attempt(record.t, key, made[key], tries[key], ok=False))
        elif message_id.endswith("_DB_RECONNECT_SUCCEEDED") and (made or lost):
            key = next(iter(made)) if made else lost[0]
            out.append(_attempt(record.t, key, made.pop(key, 0) + 1, tries[key], ok=True))
        elif name == "DB_RECONNECT_FAILED" and key is not None:
            made.pop(key, None)
        out.append(record)
    return out


_OPENING = {"DHCPSRV_PGSQL_DB": DbType.POSTGRESQL, "DHCPSRV_MYSQL_DB": DbType.MYSQL}
_TRIES = re.compile(r"max-reconnect-tries=(\d+)")


def _retune(
    record: Record, message_id: str, settings: ServerSettings, tries: dict[str, int]
) -> None:
    """Kea 2.x logs each open with the backend's parameters: a reconfiguration's new
    max-reconnect-tries is the `of` of the attempts from then on."""
    kind = _OPENING.get(message_id)
    found = _TRIES.search(str(record.data.get("text", ""))) if kind else None
    if kind is None or found is None:
        return
    text = str(record.data["text"])
    role = "lease-database" if " lease database" in text else "hosts-databases"
    for b in settings.backends:
        if b.type == kind and b.role == role:
            tries[b.key] = int(found[1])


def _pick(keys: Sequence[str], made: Mapping[str, int]) -> str | None:
    """Of the backends a message can be about, the one already in a loop, else the first."""
    return next((k for k in keys if k in made), keys[0] if keys else None)


def _attempt(t: float, key: str, n: int, of: int, *, ok: bool) -> Record:
    return Record(t, "attempt", {"backend": key, "n": n, "of": of, "ok": ok})


def merge(log: Sequence[Record], others: Sequence[Timed], start: float) -> list[Record]:
    """All records in time order; at equal times the log's first."""
    timed = [(r.t, 0, i, r) for i, r in enumerate(log)]
    timed += [(o.at - start, 1, i, replace_t(o.record, o.at - start)) for i, o in enumerate(others)]
    return [r for *_, r in sorted(timed, key=lambda x: (x[0], x[1], x[2]))]


def instants(case: Case) -> list[float]:
    found = {0.0}
    for e in case.expect:
        found.add(e.t if isinstance(e, Group) else float(e.t or 0.0))
    return sorted(found)


def resolved(case: Case) -> dict[float, float]:
    """Each instant of the case mapped to the first of the instants within `RESOLUTION`
    before it: a 1 ms wait is a wait, but not one a real clock can place."""
    out: dict[float, float] = {}
    head = -1.0
    for t in instants(case):
        if t - head > RESOLUTION:
            head = t
        out[t] = head
    return out


def snap(records: Sequence[Record], case: Case) -> list[Record]:
    at = sorted(set(resolved(case).values()))
    out = []
    for r in records:
        i = bisect.bisect_right(at, r.t + EARLY) - 1
        if i >= 0 and r.t - at[i] <= LATE:
            out.append(replace_t(r, at[i]))
        else:
            out.append(r)
    return out


def loosen(case: Case) -> Case:
    """The case at a real clock's resolution (`resolved`), with each instant that lists a
    serving or command observation turned into one any-order group (nested groups are
    flattened into it), as are instants merged by the resolution."""
    at = resolved(case)
    by_t: dict[float, list[Pattern]] = {}
    where: dict[float, str] = {}
    merged: set[float] = set()
    for e in case.expect:
        t = at[e.t if isinstance(e, Group) else float(e.t or 0.0)]
        members = e.members if isinstance(e, Group) else (e,)
        by_t.setdefault(t, []).extend(replace(p, t=t) for p in members)
        where.setdefault(t, e.where)
        if isinstance(e, Group) or (e.t is not None and e.t != t):
            merged.add(t)
    out: list[Expectation] = []
    for t, patterns in by_t.items():
        floating = any(p.type in _FLOATING for p in patterns) or t in merged
        if len(patterns) > 1 and floating:
            out.append(Group(t, tuple(patterns), where[t]))
        else:
            out += patterns
    return replace(case, expect=tuple(out))


def translate(case: Case, versions: Mapping[str, str]) -> Case:
    """Schema versions in the texts a case expects, as Kea states them: the model's version
    (and the ones given to `schema` events) replaced by the ones the run used; Kea says
    "need version", the model "expected version"."""

    def text(p: Pattern) -> Pattern:
        given = p.fields.get("text")
        if not isinstance(given, str) or "version" not in given:
            return p
        new = given.replace("expected version:", "need version:").replace(", found", " found")
        for model, kea in versions.items():
            new = new.replace(f"version: {model}", f"version: {kea}\0")
        return replace(p, fields={**p.fields, "text": new.replace("\0", "")})

    expect = tuple(
        replace(e, members=tuple(text(m) for m in e.members)) if isinstance(e, Group) else text(e)
        for e in case.expect
    )
    return replace(case, expect=expect)


def without_blips(case: Case) -> Case:
    """The (loosened) case without the serving observations of instants that expect both
    serving false and serving true: no probe can see a change of service that short."""
    expect: list[Expectation] = []
    for e in case.expect:
        if isinstance(e, Group):
            values = {p.fields.get("serving") for p in e.members if p.type == "serving"}
            if values == {True, False}:
                kept = tuple(p for p in e.members if p.type != "serving")
                if len(kept) > 1:
                    expect.append(replace(e, members=kept))
                elif kept:
                    expect.append(kept[0])
                continue
        expect.append(e)
    return replace(case, expect=tuple(expect))


def not_after(records: Sequence[Record], until: float) -> list[Record]:
    return [r for r in records if r.t <= until]


__all__ = ["Pattern", "Timed"]
