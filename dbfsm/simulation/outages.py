"""Outage profiles for `dbfsm availability`: how often each database server fails, for how
long, what brings an exited server back, and the traffic that notices a loss.

```yaml
servers: 1                      # servers sharing the databases (up while one serves)
traffic: continuous             # or {every: SECONDS}
restart: {policy: on-failure, restart-sec: 10}   # or {policy: none}; start-limit-* optional
outages:                        # one entry per database server; its backends fail together
  - backends: [lease-database]  # the configuration's backend names
    rate: 100                   # outages per year (Poisson)
    duration: {fixed: 5}        # or {exponential: {mean: S}}, {lognormal: {median: S, p95: S}}
    kind: down                  # optional: down (default), schema-mismatch or black-hole
```
A `black-hole` outage drops the server's packets silently instead of refusing them: calls to
it block until the client's timeouts give up (`drivers.simulated`), and the blocked server
serves nothing meanwhile.
Errors are one line naming the file, line and column, as for scenarios (`Document.error`);
no error quotes a value that is not a number or a known name.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass
from typing import Any

from dbfsm.files import documents
from dbfsm.files.documents import DocPath, Document
from dbfsm.fsm.errors import kind, shown
from dbfsm.fsm.settings import DbType, ServerSettings
from dbfsm.simulation.scenario import MIN_STEP, ScenarioEvent

YEAR = 365 * 86_400.0  # seconds in a simulated year
MAX_RATE = 100_000.0  # outages per year per entry: beyond this a year is a scenario, not a what-if
MAX_SERVERS = 64
MISMATCHED_SCHEMA = "0.0"  # a schema version no driver expects
_Z95 = 1.6448536269514722  # the standard normal's 95th percentile
_TOP = frozenset({"servers", "traffic", "restart", "outages", "description"})
_ENTRY = frozenset({"backends", "rate", "duration", "kind"})
_RESTART = frozenset({"policy", "restart-sec", "start-limit-burst", "start-limit-interval"})
_KINDS = ("down", "schema-mismatch", "black-hole")
# systemd's defaults (DefaultStartLimitIntervalSec=10s, DefaultStartLimitBurst=5, RestartSec).
_SYSTEMD_INTERVAL, _SYSTEMD_BURST, _SYSTEMD_RESTART_SEC = 10.0, 5, 0.1


@dataclass(frozen=True)
class Duration:
    """An outage's length: `fixed` (a), `exponential` (mean a) or `lognormal` (median a,
    95th percentile b)."""

    law: str
    a: float
    b: float = 0.0

    def draw(self, rng: random.Random) -> float:
        if self.law == "fixed":
            return self.a
        if self.law == "exponential":
            return rng.expovariate(1.0 / self.a)
        sigma = math.log(self.b / self.a) / _Z95
        return rng.lognormvariate(math.log(self.a), sigma)

    def mean(self) -> float:
        if self.law == "lognormal":
            sigma = math.log(self.b / self.a) / _Z95
            return self.a * math.exp(sigma * sigma / 2)
        return self.a


@dataclass(frozen=True)
class Entry:
    """One database server: the backends it holds, its outage rate (per year) and lengths."""

    backends: tuple[str, ...]
    rate: float
    duration: Duration
    kind: str = "down"


@dataclass(frozen=True)
class Restart:
    """What brings an exited server back: systemd's `Restart=on-failure` (a non-zero exit,
    after `sec`, refused once `burst` starts fell within `interval`) or nothing."""

    policy: str  # on-failure, none
    sec: float = _SYSTEMD_RESTART_SEC
    burst: int = _SYSTEMD_BURST
    interval: float = _SYSTEMD_INTERVAL


@dataclass(frozen=True)
class Profile:
    servers: int
    every: float | None  # None: continuous traffic; else a request every `every` seconds
    restart: Restart
    entries: tuple[Entry, ...]
    source: str


def load(path: str | os.PathLike[str], settings: ServerSettings) -> Profile:
    """Read and check a profile; backend names are checked against `settings`."""
    source = os.fspath(path)
    doc = documents.load(source, "outage profile")
    return from_data(doc, doc.data, settings)


def from_data(doc: Document, data: Any, settings: ServerSettings) -> Profile:
    if not isinstance(data, dict):
        raise doc.error((), "an outage profile must be a map with at least 'outages'")
    _known_keys(doc, data, (), _TOP)
    servers = data.get("servers", 1)
    if isinstance(servers, bool) or not isinstance(servers, int) or servers < 1:
        raise doc.error(("servers",), "must be a whole number of servers, at least 1")
    if servers > MAX_SERVERS:
        raise doc.error(("servers",), f"must be at most {MAX_SERVERS}")
    if "restart" not in data:
        message = "missing 'restart': {policy: on-failure, restart-sec: S} or {policy: none}"
        raise doc.error((), message)
    if "outages" not in data:
        raise doc.error((), "missing 'outages': a list of {backends, rate, duration}")
    outages = data["outages"]
    if not isinstance(outages, list) or not outages:
        raise doc.error(("outages",), "must be a non-empty list of {backends, rate, duration}")
    known = {b.key: b.type for b in settings.backends}
    entries = tuple(_entry(doc, item, i, known) for i, item in enumerate(outages))
    every = _traffic(doc, data.get("traffic", "continuous"))
    return Profile(servers, every, _restart(doc, data["restart"]), entries, doc.source)


def _known_keys(doc: Document, data: dict[str, Any], path: DocPath, known: frozenset[str]) -> None:
    for key in data:
        if key not in known:
            message = f"unknown key (expected one of {', '.join(sorted(known))})"
            raise doc.error((*path, key), message, key=True)


def _seconds(doc: Document, value: Any, path: DocPath, *, least: float = 0.0) -> float:
    """A finite number of seconds, greater than 0 (at least `least`), within a year."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise doc.error(path, f"must be a number of seconds, got {kind(value)}")
    if value <= 0 or value < least:
        bound = f"at least {least:g}" if least else "greater than 0"
        raise doc.error(path, f"must be {bound} seconds")
    if value > YEAR:
        raise doc.error(path, f"must be at most a year ({YEAR:g} seconds)")
    return float(value)


