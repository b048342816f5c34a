"""The live drivers' rules that need no server: loss classification, parameter mapping,
TLS mapping, password redaction, the schema scripts."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from dbfsm.drivers import mysql, postgresql, schema, tls
from dbfsm.drivers.passwords import first_line, redact
from dbfsm.drivers.session import OpenError
from dbfsm.fsm import config
from dbfsm.fsm.actions import Open

SECRET = "s3cret-Pa55"


def _parameters(**entry: Any) -> Any:
    document = {"Dhcp4": {"lease-database": {"name": "kea", "password": SECRET, **entry}}}
    return config.from_document(document).backend("lease-database").parameters


# -- what a loss is -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "broken", "loss"),
    [
        (psycopg.errors.AdminShutdown("terminating connection"), False, True),  # 57P01
        (psycopg.errors.CannotConnectNow("starting up"), False, True),  # 57P03
        (psycopg.errors.ConnectionFailure("08006"), False, True),
        (psycopg.errors.DiskFull("53100"), False, True),
        (psycopg.OperationalError("server closed the connection unexpectedly"), False, True),
        (psycopg.errors.UndefinedTable("no such table"), False, False),  # 42P01
        (psycopg.errors.UniqueViolation("duplicate key"), False, False),  # 23505
        (psycopg.errors.InsufficientPrivilege("permission denied"), False, False),  # 42501
        (psycopg.errors.UndefinedTable("no such table"), True, True),  # but the link broke
    ],
)
def test_postgresql_loss(error: Exception, broken: bool, loss: bool) -> None:
    assert postgresql.is_loss(error, broken) is loss


@pytest.mark.parametrize(
    ("error", "still_open", "loss"),
    [
        (pymysql.err.OperationalError(2013, "Lost connection to MySQL server"), True, True),
        (pymysql.err.OperationalError(2006, "MySQL server has gone away"), True, True),
        (pymysql.err.OperationalError(2003, "Can't connect to MySQL server"), True, True),
        (pymysql.err.OperationalError(1927, "Connection was killed"), True, True),
        (pymysql.err.OperationalError(4031, "disconnected by the server"), True, True),
        (pymysql.err.InterfaceError(0, ""), True, True),
        (pymysql.err.Error("Already closed"), True, True),
        (pymysql.err.ProgrammingError(1064, "You have an error in your SQL syntax"), True, False),
        (pymysql.err.IntegrityError(1062, "Duplicate entry"), True, False),
        (pymysql.err.OperationalError(1142, "SELECT command denied"), True, False),
        (pymysql.err.ProgrammingError(1146, "Table doesn't exist"), False, True),  # closed
    ],
)
def test_mysql_loss(error: Exception, still_open: bool, loss: bool) -> None:
    assert mysql.is_loss(error, still_open) is loss


# -- parameters -------------------------------------------------------------------------------


def test_postgresql_parameters_honour_kea_units_and_defaults() -> None:
    params = _parameters(type="postgresql", host="db", user="kea", **{"tcp-user-timeout": 3})
    assert postgresql.connection_parameters(params) == {
        "host": "db",
        "dbname": "kea",
        "user": "kea",
        "password": SECRET,
        "connect_timeout": 5,  # Kea's default
        "tcp_user_timeout": 3000,  # Kea's seconds, libpq's milliseconds
    }


@pytest.mark.parametrize(
    ("entry", "libpq"),
    [
        ({}, {}),
        ({"cipher-list": "AES"}, {}),  # ignored, as Kea ignores it
        (
            {"trust-anchor": "/ca.pem"},
            {"sslrootcert": "/ca.pem", "sslmode": "verify-ca", "gssencmode": "disable"},
        ),
        (
            {"cert-file": "/c.pem", "key-file": "/k.pem"},
            {
                "sslcert": "/c.pem",
                "sslkey": "/k.pem",
                "sslmode": "require",
                "gssencmode": "disable",
            },
        ),
        ({"ssl-mode": "disable"}, {"sslmode": "disable", "gssencmode": "disable"}),
    ],
)
def test_postgresql_tls_mapping(entry: dict[str, str], libpq: dict[str, str]) -> None:
    params = _parameters(type="postgresql", **entry)
    assert tls.postgresql_parameters(params) == libpq
    expected = postgresql.connection_parameters(params)
    assert {k: expected[k] for k in libpq} == libpq


def test_mysql_tls_context(tmp_path: Path) -> None:
    assert tls.mysql_context(_parameters(type="mysql")) is None
    clear = tls.mysql_context(_parameters(type="mysql", **{"cipher-list": "AES256-SHA"}))
    assert clear is not None and clear.verify_mode is ssl.CERT_NONE
    with pytest.raises(OpenError, match=r"^unable to set CA: "):
        tls.mysql_context(_parameters(type="mysql", **{"trust-anchor": str(tmp_path / "no")}))
    with pytest.raises(OpenError, match=r"^unable to set cipher: "):
        tls.mysql_context(_parameters(type="mysql", **{"cipher-list": "NO-SUCH-CIPHER"}))
    directory = tls.mysql_context(_parameters(type="mysql", **{"trust-anchor": str(tmp_path)}))
    assert directory is not None and directory.verify_mode is ssl.CERT_REQUIRED
    assert tls.opportunistic_context() is tls.opportunistic_context(), "built once"
    assert tls.opportunistic_context().verify_mode is ssl.CERT_NONE


# -- passwords ---------------------------------------------------------------------------------


def test_redaction() -> None:
    params = _parameters(type="mysql")
    assert redact(f"password={SECRET} host=x", params) == "password=***** host=x"
    assert first_line(RuntimeError(f"bad {SECRET}\nhint"), params) == "bad *****"


def test_settings_and_open_actions_never_show_the_password() -> None:
    settings = config.from_document(
        {"Dhcp4": {"lease-database": {"type": "mysql", "name": "kea", "password": SECRET}}}
    ).backend("lease-database")
    assert SECRET not in repr(settings)
    assert SECRET not in repr(Open("lease-database", 1, settings))


# -- schema -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", [postgresql.DIALECT, mysql.DIALECT])
def test_schema_scripts_parse_and_end_at_the_expected_version(dialect: Any) -> None:
    create = schema.statements(dialect, "create")
    assert create[0].startswith("CREATE TABLE schema_version")
    assert "INSERT INTO schema_version VALUES (1, 0)" in create
    step = schema.statements(dialect, "upgrade_1.0_to_2.0")
    assert step[-1] == "UPDATE schema_version SET version = 2, minor = 0"
    assert all(s and not s.endswith(";") for s in create + step)
    assert schema.UPGRADES[-1][1] == schema.SCHEMA_VERSION == (2, 0)


def test_mismatch_text_is_keas() -> None:
    assert schema.mismatch("MySQL", "1.0") == (
        "MySQL schema version mismatch: expected version: 2.0, found version: 1.0"
    )


def test_password_file_is_read_and_redacted(tmp_path: Path) -> None:
    from dbfsm.drivers.passwords import password

    secret_file = tmp_path / "pw"
    secret_file.write_text(f"{SECRET}\n")
    document = {
        "Dhcp4": {
            "lease-database": {"type": "mysql", "name": "kea", "password-file": str(secret_file)}
        }
    }
    params = config.from_document(document).backend("lease-database").parameters
    assert password(params) == SECRET
    assert redact(f"oops {SECRET}", params) == "oops *****"
    missing = {**params, "password-file": str(tmp_path / "absent")}
    with pytest.raises(OpenError, match=r"^cannot read password-file .*absent: FileNotFoundError$"):
        password(missing)
