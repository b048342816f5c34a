"""`dbfsm availability`: its arguments; the work is `dbfsm.simulation.availability`'s."""

from __future__ import annotations

import argparse
import json
import sys

from dbfsm.fsm.settings import OnFail

MAX_YEARS = 10_000_000


def _years(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number of years") from None
    if not 1 <= value <= MAX_YEARS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_YEARS}")
    return value


def _modes(text: str) -> tuple[OnFail, ...]:
    if text == "all":
        return tuple(OnFail)
    known = {str(mode): mode for mode in OnFail}
    found = []
    for word in text.split(","):
        if word not in known:
            raise argparse.ArgumentTypeError(
                f"{word[:40]!r} is not an on-fail mode (all, {', '.join(known)})"
            )
        if known[word] not in found:
            found.append(known[word])
    return tuple(found)


def availability_arguments(parser: argparse.ArgumentParser) -> None:
    from dbfsm import scaleout

    parser.add_argument("config", metavar="CONFIG", help="a kea-dhcp4 or kea-dhcp6 JSON file")
    parser.add_argument(
        "--outages", metavar="PROFILE", required=True, help="YAML or JSON outage profile"
    )
    parser.add_argument("--years", type=_years, default=500, help="simulated years (500)")
    parser.add_argument("--seed", type=int, default=1, help="the seed of the years drawn (1)")
    parser.add_argument(
        "--modes",
        type=_modes,
        default=(),
        metavar="all|MODE,..",
        help="also compare these on-fail modes, with each backend's own tries and wait",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--plot", metavar="FILE", help="write an SVG of the yearly time lost")
    scaleout.add_arguments(parser)


def availability(args: argparse.Namespace) -> int:
    from dbfsm.files.output import write_file
    from dbfsm.files.reading import load_file
    from dbfsm.simulation import availability as tool
    from dbfsm.simulation import outages, plot

    settings = load_file(args.config)
    profile = outages.load(args.outages, settings)
    compared = tool.compared(settings, args.modes)
    plan = tool.Plan(tuple(s.settings for s in compared), profile, args.seed)
    totals = tool.run(plan, args.years, args.workers, args.cluster)
    if args.plot:
        series = [(s.label, t.not_serving.bins) for s, t in zip(compared, totals, strict=True)]
        title = f"Yearly time not serving over {args.years} simulated years"
        write_file(args.plot, plot.svg(series, title).encode(), "plot")
    if args.format == "json":
        document = tool.document(compared, totals, args.years, args.seed)
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        sys.stdout.write(tool.text(compared, totals, args.years, args.seed, profile))
    return 0
