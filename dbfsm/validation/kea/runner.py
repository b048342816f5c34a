"""`dbfsm spec run --target kea`: every case of the clauses against a real Kea, in parallel.

Each worker (`--jobs`) has its own private servers and takes cases one at a time; a case
runs in its own private directory (kept under `--keep DIR`, else removed) and ends with a
verdict (`dbfsm.validation.kea.verdicts`) and, for a recorded log, `dbfsm conform`'s word on
it: a disagreement between the model and what Kea did is printed as such. Ctrl-C, a failing
case or an error stops every process started and removes every private directory.
"""

from __future__ import annotations

import queue
import shutil
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dbfsm.files.output import write_file
from dbfsm.fsm import messages
from dbfsm.fsm.errors import InputError
from dbfsm.fsm.records import Record, summary
from dbfsm.validation import conform as conformance
from dbfsm.validation import kealog
from dbfsm.validation.clauses import Case, Clause, ClauseFile, divergence, flow
from dbfsm.validation.kea import observed
from dbfsm.validation.kea.binaries import Binaries
from dbfsm.validation.kea.certs import make_pki
from dbfsm.validation.kea.databases import Servers, SetupError
from dbfsm.validation.kea.player import PROBE_EVERY, Player, Run
from dbfsm.validation.kea.servers import ServerError
from dbfsm.validation.kea.verdicts import Divergence, not_applicable
from dbfsm.validation.traces import read_trace

EXCERPT = 25
PASS, FAIL, NA, DIVERGES = "pass", "fail", "not applicable", "diverges"


@dataclass(frozen=True)
class Outcome:
    file: ClauseFile
    clause: Clause
    case: Case
    verdict: str
    reason: str  # why n/a, what diverges, or the first divergence of a fail
    detail: str  # a fail's expected / observed side by side and log excerpt
    conform: str  # conform's disagreement ("" when the log conforms, or no log)
    seconds: float


@dataclass(frozen=True)
class Options:
    jobs: int
    keep: Path | None
    only: tuple[str, ...]


def run_cases(
    files: Sequence[ClauseFile],
    binaries: Binaries,
    divergences: Sequence[Divergence],
    options: Options,
) -> list[Outcome]:
    work = [(f, c, k) for f in files for c in f.clauses for k in c.cases if _chosen(c, options)]
    root = options.keep or Path(tempfile.mkdtemp(prefix="dbfsm-kea-"))
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    pki = make_pki(root / "pki")
    for path in (root / "pki").iterdir():
        path.chmod(0o644)  # the servers' users and Kea read them
    todo: queue.Queue[tuple[int, tuple[ClauseFile, Clause, Case]]] = queue.Queue()
    for i, item in enumerate(work):
        todo.put((i, item))
    results: dict[int, Outcome] = {}
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker(done: threading.Event) -> None:
        servers = Servers(pki)
        try:
            while not stop.is_set():
                try:
                    i, (file, clause, case) = todo.get_nowait()
                except queue.Empty:
                    return
                started = time.monotonic()
                try:
                    results[i] = _one(
                        file,
                        clause,
                        case,
                        binaries,
                        divergences,
                        servers,
                        root / f"case{i + 1:03d}",
                        stop,
                    )
                except Exception as err:
                    why = f"could not be played: {type(err).__name__}: {err}"
                    results[i] = Outcome(
                        file, clause, case, FAIL, why, "", "", time.monotonic() - started
                    )
                _progress(results[i])
        except BaseException as err:
            errors.append(err)
            stop.set()
        finally:
            try:
                servers.cleanup()
            finally:
                done.set()

    # The workers are waited for on events of their own, never with Thread.join or is_alive:
    # in CPython 3.11 a join that Ctrl-C interrupts marks the thread it waits for as finished
    # while it still runs (python/cpython#90882), so the run ended, and the interpreter stopped
    # the daemon workers, in the middle of their cleanup (a server's directory half removed).
    finished = [threading.Event() for _ in range(max(1, options.jobs))]
    threads = [threading.Thread(target=worker, args=(e,), daemon=True) for e in finished]
    started: list[threading.Event] = []
    try:
        for thread, event in zip(threads, finished, strict=True):
            thread.start()
            started.append(event)
        _wait(started)
    except KeyboardInterrupt:
        stop.set()
        _wait(started, interruptible=False)
        raise
    finally:
        if options.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    if errors:
        raise errors[0]
    return [results[i] for i in sorted(results)]


def _wait(finished: Sequence[threading.Event], *, interruptible: bool = True) -> None:
    """Until every worker has finished, its servers cleaned up. It polls (`is_set` takes no
    lock, so a Ctrl-C cannot leave one held); once stopping, a further Ctrl-C does not cut
    the workers' cleanup short."""
    while not all(e.is_set() for e in finished):
        try:
            time.sleep(0.05)
        except KeyboardInterrupt:
            if interruptible:
                raise


def _chosen(clause: Clause, options: Options) -> bool:
    return not options.only or clause.id in options.only