def _traffic(doc: Document, value: Any) -> float | None:
    if value == "continuous":
        return None
    if isinstance(value, dict) and "every" in value:
        _known_keys(doc, value, ("traffic",), frozenset({"every"}))
        return _seconds(doc, value["every"], ("traffic", "every"), least=MIN_STEP)
    raise doc.error(("traffic",), "must be continuous or {every: SECONDS}")


def _restart(doc: Document, value: Any) -> Restart:
    path: DocPath = ("restart",)
    if not isinstance(value, dict) or "policy" not in value:
        raise doc.error(path, "must be {policy: on-failure, restart-sec: S} or {policy: none}")
    _known_keys(doc, value, path, _RESTART)
    policy = value["policy"]
    if policy == "none":
        if len(value) > 1:
            raise doc.error(path, "policy none takes no other key")
        return Restart("none")
    if policy != "on-failure":
        raise doc.error((*path, "policy"), f"{shown(policy)} is not on-failure or none")
    sec = value.get("restart-sec", _SYSTEMD_RESTART_SEC)
    interval = value.get("start-limit-interval", _SYSTEMD_INTERVAL)
    burst = value.get("start-limit-burst", _SYSTEMD_BURST)
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise doc.error((*path, "start-limit-burst"), "must be a whole number, at least 1")
    return Restart(
        "on-failure",
        _seconds(doc, sec, (*path, "restart-sec"), least=MIN_STEP),
        burst,
        _seconds(doc, interval, (*path, "start-limit-interval")),
    )


def _entry(doc: Document, item: Any, index: int, known: dict[str, DbType]) -> Entry:
    path: DocPath = ("outages", index)
    if not isinstance(item, dict):
        raise doc.error(path, "an outage entry must be a map {backends, rate, duration}")
    _known_keys(doc, item, path, _ENTRY)
    for key in ("backends", "rate", "duration"):
        if key not in item:
            raise doc.error(path, f"missing {key!r}")
    backends = item["backends"]
    if not isinstance(backends, list) or not backends:
        raise doc.error((*path, "backends"), "must be a non-empty list of backend names")
    for i, name in enumerate(backends):
        if name not in known:
            message = f"no backend {shown(name)} in the configuration (known: {', '.join(known)})"
            raise doc.error((*path, "backends", i), message)
        if known[name] is DbType.MEMFILE:
            message = f"{name} is a memfile backend: it has no database server to lose"
            raise doc.error((*path, "backends", i), message)
        if name in backends[:i]:
            raise doc.error((*path, "backends", i), f"{name} is listed twice")
    rate = item["rate"]
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate):
        raise doc.error((*path, "rate"), f"must be a number of outages per year, got {kind(rate)}")
    if not 0 <= rate <= MAX_RATE:
        raise doc.error((*path, "rate"), f"must be between 0 and {MAX_RATE:g} outages per year")
    outage_kind = item.get("kind", "down")
    if outage_kind not in _KINDS:
        message = f"{shown(outage_kind)} is not an outage kind ({', '.join(_KINDS)})"
        raise doc.error((*path, "kind"), message)
    duration = _duration(doc, item["duration"], (*path, "duration"))
    return Entry(tuple(backends), float(rate), duration, outage_kind)


