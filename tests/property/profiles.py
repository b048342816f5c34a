"""Hypothesis settings for the property tests.

`HYPOTHESIS_PROFILE=thorough` selects a long run (many more examples and steps); anything
else, or nothing, the default profile, sized so that the whole of `tests/property` runs in
well under a minute on two cores (the CI budget). The profiles are registered under
`dbfsm-*` names and applied per test, never loaded globally, so Hypothesis' own `ci`
profile (derandomized, no database; loaded automatically when `CI` is set) stays the parent
of both, and no other test suite is affected.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,  # an engine step's time varies with the number of backends
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
    "print_blob": True,
}

# The state machine: 200 runs of up to 40 steps by default (about 10 s on one core).
settings.register_profile("dbfsm-default", max_examples=200, stateful_step_count=40, **_COMMON)
settings.register_profile("dbfsm-thorough", max_examples=3000, stateful_step_count=80, **_COMMON)

NAME = "thorough" if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else "default"
THOROUGH = NAME == "thorough"
STATEFUL = settings.get_profile(f"dbfsm-{NAME}")


def focused(examples: int) -> settings:
    """Settings for a focused `@given` test: `examples` runs by default, 20 times more when
    thorough."""
    return settings(STATEFUL, max_examples=examples * (20 if THOROUGH else 1))
