"""Files a user names for output (`diagram -o`, `spec run --junit`, `verify -o`): written, or
refused in one line at once, never waited on."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dbfsm import cli
from dbfsm.files.output import write_file
from dbfsm.fsm.errors import InputError


def test_a_regular_file_is_written_and_replaced(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    write_file(str(target), b"first", "the text")
    write_file(str(target), b"second", "the text")
    assert target.read_bytes() == b"second"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("fifo", "No such device or address"),
        ("dir", "Is a directory"),
        ("nul\0", "not a valid file name"),
    ],
)
def test_what_cannot_be_written_is_refused_at_once(tmp_path: Path, name: str, reason: str) -> None:
    path = str(tmp_path / name)
    if name == "fifo":
        os.mkfifo(path)
    elif name == "dir":
        os.mkdir(path)
    start = time.monotonic()
    with pytest.raises(InputError) as refused:
        write_file(path, b"x", "the diagram")
    assert time.monotonic() - start < 1.0
    assert reason in str(refused.value) and "\n" not in str(refused.value)


def test_diagram_to_a_fifo_nobody_reads_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert cli.main(["diagram", "-o", str(fifo)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{fifo}: cannot write the diagram" in err
