"""An incident aggregated into time buckets, for runs with more than a page can draw.

A simulated day with 10,000 faults has some 25,000 attempts and 7,000 serving changes: at
the width of a screen hundreds of them share a pixel, and drawing each would make a page of
many megabytes that a browser opens slowly and nobody can read. So past `MAX_MARKS` marks the
run is cut into `BUCKETS` equal buckets and each bucket draws what happened in it: how much
of it each backend spent lost, reconnecting or given up, how many attempts it made (how many
failed), how much of it the service did not serve and how often it changed. The page then
grows with the buckets drawn, not with the records.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbfsm.report.model import GIVEN_UP, LOST, RECONNECTING, UP, Incident, Lane

BUCKETS = 1000
MAX_MARKS = 2000  # attempts, spans or serving changes: past this many of any, aggregate
DOWN_STATES = (GIVEN_UP, RECONNECTING, LOST)  # stacked from the bottom of a lane's bar


def aggregated(incident: Incident) -> bool:
    """Whether the page draws buckets rather than each span and mark."""
    attempts = sum(len(lane.attempts) for lane in incident.lanes)
    spans = sum(len(lane.spans) for lane in incident.lanes)
    return max(attempts, spans, len(incident.changes)) > MAX_MARKS


@dataclass(frozen=True)
class Buckets:
    """Equal buckets over [0, end]."""

    end: float
    n: int = BUCKETS

    @property
    def width(self) -> float:
        return max(self.end, 1e-9) / self.n

    def index(self, t: float) -> int:
        return min(self.n - 1, max(0, int(t / self.width)))

    def bounds(self, i: int) -> tuple[float, float]:
        return i * self.width, min(self.end, (i + 1) * self.width)

    def spread(self, start: float, end: float) -> list[tuple[int, float]]:
        """(bucket, seconds of [start, end] in it) for every bucket the interval touches."""
        if end <= start:
            return []
        out = []
        for i in range(self.index(start), self.index(end) + 1):
            a, b = self.bounds(i)
            part = min(b, end) - max(a, start)
            if part > 0:
                out.append((i, part))
        return out


@dataclass(frozen=True)
class StateBucket:
    """A bucket of a lane: the share of it in each state but up."""

    index: int
    shares: tuple[float, float, float]  # of DOWN_STATES, each 0..1


@dataclass(frozen=True)
class AttemptBucket:
    index: int
    failed: int
    succeeded: int
    first: float  # the time of the first attempt in it
    last: float

    @property
    def count(self) -> int:
        return self.failed + self.succeeded


@dataclass(frozen=True)
class ServingBucket:
    index: int
    off: float  # the share of the bucket not serving, 0..1
    changes: int  # serving changes in it


def lane_states(lane: Lane, buckets: Buckets) -> list[StateBucket]:
    """The buckets in which the lane was not up all along, in order."""
    seconds: dict[int, list[float]] = {}
    for span in lane.spans:
        if span.state == UP:
            continue
        slot = DOWN_STATES.index(span.state)
        for i, part in buckets.spread(span.start, span.end):
            seconds.setdefault(i, [0.0, 0.0, 0.0])[slot] += part
    out = []
    for i in sorted(seconds):
        a, b = buckets.bounds(i)
        size = max(b - a, 1e-12)
        s = seconds[i]
        out.append(StateBucket(i, (s[0] / size, s[1] / size, s[2] / size)))
    return out


def lane_attempts(lane: Lane, buckets: Buckets) -> list[AttemptBucket]:
    found: dict[int, list[float]] = {}  # bucket -> [failed, succeeded, first, last]
    for a in lane.attempts:
        i = buckets.index(a.t)
        entry = found.setdefault(i, [0, 0, a.t, a.t])
        entry[1 if a.ok else 0] += 1
        entry[3] = a.t
    return [AttemptBucket(i, int(e[0]), int(e[1]), e[2], e[3]) for i, e in sorted(found.items())]


def serving(incident: Incident, buckets: Buckets) -> list[ServingBucket]:
    off: dict[int, float] = {}
    for a, b in incident.not_serving():
        for i, part in buckets.spread(a, b):
            off[i] = off.get(i, 0.0) + part
    changes: dict[int, int] = {}
    for change in incident.changes:
        i = buckets.index(change.t)
        changes[i] = changes.get(i, 0) + 1
    out = []
    for i in sorted(set(off) | set(changes)):
        a, b = buckets.bounds(i)
        share = min(1.0, off.get(i, 0.0) / max(b - a, 1e-12))
        out.append(ServingBucket(i, share, changes.get(i, 0)))
    return out
