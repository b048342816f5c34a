"""The Kea configuration a case runs with: the case's own, pointed at private servers.

Each backend map keeps every parameter the case gives (its reconnect settings, on-fail, TLS)
but reaches its private server through that backend's fault proxy. Around it: loopback
interfaces, a control socket in the case's directory, two subnets (`dhcp`: one for probes
without reservations, one for traffic that looks up hosts and allocates leases), a memfile
lease database that writes nothing when the case has none, the config backends' hook
libraries, and one file logger with microsecond timestamps at DEBUG so every connectivity
message is there. The same rewriting applies to the configuration a `config-set` carries.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOOKS = Path("/usr/lib/x86_64-linux-gnu/kea/hooks")
LOG_PATTERN = "%D{%Y-%m-%d %H:%M:%S.%Q} %-5p [%c/%i.%t] %m\n"
_KEA_TYPE = {"postgresql": "postgresql", "mysql": "mysql"}


@dataclass(frozen=True)
class Endpoint:
    """Where one backend's database is: its proxy's port and the case's own database."""

    type: str  # postgresql or mysql
    port: int
    name: str
    user: str
    password: str


@dataclass(frozen=True)
class Layout:
    """The case's private paths."""

    directory: Path
    hooks: Path = HOOKS

    @property
    def log(self) -> Path:
        return self.directory / "kea.log"

    @property
    def console(self) -> Path:
        return self.directory / "console.log"

    @property
    def socket(self) -> Path:
        return self.directory / "control.sock"

    @property
    def config(self) -> Path:
        return self.directory / "kea.json"


def backend_maps(server: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The backend maps of a `Dhcp4`/`Dhcp6` map, with the names cases give them."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(server.get("lease-database"), dict):
        found.append(("lease-database", server["lease-database"]))
    if isinstance(server.get("hosts-database"), dict):
        found.append(("hosts-database", server["hosts-database"]))
    for i, item in enumerate(server.get("hosts-databases") or []):
        found.append((f"hosts-databases[{i}]", item))
    control = server.get("config-control") or {}
    for i, item in enumerate(control.get("config-databases") or []):
        found.append((f"config-databases[{i}]", item))
    return found


def rewrite(
    document: Mapping[str, Any],
    endpoints: Mapping[str, Endpoint],  # by "KEY TYPE" (a config-set may change a type)
    layout: Layout,
    *,
    broken_files: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The configuration to give Kea for `document` (a case's, or a `config-set`'s).
    `broken_files`: memfile backends whose file cannot be opened (a `down` memfile)."""
    doc = copy.deepcopy(dict(document))
    universe = 4 if "Dhcp4" in doc else 6
    server: dict[str, Any] = doc[f"Dhcp{universe}"]
    hooks = []
    for key, item in backend_maps(server):
        if item.get("type") == "memfile":
            _memfile(item, key, layout, broken=key in broken_files)
            continue
        end = endpoints[f"{key} {item.get('type')}"]
        if item.get("host") in (None, "localhost", "127.0.0.1"):
            item["host"] = "127.0.0.1"  # a name the case gives (cb.example) stays: unreachable
        item.update(port=end.port, name=end.name, user=end.user)
        item["password"] = end.password
        if key.startswith("config-databases"):
            hooks.append(
                str(
                    layout.hooks
                    / f"libdhcp_{'pgsql' if end.type == 'postgresql' else 'mysql'}_cb.so"
                )
            )
    if "lease-database" not in server:
        server["lease-database"] = {"type": "memfile", "persist": False}
    if hooks:
        present = {h.get("library") for h in server.get("hooks-libraries", [])}
        server.setdefault("hooks-libraries", [])
        server["hooks-libraries"] += [
            {"library": h} for h in dict.fromkeys(hooks) if h not in present
        ]
    server["control-socket"] = {"socket-type": "unix", "socket-name": str(layout.socket)}
    server["loggers"] = [_logger(universe, layout.log)]
    if universe == 4:
        server["interfaces-config"] = {"interfaces": ["lo"], "dhcp-socket-type": "udp"}
        server["subnet4"] = _subnets4()
    else:
        server["interfaces-config"] = {"interfaces": ["lo/::1"]}
        server["data-directory"] = str(layout.directory)  # the server's DUID file
        server["subnet6"] = _subnets6()
    return doc


def _memfile(item: dict[str, Any], key: str, layout: Layout, *, broken: bool) -> None:
    name = layout.directory / ("no-such-directory" if broken else "") / f"{key}.csv"
    item["name"] = str(name)
    item.setdefault("lfc-interval", 0)


def _logger(universe: int, path: Path) -> dict[str, Any]:
    return {
        "name": f"kea-dhcp{universe}",
        "severity": "DEBUG",
        "debuglevel": 15,  # packet drops and their reasons; not every packet dump
        "output_options": [{"output": str(path), "pattern": LOG_PATTERN, "flush": True}],
    }


def _subnets4() -> list[dict[str, Any]]:
    probe = {
        "id": 1,
        "subnet": "127.0.0.0/24",  # dhcp.V4_PROBE_RELAY,
        "pools": [{"pool": "127.0.0.100 - 127.0.0.200"}],
        "reservations-in-subnet": False,
        "reservations-global": False,
    }
    traffic = {
        "id": 2,
        "subnet": "127.0.1.0/24",  # dhcp.V4_TRAFFIC_RELAY,
        "pools": [{"pool": "127.0.1.10 - 127.0.1.250"}],
        "valid-lifetime": 30,
    }
    return [probe, traffic]


def _subnets6() -> list[dict[str, Any]]:
    probe = {
        "id": 1,
        "subnet": "2001:db8:1::/64",
        "pools": [{"pool": "2001:db8:1::100 - 2001:db8:1::1ff"}],
        "reservations-in-subnet": False,
        "reservations-global": False,
    }
    traffic = {
        "id": 2,
        "subnet": "2001:db8:2::/64",
        "pools": [{"pool": "2001:db8:2::100 - 2001:db8:2::ffff"}],
        "valid-lifetime": 30,
    }
    return [probe, traffic]
