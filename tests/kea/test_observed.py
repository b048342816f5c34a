"""How a real run's records are read and placed on the case's instants (no Kea needed)."""

from __future__ import annotations

from pathlib import Path

from dbfsm.fsm.records import Record
from dbfsm.validation.clauses import Group, parse
from dbfsm.validation.kea import observed
from dbfsm.validation.spec import read_documentation

CLAUSE = """
clauses:
  - id: x.reconnect
    rule: kea.reconnect-loop
    cases:
      - name: attempts
        config: {Dhcp4: {lease-database: {type: mysql, name: kea, max-reconnect-tries: 3,
                 reconnect-wait-time: 1, on-fail: serve-retry-continue}}}
        until: 5
        events: [{at: 2, down: lease-database}]
        expect:
          - {t: 0, serving: true}
          - {t: 2, attempt: lease-database, n: 1, of: 3, ok: false}
          - {t: 2.001, attempt: lease-database, n: 2, of: 3, ok: false}
          - {t: 2.002, attempt: lease-database, n: 3, of: 3, ok: false}
"""


def case():  # type: ignore[no-untyped-def]
    return parse(CLAUSE, "x.yaml", Path("."), read_documentation()).clauses[0].cases[0]


def test_late_records_snap_to_the_instant_before_them_and_early_ones_within_50_ms() -> None:
    records = [Record(0.031, "serving", {"serving": True}), Record(2.3, "log", {"id": "A"}),
               Record(1.97, "log", {"id": "B"}),
        Record(1.9, "log", {"id": "D"}), Record(4.0, "log", {"id": "C"})]  # fmt: skip
    snapped = observed.snap(records, case())
    assert [r.t for r in snapped] == [0.0, 2.0, 2.0, 1.9, 4.0]


def test_instants_closer_than_the_resolution_become_one_any_order_instant() -> None:
    loose = observed.loosen(case())
    assert loose.expect[0].t == 0.0
    group = loose.expect[1]
    assert isinstance(group, Group) and group.t == 2.0 and len(group.members) == 3


def test_the_console_lines_the_file_lacks_are_merged_in_time_order() -> None:
    file_text = (
        "2026-12-07 10:00:00.100.000 INFO  [kea-dhcp4.dhcp4/7.1] DHCP4_CONFIG_COMPLETE done\n"
    )
    console = (
        "2026-12-07 10:00:00.050 INFO  [kea-dhcp4.dhcp4/7.1] DHCP4_STARTING starting\n"
        "2026-12-07 10:00:00.100 INFO  [kea-dhcp4.dhcp4/7.1] DHCP4_CONFIG_COMPLETE done\n"
        "2026-12-07 10:00:00.200 ERROR [kea-dhcp4.dhcp4/7.1] DHCP4_INIT_FAIL failed\n"
    )
    merged = [ln for ln in observed.log_text(file_text, console).splitlines() if ln]
    assert [ln.split()[4] for ln in merged] == [
        "DHCP4_STARTING",
        "DHCP4_CONFIG_COMPLETE",
        "DHCP4_INIT_FAIL",
    ]
