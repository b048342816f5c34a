"""Large inputs, each in a process of its own so that its peak memory can be measured: a 50 MB
file (valid, and hostile in several ways) and files over the size limit. Every run ends with
exit status 0 or 2 and one line, within `hostile.SECONDS`, and its resident memory stays
under `MEMORY_MB`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dbfsm.files.reading import MAX_FILE_BYTES

from . import hostile

REPO = Path(__file__).parents[2]
FIFTY_MB = 50 * 1000 * 1000
MEMORY_MB = 600  # a 50 MB text is held as bytes, as text and as the document read from it (README)


def _padded(head: bytes, filler: bytes, tail: bytes, size: int = FIFTY_MB) -> bytes:
    count = max(0, (size - len(head) - len(tail)) // len(filler))
    return head + filler * count + tail


LARGE: dict[str, Callable[[], tuple[str, bytes]]] = {
    "50 MB valid configuration (one long string)": lambda: (
        "check",
        _padded(
            b'{"Dhcp4": {"comment": "', b"x" * 1000, b'", "lease-database": {"type": "memfile"}}}'
        ),
    ),
    "50 MB configuration of comments": lambda: (
        "check",
        _padded(b"", b"// a comment line of some length\n", b'{"Dhcp4": {}}'),
    ),
    "50 MB array of zeros": lambda: ("check", _padded(b"[", b"0,", b"0]")),
    "50 MB of maps with an error at the end": lambda: (
        "check",
        _padded(b'{"Dhcp4": {"x": [', b'{"a": 1, "b": "xxxxxxxxxxxxxxxxxx"},', b'1], "y": }}'),
    ),
    "50 MB unterminated string": lambda: ("check", _padded(b'{"Dhcp4": "', b"y" * 1000, b"")),
    "50 MB nesting": lambda: ("check", _padded(b"", b"[", b"")),
    "50 MB YAML list": lambda: (
        "simulate",
        _padded(b"config: {Dhcp4: {}}\nevents:\n", b"- 0\n", b""),
    ),
    "50 MB YAML scenario (one long description)": lambda: (
        "simulate",
        _padded(b"config: {Dhcp4: {}}\ndescription: ", b"z" * 1000, b"\nuntil: 1\n"),
    ),
    "50 MB JSON scenario of events": lambda: (
        "simulate",
        _padded(
            b'{"config": {"Dhcp4": {}}, "events": [', b'{"at": 1, "use": "lease-database"},', b"1]}"
        ),
    ),
    "over the size limit": lambda: ("check", b" " * (MAX_FILE_BYTES + 1) + b"{}"),
}


def _run(argv: list[str]) -> tuple[int, str, float, float]:
    """(exit status, stderr, seconds, peak resident MB) of `python -m dbfsm ARGV`."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    with subprocess.Popen(
        [sys.executable, "-m", "dbfsm", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=env,
    ) as child:
        assert child.stderr is not None
        err = child.stderr.read().decode("utf-8", "replace")
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, err, time.perf_counter() - start, usage.ru_maxrss / 1024


@pytest.mark.parametrize("label", LARGE)
def test_large_input(label: str, tmp_path: Path) -> None:
    command, data = LARGE[label]()
    path = tmp_path / ("input.json" if command == "check" else "input.yaml")
    path.write_bytes(data)
    del data
    try:
        code, err, seconds, memory = _run([command, str(path)])
    finally:
        path.unlink()  # 50 MB: not left for pytest's kept temporary directories
    assert code in (0, 2), (label, err[-2000:])
    if code == 2:
        assert err.startswith(f"dbfsm {command}: {path}") and err.count("\n") == 1, err[:500]
    assert seconds < hostile.SECONDS, (label, seconds)
    assert memory < MEMORY_MB, (label, memory)
    hostile.TALLY[(f"dbfsm {command} (large)", "accepted" if code == 0 else "refused")] += 1
    print(f"{label}: exit {code}, {seconds:.1f} s, {memory:.0f} MB")
