"""The private database servers, now in the package (`dbfsm.validation.kea.servers`) so the
real-Kea spec runner can use them too; this name stays for the tests."""

from dbfsm.validation.kea.servers import (
    DATABASE,
    MARIADBD,
    PG_BIN,
    START_TIMEOUT,
    USER,
    PrivateMariaDB,
    PrivatePostgres,
    PrivateServer,
    ServerError,
    free_port,
)

__all__ = [
    "DATABASE",
    "MARIADBD",
    "PG_BIN",
    "START_TIMEOUT",
    "USER",
    "PrivateMariaDB",
    "PrivatePostgres",
    "PrivateServer",
    "ServerError",
    "free_port",
]
