"""The Kea message catalogue: IDs, severities, texts and formatting.

The expected rows below are transcribed from `kea-behaviour.md` §3 (and the formatted
examples of §2.7 and §2.10), which cite Kea's `.mes` files; the catalogue was read from the
same Kea source independently.
"""

from __future__ import annotations

import logging
import re

import pytest

from dbfsm.fsm import messages
from dbfsm.fsm.messages import (
    LogMessage,
    MessageTemplate,
    Severity,
    backend,
    backend_template,
    by_id,
    catalogue,
    command,
    database,
    server,
    server_template,
)
from dbfsm.fsm.settings import DbType, Role

DBG, INF, WRN, ERR, FTL = (
    Severity.DEBUG,
    Severity.INFO,
    Severity.WARN,
    Severity.ERROR,
    Severity.FATAL,
)

RECONNECT_DISABLED = (
    "database reconnect is disabled: retries left: %1, reconnect wait time: %2, "
    "manager ID: %3, timer: %4"
)
RECONNECT_FAILED = (
    "maximum number of database reconnect attempts: %1, has been exhausted without success, "
    "manager ID: %2, timer: %3"
)
ATTEMPT_FAILED = "database reconnect failed: %1"
ATTEMPT_SCHEDULE = "scheduling attempt %1 of %2 in %3 milliseconds"
EXHAUSTED = "maximum number of database reconnect attempts: %1, has been exhausted without success"
RETRY_FAILED = "Failed to connect to database: %1 with error: %2"

DHCP4_MES = "src/bin/dhcp4/dhcp4_messages.mes"
MYSQL_LB_MES = "src/hooks/dhcp/mysql/mysql_lb_messages.mes"
DB_MES = "src/lib/database/db_messages.mes"

# kea-behaviour.md §3, server table: (id, severity, text, .mes file:line).
SERVER_ROWS = [
    (
        "DHCP4_DB_RECONNECT_LOST_CONNECTION",
        INF,
        "database connection lost: manager ID: %1, timer: %2.",
        f"{DHCP4_MES}:255",
    ),
    (
        "DHCP4_DB_RECONNECT_SUCCEEDED",
        INF,
        "database connection recovered: manager ID: %1, timer: %2.",
        f"{DHCP4_MES}:266",
    ),
    ("DHCP4_DB_RECONNECT_DISABLED", ERR, RECONNECT_DISABLED, f"{DHCP4_MES}:243"),
    ("DHCP4_FATAL_DB_RECONNECT_DISABLED", FTL, RECONNECT_DISABLED, f"{DHCP4_MES}:433"),
    ("DHCP4_DB_RECONNECT_FAILED", ERR, RECONNECT_FAILED, f"{DHCP4_MES}:249"),
    ("DHCP4_FATAL_DB_RECONNECT_FAILED", FTL, RECONNECT_FAILED, f"{DHCP4_MES}:440"),
    (
        "DHCP4_DB_RECONNECT_NO_DB_CTL",
        ERR,
        "unexpected error in database reconnect",
        f"{DHCP4_MES}:260",
    ),
    (
        "DHCP4_CONFIG_LOAD_FAIL",
        ERR,
        "configuration error using file: %1, reason: %2",
        f"{DHCP4_MES}:203",
    ),
    ("DHCP4_INIT_FAIL", ERR, "failed to initialize Kea server: %1", f"{DHCP4_MES}:626"),
    (
        "DHCP4_DYNAMIC_RECONFIGURATION_FAIL",
        ERR,
        "dynamic server reconfiguration failed with file: %1",
        f"{DHCP4_MES}:418",
    ),
    (
        "DHCP4_CONFIG_UNRECOVERABLE_ERROR",
        FTL,
        "DHCPv4 server new configuration failed with an error which cannot be recovered",
        f"{DHCP4_MES}:229",
    ),
    ("DHCP4_PACKET_DROP_0008", DBG, "%1: DHCP service is globally disabled", f"{DHCP4_MES}:751"),
    (
        "DHCP4_RECLAIM_EXPIRED_LEASES_SKIPPED",
        DBG,
        "dhcp6 service is currently disabled. Try again in %1 seconds.",
        f"{DHCP4_MES}:971",
    ),
]

