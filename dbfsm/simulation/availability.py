"""`dbfsm availability`: how much service each on-fail setting loses over simulated years.

Every year runs the real engine through the simulator (`simulate.Simulation`) on the virtual
clock; nothing here models the rules. A year is simulated only around its outages without
being cut: between two outages the engine serves with nothing scheduled, and the virtual
clock jumps straight to the next outage, so an idle month costs nothing. (Cutting the year
into episodes, each on a fresh engine started just before its outage, was tried: it gave the
same figures and took three times as long, the cost of building and starting the engines.)
An exit ends the process: the restart policy (systemd's `Restart=on-failure`, `RestartSec`,
`StartLimitBurst`/`StartLimitIntervalSec`) starts a fresh engine later, with the databases
as they are then (a database still down fails its startup unless `retry-on-startup`), or
leaves the service down for the rest of the year.

`servers: N`: each server lives its own timeline: the same database outages (they share the
databases), but its own traffic and its own exits and restarts (the restart policy is each
server's). With `traffic: {every: S}` server i's requests come at k * S + phase_i, the phase
uniform in [0, S) and drawn from (seed, year, i) (`traffic_phase`), so one server may notice a
loss, and stop, before another. The service is up while at least one server serves; it is
degraded while it is up but no server that serves has every database working (a serving
server whose databases all work serves every client fully, so only when none does do some
requests fail); exits and restarts are totals over the servers. A server blocked in a
database call (a black hole) serves nothing. With continuous traffic nothing tells the
servers apart, since the engine is deterministic: every timeline is the same, so one is run
and its exits and restarts counted once per server, which is exact.
"""

from __future__ import annotations

import gc
import heapq
import math
import random
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from dbfsm.fsm.settings import OnFail, ServerSettings
from dbfsm.simulation.outages import YEAR, Profile, year_events
from dbfsm.simulation.scenario import Scenario, ScenarioEvent, Traffic
from dbfsm.simulation.simulate import Simulation

# A life is first given this many events: most lives after a restart exit within a few
# outages, and building the events of the whole year for each would cost more than running it.
_AHEAD = 8
YEARS_PER_TASK = 10  # fixed, whatever the workers: the merge order, so the result, stays one
_Z = 1.959963984540054  # the standard normal's 97.5th percentile


# ---------------------------------------------------------------------------------------------
# The settings compared
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    label: str
    settings: ServerSettings
    configured: bool


def compared(settings: ServerSettings, modes: tuple[OnFail, ...]) -> list[Setting]:
    """The configuration's own setting, then each of `modes` on every backend (with the
    backend's own tries and wait), leaving out a mode the configuration already uses on all."""
    own = {b.on_fail for b in settings.backends}
    label = f"{next(iter(own))} (configured)" if len(own) == 1 else "as configured"
    found = [Setting(label, settings, True)]
    for mode in modes:
        if own != {mode}:
            backends = tuple(replace(b, on_fail=mode) for b in settings.backends)
            found.append(Setting(str(mode), replace(settings, backends=backends), False))
    return found


def _one_or_each(values: dict[str, Any]) -> Any:
    """A value every backend shares, or the value of each backend."""
    distinct = set(values.values())
    return next(iter(distinct)) if len(distinct) == 1 else values


def describe(setting: Setting) -> dict[str, Any]:
    backends = setting.settings.backends
    return {
        "label": setting.label,
        "configured": setting.configured,
        "on-fail": _one_or_each({b.key: str(b.on_fail) for b in backends}),
        "max-reconnect-tries": _one_or_each({b.key: b.max_reconnect_tries for b in backends}),
        "reconnect-wait-time": _one_or_each({b.key: b.reconnect_wait_time for b in backends}),
    }


# ---------------------------------------------------------------------------------------------
# One year
# ---------------------------------------------------------------------------------------------


NOT_SERVING, DEGRADED, WORKING = 0, 1, 2  # a server's level, and the service's


