"""`dbfsm check` and `dbfsm simulate`: their arguments; the work is `dbfsm.simulation`'s."""

from __future__ import annotations

import argparse
import sys


def check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="a kea-dhcp4 or kea-dhcp6 JSON file")


def check(args: argparse.Namespace) -> int:
    from dbfsm.files.reading import load_file
    from dbfsm.simulation.check import report

    sys.stdout.write(report(load_file(args.config)))
    return 0


def simulate_arguments(parser: argparse.ArgumentParser) -> None:
    from dbfsm.simulation.scenario import EVENT_KINDS

    parser.add_argument(
        "scenario",
        metavar="SCENARIO",
        nargs="?",
        help="YAML or JSON scenario (default: built-in); its events are {at: SECONDS, KIND: "
        f"BACKEND}}, KIND one of {', '.join(k for k in EVENT_KINDS if k != 'command')} "
        "(schema also takes version: V), and {at: SECONDS, command: {command: NAME, "
        "arguments: {...}}} (README: Simulating an incident)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="replace the scenario's configuration; without a scenario, simulate an outage "
        "of each of its backends in turn",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--report", metavar="FILE", help="also write the run's HTML page")
    parser.add_argument(
        "--collapse-repeats",
        action="store_true",
        help="text output: an instant that repeats the one before (a kept broken connection "
        "logging its loss at every request) is counted, not printed",
    )


def simulate(args: argparse.Namespace) -> int:
    from dbfsm.simulation import scenario
    from dbfsm.simulation.simulate import builtin_example, json_sink, run, text_sink

    if args.scenario is None and args.config is not None:
        loaded = scenario.outage_of_each_backend(args.config)
    else:
        path = args.scenario or builtin_example("default")
        loaded = scenario.load(path, config_override=args.config)
    if args.report:
        from dbfsm.report.build import simulate_with_report

        return simulate_with_report(loaded, args.format, args.report, sys.stdout)
    if args.format == "json":
        run(loaded, json_sink(sys.stdout), markers=False)
    else:
        run(loaded, text_sink(sys.stdout, collapse_repeats=args.collapse_repeats))
    return 0