# kea-behaviour.md §3, backend and generic tables (with the "same text" rows expanded).
OTHER_ROWS = [
    ("MYSQL_LB_DB_RECONNECT_ATTEMPT_FAILED", ERR, ATTEMPT_FAILED, f"{MYSQL_LB_MES}:39"),
    ("MYSQL_LB_DB_RECONNECT_ATTEMPT_SCHEDULE", INF, ATTEMPT_SCHEDULE, f"{MYSQL_LB_MES}:42"),
    ("MYSQL_LB_DB_RECONNECT_FAILED", ERR, EXHAUSTED, f"{MYSQL_LB_MES}:47"),
    ("MYSQL_LB_NO_TLS", ERR, "TLS was required but is not used", f"{MYSQL_LB_MES}:263"),
    (
        "MYSQL_HB_NO_TLS",
        ERR,
        "TLS was required but is not used",
        "src/hooks/dhcp/mysql/mysql_hb_messages.mes:38",
    ),
    (
        "MYSQL_CB_NO_TLS",
        ERR,
        "TLS was required but is not used",
        "src/hooks/dhcp/mysql/mysql_cb_messages.mes:723",
    ),
    ("MYSQL_LB_TLS_CIPHER", DBG, "TLS cipher: %1", f"{MYSQL_LB_MES}:333"),
    (
        "MYSQL_HB_DB_READONLY",
        INF,
        "MySQL host database opened for read access only",
        "src/hooks/dhcp/mysql/mysql_hb_messages.mes:20",
    ),
    (
        "DATABASE_MYSQL_FATAL_ERROR",
        ERR,
        "Unrecoverable MySQL error occurred: %1 for <%2>, reason: %3 (error code: %4).",
        f"{DB_MES}:24",
    ),
    (
        "DATABASE_PGSQL_FATAL_ERROR",
        ERR,
        "Unrecoverable PostgreSQL error occurred: Statement: <%1>, reason: %2 (error code: %3).",
        f"{DB_MES}:81",
    ),
    (
        "DATABASE_MYSQL_INITIAL_CONNECTION_FAIL",
        WRN,
        "The connection to the MySQL server is not yet established. Reason: %1",
        f"{DB_MES}:35",
    ),
    (
        "DATABASE_PGSQL_INITIAL_CONNECTION_FAIL",
        WRN,
        "The connection to the PostgreSQL server is not yet established. Reason: %1",
        f"{DB_MES}:92",
    ),
    (
        "DATABASE_MYSQL_INITIALIZE_SCHEMA",
        INF,
        "Initializing the MySQL schema with command: %1.",
        f"{DB_MES}:31",
    ),
    (
        "DATABASE_PGSQL_INITIALIZE_SCHEMA",
        INF,
        "Initializing the PostgreSQL schema with command: %1.",
        f"{DB_MES}:88",
    ),
    (
        "DATABASE_MYSQL_NO_INIT_NO_ADMIN",
        WRN,
        "Not attempting to initialize the MySQL schema. kea-admin seems to be missing.",
        f"{DB_MES}:40",
    ),
    (
        "DATABASE_PGSQL_NO_INIT_NO_ADMIN",
        WRN,
        "Not attempting to initialize the PostgreSQL schema. kea-admin seems to be missing.",
        f"{DB_MES}:97",
    ),
    (
        "DATABASE_MYSQL_NO_INIT_NO_PASSWORD",
        WRN,
        "Not attempting to initialize the MySQL schema. Kea database password is not available.",
        f"{DB_MES}:43",
    ),
    (
        "DATABASE_PGSQL_NO_INIT_NO_PASSWORD",
        WRN,
        "Not attempting to initialize the PostgreSQL schema. "
        "Kea database password is not available.",
        f"{DB_MES}:100",
    ),
    (
        "DATABASE_MYSQL_NO_INIT_READONLY",
        WRN,
        "Not attempting to initialize the MySQL schema. "
        "Kea has the database configured as readonly.",
        f"{DB_MES}:47",
    ),
    (
        "DATABASE_PGSQL_NO_INIT_READONLY",
        WRN,
        "Not attempting to initialize the PostgreSQL schema. "
        "Kea has the database configured as readonly.",
        f"{DB_MES}:104",
    ),
    (
        "DATABASE_PGSQL_TCP_USER_TIMEOUT_UNSUPPORTED",
        WRN,
        "tcp_user_timeout is not supported in this PostgreSQL version",
        f"{DB_MES}:125",
    ),
    ("DATABASE_INVALID_ACCESS", ERR, "invalid database access string: %1", f"{DB_MES}:13"),
    (
        "DHCPSRV_LEASE_MGR_DB_OPEN_CONNECTION_WITH_RETRY_FAILED",
        INF,
        RETRY_FAILED,
        "src/lib/dhcpsrv/dhcpsrv_messages.mes:470",
    ),
    (
        "DHCPSRV_HOST_MGR_DB_OPEN_CONNECTION_WITH_RETRY_FAILED",
        INF,
        RETRY_FAILED,
        "src/lib/dhcpsrv/dhcpsrv_messages.mes:413",
    ),
    (
        "DCTL_DB_OPEN_CONNECTION_WITH_RETRY_FAILED",
        INF,
        RETRY_FAILED,
        "src/lib/process/process_messages.mes:58",
    ),
]


