"""`dbfsm report`: one self-contained HTML page of a run, for a person to look at.

INPUT is the JSON Lines of `dbfsm simulate --format json` / `dbfsm run --format json`, or a
Kea 2.x/3.x log; `-` reads standard input. With `--config` (the configuration the run used,
as `dbfsm conform` takes it) the page also shows conform's verdict and the path through the
lifecycle the run took. The page goes to `-o FILE` (default: standard output). The
work is `dbfsm.report`'s; this module is its arguments.
"""

from __future__ import annotations

import argparse
import sys


def report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input",
        metavar="INPUT",
        help="dbfsm JSON Lines (simulate/run --format json) or a Kea log; - for standard input",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="the HTML page to write (default: standard output)"
    )
    parser.add_argument(
        "--config",
        metavar="KEA_CONFIG",
        help="the configuration the run used: backends' settings, conform's verdict, the path",
    )
    parser.add_argument("--title", metavar="TEXT", help="the page's title")


def report(args: argparse.Namespace) -> int:
    from dbfsm.report import build

    page = build.from_input(args.input, args.config, args.title)
    if args.output in (None, "-"):
        sys.stdout.write(page)
    else:
        build.write(args.output, page)
    return 0