@dataclass
class Year:
    """What one year of one setting came to; also the running integral while it is built
    from the service's levels: the state seen last (`at`, `serving`, `degraded`) holds until
    the next change."""

    not_serving: float = 0.0
    degraded: float = 0.0  # serving, yet some backend's database is not working
    exits: int = 0
    restarts: int = 0
    longest: float = 0.0  # the longest stretch without service
    at: float = 0.0
    serving: bool = True
    degraded_now: bool = False
    outage_began: float = 0.0

    def advance(self, t: float, serving: bool, degraded: bool) -> None:
        span = t - self.at
        if not self.serving:
            self.not_serving += span
        elif self.degraded_now:
            self.degraded += span
        if self.serving and not serving:
            self.outage_began = t
        elif serving and not self.serving:
            self.longest = max(self.longest, t - self.outage_began)
        self.at, self.serving, self.degraded_now = t, serving, degraded

    @classmethod
    def of(cls, levels: Iterable[tuple[float, int]], exits: int, restarts: int) -> Year:
        """The year of a service whose level changes at the given times, to the year's end."""
        year = cls(exits=exits, restarts=restarts)
        for t, level in levels:
            year.advance(t, level != NOT_SERVING, level == DEGRADED)
        year.advance(YEAR, year.serving, year.degraded_now)
        if not year.serving:
            year.longest = max(year.longest, YEAR - year.outage_began)
        return year


@dataclass
class Timeline:
    """One server's year as it is lived: the times its level changes, from serving with every
    database working at 0, and its exits and restarts."""

    changes: list[tuple[float, int]] = field(default_factory=lambda: [(0.0, WORKING)])
    at: float = 0.0  # when it was last observed
    exits: int = 0
    restarts: int = 0

    def observe(self, t: float, level: int) -> None:
        self.at = t
        if level != self.changes[-1][1]:
            self.changes.append((t, level))

    def mark(self) -> tuple[int, float]:
        return len(self.changes), self.at

    def rewind(self, mark: tuple[int, float]) -> None:
        """Forget what was observed since `mark` (a life run again with more events)."""
        del self.changes[mark[0] :]
        self.at = mark[1]


class _Meter:
    """Reads the server after every step of one life and writes its level down."""

    def __init__(self, origin: float, timeline: Timeline) -> None:
        self.origin = origin
        self.timeline = timeline
        self.sim: Simulation | None = None

    def __call__(self) -> None:
        sim = self.sim
        assert sim is not None
        t = self.origin + sim.clock.now
        if sim.serving:  # not stopped, not exited, not blocked in a database call
            self.timeline.observe(t, WORKING if _working(sim) else DEGRADED)
        else:
            self.timeline.observe(t, NOT_SERVING)


def _working(sim: Simulation) -> bool:
    """Every backend online, on an unbroken connection to a database that is up and
    reachable (not behind a black hole)."""
    driver = sim.driver
    holes = driver.black_holes
    for key, backend in sim.engine.server.backends.items():
        if backend.state != "online" or driver.broken(key, backend.instance):
            return False
        if not driver.server(key).up or key in holes:
            return False
    return True


class _Discard:
    """A sink that keeps nothing: a year is measured, not recorded."""

    def __call__(self, record: object, /) -> None:
        pass

    def notice(self, action: object, t: float, /) -> None:
        pass


_DISCARD = _Discard()


@dataclass
class _Databases:
    """The databases' state after the events folded so far: which are down, which
    mismatched, which behind a black hole."""

    down: set[str] = field(default_factory=set)
    wrong: set[str] = field(default_factory=set)
    holes: set[str] = field(default_factory=set)

    def fold(self, event: ScenarioEvent) -> None:
        key = event.backend
        assert key is not None
        kind = event.kind
        if kind == "down":
            self.down.add(key)
        elif kind == "up":
            self.down.discard(key)
        elif kind == "black-hole":
            self.holes.add(key)
        elif kind == "black-hole-end":
            self.holes.discard(key)
        elif event.version is None:
            self.wrong.discard(key)
        else:
            self.wrong.add(key)

    def initial(self, events: list[ScenarioEvent]) -> list[ScenarioEvent]:
        """Events at 0 that put a starting engine's databases in this state."""
        found = [ScenarioEvent(0.0, "down", key) for key in sorted(self.down)]
        found += [ScenarioEvent(0.0, "black-hole", key) for key in sorted(self.holes)]
        for key in sorted(self.wrong):
            found.append(next(replace(e, at=0.0) for e in events if e.backend == key))
        return found


