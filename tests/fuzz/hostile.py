"""Hostile inputs for any reader, and the check that a reader survives them.

A reader survives an input when it either accepts it or refuses it with an `InputError` whose
message is one line, within a bounded time; anything else (another exception, a hang, a
message spread over lines) is a failure. The pieces are meant for every reader dbfsm has or
will have (configurations, scenarios, spec clauses, traces):

- `variants(seed)`: a real file turned hostile: truncated at every byte, bytes flipped,
  invalid UTF-8, NUL bytes, a byte-order mark, CR line ends.
- `HOSTILE_TEXTS`: documents hostile to any JSON or YAML reader (deep nesting, huge and
  non-finite numbers, duplicate keys, unterminated comments and strings, alias bombs, ...).
- `HOSTILE_PATHS`: paths that are not readable files (a directory, a FIFO nobody writes to,
  a symlink loop, a name too long, a NUL byte, a missing file, ...), made on demand.
- `fuzz_reader(read, inputs, directory)`: writes each input to a file, hands its path to
  `read`, and checks that it survives; returns how many inputs were accepted and refused.
- `run_cli(argv)`: the `dbfsm` command line in this process, with what it printed;
  `survive_cli(argv, label)` checks that it exits 0, or 2 with one line, in bounded time.

Every call is counted in `TALLY` by reader name; the fuzz suite's summary prints it.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dbfsm import cli
from dbfsm.fsm.errors import InputError

# Seconds one input may take: generous for a loaded two-core machine (a million YAML values
# take about 7 s there); a hang, an alias bomb expanded or a quadratic
# blow-up takes far longer.
SECONDS = 30.0

# (reader, "accepted" | "refused") -> count, for the summary.
TALLY: Counter[tuple[str, str]] = Counter()


@dataclass(frozen=True)
class Survived:
    """How a reader ended on one input: accepted (`error` None) or refused with one line."""

    label: str
    error: InputError | None
    seconds: float


def survive(
    reader: str, label: str, read: Callable[[], object], seconds: float = SECONDS
) -> Survived:
    """Call `read()`; it must return, or raise an InputError with a one-line message, within
    `seconds`. Any other exception propagates (the test fails with its traceback)."""
    start = time.perf_counter()
    error: InputError | None = None
    try:
        read()
    except InputError as err:
        error = err
    took = time.perf_counter() - start
    assert took < seconds, f"{reader} on {label}: {took:.1f} s (limit {seconds} s)"
    if error is not None:
        message = str(error)
        assert message and "\n" not in message and "\r" not in message, (label, message)
    TALLY[(reader, "accepted" if error is None else "refused")] += 1
    return Survived(label, error, took)


def fuzz_reader(
    reader: str,
    read: Callable[[str], object],
    inputs: Iterable[tuple[str, bytes]],
    directory: Path,
    seconds: float = SECONDS,
) -> list[Survived]:
    """Write each (label, bytes) to a file in `directory` and check that `read(path)` survives."""
    results = []
    path = directory / "input"
    for label, data in inputs:
        path.write_bytes(data)
        results.append(survive(reader, label, lambda: read(str(path)), seconds))
    return results


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


def variants(seed: bytes, *, flips: int = 200, rnd_seed: int = 0) -> Iterator[tuple[str, bytes]]:
    """`seed` made hostile: every truncation, random byte flips, and encoding damage."""
    for end in range(len(seed)):
        yield f"truncated at byte {end}", seed[:end]
    rnd = random.Random(rnd_seed)
    for i in range(flips):
        data = bytearray(seed)
        for _ in range(rnd.randint(1, 4)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        yield f"flip #{i}", bytes(data)
    middle = len(seed) // 2
    for name, insert in (
        ("invalid UTF-8", b"\xff\xfe\xc3("),
        ("a NUL byte", b"\x00"),
        ("an overlong UTF-8 slash", b"\xc0\xaf"),
        ("a UTF-16 surrogate in UTF-8", b"\xed\xa0\x80"),
        ("a C1 control character", "\u0085".encode()),
        ("a line separator", "\u2028".encode()),
    ):
        yield f"{name} in the middle", seed[:middle] + insert + seed[middle:]
    yield "a byte-order mark", b"\xef\xbb\xbf" + seed
    yield "two byte-order marks", b"\xef\xbb\xbf\xef\xbb\xbf" + seed
    yield "UTF-16", seed.decode("utf-8", "replace").encode("utf-16")
    yield "CR line ends", seed.replace(b"\n", b"\r")
    yield "CRLF line ends", seed.replace(b"\n", b"\r\n")
    yield "doubled", seed + seed


def _alias_bomb(levels: int = 9) -> bytes:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return ("\n".join(lines) + "\n").encode()


HOSTILE_TEXTS: tuple[tuple[str, bytes], ...] = (
    ("empty", b""),
    ("blank", b"  \n\t\n"),
    ("only a comment", b"# nothing\n"),
    ("null", b"null"),
    ("a number", b"42"),
    ("a string", b'"Dhcp4"'),
    ("a list", b"[1, 2, 3]"),
    ("nesting 100,000 deep (lists)", b"[" * 100_000 + b"]" * 100_000),
    ("nesting 100,000 deep (maps)", b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
    ("nesting 100,000 deep, unclosed", b"[" * 100_000),
    ("nesting 300 deep (YAML block)", b"".join(b"  " * i + b"a:\n" for i in range(300))),
    ("1e999", b'{"Dhcp4": {"lease-database": {"type": "mysql", "port": 1e999}}}'),
    ("-1e999", b'{"until": -1e999}'),
    ("NaN", b'{"Dhcp4": {"lease-database": {"type": "mysql", "port": NaN}}}'),
    ("Infinity", b'{"until": Infinity}'),
    ("YAML .nan", b"until: .nan\n"),
    ("YAML .inf", b"until: .inf\n"),
    ("an integer of 5000 digits", b'{"until": ' + b"9" * 5000 + b"}"),
    ("an integer of 400 digits", b"until: " + b"9" * 400 + b"\n"),
    ("a float of 400 digits", b"until: " + b"9" * 400 + b".5\n"),
    ("a denormal", b"until: 4.9e-324\n"),
    ("2**63", b'{"Dhcp4": {"lease-database": {"type": "mysql", "port": 9223372036854775808}}}'),
    ("duplicate keys", b'{"Dhcp4": {}, "Dhcp4": {}}'),
    ("duplicate YAML keys", b"config: a\nconfig: b\n"),
    ("unterminated comment", b'{"Dhcp4": {} /* never closed'),
    ("unterminated string", b'{"Dhcp4": "abc'),
    ("lone surrogate escape", b'{"Dhcp4": "\\ud800"}'),
    ("NUL bytes", b'{"Dhcp4":\x00{}}'),
    ("control character in a string", b'{"Dhcp4": "a\x01b"}'),
    ("newline in a key", b'{"Dhcp4": {"lease-database": {"ty\\npe": "mysql"}}}'),
    ("a list as a YAML key", b"? [1, 2]\n: 3\n"),
    ("a map as a YAML key", b"? {a: 1}\n: 3\n"),
    ("a recursive alias", b"config: &a {Dhcp4: {x: *a}}\n"),
    ("a recursive list alias", b"events: &a [*a]\n"),
    ("an undefined alias", b"config: *nowhere\n"),
    ("an alias bomb", _alias_bomb()),
    ("an unknown tag", b"config: !secret {Dhcp4: {}}\n"),
    ("a python tag", b"config: !!python/object/apply:os.system ['true']\n"),
    ("a wrong !!int", b"until: !!int twelve\n"),
    ("a wrong !!bool", b"until: !!bool maybe\n"),
    ("a binary", b"until: !!binary aGVsbG8=\n"),
    ("a timestamp", b"until: 2001-12-14\n"),
    ("a merge key", b"base: &b {until: 5}\n<<: *b\n"),
    ("a bad merge key", b"<<: [1, 2]\n"),
    ("two documents", b"a: 1\n---\nb: 2\n"),
    ("a tab indent", b"config:\n\tDhcp4: {}\n"),
    ("a million-element array", b"[" + b"0," * 999_999 + b"0]"),
    ("a million-element YAML list", b"events:\n" + b"- 0\n" * 1_000_000),
)


def _fifo(directory: Path) -> str:
    fifo = directory / "a-fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    return str(fifo)


def _symlink_loop(directory: Path) -> str:
    loop = directory / "a-loop"
    if not loop.is_symlink():
        loop.symlink_to(loop)
    return str(loop)


def _directory(directory: Path) -> str:
    sub = directory / "a-directory"
    sub.mkdir(exist_ok=True)
    return str(sub)


def _below_a_file(directory: Path) -> str:
    regular = directory / "a-file"
    regular.write_text("{}")
    return str(regular / "x.json")


def _unreadable(directory: Path) -> str:
    path = directory / "unreadable.json"
    path.write_text('{"Dhcp4": {}}')
    path.chmod(0)  # still readable by root: then it is simply read
    return str(path)


# label -> a function making such a path in a given directory (removed with it).
HOSTILE_PATHS: dict[str, Callable[[Path], str]] = {
    "a missing file": lambda d: str(d / "missing.json"),
    "a directory": _directory,
    "a FIFO nobody writes to": _fifo,
    "a symlink loop": _symlink_loop,
    "a path below a file": _below_a_file,
    "a file without read permission": _unreadable,
    "a name too long": lambda d: str(d / ("n" * 5000)),
    "a path too long": lambda d: str(d / "/".join(["d"] * 3000)),
    "a NUL byte in the name": lambda d: str(d / "a\x00b"),
    "an empty name": lambda d: "",
    "/dev/null": lambda d: os.devnull,
}


# ---------------------------------------------------------------------------------------------
# The command line in this process
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str


def run_cli(argv: list[str]) -> CliRun:
    """`dbfsm ARGV` in this process: its exit status and everything it printed."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exit_:  # argparse
            code = exit_.code if isinstance(exit_.code, int) else 2
    return CliRun(code, out.getvalue(), err.getvalue())


