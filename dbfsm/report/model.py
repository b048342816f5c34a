"""What an incident page shows, derived from the records alone.

Records say what the server did, never what a backend was: so a backend's lane is read from
its lifecycle messages and attempt records. It is *up* until a loss is noticed
(`*_DB_RECONNECT_LOST_CONNECTION`), *lost* until its first attempt ends, *reconnecting*
after a failed attempt, *given up* once the attempts are exhausted (`*_DB_RECONNECT_FAILED`)
or reconnecting is disabled, and up again after a successful attempt or a configuration
that opened it (`*_CONFIG_COMPLETE`, `*_DYNAMIC_RECONFIGURATION_SUCCESS`).

A message names its backend by its hook's ID (`PGSQL_LB_...`) or by the manager ID in its
text (`manager ID: 3002`); both name a kind of backend (role and database type), which is
one backend unless the configuration has two of a kind. A loss that cannot be placed yet
(Kea 2.x logs it without a manager ID; two backends of a kind) is kept until the next
attempt of a backend says whose it was.

dbfsm's records carry the attempts (`attempt`) and the serving changes (`serving`); a Kea log
has neither, so there attempts are read from `*_ATTEMPT_FAILED` / `*_RECONNECT_SUCCEEDED`
and their numbers from `*_ATTEMPT_SCHEDULE`, and serving is the model's (when `conform`
explained the log) or inferred from each backend's `on-fail`: a `stop-retry-*` backend
stops the service while it is recovering.
"""

from __future__ import annotations

import bisect
import contextlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dbfsm.fsm.records import Record
from dbfsm.fsm.settings import MANAGER_IDS, DbType, OnFail, Role, ServerSettings
from dbfsm.report.read import Source

UP, LOST, RECONNECTING, GIVEN_UP = "up", "lost", "reconnecting", "given-up"
STATES = (UP, LOST, RECONNECTING, GIVEN_UP)
STATE_WORDS = {UP: "up", LOST: "lost", RECONNECTING: "reconnecting", GIVEN_UP: "given up"}

# How an outage ended.
RECOVERED, RECONFIGURED, EXITED, RUN_ENDED = "recovered", "reconfigured", "exit", "run ended"

_HOOK = re.compile(r"(MYSQL|PGSQL)_(LB|HB|CB)_")
_HOOK_ROLE = {"LB": Role.LEASE, "HB": Role.HOSTS, "CB": Role.CONFIG}
_HOOK_DB = {"MYSQL": DbType.MYSQL, "PGSQL": DbType.POSTGRESQL}
_MANAGER = re.compile(r"manager ID: (\d{1,6})\b")
_FAMILIES = {manager: family for family, manager in MANAGER_IDS.items()}
_SCHEDULE = re.compile(r"attempt (\d{1,9}) of (\d{1,9})")
_EXHAUSTED = re.compile(r"attempts: (\d{1,9})")
# Kea's "opening ... database" lines state the backend's parameters, on-fail among them.
_OPENING = re.compile(
    r"opening (MySQL|PostgreSQL) (lease|hosts?|config(?:uration)?) database.*?\bon-fail=([a-z-]+)"
)
_OPENING_ROLE = {"lease": Role.LEASE, "host": Role.HOSTS, "hosts": Role.HOSTS}
ROLE_NAMES = {Role.LEASE: "lease-database", Role.HOSTS: "hosts-database", Role.CONFIG: "config"}

EPSILON = 0.002  # seconds: log records this close to a mark are shown with it
MAX_SHOWN_LOGS = 12  # log records shown with one mark


@dataclass(frozen=True)
class Span:
    """A lane in one state from `start` to `end`."""

    state: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Attempt:
    t: float
    backend: str
    n: int
    of: int | None  # None where a Kea log does not say
    ok: bool

    @property
    def number(self) -> str:
        """ "3 of 5", as the page labels it."""
        return f"{self.n} of {self.of}" if self.of is not None else str(self.n)


