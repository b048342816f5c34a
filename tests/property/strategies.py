"""Hypothesis strategies: Kea configuration documents, faults and control-channel commands.

Every generated configuration carries a distinctive password (it contains `PASSWORD_MARK`)
in every database map, so that a leak into a log text or a command reply is found by
searching for the mark.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from dbfsm.fsm.settings import OnFail
from dbfsm.validation.invariants import PASSWORD_MARK

ON_FAIL = tuple(mode.value for mode in OnFail)
WAIT_TIMES = (0, 100, 1000, 2500)  # reconnect-wait-time, milliseconds
SQL_TYPES = ("mysql", "postgresql")

# Origins a command may disable: the user (1), HA local (1000+) and remote (2000+) commands
# ("origin": "ha-partner" is 2000).
COMMAND_ORIGINS = (1, 2, 1001, 2001)
# Database origins (3000 + manager ID; 3000 = a retry-on-startup control): only ever lifted
# by a user's dhcp-enable, never disabled by a generated command.
DB_ORIGINS = (3000, 6001, 6002, 6003, 6011, 6012, 6021, 6022)

Document = dict[str, Any]


def passwords() -> st.SearchStrategy[str]:
    return st.integers(0, 0xFFFF).map(lambda n: f"pw{n:04x}-{PASSWORD_MARK}")


@st.composite
def sql_map(draw: st.DrawFn, password: str) -> Document:
    """A MySQL or PostgreSQL database map with random recovery parameters."""
    entry: Document = {
        "type": draw(st.sampled_from(SQL_TYPES)),
        "name": "kea",
        "host": "db.example.org",
        "user": "kea",
        "password": password,
    }
    # None leaves the key out (Kea's default applies). Weighted so that most backends
    # reconnect (the defaults, 0 tries and 0 wait, disable it); shrinking goes to
    # the first value, a reconnecting backend.
    optional = {
        "on-fail": draw(st.sampled_from((None, *ON_FAIL))),
        "max-reconnect-tries": draw(st.sampled_from((2, 1, 3, 4, 2, 3, 1, 4, 0, None))),
        "reconnect-wait-time": draw(st.sampled_from((100, 1000, 2500, 100, 1000, 0, None))),
        "retry-on-startup": draw(st.sampled_from((None, False, True))),
    }
    entry.update({k: v for k, v in optional.items() if v is not None})
    return entry


@st.composite
def memfile_map(draw: st.DrawFn, password: str) -> Document:
    """A memfile lease database: no reconnect loop (tries and wait must be 0)."""
    entry: Document = {
        "type": "memfile",
        "name": "/var/lib/kea/kea-leases.csv",
        "persist": False,
        "password": password,  # accepted (any string key is) and must never be shown
    }
    optional = {
        "on-fail": draw(st.sampled_from((None, *ON_FAIL))),
        "max-reconnect-tries": draw(st.sampled_from((None, 0))),
        "retry-on-startup": draw(st.sampled_from((None, False, True))),
    }
    entry.update({k: v for k, v in optional.items() if v is not None})
    return entry


@st.composite
def config_documents(draw: st.DrawFn, universe: int | None = None) -> Document:
    """A valid Kea document with 1-4 backends: a lease database (mysql, postgresql,
    memfile, or the implicit memfile), host databases and config databases (mysql,
    postgresql)."""
    if universe is None:
        universe = draw(st.sampled_from((4, 6)))
    password = draw(passwords())
    lease_kind = draw(st.sampled_from(("sql", "sql", "sql", "memfile", "implicit memfile")))
    lease = None
    if lease_kind == "sql":
        lease = draw(sql_map(password))
    elif lease_kind == "memfile":
        lease = draw(memfile_map(password))
    hosts = draw(st.lists(sql_map(password), max_size=3))
    configs = draw(st.lists(sql_map(password), max_size=3 - len(hosts)))
    server: Document = {"interfaces-config": {"interfaces": ["eth0"]}}
    if lease is not None:
        server["lease-database"] = lease
    if len(hosts) == 1 and draw(st.booleans()):
        server["hosts-database"] = hosts[0]
    elif hosts:
        server["hosts-databases"] = hosts
    if configs:
        server["config-control"] = {"config-databases": configs}
    return {f"Dhcp{universe}": server}


def _lease(doc: Document) -> Document:
    server = next(iter(doc.values()))
    lease: Document = server.setdefault("lease-database", {"type": "memfile"})
    return lease


def _set(key: str, value: Any) -> Callable[[Document], None]:
    return lambda doc: _lease(doc).__setitem__(key, value)


def _memfile_waits(doc: Document) -> None:
    _lease(doc).update({"type": "memfile", "reconnect-wait-time": 100})
    _lease(doc).pop("name", None)


def _memfile_hosts(doc: Document) -> None:
    server = next(iter(doc.values()))
    server.pop("hosts-database", None)
    server["hosts-databases"] = [{"type": "memfile", "password": "x"}]


def _both_passwords(doc: Document) -> None:
    lease = _lease(doc)
    lease.setdefault("password", f"pw-{PASSWORD_MARK}")
    lease["password-file"] = "/etc/kea/db-password"


def _no_name(doc: Document) -> None:
    _lease(doc).update({"type": "mysql"})
    _lease(doc).pop("name", None)


# Each defect makes a document that Kea (and dbfsm's config layer) refuses.
DEFECTS: dict[str, Callable[[Document], None]] = {
    "bad on-fail": _set("on-fail", "retry-forever"),
    "negative tries": _set("max-reconnect-tries", -1),
    "unknown type": _set("type", "oracle"),
    "tries not an integer": _set("max-reconnect-tries", "3"),
    "unknown keyword": _set("passwd", "guess"),
    "password and password-file": _both_passwords,
    "memfile with a wait time": _memfile_waits,
    "memfile host database": _memfile_hosts,
    "sql without a name": _no_name,
}


@st.composite
def invalid_documents(draw: st.DrawFn, universe: int | None = None) -> Document:
    doc = copy.deepcopy(draw(config_documents(universe)))
    DEFECTS[draw(st.sampled_from(sorted(DEFECTS)))](doc)
    return doc


def dhcp_disable_arguments() -> st.SearchStrategy[Document]:
    return st.fixed_dictionaries(
        {},
        optional={
            "max-period": st.integers(1, 5),
            "origin-id": st.sampled_from(COMMAND_ORIGINS),
            "origin": st.sampled_from(("user", "ha-partner")),
        },
    )


def dhcp_enable_arguments() -> st.SearchStrategy[Document]:
    return st.fixed_dictionaries(
        {},
        optional={
            "origin-id": st.sampled_from(COMMAND_ORIGINS + DB_ORIGINS),
            "origin": st.sampled_from(("user", "ha-partner")),
        },
    )


# Requests that must be refused at once (result 1 or 2), changing nothing.
MALFORMED: tuple[object, ...] = (
    "status-get",
    ["config-get"],
    {},
    {"command": 5},
    {"command": "no-such-command"},
    {"command": "status-get", "extra": 1},
    {"command": "dhcp-disable", "arguments": []},
    {"command": "dhcp-disable", "arguments": {"max-period": 0}},
    {"command": "dhcp-disable", "arguments": {"max-period": "5"}},
    {"command": "dhcp-disable", "arguments": {"origin": "bogus"}},
    {"command": "dhcp-enable", "arguments": {"origin-id": "one"}},
    {"command": "config-set"},
    {"command": "config-set", "arguments": {}},
    {"command": "config-set", "arguments": {"Dhcp5": {}}},
    {"command": "config-test", "arguments": {"Dhcp4": 7, "Dhcp6": 7}},
    {"command": "shutdown", "arguments": {"exit-value": "x"}},
)
