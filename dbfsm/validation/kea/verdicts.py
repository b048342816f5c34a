"""Verdicts of a case against a real Kea: pass, fail, not applicable, or a known divergence.

Not applicable: the case has a black hole, which the player cannot make faithfully on any
version (`player.unplayable`), needs a feature the Kea version lacks (`retry-on-startup`
before 2.4) or names the text of a message as only Kea 3.x writes it (manager IDs, timer
names, "retries left"). A known divergence (`specs/kea/divergences.yaml`): the Kea versions
it was seen on, the observations of the clauses Kea does not meet, what Kea does instead and
the log lines that show it; a failing case that expects one of those observations is run
again without them, and if the rest then matches it diverges, else it fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dbfsm.files import documents
from dbfsm.files.reading import read_text
from dbfsm.fsm.errors import ConfigError
from dbfsm.validation.clauses import MAIN_FIELD, MORE_FIELDS, Case, Expectation, Group, Pattern
from dbfsm.validation.kea.player import unplayable

DIVERGENCES = "kea/divergences.yaml"  # not a clause file: outside the glob of specs/*.yaml
_KEA3_TEXTS = ("manager ID", "timer:", "Mgr", "retries left", "reconnect wait time")


@dataclass(frozen=True)
class Divergence:
    id: str
    versions: tuple[str, ...]
    observations: tuple[Mapping[str, Any], ...]  # {id, severity?, text?} Kea does not show
    what: str
    evidence: tuple[str, ...]
    where: str
    # Record types the divergence's consequences add (an exit the documented behaviour would
    # not have): the case's `exact` no longer holds for them.
    adds: frozenset[str] = frozenset()

    def covers(self, pattern: Pattern) -> bool:
        return any(
            o["type"] == pattern.type
            and all(_agrees(pattern.fields.get(k), k, v) for k, v in o.items() if k != "type")
            for o in self.observations
        )

    def affects(self, case: Case) -> bool:
        return any(self.covers(p) for p in _patterns(case))

    def without(self, case: Case) -> Case:
        """The case minus the observations this divergence is about."""
        expect: list[Expectation] = []
        for e in case.expect:
            if isinstance(e, Group):
                kept = tuple(p for p in e.members if not self.covers(p))
                if len(kept) > 1:
                    expect.append(replace(e, members=kept))
                elif kept:
                    expect.append(kept[0])
            elif not self.covers(e):
                expect.append(e)
        never = tuple(p for p in case.never if not self.covers(p))
        return replace(case, expect=tuple(expect), never=never, exact=case.exact - self.adds)


def _agrees(got: object, key: str, value: object) -> bool:
    """A field of a case's observation against a divergence's: `text` is contained."""
    if key == "text":
        return isinstance(got, str) and isinstance(value, str) and value in got
    return got == value


def _patterns(case: Case) -> list[Pattern]:
    out: list[Pattern] = []
    for e in case.expect:
        out += e.members if isinstance(e, Group) else (e,)
    return out


def read_divergences(path: Path) -> list[Divergence]:
    """The known divergences; a malformed entry is bad input, with its place."""
    if not path.is_file():
        return []
    doc = documents.parse(read_text(str(path), "divergences file"), str(path)).located()
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("divergences"), list):
        raise doc.error((), "a divergences file is a map with a list 'divergences'")
    out = []
    for i, item in enumerate(data["divergences"]):
        where = ("divergences", i)
        required = {"id", "versions", "observations", "what", "evidence"}
        if not isinstance(item, dict) or not required <= set(item) <= {*required, "adds"}:
            message = "needs id, versions, observations, what, evidence (and maybe adds)"
            raise doc.error(where, message)
        adds = item.get("adds", [])
        if not isinstance(adds, list) or not all(
            isinstance(v, str) and v in MAIN_FIELD for v in adds
        ):
            message = f"adds is a list of record types ({', '.join(MAIN_FIELD)})"
            raise doc.error((*where, "adds"), message)
        observations = []
        for j, o in enumerate(
            item["observations"] if isinstance(item["observations"], list) else [None]
        ):
            # An observation says what a clause's would (clauses.MAIN_FIELD, MORE_FIELDS).
            kinds = [k for k in MAIN_FIELD if isinstance(o, dict) and k in o]
            if len(kinds) != 1 or not set(o) <= {kinds[0], *MORE_FIELDS[kinds[0]]}:
                message = (
                    "an observation is {log: MESSAGE_ID, severity: S}, {command: NAME, result: "
                    "N}, {attempt: BACKEND, n: N, of: M, ok: BOOL}, {serving: BOOL} or {exit: N}"
                )
                raise doc.error((*where, "observations", j), message)
            fields = {MAIN_FIELD[k] if k == kinds[0] else k: v for k, v in o.items()}
            observations.append({"type": kinds[0], **fields})
        out.append(
            Divergence(
                str(item["id"]),
                tuple(str(v) for v in item["versions"]),
                tuple(observations),
                " ".join(str(item["what"]).split()),
                tuple(str(e) for e in item["evidence"]),
                doc.where(where),
                frozenset(adds),
            )
        )
    return out


def not_applicable(case: Case, version: tuple[int, ...]) -> str:
    """Why the case cannot be played against this version ("" when it can)."""
    reason = unplayable(case)
    if reason:
        return reason
    if version < (2, 4) and _uses_retry_on_startup(case):
        return "retry-on-startup is new in Kea 2.4 (2.2 rejects it as an unknown keyword)"
    if version < (2, 4) and _pgsql_tls(case):
        return (
            "TLS to PostgreSQL is new in Kea 2.4 (2.2 refuses the configuration: "
            "DHCPSRV_PGSQL_NO_TLS_SUPPORT, Attempt to configure TLS (unsupported for PostgreSQL))"
        )
    if version < (2, 4) and any(
        b.type == "postgresql" and b.role == "config-databases"
        for b in case.scenario.settings.backends
    ):
        return (
            "Kea 2.2's PostgreSQL config backend (libdhcp_pgsql_cb, experimental before 2.4) does "
            "not start on a schema made by its own kea-admin: DHCPn_CONFIG_LOAD_FAIL unable to "
            "prepare PostgreSQL statement UPDATE_SUBNET6: trailing junk"
        )
    if version < (3,) and any(
        e.command is not None and _mentions(e.command, "origin-id") for e in case.scenario.events
    ):
        return (
            "the origin-id argument of dhcp-enable / dhcp-disable (a database's NetworkState "
            "origin) is Kea 3.x's; Kea 2.2 knows only origin user or ha-partner"
        )
    if version < (3,):
        for p in _patterns(case):
            text = p.fields.get("text")
            if p.type == "log" and isinstance(text, str) and any(k in text for k in _KEA3_TEXTS):
                return (
                    f"expects {p.fields['id']} with the text {text!r}, which only Kea 3.x "
                    "writes (2.x names no manager, timer or retry counts)"
                )
    return ""


_TLS_KEYS = ("trust-anchor", "cert-file", "key-file", "cipher-list")


def _pgsql_tls(case: Case) -> bool:
    return any(
        b.type == "postgresql" and any(k in b.given for k in _TLS_KEYS)
        for b in case.scenario.settings.backends
    )


def _uses_retry_on_startup(case: Case) -> bool:
    if any(
        b.retry_on_startup or "retry-on-startup" in b.given for b in case.scenario.settings.backends
    ):
        return True
    return any(_mentions(e.command, "retry-on-startup") for e in case.scenario.events if e.command)


def _mentions(value: Any, key: str) -> bool:
    if isinstance(value, Mapping):
        return key in value or any(_mentions(v, key) for v in value.values())
    if isinstance(value, Sequence) and not isinstance(value, str):
        return any(_mentions(v, key) for v in value)
    return False


__all__ = ["ConfigError", "Divergence", "not_applicable", "read_divergences"]
