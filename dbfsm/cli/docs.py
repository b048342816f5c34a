"""`dbfsm diagram`: its arguments; the work is `dbfsm.docs.diagram`'s."""

from __future__ import annotations

import argparse


def diagram_arguments(parser: argparse.ArgumentParser) -> None:
    from dbfsm.docs.diagram import ALL, EXTENSIONS, VIEWS

    parser.add_argument(
        "--view",
        choices=(*VIEWS, ALL),
        default="backend",
        help="backend or server lifecycle, the backend lifecycle under one on-fail mode, "
        "or all of them (default: backend)",
    )
    parser.add_argument(
        "--format",
        choices=tuple(EXTENSIONS),
        default="mermaid",
        help="mermaid (default), dot, or svg/png drawn by Graphviz",
    )
    parser.add_argument(
        "--output",
        "-o",
        metavar="PATH",
        help="file to write (default: stdout; required for png); a directory for --view all",
    )
    parser.add_argument(
        "--highlight",
        metavar="SCENARIO",
        help="colour the path this simulate scenario takes (a file, or the name of a "
        "built-in example such as stop-retry-exit)",
    )


def diagram(args: argparse.Namespace) -> int:
    from dbfsm.docs.diagram import draw

    return draw(args.view, args.format, args.output, args.highlight)
