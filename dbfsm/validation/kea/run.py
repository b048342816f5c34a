"""`dbfsm spec run --target kea`: read the clauses, find Kea, run, print, exit status."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from dbfsm.fsm.errors import InputError
from dbfsm.validation.clauses import ClauseFile
from dbfsm.validation.kea import binaries, runner
from dbfsm.validation.kea.verdicts import DIVERGENCES, read_divergences


def check_kea(
    files: Sequence[ClauseFile],
    specs: Path,
    *,
    dhcp4: str | None,
    dhcp6: str | None,
    admin: str | None,
    only: Sequence[str],
    junit_file: str | None,
    keep: str | None,
    jobs: int,
) -> int:
    """Run the cases of `files` against Kea; 0 when none fails, 1 otherwise."""
    known = {c.id for f in files for c in f.clauses}
    unknown = [c for c in only if c not in known]
    if unknown:
        raise InputError(f"--only {unknown[0]}: no such clause")
    chosen = [k for f in files for c in f.clauses for k in c.cases if not only or c.id in only]
    universes = {k.scenario.settings.universe for k in chosen}
    found = binaries.find(universes or {4}, dhcp4, dhcp6, admin)
    divergences = read_divergences(specs / DIVERGENCES)
    options = runner.Options(jobs, Path(keep).resolve() if keep else None, tuple(only))
    started = time.monotonic()
    outcomes = runner.run_cases(files, found, divergences, options)
    seconds = time.monotonic() - started
    sys.stdout.write(runner.report(files, outcomes))
    sys.stdout.write(runner.summary_line(outcomes, found, seconds, jobs))
    if junit_file:
        runner.write_junit(junit_file, outcomes, found)
    return 1 if any(o.verdict == runner.FAIL for o in outcomes) else 0
