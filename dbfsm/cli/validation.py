"""`dbfsm spec`, `dbfsm verify` and `dbfsm conform`: their arguments; the work is
`dbfsm.validation`'s."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence


def spec_arguments(parser: argparse.ArgumentParser) -> None:
    from dbfsm.validation.spec import DOCUMENTATION

    sub = parser.add_subparsers(dest="spec_command", required=True, metavar="{run,coverage}")
    run = sub.add_parser("run", help="run every clause and report pass or fail per clause")
    coverage_parser = sub.add_parser(
        "coverage", help="which states, transitions and guards the clauses exercise"
    )
    for p in (run, coverage_parser):
        p.add_argument(
            "paths",
            metavar="PATHS",
            nargs="*",
            help="clause files or directories of them (default: specs/)",
        )
        p.add_argument(
            "--documentation",
            metavar="FILE",
            help=f"the documentation quotes must come from (default: specs/{DOCUMENTATION})",
        )
    run.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML")
    run.add_argument(
        "--target",
        choices=("model", "kea"),
        default="model",
        help="what the cases run against: dbfsm's model (default) or a real kea-dhcp4/6",
    )
    kea = run.add_argument_group("--target kea")
    for name in ("kea-dhcp4", "kea-dhcp6", "kea-admin"):
        kea.add_argument(
            f"--{name}", metavar="PATH", help=f"the {name} to use (default: PATH, /usr/sbin)"
        )
    kea.add_argument(
        "--only",
        metavar="CLAUSE",
        action="append",
        default=[],
        help="just this clause (again: more)",
    )
    kea.add_argument(
        "--keep", metavar="DIR", help="keep each case's directory (logs, configuration) under DIR"
    )
    kea.add_argument(
        "--jobs", type=_positive, default=1, metavar="N", help="cases run in parallel (default 1)"
    )


def spec(args: argparse.Namespace) -> int:
    from dbfsm.fsm.errors import InputError
    from dbfsm.validation.spec import KeaTarget, check_clauses

    junit: str | None = getattr(args, "junit", None)  # `spec coverage` has no --junit
    kea = None
    if getattr(args, "target", "model") == "kea":
        kea = KeaTarget(
            args.kea_dhcp4, args.kea_dhcp6, args.kea_admin, tuple(args.only), args.keep, args.jobs
        )
    elif getattr(args, "only", None) or getattr(args, "keep", None):
        raise InputError("--only and --keep go with --target kea")
    return check_clauses(args.spec_command, args.paths, args.documentation, junit, kea)


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(v) for v in text.split(",")}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if any(v < 0 or v > 5 for v in values):
        raise argparse.ArgumentTypeError(f"each value must be 0 to 5: {text!r}")
    return values


def _choices(allowed: Sequence[str]) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        values = tuple(dict.fromkeys(v.strip() for v in text.split(",")))
        unknown = [v for v in values if v not in allowed]
        if unknown or not values:
            raise argparse.ArgumentTypeError(
                f"unknown {unknown[0] if unknown else 'empty'!r} (choose from {', '.join(allowed)})"
            )
        return values

    return parse


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
    return value


def verify_arguments(parser: argparse.ArgumentParser) -> None:
    from dbfsm.fsm.settings import OnFail
    from dbfsm.validation.explore import COMMANDS
    from dbfsm.validation.verify import DEFAULT_OUTPUT, Bound

    d = Bound()
    parser.add_argument(
        "--backends", type=int, choices=(1, 2, 3), default=d.backends, help="most per configuration"
    )
    parser.add_argument(
        "--tries", type=_int_list, default=d.tries, metavar="N,N", help="max-reconnect-tries"
    )
    parser.add_argument(
        "--modes",
        type=_choices(tuple(OnFail)),
        default=d.modes,
        metavar="MODE,MODE",
        help="on-fail modes",
    )
    parser.add_argument("--wait", type=_positive, default=d.wait_ms, metavar="MS")
    parser.add_argument(
        "--commands",
        type=_choices(tuple(COMMANDS)),
        default=d.commands,
        metavar="NAME,NAME",
        help=f"from {', '.join(COMMANDS)}",
    )
    parser.add_argument(
        "--mixed-tries",
        type=int,
        choices=range(6),
        default=d.mixed_tries,
        metavar="N",
        help="max-reconnect-tries of each backend when mixed (0-5)",
    )
    parser.add_argument(
        "--same-instant",
        type=int,
        choices=range(4),
        default=d.same_instant,
        metavar="N",
        help="events that may come after a request or command before the answers to it (0-3)",
    )
    parser.add_argument("--max-states", type=_positive, default=d.max_states, metavar="N")
    parser.add_argument("-o", "--output", default=DEFAULT_OUTPUT, metavar="FILE")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per configuration")
    from dbfsm import scaleout

    scaleout.add_arguments(parser)


def verify(args: argparse.Namespace) -> int:
    from dbfsm.fsm.settings import OnFail
    from dbfsm.validation.verify import Bound, check_bound

    bound = Bound(
        backends=args.backends,
        tries=args.tries,
        modes=tuple(OnFail(m) for m in args.modes),
        wait_ms=args.wait,
        commands=args.commands,
        max_states=args.max_states,
        same_instant=args.same_instant,
        mixed_tries=args.mixed_tries,
    )
    return check_bound(
        bound, args.output, verbose=args.verbose, workers=args.workers, cluster=args.cluster
    )


def conform_arguments(parser: argparse.ArgumentParser) -> None:
    from dbfsm.validation.conform import DEFAULT_TOLERANCE

    parser.add_argument("trace", metavar="TRACE", help="dbfsm JSON Lines, or a kea-dhcp4/6 log")
    parser.add_argument(
        "--config", metavar="CONFIG", required=True, help="the Kea configuration the run used"
    )
    parser.add_argument(
        "--exit-code", type=int, metavar="N", help="the exit status the run ended with, if it did"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        metavar="SECONDS",
        default=DEFAULT_TOLERANCE,
        help="how late a timer may fire (default 0.5)",
    )


def conform(args: argparse.Namespace) -> int:
    from dbfsm.validation.conform import check_trace

    return check_trace(args.trace, args.config, args.tolerance, args.exit_code)
