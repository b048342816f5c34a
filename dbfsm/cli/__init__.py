"""The `dbfsm` command line: one subcommand per tool module.

Each tool module (`dbfsm.check`, `dbfsm.simulate`, ...) offers `add_arguments(parser)` and
`command(args) -> exit status`; `COMMANDS` lists them, so a new tool is one line here. Bad
input of any kind (a configuration, a scenario, an option) is one line on stderr and exit
status 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from dbfsm.fsm import __version__
from dbfsm.fsm.errors import InputError

EXIT_BAD_INPUT = 2

# subcommand -> (module, one-line help), in the order `dbfsm --help` lists them.
COMMANDS = {
    "check": (
        "dbfsm.simulation.check",
        "validate a Kea configuration and say what each backend's failure will do",
    ),
    "simulate": (
        "dbfsm.simulation.simulate",
        "run a scenario against simulated backends on a virtual clock",
    ),
    "run": ("dbfsm.live.run", "run the engine live against the configured databases"),
    "command": (
        "dbfsm.live.command",
        "send one command to a running `dbfsm run` and print the answer",
    ),
    "diagram": ("dbfsm.docs.diagram", "draw the lifecycle graphs"),
    "spec": (
        "dbfsm.validation.spec",
        "run the documentation's clauses (specs/) and show their coverage",
    ),
    "verify": (
        "dbfsm.validation.verify",
        "check every reachable state of a bounded space of configurations",
    ),
    "conform": (
        "dbfsm.validation.conform",
        "check that a recorded run (dbfsm records or a Kea log) is one the model allows",
    ),
    "db-init": ("dbfsm.admin.database", "create dbfsm's schema in a backend's empty database"),
    "db-version": ("dbfsm.admin.database", "print the schema version a backend's database holds"),
    "db-upgrade": (
        "dbfsm.admin.database",
        "upgrade a backend's database to dbfsm's schema version",
    ),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dbfsm",
        description="Kea's database-connectivity behaviour as an explicit state machine.",
    )
    parser.add_argument("--version", action="version", version=f"dbfsm {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(run=module.command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except InputError as err:
        sys.stderr.write(f"dbfsm {args.command}: {err}\n")
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
