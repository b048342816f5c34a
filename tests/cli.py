"""Running `dbfsm` in the test process, as a user would from a shell."""

from __future__ import annotations

from typing import Any

from dbfsm.cli import main


def invoke(capsys: Any, *argv: str) -> tuple[int, str, str]:
    """Run `dbfsm ARGV`; (exit status, stdout, stderr). argparse exits by SystemExit."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err
