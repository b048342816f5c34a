"""`dbfsm check` simulates each backend beside the lease database only (so that it stays linear
in the number of backends): what it says must be what simulating the whole configuration says.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dbfsm.files import reading
from dbfsm.fsm import config
from dbfsm.fsm.settings import ServerSettings
from dbfsm.simulation.check import report

CONFIGS = Path(__file__).parents[1] / "data" / "fuzz" / "config"
MIXED = """{"Dhcp6": {
  "config-control": {"config-databases": [
      {"type": "postgresql", "name": "c", "on-fail": "serve-retry-exit", "max-reconnect-tries": 2,
       "reconnect-wait-time": 300},
      {"type": "mysql", "name": "d", "max-reconnect-tries": 0}],
    "config-fetch-wait-time": 5},
  "lease-database": {"type": "mysql", "name": "l", "on-fail": "serve-retry-continue",
                     "max-reconnect-tries": 2, "reconnect-wait-time": 700,
                     "retry-on-startup": true},
  "hosts-databases": [
      {"type": "postgresql", "name": "a", "on-fail": "stop-retry-exit", "max-reconnect-tries": 1,
       "reconnect-wait-time": 10},
      {"type": "mysql", "name": "b", "on-fail": "serve-retry-continue", "retry-on-startup": true,
       "max-reconnect-tries": 3, "reconnect-wait-time": 1000},
      {"type": "mysql", "name": "b", "on-fail": "serve-retry-continue", "retry-on-startup": true,
       "max-reconnect-tries": 3, "reconnect-wait-time": 1000}]}}"""


@pytest.mark.parametrize(
    "settings",
    [
        *(reading.load_file(p) for p in sorted(CONFIGS.glob("*.json")) if "broken" not in p.name),
        config.parse_text(MIXED, "mixed.json"),
    ],
    ids=lambda s: s.source,
)
def test_each_backend_alone_says_what_the_whole_configuration_says(
    settings: ServerSettings,
) -> None:
    assert report(settings) == report(settings, alone=False)


LONG_LOOPS = """{"Dhcp4": {
  "lease-database": {"type": "postgresql", "name": "l", "on-fail": "serve-retry-exit",
                     "max-reconnect-tries": 9, "reconnect-wait-time": 300},
  "hosts-databases": [
      {"type": "mysql", "name": "a", "on-fail": "stop-retry-exit", "max-reconnect-tries": 7,
       "reconnect-wait-time": 250, "retry-on-startup": true},
      {"type": "mysql", "name": "b", "on-fail": "serve-retry-continue", "retry-on-startup": true,
       "max-reconnect-tries": 12, "reconnect-wait-time": 1000}]}}"""


def test_a_long_loop_simulated_shorter_says_what_simulating_it_all_says() -> None:
    settings = config.parse_text(LONG_LOOPS, "long.json")
    assert report(settings) == report(settings, alone=False)


def test_the_longest_loop_kea_takes_is_described_at_once() -> None:
    """4,294,967,295 attempts (Kea's maximum) are not simulated one by one."""
    text = LONG_LOOPS.replace('"max-reconnect-tries": 12', '"max-reconnect-tries": 4294967295')
    start = time.perf_counter()
    said = report(config.parse_text(text, "longest.json"))
    assert time.perf_counter() - start < 10
    assert "makes 4294967295 reconnect attempts, the first at once, then one every 1000 ms" in said
