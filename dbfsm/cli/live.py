"""`dbfsm run` and `dbfsm command`: their arguments; the work is `dbfsm.live`'s.

`dbfsm run` is the one command that needs the database client libraries (PyMySQL, psycopg):
they are imported when its run makes a live connection, never by this module.
"""

from __future__ import annotations

import argparse


def run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="Kea configuration file")
    parser.add_argument(
        "--traffic",
        metavar="RATE",
        type=float,
        default=10.0,
        help="client requests per second (default 10; 0 for none)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--until", metavar="SECONDS", type=float, help="stop after this many seconds"
    )
    parser.add_argument(
        "--probe-interval",
        metavar="SECONDS",
        type=float,
        help="watch idle connections, probing every SECONDS (default: off, as in Kea)",
    )
    parser.add_argument(
        "--metrics-port",
        metavar="PORT",
        type=int,
        help="serve Prometheus metrics at http://HOST:PORT/metrics (0: a free port; needs "
        "dbfsm[metrics])",
    )
    parser.add_argument(
        "--metrics-host",
        metavar="HOST",
        default="127.0.0.1",
        help="address the metrics are served on (default 127.0.0.1: loopback only)",
    )
    parser.add_argument("--report", metavar="FILE", help="write the run's HTML page at its end")


def run(args: argparse.Namespace) -> int:
    from dbfsm.live.run import run_file

    return run_file(
        args.config,
        traffic=args.traffic,
        form=args.format,
        until=args.until,
        probe_interval=args.probe_interval,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        report=args.report,
    )


def command_arguments(parser: argparse.ArgumentParser) -> None:
    from dbfsm.live.command import DEFAULT_TIMEOUT

    parser.add_argument("socket", metavar="SOCKET", help="the control socket's path")
    parser.add_argument(
        "request",
        metavar="JSON",
        help='the command, e.g. \'{"command": "status-get"}\'; "-" reads it from standard '
        "input (a config-set with a password then stays out of the process list)",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"give up after this long without an answer (default {DEFAULT_TIMEOUT:g})",
    )


def command(args: argparse.Namespace) -> int:
    from dbfsm.live.command import send

    return send(args.socket, args.request, args.timeout)