def _duration(doc: Document, value: Any, path: DocPath) -> Duration:
    shapes = "{fixed: S}, {exponential: {mean: S}} or {lognormal: {median: S, p95: S}}"
    if not isinstance(value, dict) or len(value) != 1:
        raise doc.error(path, f"must be one of {shapes}")
    ((law, spec),) = value.items()
    if law == "fixed":
        return Duration("fixed", _seconds(doc, spec, (*path, "fixed")))
    if law not in ("exponential", "lognormal"):
        raise doc.error((*path, law), f"unknown distribution (expected {shapes})", key=True)
    names = ("mean",) if law == "exponential" else ("median", "p95")
    if not isinstance(spec, dict):
        raise doc.error((*path, law), f"must be a map of {', '.join(names)}")
    _known_keys(doc, spec, (*path, law), frozenset(names))
    for name in names:
        if name not in spec:
            raise doc.error((*path, law), f"missing {name!r} (seconds)")
    values = [_seconds(doc, spec[name], (*path, law, name)) for name in names]
    if law == "lognormal" and values[1] <= values[0]:
        raise doc.error((*path, law, "p95"), "must be greater than the median")
    return Duration(law, *values)


# ---------------------------------------------------------------------------------------------
# One year's outages, as scenario events
# ---------------------------------------------------------------------------------------------


def year_events(profile: Profile, seed: int, year: int) -> list[ScenarioEvent]:
    """The database events of one year, in time order: each entry a Poisson process seeded
    by (seed, year, entry), so a year is the same whichever process draws it and whichever
    setting runs it. Overlapping outages of one backend and kind merge (it is up again when
    the last ends); a schema mismatch restarts the database server with a schema no driver
    expects (its connections break at once, reopening fails until it ends); a black hole
    begins and ends (`black-hole`, `black-hole-end`). Outages that would end after the year
    are cut at its end: years are independent."""
    changes: list[tuple[float, int, str, int, str]] = []  # (at, order, backend, +-1, kind)
    for i, entry in enumerate(profile.entries):
        if entry.rate == 0:
            continue
        rng = random.Random(f"{seed}:{year}:{i}")
        mean_gap = YEAR / entry.rate
        t = rng.expovariate(1.0 / mean_gap)
        while t < YEAR:
            end = t + entry.duration.draw(rng)
            for b in entry.backends:
                changes.append((t, len(changes), b, 1, entry.kind))
                if end < YEAR:
                    changes.append((end, len(changes), b, -1, entry.kind))
            t += rng.expovariate(1.0 / mean_gap)
    changes.sort()
    counts: dict[str, dict[str, int]] = {kind: {} for kind in _KINDS}
    events: list[ScenarioEvent] = []
    for at, _, backend, step, outage in changes:
        edge = _edge(counts[outage], backend, step)
        if outage == "black-hole" and edge:
            kind = "black-hole" if edge > 0 else "black-hole-end"
            events.append(ScenarioEvent(at, kind, backend))
        elif outage == "down" and edge:
            events.append(ScenarioEvent(at, "down" if edge > 0 else "up", backend))
        elif outage == "schema-mismatch":
            if edge:
                version = MISMATCHED_SCHEMA if edge > 0 else None
                events.append(ScenarioEvent(at, "schema", backend, version))
            if step > 0 and not counts["down"].get(backend):  # the restart: connections break
                events.append(ScenarioEvent(at, "down", backend))
                events.append(ScenarioEvent(at, "up", backend))
    return events


def _edge(counts: dict[str, int], backend: str, step: int) -> int:
    """Count one outage of `backend` beginning (+1) or ending (-1): 1 when the first of
    overlapping ones begins, -1 when the last ends, else 0."""
    before = counts.get(backend, 0)
    counts[backend] = before + step
    if step > 0 and before == 0:
        return 1
    return -1 if step < 0 and before == 1 else 0
