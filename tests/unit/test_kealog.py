"""Reading Kea's log layout (`dbfsm.kealog`): timestamps with milliseconds or microseconds,
continuation lines, other programs' lines, Kea 2.x IDs in 3.x spelling, which Kea wrote it."""

from __future__ import annotations

import pytest

from dbfsm.fsm.errors import InputError
from dbfsm.validation import kealog

V4 = "[kea-dhcp4.dhcp4/25539.140654118367744]"
SRV = "[kea-dhcp4.dhcpsrv/25539.140654118367744]"


def read(text: str, universe: int = 4) -> kealog.KeaLog:
    return kealog.read(text, universe, "kea.log")


def test_file_and_console_timestamps_are_read_relative_to_the_first_line() -> None:
    log = read(
        f"2026-11-25 20:36:19.280.760 INFO  {V4} DHCP4_STARTED Kea DHCPv4 server version 3.0.2\n"
        f"2026-11-25 20:36:21.283 ERROR {SRV} PGSQL_LB_DB_RECONNECT_ATTEMPT_FAILED failed\n"
        f"2026-11-25 20:37:00.000.001 FATAL {V4} DHCP4_FATAL_DB_RECONNECT_FAILED gone\n"
    )
    times = [line.record.t for line in log.lines]
    assert times == pytest.approx([0.0, 2.00224, 40.719241])
    assert [line.record.data["severity"] for line in log.lines] == ["INFO", "ERROR", "FATAL"]
    assert log.end == pytest.approx(40.719241)
    assert log.pid == 25539
    assert log.from_start  # DHCP4_STARTED: the file shows the server's start


def test_continuation_lines_belong_to_the_message_above() -> None:
    log = read(
        f"2026-11-25 20:36:19.283.540 ERROR {SRV} PGSQL_LB_DB_RECONNECT_ATTEMPT_FAILED database "
        'reconnect failed: connection to server at "127.0.0.1", port 5432 failed: '
        "Connection refused\n"
        "\tIs the server running on that host and accepting TCP/IP connections?\n"
        "\n"
        f"2026-11-25 20:36:19.283.601 INFO  {SRV} PGSQL_LB_DB_RECONNECT_ATTEMPT_SCHEDULE "
        "scheduling attempt 2 of 3 in 1000 milliseconds\n"
    )
    first, second = log.lines
    assert first.record.data["text"] == (
        'database reconnect failed: connection to server at "127.0.0.1", port 5432 failed: '
        "Connection refused\n"
        "\tIs the server running on that host and accepting TCP/IP connections?\n"
    )
    assert (first.number, second.number) == (1, 4)
    assert second.written == (
        "INFO PGSQL_LB_DB_RECONNECT_ATTEMPT_SCHEDULE scheduling attempt 2 of 3 in 1000 milliseconds"
    )


def test_lines_of_other_programs_and_of_the_other_server_are_skipped() -> None:
    text = (
        "2026-11-25 20:36:10.000 INFO  [kea-ctrl-agent.http/25530.1] HTTP_CONNECTION_STOP x\n"
        "\tcontinuing the agent's message\n"
        "2026-11-25 20:36:11.000 INFO  [kea-dhcp6.dhcp6/25541.1] DHCP6_STARTED v6\n"
        f"2026-11-25 20:36:12.000 INFO  {V4} DHCP4_STARTED v4\n"
    )
    v4 = read(text)
    assert [(line.number, line.record.data["id"]) for line in v4.lines] == [(4, "DHCP4_STARTED")]
    assert v4.lines[0].record.t == 0.0
    v6 = read(text, universe=6)
    assert [line.record.data["id"] for line in v6.lines] == ["DHCP6_STARTED"]


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("DHCPSRV_PGSQL_LEASE_DB_RECONNECT_ATTEMPT_FAILED", "PGSQL_LB_DB_RECONNECT_ATTEMPT_FAILED"),
        (
            "DHCPSRV_MYSQL_LEASE_DB_RECONNECT_ATTEMPT_SCHEDULE",
            "MYSQL_LB_DB_RECONNECT_ATTEMPT_SCHEDULE",
        ),
        ("DHCPSRV_MYSQL_HOST_DB_RECONNECT_FAILED", "MYSQL_HB_DB_RECONNECT_FAILED"),
        ("DHCPSRV_PGSQL_HOST_DB_RECONNECT_ATTEMPT_FAILED", "PGSQL_HB_DB_RECONNECT_ATTEMPT_FAILED"),
        ("DHCP4_DB_RECONNECT_LOST_CONNECTION", "DHCP4_DB_RECONNECT_LOST_CONNECTION"),
        ("DHCPSRV_PGSQL_DB", "DHCPSRV_PGSQL_DB"),
        ("MYSQL_CB_RECONNECT_FAILED4", "MYSQL_CB_RECONNECT_FAILED4"),
    ],
)
def test_kea2_ids_are_given_their_kea3_names(written: str, canonical: str) -> None:
    assert kealog.canonical_id(written) == canonical


@pytest.mark.parametrize(
    ("line", "version"),
    [
        (f"{SRV} DHCPSRV_PGSQL_DB opening PostgreSQL lease database: host=127.0.0.1", 2),
        (f"{SRV} DHCPSRV_MYSQL_HOST_DB_RECONNECT_FAILED maximum number", 2),
        (f"{V4} DHCP4_STARTED Kea DHCPv4 server version 2.2.0 started", 2),
        (f"{V4} DHCP4_STARTED Kea DHCPv4 server version 3.0.2 started", 3),
        (f"{V4} DHCP4_STARTING Kea DHCPv4 server version 2.6.1 (stable) starting", 2),
        (f"{SRV} PGSQL_LB_DB_RECONNECT_FAILED maximum number", 3),
    ],
)
def test_which_kea_wrote_the_log(line: str, version: int) -> None:
    log = read(
        f"2026-11-25 20:36:10.000 INFO  {V4} DHCP4_STARTING x\n"
        f"2026-11-25 20:36:11.000 INFO  {line}\n"
    )
    assert log.version == version


def test_whether_the_log_shows_the_start() -> None:
    """STARTING reaches only the console, STARTED the file too; a rotated file has neither."""
    line = "2026-11-25 20:36:10.000 INFO  {} {} x\n"
    assert read(line.format(V4, "DHCP4_STARTING")).from_start
    assert read(line.format(V4, "DHCP4_STARTED")).from_start
    assert not read(line.format(V4, "DHCP4_DB_RECONNECT_LOST_CONNECTION")).from_start


def test_a_second_process_is_another_run() -> None:
    with pytest.raises(InputError, match=r"^kea.log:3: a second kea-dhcp4 process \(pid 31\)"):
        read(
            f"2026-11-25 20:36:10.000 INFO  {V4} DHCP4_STARTING x\n"
            "\tcontinued\n"
            "2026-11-25 20:36:15.000 INFO  [kea-dhcp4.dhcp4/31.2] DHCP4_STARTING x\n"
        )


def test_a_log_without_the_server_is_refused() -> None:
    with pytest.raises(InputError, match=r"^kea.log:1: no kea-dhcp4 message in this log"):
        read("nothing here\n")
    assert not kealog.looks_like_kea_log("nothing here")
    assert kealog.looks_like_kea_log(f"2026-11-25 20:36:10.000.123 DEBUG {V4} DHCP4_X y")