class _Year:
    """The lives of one server in one year of one setting: one engine until it exits, then,
    if the restart policy allows, a fresh one started with the databases as they are by
    then. `phase`: when its requests come, with periodic traffic (k * every + phase)."""

    def __init__(
        self,
        settings: ServerSettings,
        profile: Profile,
        events: list[ScenarioEvent],
        phase: float = 0.0,
    ):
        self.settings = settings
        self.profile = profile
        self.events = events
        self.phase = phase
        self.schema_events = [e for e in events if e.kind == "schema" and e.version is not None]

    def run(self) -> Timeline:
        line, events, restart = Timeline(), self.events, self.profile.restart
        folded, state = 0, _Databases()
        start = 0.0
        starts: deque[float] = deque()  # restarts within the start-limit interval
        while True:
            while folded < len(events) and events[folded].at <= start:
                state.fold(events[folded])
                folded += 1
            mark = line.mark()
            ahead = folded + _AHEAD
            sim = self._life(start, folded, ahead, state, line)
            if ahead < len(events) and not (sim.engine.exited and line.at < events[ahead].at):
                line.rewind(mark)  # it lives past the events it was given: again, with all
                sim = self._life(start, folded, len(events), state, line)
            if not sim.engine.exited:
                break
            line.exits += 1
            again = line.at + restart.sec
            while starts and starts[0] <= again - restart.interval:
                starts.popleft()
            refused = restart.policy == "none" or sim.engine.exit_code == 0
            if refused or len(starts) >= restart.burst or again >= YEAR:
                break  # down for the rest of the year
            line.restarts += 1
            starts.append(again)
            start = again
        return line

    def _life(
        self, start: float, folded: int, ahead: int, state: _Databases, line: Timeline
    ) -> Simulation:
        """Run one engine from `start` on events[folded:ahead], to its exit or up to the next
        event (the year's end once it has them all)."""
        events = state.initial(self.schema_events)
        shifted = ScenarioEvent
        given = self.events[folded:ahead]
        events += [shifted(e.at - start, e.kind, e.backend, e.version) for e in given]
        until = YEAR if ahead >= len(self.events) else self.events[ahead].at
        every = self.profile.every
        traffic = (
            Traffic("continuous")
            if every is None
            else Traffic("periodic", every, (self.phase - start) % every)
        )
        settings = self.settings
        scenario = Scenario(settings, lambda: settings, until - start, traffic, tuple(events), "")
        meter = _Meter(start, line)
        sim = Simulation(scenario, _DISCARD, markers=False, observe=meter, repeats=False)
        meter.sim = sim
        sim.run()
        meter.sim = None
        return sim


def traffic_phase(profile: Profile, seed: int, year: int, server: int) -> float:
    """When server `server`'s requests come in year `year`, with periodic traffic: uniform in
    [0, every), drawn from (seed, year, server), so the same whoever draws it."""
    assert profile.every is not None
    return random.Random(f"{seed}:{year}:server {server}").random() * profile.every


def simulate_year(settings: ServerSettings, profile: Profile, seed: int, year: int) -> Year:
    """One year of `settings` under `profile`, drawn from (seed, year): each server's own
    timeline, combined into the service's (see the module's docstring)."""
    events = year_events(profile, seed, year)
    servers = profile.servers
    if profile.every is None:  # continuous traffic: every server lives the same timeline
        line = _Year(settings, profile, events).run()
        return Year.of(line.changes, line.exits * servers, line.restarts * servers)
    lines = [
        _Year(settings, profile, events, traffic_phase(profile, seed, year, i)).run()
        for i in range(servers)
    ]
    exits, restarts = sum(x.exits for x in lines), sum(x.restarts for x in lines)
    return Year.of(service_levels([x.changes for x in lines]), exits, restarts)


def service_levels(servers: list[list[tuple[float, int]]]) -> Iterator[tuple[float, int]]:
    """The service's level over time from its servers': the best of them (up while one
    serves; degraded while none of those serving has every database working)."""
    if len(servers) == 1:
        yield from servers[0]
        return
    levels = [WORKING] * len(servers)
    count = [0, 0, len(servers)]  # servers at each level
    best = WORKING
    tagged = ([(t, i, level) for t, level in changes] for i, changes in enumerate(servers))
    for t, i, level in heapq.merge(*tagged):
        count[levels[i]] -= 1
        count[level] += 1
        levels[i] = level
        now = WORKING if count[WORKING] else DEGRADED if count[DEGRADED] else NOT_SERVING
        if now != best:
            best = now
            yield t, best


# ---------------------------------------------------------------------------------------------
# Streaming aggregates
# ---------------------------------------------------------------------------------------------

_EXACT_BELOW = 100_000  # whole numbers below this are binned exactly (exits, whole seconds)
_RESOLUTION = 1e-2  # other values: bins 1% wide, so a percentile is off by at most 0.5%
_LOG_STEP = math.log1p(_RESOLUTION)


def _bin(value: float) -> float:
    """The bin of a value, named by the value it stands for. At most about 100,000 exact
    bins and 3,100 logarithmic ones (1 ms to a year) can ever be used, whatever the number
    of years: memory stays bounded while percentiles keep a known relative error."""
    if value <= 0:
        return 0.0
    if value < _EXACT_BELOW and value == int(value):
        return value
    index = math.floor(math.log(value) / _LOG_STEP)
    return math.exp((index + 0.5) * _LOG_STEP)