@dataclass(frozen=True)
class Outage:
    """From a loss to the backend's being up again (or the end)."""

    backend: str
    start: float
    end: float
    attempts: int
    gave_up: bool
    ended: str  # RECOVERED, RECONFIGURED, EXITED or RUN_ENDED

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def outcome(self) -> str:
        how = {
            RECOVERED: "recovered",
            RECONFIGURED: "reopened by a reconfiguration",
            EXITED: "the server exited",
            RUN_ENDED: "still down when the run ended",
        }[self.ended]
        return f"given up; {how}" if self.gave_up and self.ended != RECOVERED else how


@dataclass(frozen=True)
class Change:
    """The service started (`serving`) or stopped serving at `t`."""

    t: float
    serving: bool


@dataclass(frozen=True)
class Command:
    t: float
    name: str
    result: int | None  # None for a Kea log, which logs the command, not its answer
    text: str


@dataclass(frozen=True)
class Exit:
    t: float
    code: int | None  # None: the log does not say (a Kea log without the model's verdict)
    reason: str


@dataclass(frozen=True)
class LogLine:
    """A log record, with the lane it is about (None: the server's own, or not known)."""

    t: float
    id: str
    severity: str
    text: str
    lane: str | None
    line: int = 0  # its line in a Kea log


@dataclass(frozen=True)
class Lane:
    name: str
    role: Role | None
    type: DbType | None
    on_fail: OnFail | None
    spans: tuple[Span, ...]
    attempts: tuple[Attempt, ...]
    outages: tuple[Outage, ...]

    def down(self) -> list[tuple[float, float]]:
        """The intervals in which the backend was not up."""
        return _merged((s.start, s.end) for s in self.spans if s.state != UP)


@dataclass(frozen=True)
class LaneSummary:
    name: str
    outages: int
    down: float
    longest: float
    not_serving: float  # seconds the service was not serving while this backend was down
    failed: int
    succeeded: int
    gave_up: int


@dataclass(frozen=True)
class Summary:
    duration: float
    not_serving: float
    not_serving_periods: int
    lanes: tuple[LaneSummary, ...]
    attempts: int
    failed: int


@dataclass(frozen=True)
class Incident:
    """Everything the page draws and states."""

    name: str  # the input's name
    dialect: str
    end: float  # the run's end: its exit, its summary, or its last record
    wall_start: datetime | None
    lanes: tuple[Lane, ...]
    changes: tuple[Change, ...]
    serving_source: str  # "recorded", "model", "inferred" or "" (not known)
    commands: tuple[Command, ...]
    exit: Exit | None
    logs: tuple[LogLine, ...]
    notes: tuple[str, ...] = ()
    final_state: str = ""  # the summary record's server state
    _times: list[float] = field(default_factory=list, repr=False, compare=False)

    def not_serving(self) -> list[tuple[float, float]]:
        """The intervals in which the service did not serve, within the run."""
        return not_serving(self.changes, self.end)

    def summary(self) -> Summary:
        off = self.not_serving()
        lanes = []
        for lane in self.lanes:
            down = lane.down()
            lanes.append(
                LaneSummary(
                    lane.name,
                    len(lane.outages),
                    sum(b - a for a, b in down),
                    max((o.duration for o in lane.outages), default=0.0),
                    _overlap(down, off),
                    sum(not a.ok for a in lane.attempts),
                    sum(a.ok for a in lane.attempts),
                    sum(o.gave_up for o in lane.outages),
                )
            )
        attempts = sum(len(lane.attempts) for lane in self.lanes)
        failed = sum(s.failed for s in lanes)
        return Summary(
            self.end,
            sum(b - a for a, b in off),
            sum(1 for a, b in off if b > a),
            tuple(lanes),
            attempts,
            failed,
        )

    def logs_near(self, t: float, lane: str | None = None) -> list[LogLine]:
        """The log records within `EPSILON` of `t` about `lane` or about no lane in
        particular (all of them for `lane` None), at most `MAX_SHOWN_LOGS`."""
        if not self._times:
            self._times.extend(line.t for line in self.logs)
        start = bisect.bisect_left(self._times, t - EPSILON)
        found: list[LogLine] = []
        for line in self.logs[start:]:
            if line.t > t + EPSILON or len(found) >= MAX_SHOWN_LOGS:
                break
            if lane is None or line.lane in (None, lane):
                found.append(line)
        return found

    def logs_between(self, start: float, end: float, lane: str, limit: int) -> list[LogLine]:
        """The first log record of each message ID about `lane` from `start` to `end`, at
        most `limit` of them: what an aggregated bucket of attempts shows."""
        if not self._times:
            self._times.extend(line.t for line in self.logs)
        first = bisect.bisect_left(self._times, start - EPSILON)
        last = bisect.bisect_right(self._times, end + EPSILON)
        found: list[LogLine] = []
        seen: set[str] = set()
        for line in self.logs[first:last]:
            if line.lane == lane and line.id not in seen:
                seen.add(line.id)
                found.append(line)
                if len(found) >= limit:
                    break
        return found


