"""`dbfsm check` simulates each backend beside the lease database only (so that it stays linear
in the number of backends): what it says must be what simulating the whole configuration says.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dbfsm.check import report
from fsm import config
from fsm.settings import ServerSettings

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
        *(config.load_file(p) for p in sorted(CONFIGS.glob("*.json")) if "broken" not in p.name),
        config.parse_text(MIXED, "mixed.json"),
    ],
    ids=lambda s: s.source,
)
def test_each_backend_alone_says_what_the_whole_configuration_says(
    settings: ServerSettings,
) -> None:
    assert report(settings) == report(settings, alone=False)