@dataclass
class Summary:
    """Mean and variance (Welford's, merged with Chan's formula), maximum, and a histogram of
    fixed resolution (see `_bin`) for percentiles: memory does not grow with the years."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    maximum: float = 0.0
    bins: Counter[float] = field(default_factory=Counter)

    def add(self, value: float) -> None:
        self.n += 1
        delta = value - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (value - self.mean)
        self.maximum = max(self.maximum, value)
        self.bins[_bin(value)] += 1

    def merge(self, other: Summary) -> None:
        if other.n == 0:
            return
        n = self.n + other.n
        delta = other.mean - self.mean
        self.mean += delta * other.n / n
        self.m2 += other.m2 + delta * delta * self.n * other.n / n
        self.n = n
        self.maximum = max(self.maximum, other.maximum)
        self.bins.update(other.bins)

    def quantile(self, q: float) -> float:
        """The nearest-rank q-quantile, as its bin's value."""
        rank, seen = max(1, math.ceil(q * self.n)), 0
        for value in sorted(self.bins):
            seen += self.bins[value]
            if seen >= rank:
                return value
        return self.maximum

    def ci95(self) -> tuple[float, float]:
        """The mean's 95% confidence interval (normal approximation)."""
        if self.n < 2:
            return self.mean, self.mean
        half = _Z * math.sqrt(self.m2 / (self.n - 1) / self.n)
        return self.mean - half, self.mean + half

    def to_json(self) -> dict[str, Any]:
        low, high = self.ci95()
        return {
            "mean": _round(self.mean),
            "p50": _round(self.quantile(0.5)),
            "p95": _round(self.quantile(0.95)),
            "p99": _round(self.quantile(0.99)),
            "ci95": [_round(low), _round(high)],
        }


def _round(value: float) -> float:
    return round(value, 6)


METRICS = ("not-serving-seconds", "degraded-seconds", "exits", "restarts")


@dataclass
class Aggregate:
    """Everything kept of a setting's years: a `Summary` of each yearly figure."""

    not_serving: Summary = field(default_factory=Summary)
    degraded: Summary = field(default_factory=Summary)
    exits: Summary = field(default_factory=Summary)
    restarts: Summary = field(default_factory=Summary)
    longest: Summary = field(default_factory=Summary)

    def add(self, year: Year) -> None:
        self.not_serving.add(year.not_serving)
        self.degraded.add(year.degraded)
        self.exits.add(year.exits)
        self.restarts.add(year.restarts)
        self.longest.add(year.longest)

    def merge(self, other: Aggregate) -> None:
        for mine, theirs in zip(self.summaries(), other.summaries(), strict=True):
            mine.merge(theirs)

    def summaries(self) -> tuple[Summary, ...]:
        return (self.not_serving, self.degraded, self.exits, self.restarts, self.longest)