def _progress(outcome: Outcome) -> None:
    sys.stderr.write(
        f"  [{outcome.seconds:5.1f}s] {outcome.verdict:<14} {outcome.clause.id}: "
        f"{outcome.case.name}\n"
    )


def _one(
    file: ClauseFile,
    clause: Clause,
    case: Case,
    binaries: Binaries,
    divergences: Sequence[Divergence],
    servers: Servers,
    directory: Path,
    stop: threading.Event,
) -> Outcome:
    started = time.monotonic()
    reason = not_applicable(case, binaries.version_tuple)
    if reason:
        return Outcome(
            file,
            clause,
            case,
            NA,
            f"not applicable to Kea {binaries.version}: {reason}",
            "",
            "",
            0.0,
        )
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    try:
        run = Player(case, binaries, servers, directory, stop).play()
    except (SetupError, ServerError, OSError) as err:
        seconds = time.monotonic() - started
        return Outcome(file, clause, case, FAIL, f"could not be played: {err}", "", "", seconds)
    records, end, text = _records(case, run)
    loose = observed.loosen(observed.translate(case, run.schema_versions))
    found = divergence(loose, records, end)
    verdict, why, detail = PASS, "", ""
    if found is not None:
        verdict, why = FAIL, str(found)
        detail = _detail(loose, records, text, found.t)
        for known in divergences:
            applies = binaries.version in known.versions and known.affects(case)
            if applies and divergence(known.without(loose), records, end) is None:
                why = f"diverges in Kea {binaries.version}: {known.what}"
                verdict, detail = DIVERGES, ""
                break
    if verdict == FAIL and divergence(observed.without_blips(loose), records, end) is None:
        verdict, detail = NA, ""
        why = (
            f"not applicable to Kea {binaries.version}: the case expects the service to stop and "
            "return within one instant, a change too short for the wire to see (probes every "
            f"{PROBE_EVERY:g} s); the rest of the case matches"
        )
    disagreement = _conform(case, run, text)
    return Outcome(
        file, clause, case, verdict, why, detail, disagreement, time.monotonic() - started
    )


def _records(case: Case, run: Run) -> tuple[list[Record], Record, str]:
    file_text = run.log.read_text(errors="replace") if run.log.exists() else ""
    console = run.console.read_text(errors="replace") if run.console.exists() else ""
    text = observed.log_text(file_text, console)
    (run.directory / "merged.log").write_text(text)
    settings = case.scenario.settings
    logs = [
        r
        for r in observed.log_records(text, run.universe, run.start, settings)
        if r.type != "log" or r.data["id"] in messages.catalogue()
    ]
    seen = list(run.seen)
    if run.exit_code is not None:
        last = logs[-1].t + run.start if logs else run.exit_at or run.start
        at = last if run.exit_at is None or run.exit_at - last < 1.0 else run.exit_at
        if run.serving_seen or not any(o.record.type == "serving" for o in seen):
            # a server that has exited serves nobody (one that never started: from the start)
            seen.append(observed.Timed(at + 5e-5, Record(0, "serving", {"serving": False})))
        seen.append(observed.Timed(at + 1e-4, Record(0, "exit", {"code": run.exit_code})))
    merged = observed.merge(logs, seen, run.start)
    merged = observed.not_after(merged, case.scenario.until)
    records = observed.snap(merged, case)
    end = summary(case.scenario.until, run.exit_code, run.serving, _state(case, run))
    return records, end, text


def _state(case: Case, run: Run) -> str:
    """What the wire can tell of the server's state: exited, serving, or some state in which
    it runs but serves nobody (then the one the case names, if it names such a state)."""
    if run.exit_code is not None:
        return "exited"
    if run.serving:
        return "serving"
    wanted = case.end.get("state")
    return (
        wanted if isinstance(wanted, str) and wanted not in ("serving", "exited") else "not_serving"
    )


def _detail(case: Case, records: Sequence[Record], text: str, at: float) -> str:
    expected = [e.describe() for e in case.expect]
    observed_lines = [
        flow(r)
        for r in records
        if r.type in ("log", "serving", "attempt", "command", "exit")
        and (r.type != "log" or conformance.observe(r, case.scenario.settings) is not None)
    ]
    width = max((len(x) for x in expected), default=10) + 2
    rows = ["          expected".ljust(width + 10) + "observed"]
    for i in range(max(len(expected), len(observed_lines))):
        left = expected[i] if i < len(expected) else ""
        right = observed_lines[i] if i < len(observed_lines) else ""
        rows.append("          " + left.ljust(width) + right)
    rows.append("          log excerpt (INFO and above, within 1 s of the divergence):")
    rows += [f"          | {ln[:160]}" for ln in _excerpt(text, at, case)]
    return "\n".join(rows)