def not_serving(changes: Sequence[Change], end: float) -> list[tuple[float, float]]:
    """Not serving from the start until the first change to serving, and between each stop
    and the next start, clipped to [0, end]."""
    intervals = []
    serving, since = False, 0.0
    for change in changes:
        if change.serving != serving:
            if not serving:
                intervals.append((since, min(change.t, end)))
            serving, since = change.serving, change.t
    if not serving:
        intervals.append((since, end))
    return [(a, b) for a, b in intervals if b > a]


def _merged(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _overlap(xs: Sequence[tuple[float, float]], ys: Sequence[tuple[float, float]]) -> float:
    """The total length of the intersection of two sorted lists of disjoint intervals."""
    total, i, j = 0.0, 0, 0
    while i < len(xs) and j < len(ys):
        a, b = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        total += max(0.0, b - a)
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return total


def role_of_key(key: str) -> Role | None:
    """The role a backend key names: `lease-database`, `hosts-databases[1]`, ..."""
    for role in Role:
        if key.startswith(role.value.removesuffix("s")):
            return role
    return None


Family = tuple[Role, DbType]


def family_of(message_id: str, text: str) -> Family | None:
    """The kind of backend a message is about: its hook's ID, or the manager ID it states."""
    hook = _HOOK.match(message_id)
    if hook is not None:
        return _HOOK_ROLE[hook[2]], _HOOK_DB[hook[1]]
    manager = _MANAGER.search(text)
    return None if manager is None else _FAMILIES.get(int(manager[1]))


# -- building ---------------------------------------------------------------------------------


class _Lane:
    """A lane while the records are read."""

    def __init__(self, name: str, role: Role | None, db: DbType | None, on_fail: OnFail | None):
        self.name, self.role, self.type, self.on_fail = name, role, db, on_fail
        self.tries: int | None = None  # max-reconnect-tries, when known
        self.state, self.since = UP, 0.0
        self.spans: list[Span] = []
        self.attempts: list[Attempt] = []
        self.outages: list[Outage] = []
        self.outage_start = 0.0
        self.outage_attempts = 0
        self.gave_up = False
        self.next_n = 1  # the number of the attempt a Kea log shows next
        self.episode: list[int] = []  # indexes of this outage's attempts without their `of`

    def move(self, state: str, t: float) -> None:
        if state == self.state:
            return
        if t > self.since:
            self.spans.append(Span(self.state, self.since, t))
        self.state, self.since = state, max(t, self.since)

    def lose(self, t: float) -> None:
        if self.state != UP:
            return
        self.outage_start, self.outage_attempts, self.gave_up = t, 0, False
        self.next_n, self.episode = 1, []
        self.move(LOST, t)

    def attempt(self, t: float, n: int, of: int | None, ok: bool) -> None:
        self.lose(t)
        if of is None and self.tries is not None:
            of = self.tries
        if of is None:
            self.episode.append(len(self.attempts))
        self.attempts.append(Attempt(t, self.name, n, of, ok))
        self.outage_attempts += 1
        self.next_n = n + 1
        if ok:
            self.end(t, RECOVERED)
        else:
            self.move(RECONNECTING, t)

    def scheduled(self, n: int, of: int) -> None:
        """A Kea log says which attempt comes next, and of how many: the attempts of this
        outage whose total was not known yet get it."""
        self.next_n = n
        self.tries = of
        for index in self.episode:
            a = self.attempts[index]
            self.attempts[index] = Attempt(a.t, a.backend, a.n, of, a.ok)
        self.episode = []

    def give_up(self, t: float) -> None:
        self.lose(t)
        self.gave_up = True
        self.move(GIVEN_UP, t)

    def end(self, t: float, how: str) -> None:
        if self.state == UP:
            return
        outage = Outage(self.name, self.outage_start, t, self.outage_attempts, self.gave_up, how)
        self.outages.append(outage)
        self.move(UP, t)

    def close(self, t: float, how: str) -> Lane:
        self.end(t, how)
        if t > self.since:
            self.spans.append(Span(self.state, self.since, t))
        self.since = t
        return Lane(
            self.name,
            self.role,
            self.type,
            self.on_fail,
            tuple(self.spans),
            tuple(self.attempts),
            tuple(self.outages),
        )


class _Builder:
    def __init__(self, source: Source, settings: ServerSettings | None) -> None:
        self.source = source
        self.lanes: dict[str, _Lane] = {}
        self.configured = settings is not None
        for b in settings.backends if settings is not None else ():
            if b.reconnects:  # memfile: nothing to lose
                lane = self._lane(b.key, b.role, b.type, b.on_fail)
                lane.tries = b.max_reconnect_tries
        self.pending: tuple[float, Family | None] | None = None  # a loss not placed yet
        self.changes: list[Change] = []
        self.commands: list[Command] = []
        self.exit: Exit | None = None
        self.logs: list[LogLine] = []
        self.end = 0.0
        self.final_state = ""
        self.last_fatal: LogLine | None = None
        self.gave_up_exit: LogLine | None = None  # a backend of an *-exit on-fail gave up
        self.shutdown_requested = False
        self.started = not source.kea  # dbfsm records state the serving changes themselves

    def _lane(
        self, name: str, role: Role | None, db: DbType | None, on_fail: OnFail | None = None
    ) -> _Lane:
        lane = self.lanes.get(name)
        if lane is None:
            lane = self.lanes[name] = _Lane(name, role, db, on_fail)
        return lane

    # -- placing a message on a lane ---------------------------------------------------------

    def _matches(self, family: Family) -> list[_Lane]:
        role, db = family
        return [
            lane
            for lane in self.lanes.values()
            if lane.role is role and (lane.type is None or lane.type is db)
        ]

    def _family_lane(self, family: Family) -> _Lane:
        """The lane of a kind of backend the configuration (if any) does not name."""
        role, db = family
        name = ROLE_NAMES[role]
        taken = self.lanes.get(name)
        if taken is not None and taken.type not in (None, db):
            name = f"{name} ({db.value})"
        return self._lane(name, role, db)

    def _place(self, family: Family | None, *, create: bool = True) -> _Lane | None:
        """The lane a message of `family` is about: the one backend of that kind; of
        several, the one recovering (the latest to attempt, if more than one is)."""
        if family is None:
            return None
        matches = self._matches(family)
        if len(matches) == 1:
            return matches[0]
        if not matches:
            return self._family_lane(family) if create else None
        down = [lane for lane in matches if lane.state != UP]
        if len(down) == 1 or not create:
            return down[0] if len(down) == 1 else None
        return max(down or matches, key=lambda lane: lane.attempts[-1].t if lane.attempts else 0)

    def _losing(self, lane: _Lane, t: float) -> None:
        """`lane` shows it is recovering: its loss is the one kept, if it can be its."""
        if lane.state == UP and self.pending is not None:
            since, family = self.pending
            if family is None or (family[0] is lane.role):
                lane.lose(since)
            self.pending = None
        lane.lose(t)

    # -- reading ---------------------------------------------------------------------------------

    def read(self) -> None:
        lines, written = self.source.lines, self.source.written
        for index, record in enumerate(self.source.records):
            self.end = max(self.end, record.t)
            match record.type:
                case "log":
                    shown = written[index] if written else ""  # the ID as the log has it
                    self._log(record, lines[index] if lines else 0, shown)
                case "attempt":
                    d = record.data
                    key = str(d["backend"])
                    lane = self._lane(key, role_of_key(key), None)
                    self._losing(lane, record.t)
                    lane.attempt(record.t, int(d["n"]), int(d["of"]), bool(d["ok"]))
                case "serving":
                    self.changes.append(Change(record.t, bool(record.data["serving"])))
                case "command":
                    d = record.data
                    self.commands.append(
                        Command(record.t, str(d["command"]), int(d["result"]), str(d["text"]))
                    )
                case "exit":
                    self.exit = Exit(record.t, int(record.data["code"]), self._reason())
                case "summary":
                    self.final_state = str(record.data.get("state", ""))
                    code = record.data.get("exit_code")
                    if code is not None and self.exit is None:
                        self.exit = Exit(record.t, int(code), self._reason())

    def _log(self, record: Record, number: int, shown: str = "") -> None:
        d = record.data
        message_id, text, t = str(d["id"]), str(d["text"]), record.t
        family = family_of(message_id, text)
        lane: _Lane | None = None
        kea = self.source.kea
        if message_id.endswith("_DB_RECONNECT_LOST_CONNECTION"):
            lane = self._place(family, create=False)
            if lane is None:
                self.pending = (t, family)
            else:
                self._losing(lane, t)
        elif message_id.endswith("_DB_RECONNECT_ATTEMPT_FAILED") and kea:
            lane = self._place(family)
            if lane is not None:
                self._losing(lane, t)
                lane.attempt(t, lane.next_n, None, False)
        elif message_id.endswith("_DB_RECONNECT_SUCCEEDED") and kea:
            lane = self._place(family) or self._recovering()
            if lane is not None:
                self._losing(lane, t)
                lane.attempt(t, lane.next_n, None, True)
        elif message_id.endswith("_DB_RECONNECT_ATTEMPT_SCHEDULE"):
            lane = self._place(family)
            found = _SCHEDULE.search(text)
            if lane is not None and found is not None and kea:
                lane.scheduled(int(found[1]), int(found[2]))
        elif message_id.endswith(("_DB_RECONNECT_FAILED", "_DB_RECONNECT_DISABLED")):
            lane = self._place(family) or self._recovering()
            if lane is not None:
                self._losing(lane, t)
                exhausted = _EXHAUSTED.search(text)
                if exhausted is not None and lane.tries is None:
                    lane.scheduled(lane.next_n, int(exhausted[1]))
                lane.give_up(t)
        elif message_id.endswith(("_CONFIG_COMPLETE", "_DYNAMIC_RECONFIGURATION_SUCCESS")):
            self.started = True
            for each in self.lanes.values():
                each.end(t, RECONFIGURED)
        elif message_id.endswith("_STARTED"):
            self.started = True
        elif kea:
            self._kea_only(message_id, text, t, family)
        if lane is None and family is not None:  # any other message of a backend's kind
            lane = self._place(family, create=False)
        name = lane.name if lane is not None else None
        line = LogLine(t, shown or message_id, str(d["severity"]), text, name, number)
        self.logs.append(line)
        if line.severity == "FATAL":
            self.last_fatal = line
        if lane is not None and lane.state == GIVEN_UP and _exits(lane.on_fail):
            self.gave_up_exit = self.gave_up_exit or line

    def _kea_only(self, message_id: str, text: str, t: float, family: Family | None) -> None:
        """What a Kea log says that dbfsm's records say in records of their own."""
        if message_id == "COMMAND_RECEIVED":
            found = re.search(r"command '([^']*)'", text)
            name = found[1] if found else "(unnamed)"
            self.commands.append(Command(t, name, None, text))
            self.shutdown_requested |= name == "shutdown"
        elif message_id.endswith("_SHUTDOWN_REQUEST"):
            self.shutdown_requested = True
        elif message_id.endswith("_SHUTDOWN") and self.exit is None:
            failed = self.last_fatal is not None or self.gave_up_exit is not None
            code = 1 if failed else 0 if self.shutdown_requested else None
            self.exit = Exit(t, code, self._reason())
        opening = _OPENING.search(text)
        if opening is not None:
            db = DbType.MYSQL if opening[1] == "MySQL" else DbType.POSTGRESQL
            role = _OPENING_ROLE.get(opening[2], Role.CONFIG)
            lane = self._place((role, db))
            if lane is not None and lane.on_fail is None:
                with contextlib.suppress(ValueError):  # an on-fail Kea does not have
                    lane.on_fail = OnFail(opening[3])

    def _recovering(self) -> _Lane | None:
        """The one lane that is recovering, for a message that does not say whose it is."""
        down = [lane for lane in self.lanes.values() if lane.state in (LOST, RECONNECTING)]
        return down[0] if len(down) == 1 else None

    def _reason(self) -> str:
        """Why the server exited, as the records show it."""
        if self.last_fatal is not None:
            return f"{self.last_fatal.id}: {self.last_fatal.text}"
        if self.gave_up_exit is not None:
            return f"{self.gave_up_exit.id}: {self.gave_up_exit.text}"
        shutdown = next((c for c in reversed(self.commands) if c.name == "shutdown"), None)
        if shutdown is not None or self.shutdown_requested:
            return "the shutdown command (or a signal)"
        return "the server shut down"

    # -- serving, for a Kea log --------------------------------------------------------------

    def inferred_changes(self, lanes: Sequence[Lane], end: float) -> list[Change]:
        """Serving as each backend's on-fail makes it: not while a `stop-retry-*` backend
        (Kea's default) recovers, and not before the server started nor at its exit."""
        stops = [lane for lane in lanes if lane.on_fail in (None, OnFail.STOP_RETRY_EXIT)]
        start: float | None = 0.0
        if self._from_start():
            start = next((line.t for line in self.logs if _serves_from(line.id)), None)
        if start is None:  # it never started: never served
            return []
        off = _merged(
            [(a, b) for lane in stops for a, b in lane.down() if b > a]
            + ([(0.0, start)] if start > 0 else [])
        )
        changes = [] if off and off[0][0] == 0 else [Change(0.0, True)]
        for a, b in off:
            if a > 0:
                changes.append(Change(a, False))
            if b < end:
                changes.append(Change(b, True))
        if self.exit is not None and changes and changes[-1].serving:
            changes.append(Change(self.exit.t, False))
        return changes

    def _from_start(self) -> bool:
        return not any("begins after the server started" in note for note in self.source.notes)


def _serves_from(message_id: str) -> bool:
    return message_id.endswith(("_STARTED", "_CONFIG_COMPLETE"))


def _exits(on_fail: OnFail | None) -> bool:
    return on_fail in (None, OnFail.STOP_RETRY_EXIT, OnFail.SERVE_RETRY_EXIT)


def build(
    source: Source,
    settings: ServerSettings | None = None,
    *,
    serving: Sequence[Change] | None = None,
    exit_code: int | None = None,
) -> Incident:
    """The incident the records of `source` show. `serving` (the model's serving changes,
    from `conform`'s explanation of a Kea log) and `exit_code` replace what a Kea log cannot
    say itself."""
    builder = _Builder(source, settings)
    builder.read()
    ex = builder.exit
    if ex is not None and exit_code is not None and ex.code is None:
        ex = Exit(ex.t, exit_code, ex.reason)
    end = ex.t if ex is not None else builder.end
    how = EXITED if ex is not None else RUN_ENDED
    lanes = tuple(lane.close(end, how) for lane in builder.lanes.values())
    if serving is not None:
        changes, serving_source = list(serving), "model"
    elif not source.kea:
        changes, serving_source = builder.changes, "recorded"
    else:
        changes, serving_source = builder.inferred_changes(lanes, end), "inferred"
    return Incident(
        source.name,
        source.dialect,
        end,
        source.wall_start,
        lanes,
        tuple(changes),
        serving_source,
        tuple(builder.commands),
        ex,
        tuple(builder.logs),
        source.notes,
        builder.final_state,
    )