@pytest.mark.parametrize(("mid", "severity", "text", "defined_at"), SERVER_ROWS + OTHER_ROWS)
def test_reference_rows(mid: str, severity: Severity, text: str, defined_at: str) -> None:
    template = catalogue()[mid]
    assert (template.id, template.severity, template.template) == (mid, severity, text)
    assert template.defined_at == defined_at


@pytest.mark.parametrize(("mid", "severity", "text", "defined_at"), SERVER_ROWS)
def test_server_rows_through_server(
    mid: str, severity: Severity, text: str, defined_at: str
) -> None:
    name = {"DHCP4_PACKET_DROP_0008": "PACKET_DROP"}.get(mid, mid.removeprefix("DHCP4_"))
    assert server_template(4, name) == catalogue()[mid]


def test_debug_levels() -> None:
    assert catalogue()["DHCP4_PACKET_DROP_0008"].debug_level == 15
    assert catalogue()["DHCP6_PACKET_DROP_DHCP_DISABLED"].debug_level == 15
    assert catalogue()["MYSQL_LB_TLS_CIPHER"].debug_level == 40
    assert catalogue()["DHCP4_RECLAIM_EXPIRED_LEASES_SKIPPED"].debug_level == 40


def test_shutdown_is_info_although_mes_says_debug() -> None:
    # main.cc:325 logs it with LOG_INFO.
    template = server_template(4, "SHUTDOWN")
    assert (template.id, template.severity, template.debug_level) == ("DHCP4_SHUTDOWN", INF, None)


# --- DHCPv6 -----------------------------------------------------------------------------------

RECONNECT_NAMES = [
    "DB_RECONNECT_LOST_CONNECTION",
    "DB_RECONNECT_SUCCEEDED",
    "DB_RECONNECT_DISABLED",
    "FATAL_DB_RECONNECT_DISABLED",
    "DB_RECONNECT_FAILED",
    "FATAL_DB_RECONNECT_FAILED",
    "DB_RECONNECT_NO_DB_CTL",
]


@pytest.mark.parametrize("name", RECONNECT_NAMES)
def test_v6_reconnect_messages_same_text_other_prefix(name: str) -> None:
    v4, v6 = server_template(4, name), server_template(6, name)
    assert (v4.id, v6.id) == (f"DHCP4_{name}", f"DHCP6_{name}")
    assert (v6.severity, v6.template) == (v4.severity, v4.template)
    assert v6.defined_at.startswith("src/bin/dhcp6/dhcp6_messages.mes:")