def _excerpt(text: str, at: float, case: Case) -> list[str]:
    lines = [ln for ln in text.splitlines() if kealog.looks_like_kea_log(ln)]
    try:
        log = kealog.read(text, case.scenario.settings.universe, "kea.log")
    except InputError:
        return lines[-EXCERPT:]
    t0 = log.lines[0].record.t if log.lines else 0.0
    near = [
        ln.written
        for ln in log.lines
        if ln.record.data.get("severity") != "DEBUG" and abs(ln.record.t - t0 - at) <= 1.0
    ]
    return near[:EXCERPT] or [ln.written for ln in log.lines[-EXCERPT:]]


def _conform(case: Case, run: Run, text: str) -> str:
    """`dbfsm conform` on the recorded log: "" when it conforms (or there is no log)."""
    path = run.directory / "merged.log"
    if not text.strip():
        return ""
    settings = case.scenario.settings
    try:
        trace = read_trace(str(path), settings)
        verdict = conformance.conform(
            settings,
            str(run.directory / "kea.json"),
            trace,
            conformance.DEFAULT_TOLERANCE,
            run.exit_code,
        )
    except InputError as err:
        return f"conform could not read the log: {err}"
    if verdict.failure is None:
        return ""
    return conformance.report(verdict).strip()


# -- what is printed ----------------------------------------------------------------------------


def report(files: Sequence[ClauseFile], outcomes: Sequence[Outcome]) -> str:
    by_clause: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_clause.setdefault(o.clause.id, []).append(o)
    lines = []
    for file in files:
        mine = [c for c in file.clauses if c.id in by_clause]
        if not mine:
            continue
        lines.append(f"{file.path}: {file.title}" if file.title else file.path)
        for clause in mine:
            outs = by_clause[clause.id]
            counts = Counter(o.verdict for o in outs)
            tag = (
                "FAIL"
                if counts[FAIL]
                else "PASS"
                if counts[PASS] == len(outs)
                else ("DIVG" if counts[DIVERGES] else "n/a " if counts[NA] == len(outs) else "PASS")
            )
            parts = ", ".join(f"{n} {v}" for v, n in counts.items())
            lines.append(f"  {tag}  {clause.id} ({parts})")
            for o in outs:
                if o.verdict != PASS:
                    lines.append(f"        case {o.case.name!r} ({o.case.where}): {o.verdict}")
                    lines.append(f"          {o.reason}")
                    if o.detail:
                        lines.append(o.detail)
                if o.conform:
                    lines.append(
                        f"        case {o.case.name!r}: MODEL DISAGREEMENT "
                        "(dbfsm conform on Kea's log):"
                    )
                    lines += [f"          {ln}" for ln in o.conform.splitlines()]
    return "\n".join(lines) + "\n"


def summary_line(outcomes: Sequence[Outcome], binaries: Binaries, seconds: float, jobs: int) -> str:
    counts = Counter(o.verdict for o in outcomes)
    disagreements = sum(1 for o in outcomes if o.conform)
    lines = [
        f"Kea {binaries.version} ({binaries.dhcp4 or binaries.dhcp6}): {len(outcomes)} cases: "
        f"{counts[PASS]} pass, {counts[FAIL]} fail, {counts[NA]} not applicable, "
        f"{counts[DIVERGES]} diverge; {disagreements} model disagreements; "
        f"{seconds:.1f}s with --jobs {jobs}"
    ]
    for reason, n in Counter(o.reason for o in outcomes if o.verdict == DIVERGES).items():
        lines.append(f"  {n} case(s) {reason}")
    return "\n".join(lines) + "\n"


def junit(outcomes: Sequence[Outcome], binaries: Binaries) -> bytes:
    root = ET.Element("testsuites", name=f"dbfsm spec --target kea (Kea {binaries.version})")
    suites: dict[str, ET.Element] = {}
    for o in outcomes:
        suite = suites.get(o.file.path)
        if suite is None:
            suite = suites[o.file.path] = ET.SubElement(root, "testsuite", name=o.file.path)
        case = ET.SubElement(
            suite, "testcase", classname=o.clause.id, name=o.case.name, time=f"{o.seconds:.3f}"
        )
        if o.verdict == FAIL:
            failure = ET.SubElement(case, "failure", message=o.reason)
            failure.text = f"{o.case.where}\n{o.reason}\n{o.detail}\n"
        elif o.verdict in (NA, DIVERGES):
            ET.SubElement(case, "skipped", message=o.reason)
        if o.conform:
            ET.SubElement(case, "system-out").text = "model disagreement:\n" + o.conform
    for suite in suites.values():
        cases = list(suite)
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        suite.set("errors", "0")
        suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
        suite.set("time", f"{sum(float(c.get('time', '0')) for c in cases):.3f}")
    for name in ("tests", "failures", "errors", "skipped"):
        root.set(name, str(sum(int(s.get(name, "0")) for s in root)))
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True)) + b"\n"


def write_junit(path: str, outcomes: Sequence[Outcome], binaries: Binaries) -> None:
    write_file(path, junit(outcomes, binaries), "JUnit XML")