def survive_cli(
    argv: list[str], label: str, seconds: float = SECONDS, verdicts: tuple[int, ...] = (0,)
) -> CliRun:
    """`dbfsm ARGV` survives: exit 0 (or another of `verdicts`: `conform`'s 1 for a trace
    the model does not explain), or 2 with one line on stderr, within `seconds`."""
    start = time.perf_counter()
    run = run_cli(argv)
    took = time.perf_counter() - start
    assert took < seconds, f"dbfsm {argv[0]} on {label}: {took:.1f} s (limit {seconds} s)"
    assert_clean_cli(run, argv[0], label, verdicts)
    TALLY[(f"dbfsm {argv[0]}", "refused" if run.code == 2 else "accepted")] += 1
    return run


def assert_clean_cli(
    run: CliRun, command: str, label: str, verdicts: tuple[int, ...] = (0,)
) -> None:
    """Exit 0 (or one of `verdicts`) without a word on stderr, or exit 2 with exactly one
    line on stderr naming the command; no traceback."""
    assert run.code in (*verdicts, 2), (label, run.code, run.err[-2000:])
    if run.code == 2:
        assert run.err.startswith(f"dbfsm {command}: "), (label, run.err[:300])
        assert run.err.count("\n") == 1 and run.err.endswith("\n"), (label, run.err[:300])
    else:
        assert run.err == "", (label, run.err[:300])