def test_v6_line_numbers() -> None:
    # kea-behaviour.md §3: dhcp6_messages.mes:224-247,408-415.
    lines = {server_template(6, n).defined_at.rsplit(":", 1)[1] for n in RECONNECT_NAMES}
    assert lines == {"224", "230", "236", "241", "247", "408", "415"}


def test_every_server_name_has_both_prefixes() -> None:
    specials = {
        "PACKET_DROP": ("DHCP4_PACKET_DROP_0008", "DHCP6_PACKET_DROP_DHCP_DISABLED"),
        "PACKET_PROCESS_FAIL": ("DHCP4_PACKET_DROP_0007", "DHCP6_PACKET_PROCESS_FAIL"),
    }
    for name, pair in messages._SERVER.items():
        ids = (pair[0].id, pair[1].id)
        assert ids == specials.get(name, (f"DHCP4_{name}", f"DHCP6_{name}")), name
        assert pair[0].defined_at.startswith("src/bin/dhcp4/")
        assert pair[1].defined_at.startswith("src/bin/dhcp6/")
        assert pair[0].severity == pair[1].severity, name


def test_v6_specific_texts() -> None:
    assert server(6, "STARTED", "3.3.0").text == "Kea DHCPv6 server version 3.3.0 started"
    assert server(6, "CONFIG_UNRECOVERABLE_ERROR").text == (
        "DHCPv6 server new configuration failed with an error which cannot be recovered"
    )
    assert server(6, "PACKET_DROP", "duid=[00:01]").text == (
        "duid=[00:01]: DHCP service is globally disabled"
    )
    assert server(6, "CONFIG_RECEIVED", "{}").text == "received configuration: {}"
    assert server(4, "CONFIG_RECEIVED", "{}").text == "received configuration {}"


def test_lifecycle_messages() -> None:
    assert server(4, "STARTED", "3.3.0") == LogMessage(
        "DHCP4_STARTED", INF, "Kea DHCPv4 server version 3.3.0 started"
    )
    assert server(4, "STARTING", "3.3.0", "development") == LogMessage(
        "DHCP4_STARTING", INF, "Kea DHCPv4 server version 3.3.0 (development) starting"
    )
    assert server(4, "SHUTDOWN") == LogMessage("DHCP4_SHUTDOWN", INF, "server shutdown")
    assert server(6, "SHUTDOWN").id == "DHCP6_SHUTDOWN"
    assert server(4, "CONFIG_COMPLETE", "x").text == (
        "DHCPv4 server has completed configuration: x"
    )
    assert server(4, "DYNAMIC_RECONFIGURATION_SUCCESS", "/etc/kea/kea-dhcp4.conf").text == (
        "dynamic server reconfiguration succeeded with file: /etc/kea/kea-dhcp4.conf"
    )
    assert server(4, "FATAL_DYNAMIC_RECONFIGURATION_FAIL", "f").severity is FTL


# --- Backends ---------------------------------------------------------------------------------

L, H, C = Role.LEASE, Role.HOSTS, Role.CONFIG
MY, PG, MEM = DbType.MYSQL, DbType.POSTGRESQL, DbType.MEMFILE

