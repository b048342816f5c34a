"""Scenarios with black holes that more than one test module reads."""

# A lease database whose request blocks from 2.5 to 12.5 (the black hole ends before its
# 30 s timeout), while the host database's attempt due at 3 and a command sent at 7 wait.
HELD_BY_A_STALL = """\
config:
  Dhcp4:
    lease-database: {type: postgresql, name: kea, max-reconnect-tries: 100,
                     reconnect-wait-time: 2000, tcp-user-timeout: 30, connect-timeout: 5}
    hosts-database: {type: mysql, name: kea, on-fail: serve-retry-continue,
                     max-reconnect-tries: 100, reconnect-wait-time: 1000}
until: 14
events:
  - {at: 1, down: hosts-database}
  - {at: 2.5, black-hole: lease-database}
  - {at: 7, command: {command: status-get}}
  - {at: 12.5, black-hole-end: lease-database}
"""
