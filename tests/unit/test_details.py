"""Small Kea details: access strings in logs, duplicate scenario keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbfsm.fsm import config
from dbfsm.fsm.backend import access_string
from dbfsm.fsm.errors import ConfigError
from dbfsm.fsm.settings import Role
from dbfsm.simulation import scenario


def test_access_string_is_keas() -> None:
    """Kea's access string holds only the given parameters plus `universe=N` for lease and
    host databases, sorted, password redacted, booleans as true/false
    (cfg_db_access.cc:117-130, dbaccess_parser.cc:63-67, database_connection.cc:90-115)."""
    settings = config.from_document(
        {
            "Dhcp6": {
                "lease-database": {
                    "type": "mysql",
                    "name": "kea",
                    "password": "hunter2",
                    "retry-on-startup": True,
                },
                "config-control": {"config-databases": [{"type": "postgresql", "name": "cb"}]},
            }
        }
    )
    lease = settings.backend("lease-database")
    assert access_string(lease, 6) == (
        "name=kea password=***** retry-on-startup=true type=mysql universe=6"
    )
    cb = settings.backend("config-databases[0]")
    assert cb.role is Role.CONFIG
    assert access_string(cb, 6) == "name=cb type=postgresql"


def test_duplicate_scenario_key_is_located(tmp_path: Path) -> None:
    """A scenario key given twice is an error at the second one, not a silent overwrite."""
    text = "config: {Dhcp4: {}}\nuntil: 3\nuntil: 4\n"
    with pytest.raises(ConfigError) as info:
        scenario.parse(text, str(tmp_path / "s.yaml"), tmp_path)
    assert str(info.value) == f"{tmp_path / 's.yaml'}:3:1: until: duplicate key"