BACKEND_IDS = [
    # (role, type, universe, name, id)
    *[
        (L, MY, u, n, f"MYSQL_LB_{n}")
        for u in (4, 6)
        for n in (
            "DB",
            "DB_RECONNECT_ATTEMPT_FAILED",
            "DB_RECONNECT_ATTEMPT_SCHEDULE",
            "DB_RECONNECT_FAILED",
            "NO_TLS",
            "TLS_CIPHER",
        )
    ],
    *[
        (L, PG, u, n, f"PGSQL_LB_{n}")
        for u in (4, 6)
        for n in (
            "DB",
            "DB_RECONNECT_ATTEMPT_FAILED",
            "DB_RECONNECT_ATTEMPT_SCHEDULE",
            "DB_RECONNECT_FAILED",
        )
    ],
    (L, MEM, 4, "DB", "DHCPSRV_MEMFILE_DB"),
    (L, MEM, 6, "DB", "DHCPSRV_MEMFILE_DB"),
    *[
        (H, MY, u, n, f"MYSQL_HB_{n}")
        for u in (4, 6)
        for n in (
            "DB",
            "DB_READONLY",
            "DB_RECONNECT_ATTEMPT_FAILED",
            "DB_RECONNECT_ATTEMPT_SCHEDULE",
            "DB_RECONNECT_FAILED",
            "NO_TLS",
            "TLS_CIPHER",
        )
    ],
    *[
        (H, PG, u, n, f"PGSQL_HB_{n}")
        for u in (4, 6)
        for n in (
            "DB",
            "DB_READONLY",
            "DB_RECONNECT_ATTEMPT_FAILED",
            "DB_RECONNECT_ATTEMPT_SCHEDULE",
            "DB_RECONNECT_FAILED",
        )
    ],
    *[
        (C, t, u, f"DB_{n}", f"{p}_CB_{n}{u}")
        for t, p in ((MY, "MYSQL"), (PG, "PGSQL"))
        for u in (4, 6)
        for n in ("RECONNECT_ATTEMPT_FAILED", "RECONNECT_ATTEMPT_SCHEDULE", "RECONNECT_FAILED")
    ],
    *[(C, MY, u, n, f"MYSQL_CB_{n}") for u in (4, 6) for n in ("NO_TLS", "TLS_CIPHER")],
]


@pytest.mark.parametrize(("role", "db_type", "universe", "name", "mid"), BACKEND_IDS)
def test_backend_ids(role: Role, db_type: DbType, universe: int, name: str, mid: str) -> None:
    assert backend_template(role, db_type, universe, name).id == mid


def test_backend_table_is_complete() -> None:
    listed = {(r, t, u, n) for r, t, u, n, _ in BACKEND_IDS}
    actual = {
        (r, t, u, n) for (r, t), names in messages._BACKEND.items() for n in names for u in (4, 6)
    }
    assert actual == listed


@pytest.mark.parametrize(("role", "db_type", "universe", "name", "mid"), BACKEND_IDS)
def test_backend_texts_and_severities(
    role: Role, db_type: DbType, universe: int, name: str, mid: str
) -> None:
    t = backend_template(role, db_type, universe, name)
    short = name.removeprefix("DB_") if role is C else name
    expected = {
        "DB_RECONNECT_ATTEMPT_FAILED": (ERR, ATTEMPT_FAILED),
        "DB_RECONNECT_ATTEMPT_SCHEDULE": (INF, ATTEMPT_SCHEDULE),
        "DB_RECONNECT_FAILED": (ERR, EXHAUSTED),
        "RECONNECT_ATTEMPT_FAILED": (ERR, ATTEMPT_FAILED),
        "RECONNECT_ATTEMPT_SCHEDULE": (INF, ATTEMPT_SCHEDULE),
        "RECONNECT_FAILED": (ERR, EXHAUSTED),
        "NO_TLS": (ERR, "TLS was required but is not used"),
        "TLS_CIPHER": (DBG, "TLS cipher: %1"),
    }.get(short)
    if expected is not None:
        assert (t.severity, t.template) == expected
    if name == "TLS_CIPHER":
        assert t.debug_level == 40


def test_config_backend_line_numbers() -> None:
    # kea-behaviour.md §3: mysql_cb_messages.mes:727-749, pgsql_cb_messages.mes:723-745.
    for db_type, low, high in ((MY, 727, 749), (PG, 723, 745)):
        for universe in (4, 6):
            for name in (
                "DB_RECONNECT_ATTEMPT_FAILED",
                "DB_RECONNECT_ATTEMPT_SCHEDULE",
                "DB_RECONNECT_FAILED",
            ):
                line = int(backend_template(C, db_type, universe, name).defined_at.split(":")[1])
                assert low <= line <= high


def test_hosts_readonly_texts() -> None:
    assert backend(H, MY, 4, "DB_READONLY").text == (
        "MySQL host database opened for read access only"
    )
    assert backend(H, PG, 6, "DB_READONLY").text == (
        "PostgreSQL host database opened for read access only"
    )


