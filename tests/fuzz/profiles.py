"""Hypothesis settings for the fuzz tests: a modest default, `HYPOTHESIS_PROFILE=thorough` for
a long run (as for the property tests)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
}
settings.register_profile("dbfsm-fuzz-default", max_examples=150, **_COMMON)
settings.register_profile("dbfsm-fuzz-thorough", max_examples=3000, **_COMMON)

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
FUZZ = settings.get_profile(f"dbfsm-fuzz-{'thorough' if THOROUGH else 'default'}")
