"""A FIFO nobody writes to: every command that reads one file gives up within 5 s.

Measured as a user meets it: the `dbfsm` command in a process of its own, its start-up
included, with the real `reading.STREAM_TIMEOUT` (the other fuzz tests lower it to save time).
Two kinds of silence: no writer at all, and a writer that holds the FIFO open and says nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dbfsm.files import reading

LIMIT = 5.0  # seconds from starting the command to its answer
SCENARIO = "config: {Dhcp4: {}}\nuntil: 3\n"

# (label, argv with FIFO standing for the silent file and SCENARIO for a good scenario)
COMMANDS = [
    ("check", ["check", "FIFO"]),
    ("simulate", ["simulate", "FIFO"]),
    ("simulate --config", ["simulate", "SCENARIO", "--config", "FIFO"]),
    ("diagram --highlight", ["diagram", "--highlight", "FIFO"]),
]


def _dbfsm() -> list[str]:
    """The installed `dbfsm` script beside this Python when there is one (what a user runs)."""
    script = Path(sys.executable).with_name("dbfsm")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dbfsm"]


@contextmanager
def _silent_writer(fifo: Path) -> Iterator[None]:
    """A writer that opens the FIFO and never writes (so the reader sees no end of file)."""
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # O_RDWR: opens without waiting for a reader
    try:
        yield
    finally:
        os.close(fd)


def test_the_timeout_leaves_room_for_start_up() -> None:
    assert reading.STREAM_TIMEOUT <= LIMIT - 1.5


@pytest.mark.parametrize("writer", ["no writer", "a silent writer"])
@pytest.mark.parametrize("label,template", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_silent_fifo_is_given_up_within_5_s(
    label: str, template: list[str], writer: str, tmp_path: Path
) -> None:
    fifo = tmp_path / "silent"
    os.mkfifo(fifo)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    files = {"FIFO": str(fifo), "SCENARIO": str(scenario)}
    argv = [*_dbfsm(), *(files.get(part, part) for part in template)]
    with _silent_writer(fifo) if writer == "a silent writer" else _nothing():
        start = time.monotonic()
        run = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        took = time.monotonic() - start
    assert run.returncode == 2, (label, run.stderr)
    assert f"{fifo}: cannot read" in run.stderr and "no data for" in run.stderr, run.stderr
    assert run.stderr.count("\n") == 1, run.stderr
    assert took < LIMIT, f"dbfsm {label} on a FIFO with {writer}: {took:.2f} s"


@contextmanager
def _nothing() -> Iterator[None]:
    yield
