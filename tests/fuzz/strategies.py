"""Hypothesis strategies for hostile JSON-like documents: a valid document with something wrong
at any position (a wrong type, a missing field, a huge or non-finite number, a string with
control characters, an unknown key), or anything at all."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

# Words the readers give meaning to, so that random documents often get past the first check.
WORDS = (
    "Dhcp4",
    "Dhcp6",
    "lease-database",
    "hosts-database",
    "hosts-databases",
    "config-control",
    "config-databases",
    "config-fetch-wait-time",
    "type",
    "name",
    "password",
    "password-file",
    "on-fail",
    "max-reconnect-tries",
    "reconnect-wait-time",
    "retry-on-startup",
    "mysql",
    "postgresql",
    "memfile",
    "stop-retry-exit",
    "serve-retry-exit",
    "serve-retry-continue",
    "command",
    "arguments",
    "config-set",
    "dhcp-disable",
    "origin",
    "origin-id",
    "max-period",
    "exit-value",
    "at",
    "down",
    "up",
    "use",
    "schema",
    "version",
    "events",
    "until",
    "traffic",
    "every",
    "from",
    "config",
)

# (Integers past Python's 4300-digit limit are tried by the tests themselves: Hypothesis
# cannot print them.)
huge_integers = st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**30, -(10**30), 10**4000])
strings = (
    st.sampled_from(WORDS)
    | st.text(max_size=12)
    | st.text(st.characters(max_codepoint=0x3F), max_size=6)  # control characters
    | st.sampled_from(["", " ", "\n", "a\nb", "\x00", "\u2028", "x" * 10_000])
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | huge_integers
    | st.sampled_from([0, 1, -1, 65535, 65536, 2**31 - 1, 2**32 - 1, 2**32])  # Kea's bounds
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, -0.0, 5e-324, 1e308, 0.0005])
    | strings
)
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(strings, inner, max_size=4),
    max_leaves=12,
)


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(document, dict):
        for key, item in document.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(document, list):
        for index, item in enumerate(document):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def damaged(draw: st.DrawFn, template: Any) -> Any:
    """`template` with one to three positions replaced, removed, or given an extra key."""
    document = copy.deepcopy(template)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths))
        if not path:
            document = draw(values)
            continue
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace" or not isinstance(parent, dict | list):
            parent[path[-1]] = draw(values)
        elif action == "remove":
            del parent[path[-1]]
        else:
            target = parent[path[-1]]
            if isinstance(target, dict):
                target[draw(strings)] = draw(values)
            elif isinstance(target, list):
                target.append(draw(values))
            else:
                parent[path[-1]] = draw(values)
    return document


def json_text(document: Any) -> str | None:
    """`document` as JSON text; None when it holds an integer longer than Python converts to
    text (no file can hold it)."""
    try:
        return json.dumps(document)
    except ValueError:
        return None
