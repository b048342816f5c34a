"""The `dbfsm` command line: check, simulate, diagram.

Bad input of any kind (a configuration, a scenario, an option) is one line on stderr and
exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import resources
from typing import NoReturn

from fsm import __version__
from fsm.errors import DbfsmError

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see --help)\n")


def _builtin_example(name: str) -> str:
    """The example's path, relative to the working directory when it lies below it."""
    path = str(resources.files("fsm") / "examples" / f"{name}.yaml")
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _check(args: argparse.Namespace) -> int:
    from fsm.config import load_file
    from fsm.explain import report

    settings = load_file(args.config)
    sys.stdout.write(report(settings))
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from fsm import scenario, simulate
    from fsm.records import to_jsonl, to_text

    path = args.scenario or _builtin_example("default")
    result = simulate.run(scenario.load(path, config_override=args.config))
    if args.format == "json":
        sys.stdout.write(to_jsonl(result.timeline()))
    else:
        sys.stdout.write(to_text(result.records))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dbfsm",
        description="Kea's database-connectivity behaviour as an explicit state machine.",
    )
    parser.add_argument("--version", action="version", version=f"dbfsm {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = commands.add_parser(
        "check",
        help="validate a Kea configuration and say what each backend's failure will do",
    )
    check.add_argument("config", metavar="CONFIG", help="a kea-dhcp4 or kea-dhcp6 JSON file")
    check.set_defaults(run=_check)

    simulate = commands.add_parser(
        "simulate", help="run a scenario against simulated backends on a virtual clock"
    )
    simulate.add_argument(
        "scenario", metavar="SCENARIO", nargs="?", help="YAML or JSON scenario (default: built-in)"
    )
    simulate.add_argument("--config", metavar="FILE", help="replace the scenario's configuration")
    simulate.add_argument("--format", choices=("text", "json"), default="text")
    simulate.set_defaults(run=_simulate)

    diagram = commands.add_parser("diagram", help="draw the lifecycle graphs")
    try:
        from fsm import diagram as diagram_module
    except ImportError:  # pragma: no cover - the module is part of the package
        pass
    else:
        diagram_module.add_arguments(diagram)
        diagram.set_defaults(run=diagram_module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except DbfsmError as err:
        sys.stderr.write(f"dbfsm {args.command}: {err}\n")
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
