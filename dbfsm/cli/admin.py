"""`dbfsm db-init`, `db-version` and `db-upgrade`: their arguments; the work is
`dbfsm.admin.database`'s, which imports the database client libraries only to connect."""

from __future__ import annotations

import argparse


def database_arguments(parser: argparse.ArgumentParser) -> None:
    from dbfsm.admin.database import DEFAULT_BACKEND

    parser.add_argument("config", metavar="CONFIG", help="a Kea configuration file")
    parser.add_argument(
        "backend",
        metavar="BACKEND",
        nargs="?",
        default=DEFAULT_BACKEND,
        help="lease-database (default), hosts-database, hosts-databases[N], config-databases[N]",
    )


def database(args: argparse.Namespace) -> int:
    from dbfsm.admin.database import administer

    return administer(args.command, args.config, args.backend)