@pytest.mark.parametrize(
    ("role", "db_type", "name"),
    [
        (L, PG, "NO_TLS"),
        (H, PG, "TLS_CIPHER"),
        (C, PG, "NO_TLS"),
        (L, MEM, "DB_RECONNECT_FAILED"),
        (L, MY, "DB_READONLY"),
        (H, MEM, "DB"),
        (C, MY, "DB"),
        (L, MY, "RECONNECT_FAILED"),
    ],
)
def test_backend_messages_kea_never_logs(role: Role, db_type: DbType, name: str) -> None:
    with pytest.raises(KeyError):
        backend(role, db_type, 4, name, "x")


def test_backend_formatting() -> None:
    assert backend(L, MY, 4, "DB_RECONNECT_ATTEMPT_SCHEDULE", 2, 3, 1000) == LogMessage(
        "MYSQL_LB_DB_RECONNECT_ATTEMPT_SCHEDULE",
        INF,
        "scheduling attempt 2 of 3 in 1000 milliseconds",
    )
    assert backend(C, PG, 6, "DB_RECONNECT_FAILED", 3) == LogMessage(
        "PGSQL_CB_RECONNECT_FAILED6",
        ERR,
        "maximum number of database reconnect attempts: 3, has been exhausted without success",
    )
    assert backend(C, MY, 4, "DB_RECONNECT_ATTEMPT_FAILED", "boom").id == (
        "MYSQL_CB_RECONNECT_ATTEMPT_FAILED4"
    )


# --- Formatted examples from kea-behaviour.md ---------------------------------------------------


def test_timeline_example() -> None:
    timer = "MySqlLeaseMgr[140]DbReconnectTimer"
    assert str(server(4, "DB_RECONNECT_LOST_CONNECTION", 3001, timer)) == (
        f"DHCP4_DB_RECONNECT_LOST_CONNECTION database connection lost: manager ID: 3001, "
        f"timer: {timer}."
    )
    assert str(backend(L, MY, 4, "DB_RECONNECT_FAILED", 3)) == (
        "MYSQL_LB_DB_RECONNECT_FAILED maximum number of database reconnect attempts: 3, "
        "has been exhausted without success"
    )
    fatal = server(4, "FATAL_DB_RECONNECT_FAILED", 3, 3001, timer)
    assert fatal.severity is FTL
    assert fatal.text == (
        "maximum number of database reconnect attempts: 3, has been exhausted without success, "
        f"manager ID: 3001, timer: {timer}"
    )
    assert server(4, "DB_RECONNECT_SUCCEEDED", 3001, timer).text == (
        f"database connection recovered: manager ID: 3001, timer: {timer}."
    )


def test_startup_retry_example() -> None:
    msg = server(4, "FATAL_DB_RECONNECT_DISABLED", 0, 0, 0, "MySqlLeaseMgr[1]DbReconnectTimer")
    assert msg.text.startswith(
        "database reconnect is disabled: retries left: 0, reconnect wait time: 0, manager ID: 0"
    )


def test_database_messages() -> None:
    assert database("DATABASE_MYSQL_FATAL_ERROR", "stmt", "SELECT 1", "gone", 2013).text == (
        "Unrecoverable MySQL error occurred: stmt for <SELECT 1>, reason: gone (error code: 2013)."
    )
    assert (
        database(
            "DHCPSRV_LEASE_MGR_DB_OPEN_CONNECTION_WITH_RETRY_FAILED", "type=mysql", "refused"
        ).severity
        is INF
    )
    assert database("DATABASE_PGSQL_TCP_USER_TIMEOUT_UNSUPPORTED").text == (
        "tcp_user_timeout is not supported in this PostgreSQL version"
    )
    with pytest.raises(KeyError):
        database("DHCP4_STARTED", "x")


def test_command_messages() -> None:
    assert command("COMMAND_RECEIVED", "dhcp-disable") == LogMessage(
        "COMMAND_RECEIVED", INF, "Received command 'dhcp-disable'"
    )
    with pytest.raises(KeyError):
        command("DATABASE_INVALID_ACCESS", "x")