# ---------------------------------------------------------------------------------------------
# Years, in tasks for any executor
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What every task needs; plain data, so that it pickles to a worker process."""

    settings: tuple[ServerSettings, ...]
    profile: Profile
    seed: int


def years_task(plan: Plan, first: int, count: int) -> list[Aggregate]:
    """Years first..first+count-1 of every setting: one task. A top-level function, so that
    a process pool or a Dask worker can run it."""
    found = [Aggregate() for _ in plan.settings]
    for year in range(first, first + count):
        for aggregate, settings in zip(found, plan.settings, strict=True):
            aggregate.add(simulate_year(settings, plan.profile, plan.seed, year))
    # An engine and its models refer to one another: a finished life is garbage only the
    # cycle collector frees, and it lives long enough to reach the oldest generation, which
    # is collected seldom. Collecting once a task keeps memory flat in the number of years.
    gc.collect()
    return found


def tasks(years: int) -> Iterator[tuple[int, int]]:
    for first in range(0, years, YEARS_PER_TASK):
        yield first, min(YEARS_PER_TASK, years - first)


def run(plan: Plan, years: int, workers: int = 1, cluster: str | None = None) -> list[Aggregate]:
    """Every year of every setting, on `workers` processes or a cluster. Tasks are merged in
    year order, at most a few in flight per worker: the result is the same whoever runs them,
    and memory does not grow with the years."""
    from dbfsm.scaleout import executor

    totals = [Aggregate() for _ in plan.settings]
    pending: deque[Any] = deque()
    window = 4 * max(workers, 1) + 2
    with executor(workers, cluster) as pool:
        for first, count in tasks(years):
            pending.append(pool.submit(years_task, plan, first, count))
            while len(pending) >= window:
                _merge(totals, pending.popleft().result())
        while pending:
            _merge(totals, pending.popleft().result())
    return totals


def _merge(totals: list[Aggregate], found: list[Aggregate]) -> None:
    for total, part in zip(totals, found, strict=True):
        total.merge(part)


# ---------------------------------------------------------------------------------------------
# What is printed
# ---------------------------------------------------------------------------------------------


def document(
    settings: list[Setting], totals: list[Aggregate], years: int, seed: int
) -> dict[str, Any]:
    """The `--format json` document."""
    found = []
    for setting, total in zip(settings, totals, strict=True):
        entry = describe(setting)
        for name, summary in zip(METRICS, total.summaries(), strict=False):
            entry[name] = summary.to_json()
        entry["longest-outage-seconds"] = total.longest.to_json()
        entry["worst-outage-seconds"] = _round(total.longest.maximum)
        found.append(entry)
    return {"years": years, "seed": seed, "settings": found, "summary": verdict(settings, totals)}


def duration(seconds: float) -> str:
    """Seconds the way a person reads them: 0 s, 42 s, 3.5 min, 2.1 h, 4.0 d."""
    if seconds < 60:
        return f"{seconds:.3g} s" if seconds < 10 else f"{seconds:.0f} s"
    for unit, size in (("d", 86_400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    raise AssertionError(seconds)


def verdict(settings: list[Setting], totals: list[Aggregate]) -> str:
    """One plain sentence: which setting loses least service, and what that costs."""
    order = sorted(
        range(len(settings)),
        key=lambda i: (totals[i].not_serving.mean, totals[i].exits.mean, totals[i].degraded.mean),
    )
    best, rest = order[0], order[1:]
    b = totals[best]
    text = (
        f"{settings[best].label} loses least service: {duration(b.not_serving.mean)} a year "
        f"on average (p99 {duration(b.not_serving.quantile(0.99))})"
    )
    if rest:
        other = totals[rest[0]]
        text += f", against {duration(other.not_serving.mean)} for {settings[rest[0]].label}"
    exits = f"{count(b.exits.mean)} exits and {count(b.restarts.mean)} restarts a year"
    if b.degraded.mean > 0:
        cost = (
            f"{duration(b.degraded.mean)} a year serving without a working database "
            f"(requests that fail), with {exits}"
        )
    else:
        cost = exits
    return f"{text}; it costs {cost}."


def count(value: float) -> str:
    """A mean count: 0, 0.25, 3.5, 1,360."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


_HEAD = (
    "setting",
    "not serving/yr",
    "95% CI",
    "p50",
    "p95",
    "p99",
    "degraded/yr",
    "exits/yr",
    "restarts/yr",
    "longest outage",
)


def rows(settings: list[Setting], totals: list[Aggregate]) -> list[tuple[str, ...]]:
    """The table's rows: per setting, yearly means and percentiles, as a person reads them."""
    found: list[tuple[str, ...]] = [_HEAD]
    for setting, t in zip(settings, totals, strict=True):
        low, high = t.not_serving.ci95()
        found.append(
            (
                setting.label,
                duration(t.not_serving.mean),
                f"{duration(low)} - {duration(high)}",
                duration(t.not_serving.quantile(0.5)),
                duration(t.not_serving.quantile(0.95)),
                duration(t.not_serving.quantile(0.99)),
                duration(t.degraded.mean),
                count(t.exits.mean),
                count(t.restarts.mean),
                duration(t.longest.maximum),
            )
        )
    return found


def text(
    settings: list[Setting], totals: list[Aggregate], years: int, seed: int, profile: Profile
) -> str:
    """The text report: what was simulated, the table, and the sentence."""
    traffic = (
        "continuous traffic" if profile.every is None else f"a request every {profile.every:g} s"
    )
    restart = profile.restart
    policy = (
        "no restart"
        if restart.policy == "none"
        else f"restart on failure after {restart.sec:g} s (at most {restart.burst} in "
        f"{restart.interval:g} s)"
    )
    servers = "1 server" if profile.servers == 1 else f"{profile.servers} servers"
    lines = [
        f"{years} simulated years (seed {seed}) of {profile.source}: {servers}, {traffic}, "
        f"{policy}.",
        "",
    ]
    table = rows(settings, totals)
    widths = [max(len(row[i]) for row in table) for i in range(len(_HEAD))]
    for row in table:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    lines += ["", verdict(settings, totals), ""]
    return "\n".join(lines)
