"""The `dbfsm` command line: argument parsing only, one module per family of commands.

`simulation` (check, simulate), `live` (run, command), `validation` (spec, verify, conform),
`docs` (diagram), `report` (report) and `admin` (db-init, db-version, db-upgrade) each hold,
for a command function `NAME(args) -> exit status`, its `NAME_arguments(parser)`; `COMMANDS`
lists the commands, so a new one is one line here. The work is the tool packages'
(`dbfsm.simulation`, `dbfsm.live`, ...): a command function imports its tool when it runs.
The parser is built with the arguments of the one command the command line names, so a
command imports only what it uses: `dbfsm check` and `dbfsm simulate` need neither PyMySQL
nor psycopg, which only a live connection (`dbfsm run`, `db-*`) imports.

Bad input of any kind (a configuration, a scenario, an option) is one line on stderr and exit
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

# subcommand -> (module, command function, one-line help), in the order `dbfsm --help` lists
# them; the function `F` of module `M` has its arguments added by `M.F_arguments(parser)`.
COMMANDS = {
    "check": (
        "dbfsm.cli.simulation",
        "check",
        "validate a Kea configuration and say what each backend's failure will do",
    ),
    "simulate": (
        "dbfsm.cli.simulation",
        "simulate",
        "run a scenario against simulated backends on a virtual clock",
    ),
    "run": ("dbfsm.cli.live", "run", "run the engine live against the configured databases"),
    "command": (
        "dbfsm.cli.live",
        "command",
        "send one command to a running `dbfsm run` and print the answer",
    ),
    "diagram": ("dbfsm.cli.docs", "diagram", "draw the lifecycle graphs"),
    "spec": (
        "dbfsm.cli.validation",
        "spec",
        "run the documentation's clauses (specs/) and show their coverage",
    ),
    "verify": (
        "dbfsm.cli.validation",
        "verify",
        "check every reachable state of a bounded space of configurations",
    ),
    "conform": (
        "dbfsm.cli.validation",
        "conform",
        "check that a recorded run (dbfsm records or a Kea log) is one the model allows",
    ),
    "report": (
        "dbfsm.cli.report",
        "report",
        "one self-contained HTML page of a run or a Kea log: timeline, path, summary",
    ),
    "availability": (
        "dbfsm.cli.availability",
        "availability",
        "how much service each on-fail setting loses over simulated years of outages",
    ),
    "db-init": (
        "dbfsm.cli.admin",
        "database",
        "create dbfsm's schema in a backend's empty database",
    ),
    "db-version": (
        "dbfsm.cli.admin",
        "database",
        "print the schema version a backend's database holds",
    ),
    "db-upgrade": (
        "dbfsm.cli.admin",
        "database",
        "upgrade a backend's database to dbfsm's schema version",
    ),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see --help)\n")


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser of `argv`: every command listed, only the one `argv` names with arguments
    (and its module imported). The command is argv's first word that is not an option:
    dbfsm's own options (--help, --version) take no value."""
    parser = _Parser(
        prog="dbfsm",
        description="Kea's database-connectivity behaviour as an explicit state machine.",
    )
    parser.add_argument("--version", action="version", version=f"dbfsm {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    named = next((word for word in argv if not word.startswith("-")), None)
    for name, (module_name, function, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == named:
            module = importlib.import_module(module_name)
            getattr(module, f"{function}_arguments")(sub)
            sub.set_defaults(run=getattr(module, function))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser(argv).parse_args(argv)
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