# --- Arguments ----------------------------------------------------------------------------------


def test_too_few_arguments() -> None:
    with pytest.raises(ValueError, match="takes 2"):
        server(4, "DB_RECONNECT_LOST_CONNECTION", 3001)


def test_too_many_arguments() -> None:
    with pytest.raises(ValueError):
        server(4, "DB_RECONNECT_LOST_CONNECTION", 3001, "t", "extra")
    with pytest.raises(ValueError):
        server(4, "SHUTDOWN", "unexpected")
    with pytest.raises(ValueError):
        backend(L, MY, 4, "NO_TLS", "unexpected")
    with pytest.raises(ValueError):
        by_id("DATABASE_INVALID_ACCESS")


def test_arity_differs_between_universes_for_packet_process_fail() -> None:
    assert server_template(4, "PACKET_PROCESS_FAIL").arity == 2
    assert server_template(6, "PACKET_PROCESS_FAIL").arity == 4


def test_argument_conversion_like_lexical_cast() -> None:
    assert server(4, "MULTI_THREADING_INFO", True, 4, 64).text == (
        "enabled: 1, number of threads: 4, queue size: 64"
    )
    assert server(4, "MULTI_THREADING_INFO", "no", 0, 0).text == (
        "enabled: no, number of threads: 0, queue size: 0"
    )


def test_substitution_order_is_keas() -> None:
    # replacePlaceholder replaces %1 first, then %2 over the whole string.
    assert server(4, "CONFIG_LOAD_FAIL", "a%2", "b").text == (
        "configuration error using file: ab, reason: b"
    )


def test_bad_universe() -> None:
    with pytest.raises(ValueError):
        server(5, "STARTED", "1")
    with pytest.raises(ValueError):
        backend(L, MY, 0, "NO_TLS")


def test_unknown_names() -> None:
    with pytest.raises(KeyError):
        server(4, "DHCP4_STARTED", "1")  # names go without the prefix
    with pytest.raises(KeyError):
        by_id("NO_SUCH_MESSAGE")


# --- Catalogue invariants ------------------------------------------------------------------------

CITATION = re.compile(r"^src/[\w/.-]+\.(mes|cc|h):\d+$")


@pytest.mark.parametrize("template", list(catalogue().values()), ids=lambda t: t.id)
def test_catalogue_entry(template: MessageTemplate) -> None:
    numbers = sorted({int(n) for n in re.findall(r"%(\d+)", template.template)})
    assert numbers == list(range(1, len(numbers) + 1))  # %1..%n, no gaps
    assert template.arity == len(numbers)
    assert CITATION.match(template.defined_at) and template.defined_at.split(":")[0].endswith(
        ".mes"
    )
    assert CITATION.match(template.logged_at)
    assert (template.debug_level is not None) == (template.severity is DBG)
    formatted = by_id(template.id, *[f"<{n}>" for n in numbers])
    assert not re.search(r"%\d", formatted.text)
    assert all(f"<{n}>" in formatted.text for n in numbers)
    assert formatted.severity is template.severity


def test_catalogue_ids_are_unique_and_complete() -> None:
    everything = catalogue()
    assert all(mid == t.id for mid, t in everything.items())
    for pair in messages._SERVER.values():
        for t in pair:
            assert everything[t.id] is t
    assert len(everything) > 100


# --- Severity -------------------------------------------------------------------------------------


def test_severity_values_and_levels() -> None:
    assert [s.value for s in Severity] == ["DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
    assert Severity.FATAL.logging_level == logging.CRITICAL
    assert Severity.WARN.logging_level == logging.WARNING
    assert Severity.ERROR.logging_level == logging.ERROR
    assert Severity.INFO.logging_level == logging.INFO
    assert Severity.DEBUG.logging_level == logging.DEBUG
    assert Severity("WARN") is Severity.WARN


def test_log_message_is_frozen() -> None:
    msg = server(4, "SHUTDOWN")
    with pytest.raises(AttributeError):
        msg.text = "x"  # type: ignore[misc]
