"""The simulation as the oracle of live runs: the same scenario, compared record by record.

A live run (`dbfsm run CONFIG --format json`) is driven by a test that injects faults at
times it measures. The same configuration, with `down` / `up` events at those times and
continuous traffic, is then given to `dbfsm simulate --format json`, and the two timelines
must agree: the same `log` IDs in order (texts carry driver messages and are not compared),
the same `serving` changes, the same attempts (backend, n, of, ok), the same command
results and exit, each at a time within a stated `Tolerance` of the simulated one.

Times: the run's records carry `t`, seconds since the run started. The harness reads them as
they are printed and takes the run's start as the smallest `read time - t` seen (a record is
never read before it is written, so that bound is tight to the pipe's latency). Faults are
noted on the monotonic clock and converted with it.

Where live and simulated time legitimately part (see `Tolerance`): live opens take time
(the simulation's take none), so each live record is moved earlier by the time the opens
before it took, and each open must have ended within the timeouts that bound it; then a
record may be `base` away from the simulated one: one traffic interval (20 ms at the 50
requests a second the tests use), 0.1 s of event-loop slack, and the time the fault took to
inject. A fault whose moment is not a point (a server being started is accepting somewhere
between the call and its return) is a window: the oracle simulates each distinct outcome
inside the window and the live run must match one of them. A server that goes silent (hung,
black hole) is down for the model from the `Lost` its timeout produced; the test holds that
delay to the timeout.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

Record = dict[str, Any]
Key = tuple[Any, ...]

DBFSM = (sys.executable, "-m", "dbfsm")
# A subprocess that outlives this is a hung run, not a slow one.
PROCESS_GRACE = 30.0
# What the event loop of a run and of the harness may add to a record's time: a request in
# flight when the fault came, a timer firing late on a shared two-core machine, the pipe.
LOOP_SLACK = 0.1


# -- comparing two timelines --------------------------------------------------------------------


def parse_jsonl(text: str) -> list[Record]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def key_of(record: Mapping[str, Any]) -> Key | None:
    """What must be equal in a live and a simulated record; None for records not compared."""
    match record["type"]:
        case "log":
            return ("log", record["id"])
        case "serving":
            return ("serving", record["serving"])
        case "attempt":
            return ("attempt", record["backend"], record["n"], record["of"], record["ok"])
        case "command":
            return ("command", record["command"], record["result"])
        case "exit":
            return ("exit", record["code"])
    return None


@dataclass(frozen=True)
class Tolerance:
    """How far a live record's time may be from the simulated one.

    Kea schedules the next reconnect attempt `reconnect-wait-time` after the previous one
    *failed*, so a live loop runs late by the time its attempts took (a refused connection:
    milliseconds; a black hole: the whole connect timeout), where the simulation's attempts
    take none. The comparison therefore moves each live record earlier by the measured time
    of the attempts before it (`on_sim_clock`), requires every attempt to have ended within
    `attempt_bound` (the timeouts that bound it), and then allows `base`: noticing the loss
    (one traffic interval and a request in flight) and the time the fault took to inject.
    """

    base: float
    attempt_bound: float = 1.0


@dataclass
class Comparison:
    live: list[Record]
    sim: list[Record]
    tolerance: Tolerance
    mismatches: list[str] = field(default_factory=list)
    worst: float = 0.0  # the largest |t_live - t_sim| among matched records, after drift
    attempt_times: list[float] = field(default_factory=list)  # each live open's duration

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def report(self) -> str:
        lines = [f"tolerance: {self.tolerance}", *self.mismatches[:20]]
        lines.append("live (t on the run's clock):")
        lines += [f"  {_line(r)}" for r in self.live]
        lines.append("simulated:")
        lines += [f"  {_line(r)}" for r in self.sim]
        return "\n".join(lines)


def attempt_times(live: Sequence[Record]) -> list[tuple[float, float]]:
    """(end, duration) of each live connection attempt, the startup opens first.

    The startup opens begin at t=0 and end with the run's first record. A reconnect attempt
    begins where the engine logs `*_DB_RECONNECT_LOST_CONNECTION` (Kea logs it at every
    attempt) and ends with its `attempt` record. One backend in a loop at a time.
    """
    found: list[tuple[float, float]] = []
    if live and live[0]["t"] > 0:
        found.append((live[0]["t"], live[0]["t"]))
    began: float | None = None
    for r in live:
        if r["type"] == "log" and str(r["id"]).endswith("_DB_RECONNECT_LOST_CONNECTION"):
            began = r["t"]
        elif r["type"] == "attempt":
            start = r["t"] if began is None else began
            found.append((r["t"], r["t"] - start))
            began = None
    return found


def drift(live: Sequence[Record]) -> Callable[[float], float]:
    """Live time to simulated time: minus the time the attempts ended by then took."""
    times = attempt_times(live)

    def to_sim(t: float) -> float:
        return t - sum(duration for end, duration in times if end <= t)

    return to_sim


def on_sim_clock(live: Sequence[Record]) -> list[Record]:
    to_sim = drift(live)
    return [{**r, "t": round(to_sim(r["t"]), 6)} for r in live]


def compare(live: Sequence[Record], sim: Sequence[Record], tolerance: Tolerance) -> Comparison:
    """Compare two JSON Lines timelines (summaries included) under a tolerance."""
    result = Comparison(list(live), list(sim), tolerance)
    result.attempt_times = [d for _, d in attempt_times(live)]
    for n, duration in enumerate(result.attempt_times, 1):
        if duration > tolerance.attempt_bound:
            result.mismatches.append(
                f"live open #{n} took {duration:.3f}s, over its bound "
                f"{tolerance.attempt_bound:.3f}s"
            )
    live_steps = [(r, k) for r in on_sim_clock(live) if (k := key_of(r)) is not None]
    sim_steps = [(r, k) for r in sim if (k := key_of(r)) is not None]
    live_keys = [k for _, k in live_steps]
    sim_keys = [k for _, k in sim_steps]
    if live_keys != sim_keys:
        result.mismatches.append("the sequences differ (- simulated, + live):")
        diff = difflib.unified_diff([repr(k) for k in sim_keys], [repr(k) for k in live_keys])
        result.mismatches += [f"  {line}" for line in list(diff)[2:40]]
        return result
    for (lr, key), (sr, _) in zip(live_steps, sim_steps, strict=True):
        lag = lr["t"] - sr["t"]
        result.worst = max(result.worst, abs(lag))
        if abs(lag) > tolerance.base:
            result.mismatches.append(
                f"{key!r}: live at {lr['t']:.3f}s (less attempt time), simulated at "
                f"{sr['t']:.3f}s ({lag:+.3f}s, allowed ±{tolerance.base:.3f}s)"
            )
    live_end, sim_end = _summary(live), _summary(sim)
    for name in ("exit_code", "serving", "state"):
        if live_end.get(name) != sim_end.get(name):
            result.mismatches.append(
                f"summary {name}: live {live_end.get(name)!r}, simulated {sim_end.get(name)!r}"
            )
    return result


def _summary(records: Sequence[Record]) -> Record:
    ends = [r for r in records if r["type"] == "summary"]
    return ends[-1] if ends else {}


def _line(r: Mapping[str, Any]) -> str:
    rest = {k: v for k, v in r.items() if k not in ("t", "type", "text")}
    return f"{r['t']:8.3f} {r['type']:<8} {json.dumps(rest)}"


# -- the equivalent scenario ---------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """A change the test made, in the run's time base.

    `kind` is `down` or `up` (of `backend`), or `command` (a control-channel request).
    `settled` is the end of the window in which the change took effect, when that is not a
    point (a server starting is accepting at some moment between the call and its return).
    """

    at: float
    kind: str
    backend: str = "lease-database"
    settled: float | None = None
    command: Mapping[str, Any] | None = None
    live_at: float = 0.0  # `at` on the run's clock, kept when `at` moves to the simulation's

    def event(self, at: float | None = None) -> dict[str, Any]:
        when = round(self.at if at is None else at, 6)
        if self.kind == "command":
            return {"at": when, "command": self.command}
        return {"at": when, self.kind: self.backend}


Traffic = str | Mapping[str, float]


def scenario(
    config: Mapping[str, Any],
    faults: Iterable[Fault],
    until: float,
    traffic: Traffic = "continuous",
) -> dict[str, Any]:
    """The scenario of a live run: its configuration, its traffic, its faults.

    Continuous traffic notices a loss the moment the server goes; periodic traffic (one
    request every interval of the live rate) when a connection breaks while the server stays
    up (a terminated session), so the server is back before the loss is noticed.
    """
    events = [f.event() for f in faults]
    return {"config": config, "until": until, "traffic": traffic, "events": events}


def simulate(document: Mapping[str, Any]) -> list[Record]:
    """`dbfsm simulate --format json` on a scenario, as a user would run it."""
    with tempfile.TemporaryDirectory(prefix="dbfsm-oracle-") as tmp:
        path = os.path.join(tmp, "scenario.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(document, f)
        done = subprocess.run(
            [*DBFSM, "simulate", path, "--format", "json"],
            capture_output=True,
            text=True,
            timeout=PROCESS_GRACE,
            check=False,
        )
    if done.returncode != 0:
        raise AssertionError(f"dbfsm simulate failed ({done.returncode}): {done.stderr}")
    return parse_jsonl(done.stdout)


def agree(
    live: Sequence[Record],
    config: Mapping[str, Any],
    faults: Sequence[Fault],
    until: float,
    tolerance: Tolerance,
    traffic: Traffic = "continuous",
) -> Comparison:
    """The best comparison of `live` with the simulations the faults allow, up to `until`
    (the run's end on its clock).

    The faults' times are on the run's clock; they move to the simulation's as the records
    do (`drift`). A fault with a window is simulated at the window's start, its end, and
    just before each simulated attempt inside it (the only moments where the outcome can
    change).
    """
    to_sim = drift(live)
    ups = [f for f in faults if f.settled is not None]
    straddling = [
        (to_sim(end - took), end - took, end)
        for end, took in attempt_times(live)
        if any(end - took <= up.settled and end >= up.at for up in ups)  # type: ignore[operator]
    ]
    faults = [_on(f, to_sim) for f in faults]
    until = round(to_sim(until), 6)
    best: Comparison | None = None
    for candidate in _candidates(config, faults, until, traffic, straddling):
        comparison = compare(live, simulate(scenario(config, candidate, until, traffic)), tolerance)
        if comparison.ok:
            return comparison
        if best is None or len(comparison.mismatches) < len(best.mismatches):
            best = comparison
    assert best is not None
    return best


def _candidates(
    config: Mapping[str, Any],
    faults: Sequence[Fault],
    until: float,
    traffic: Traffic,
    straddling: Sequence[tuple[float, float, float]] = (),
) -> Iterator[list[Fault]]:
    """Fault lists to simulate: windows at their ends, then at each moment that matters.

    `straddling` holds live attempts as (start on the simulation's clock, live start, live
    end): an attempt under way while the server came back may have gone either way, so the
    server being back just before it is a candidate too.
    """
    windowed = [i for i, f in enumerate(faults) if f.settled is not None and f.settled > f.at]
    if not windowed:
        yield list(faults)
        return
    # The latest moments first: the common case is a server accepting when start() returns.
    latest = [_at(f, f.settled) if i in windowed else f for i, f in enumerate(faults)]
    yield latest
    earliest = [_at(f, f.at) for f in faults]
    yield earliest
    simulated = simulate(scenario(config, latest, until, traffic))
    moments = [r["t"] for r in simulated if r["type"] == "attempt"]
    for i in windowed:
        fault = faults[i]
        assert fault.settled is not None
        inside = [t for t in moments if fault.at < t < fault.settled]
        inside += [t for t, _, end in straddling if fault.live_at <= end]
        for t in inside:
            yield [_at(f, t - 0.001) if j == i else latest[j] for j, f in enumerate(faults)]


def _on(fault: Fault, to_sim: Callable[[float], float]) -> Fault:
    settled = None if fault.settled is None else to_sim(fault.settled)
    return Fault(to_sim(fault.at), fault.kind, fault.backend, settled, fault.command, fault.at)


def _at(fault: Fault, at: float | None) -> Fault:
    when = at if at is not None else fault.at
    return Fault(when, fault.kind, fault.backend, None, fault.command, fault.live_at)


# -- the live run ---------------------------------------------------------------------------------


class RunProcess:
    """`dbfsm run CONFIG --format json` as a subprocess, its records read as they come.

    Its standard error goes to a file (a pipe nobody reads could fill and stall the run) and
    is shown when something the test waits for does not come.
    """

    def __init__(
        self,
        config_path: str,
        *,
        until: float,
        traffic: float,
        probe_interval: float | None = None,
    ) -> None:
        self.until = until
        argv = [*DBFSM, "run", config_path, "--format", "json", "--until", f"{until:g}"]
        argv += ["--traffic", f"{traffic:g}"]
        if probe_interval is not None:
            argv += ["--probe-interval", f"{probe_interval:g}"]
        self._argv = argv
        self._process: subprocess.Popen[str] | None = None
        self._records: list[tuple[float, Record]] = []
        self._changed = threading.Condition()
        self._reader: threading.Thread | None = None
        # Open for the whole run; close() closes it.
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        self.returncode: int | None = None

    def start(self) -> RunProcess:
        self._process = subprocess.Popen(
            self._argv,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_for(lambda r: True, timeout=15.0, what="the run's first record")
        return self

    def close(self) -> None:
        """Kill the run if it is still going; release its pipe and file."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=PROCESS_GRACE)
        if process is not None and process.stdout is not None:
            process.stdout.close()
        self._stderr.close()

    def stderr(self, lines: int = 20) -> str:
        """The last lines the run wrote on its standard error."""
        self._stderr.flush()
        self._stderr.seek(0)
        return "\n".join(self._stderr.read().splitlines()[-lines:])

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            read_at = time.monotonic()
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = {"t": -1.0, "type": "unparsable", "line": line}
            with self._changed:
                self._records.append((read_at, record))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    # -- time ------------------------------------------------------------------------------------

    @property
    def started(self) -> float:
        """The run's t=0 on the monotonic clock: no record is read before it is written."""
        with self._changed:
            timed = [at - float(r["t"]) for at, r in self._records if r.get("t", -1) >= 0]
        if not timed:
            raise AssertionError("the run printed no record yet")
        return min(timed)

    def at(self, monotonic: float) -> float:
        """A monotonic moment in the run's time base."""
        return monotonic - self.started

    # -- records ---------------------------------------------------------------------------------

    @property
    def records(self) -> list[Record]:
        with self._changed:
            return [r for _, r in self._records]

    def wait_for(
        self, match: Callable[[Record], bool], *, timeout: float, what: str, after: int = 0
    ) -> Record:
        """The first record from index `after` that matches, waiting for it if need be."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for _, record in self._records[after:]:
                    if match(record):
                        return record
                left = deadline - time.monotonic()
                ended = self._reader is not None and not self._reader.is_alive()
                if left <= 0 or ended:
                    seen = "\n".join(_line(r) for _, r in self._records)
                    raise AssertionError(
                        f"no {what} within {timeout}s; the run printed:\n{seen}\n"
                        f"and on stderr:\n{self.stderr()}"
                    )
                self._changed.wait(min(left, 0.05))

    def wait_log(self, message_id: str, *, timeout: float, after: int = 0) -> Record:
        return self.wait_for(
            lambda r: r["type"] == "log" and r["id"] == message_id,
            timeout=timeout,
            what=message_id,
            after=after,
        )

    def finish(self, timeout: float | None = None, settle: float | None = None) -> list[Record]:
        """Wait for the run to end (`--until`, an exit, or SIGTERM `settle` s from now)."""
        assert self._process is not None
        if settle is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=settle)
            if self._process.poll() is None:
                self._process.terminate()  # a clean stop: summary, exit status 0
        try:
            self.returncode = self._process.wait(timeout=timeout or self.until + PROCESS_GRACE)
        except subprocess.TimeoutExpired as err:
            raise AssertionError(f"dbfsm run did not end by itself: {self._argv}") from err
        if self._reader is not None:
            self._reader.join(timeout=PROCESS_GRACE)
        return self.records


def command(socket_path: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """`dbfsm command SOCKET -`: the answer (the request on stdin: a config-set's password
    stays out of the process list)."""
    done = subprocess.run(
        [*DBFSM, "command", socket_path, "-"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=PROCESS_GRACE,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"dbfsm command failed ({done.returncode}): {done.stderr}")
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def command_arrival(records: Sequence[Record], name: str, nth: int = 0) -> float:
    """When the run received the `nth` command `name`: its own COMMAND_RECEIVED record.

    The client's call window includes starting an interpreter; the run's receipt is the
    moment the command reached the engine, which is what the simulation needs.
    """
    received = [
        r["t"]
        for r in records
        if r["type"] == "log" and r["id"] == "COMMAND_RECEIVED" and f"'{name}'" in r.get("text", "")
    ]
    if len(received) <= nth:
        raise AssertionError(f"the run logged no COMMAND_RECEIVED for {name} #{nth + 1}")
    return float(received[nth])


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """Note the monotonic start and end of a block: `with timed() as w: ...; w == [s, e]`."""
    window = [time.monotonic()]
    yield window
    window.append(time.monotonic())


# -- one live case and its oracle -------------------------------------------------------------


class Case:
    """A live run's configuration, the faults the test injected, and the oracle's verdict.

    The configuration has one lease database (a private server's map, through a fault proxy
    when the test gives its port) and a control socket in a short private directory (a Unix
    socket path is limited to 107 bytes).
    """

    def __init__(self, database: Mapping[str, Any], *, traffic: float = 50.0) -> None:
        self.directory = tempfile.mkdtemp(prefix="dbfsm-live-")
        self.socket = os.path.join(self.directory, "control.sock")
        self.traffic = traffic
        self.config: dict[str, Any] = {
            "Dhcp4": {
                "control-socket": {"socket-type": "unix", "socket-name": self.socket},
                "lease-database": dict(database),
            }
        }
        self.path = os.path.join(self.directory, "kea-dhcp4.json")
        with open(self.path, "w", encoding="utf-8") as f:
            json.dump(self.config, f, indent=2)
        self.faults: list[Fault] = []
        self.windows: list[tuple[str, float, float]] = []  # kind, monotonic start, end
        self.run: RunProcess | None = None
        self.sim_traffic: Traffic = "continuous"

    def start(self, until: float, probe_interval: float | None = None) -> RunProcess:
        self.run = RunProcess(
            self.path, until=until, traffic=self.traffic, probe_interval=probe_interval
        )
        return self.run.start()

    def close(self) -> None:
        if self.run is not None:
            self.run.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- faults ------------------------------------------------------------------------------

    def down(self, action: Callable[[], object]) -> float:
        """Break the server with `action`; the moment it began is the simulated `down`."""
        return self._note("down", action)

    def silent(self, action: Callable[[], object]) -> float:
        """Make the server go silent (hung, black hole): nothing is refused, nothing answers.

        For the model the server is down from the moment a timeout says so, the run's first
        `Lost` after the fault; the time that took is measured (`detections`) and held to
        the timeout by the test, as an attempt's duration is.
        """
        return self._note("silent", action)

    def up(self, action: Callable[[], object]) -> float:
        """Bring the server back with `action`: accepting somewhere within the call."""
        return self._note("up", action)

    def break_connections(self, action: Callable[[], object]) -> float:
        """Break the open connections while the server stays up (a terminated session)."""
        self.sim_traffic = {"every": 1.0 / self.traffic}
        return self._note("break", action)

    def down_before_start(self) -> None:
        """The server is unreachable when the run starts (`down` at 0)."""
        self.faults.append(Fault(0.0, "down"))

    def _note(self, kind: str, action: Callable[[], object]) -> float:
        with timed() as window:
            action()
        self.windows.append((kind, window[0], window[1]))
        return window[1] - window[0]

    def command(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Send a control-channel command with `dbfsm command`; its answer."""
        answer = command(self.socket, request)
        self.windows.append(("command:" + json.dumps(request), 0.0, 0.0))
        return answer

    def config_set(self, database: Mapping[str, Any]) -> dict[str, Any]:
        """`config-set` with this configuration's lease database replaced by `database`."""
        arguments = copy_config(self.config)
        arguments["Dhcp4"]["lease-database"] = dict(database)
        return self.command({"command": "config-set", "arguments": arguments})

    # -- the verdict -------------------------------------------------------------------------

    def finish(self, settle: float | None = None) -> list[Record]:
        """The run's records once it ended; `settle` seconds more, then a clean stop."""
        assert self.run is not None
        return self.run.finish(settle=settle)

    def all_faults(self, records: Sequence[Record]) -> list[Fault]:
        """The faults in the run's time base, commands at the moment the run received them."""
        assert self.run is not None
        faults = list(self.faults)
        seen: dict[str, int] = {}
        for kind, start, end in self.windows:
            if kind.startswith("command:"):
                request = json.loads(kind.removeprefix("command:"))
                name = request["command"]
                at = command_arrival(records, name, seen.get(name, 0))
                seen[name] = seen.get(name, 0) + 1
                faults.append(Fault(at, "command", command=request))
            elif kind == "up":
                faults.append(Fault(self.run.at(start), "up", settled=self.run.at(end)))
            elif kind == "silent":
                faults.append(Fault(_first_loss(records, self.run.at(start)), "down"))
            elif kind == "break":
                at = self.run.at(start)
                faults += [Fault(at, "down"), Fault(at, "up")]
            else:
                faults.append(Fault(self.run.at(start), kind))
        return sorted(faults, key=lambda f: f.at)  # stable: a break stays down, then up

    def injection_time(self) -> float:
        """The longest time a fault took to inject (a kill waits for the processes to die)."""
        return max((end - start for kind, start, end in self.windows if kind != "up"), default=0)

    def tolerance(self, detection_bound: float = 0.0) -> Tolerance:
        """One traffic interval, the event loop's slack, the longest fault injection and the
        timeout that bounds noticing the fault (a hung or black-holed server); an attempt
        bounded by the connect (and, for MySQL, read) timeout it was given, plus 10 %."""
        injections = [end - start for kind, start, end in self.windows if kind != "up"]
        base = 1.0 / self.traffic + LOOP_SLACK + max(injections, default=0.0) + detection_bound
        db = self.config["Dhcp4"]["lease-database"]
        # The timeout that ends a silent attempt, plus 10 % (the targets allow it) and slack.
        timeout = max(db.get("connect-timeout", 5), db.get("read-timeout", 0))
        bound = timeout * 1.1 + LOOP_SLACK
        return Tolerance(base=round(base, 3), attempt_bound=bound)

    def verdict(self, records: Sequence[Record], tolerance: Tolerance) -> Comparison:
        assert self.run is not None
        faults = self.all_faults(records)
        end = records[-1]["t"] if records and records[-1]["type"] == "summary" else self.run.until
        return agree(records, self.config, faults, end, tolerance, self.sim_traffic)


def _first_loss(records: Sequence[Record], since: float) -> float:
    lost = [t for t in _losses(records) if t >= since]
    if not lost:
        raise AssertionError(f"the run noticed no loss after {since:.3f}s")
    return float(lost[0])


def _losses(records: Sequence[Record]) -> list[float]:
    """When the engine heard `Lost`: its LOST_CONNECTION logs outside the startup loop."""
    return [
        r["t"]
        for r in records
        if r["type"] == "log"
        and str(r["id"]).endswith("_DB_RECONNECT_LOST_CONNECTION")
        and "manager ID: 0," not in r.get("text", "")
    ]


def copy_config(config: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(config))  # type: ignore[no-any-return]


# -- what the live tests share ---------------------------------------------------------------

# The reconnect loop is small so the tests stay fast: 6 attempts 400 ms apart, a budget of
# 2.4 s after a loss, longer than either private server takes to start again after a crash.
TRIES = 6
WAIT_MS = 400
BUDGET = TRIES * WAIT_MS / 1000
# A run ends by itself when the server exits, or is stopped (SIGTERM) SETTLE seconds after
# the last thing the test waits for; LONGEST only bounds a run that goes wrong.
SETTLE = 0.5
LONGEST = 30.0
TRAFFIC = 50.0  # requests a second: a loss is noticed within 20 ms of the fault
# Short timeouts so that no attempt can hang a test: they bound the hung and black-holed
# cases, and fire in no other.
TIMEOUTS: dict[str, dict[str, int]] = {
    "postgresql": {"connect-timeout": 2, "tcp-user-timeout": 2},
    "mysql": {"connect-timeout": 2, "read-timeout": 2, "write-timeout": 2},
}


def database(server: Any, **overrides: Any) -> dict[str, Any]:
    """The server's database map with the small reconnect loop and short timeouts."""
    loop = {"max-reconnect-tries": TRIES, "reconnect-wait-time": WAIT_MS}
    return dict(server.database_map(**{**TIMEOUTS[server.kind], **loop, **overrides}))


@pytest.fixture
def case_for() -> Iterator[Callable[..., Case]]:
    """`case_for(database_map)`: a Case whose run and files are gone after the test."""
    made: list[Case] = []

    def make(db: dict[str, Any], traffic: float = TRAFFIC) -> Case:
        made.append(Case(db, traffic=traffic))
        return made[-1]

    yield make
    for case in made:
        case.close()


def assert_agrees(case: Case, records: list[Record], detection_bound: float = 0.0) -> Comparison:
    """The oracle's verdict must be yes; what it measured is printed (pytest -s shows it)."""
    verdict = case.verdict(records, case.tolerance(detection_bound))
    assert verdict.ok, verdict.report()
    opens = ", ".join(f"{d * 1000:.0f}" for d in verdict.attempt_times)
    faults = ", ".join(f"{f.kind} at {f.at:.3f}s" for f in case.all_faults(records))
    print(f"\nagrees with the simulation: worst time difference {verdict.worst * 1000:.0f} ms;")
    print(f"  faults: {faults}; opens took [{opens}] ms")
    return verdict


def detections(case: Case, records: Sequence[Record]) -> list[float]:
    """For each loss the test caused, the time from the fault to the engine's `Lost`."""
    assert case.run is not None
    lost = _losses(records)
    found = []
    for kind, start, _ in case.windows:
        if kind in ("down", "silent", "break"):
            at = case.run.at(start)
            after = [t for t in lost if t >= at - 0.005]
            if after:
                found.append(after[0] - at)
    return found
