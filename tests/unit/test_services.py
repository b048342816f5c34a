"""The services API without a database: configuration sources, health, bad use.

Everything here runs on a memfile-only configuration (no connection is ever opened) or
fails before the lifecycle starts; tests/integration/test_services.py has the real servers.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from dbfsm import (
    AsyncLifecycle,
    BackendUnavailable,
    ConfigError,
    ConnectionLost,
    Error,
    Lifecycle,
    NotServing,
    StartupFailed,
    Unavailable,
    UsageError,
    load_config,
)

MEMFILE = {"lease-database": {"type": "memfile"}}
PG = {"type": "postgresql", "name": "kea", "host": "db.example", "user": "kea"}


# -- configuration sources -------------------------------------------------------------------


def test_a_bare_mapping_of_database_sections_is_a_dhcp4_server() -> None:
    settings = load_config({"lease-database": PG, "hosts-databases": [dict(PG, type="mysql")]})
    assert settings.universe == 4
    assert [b.key for b in settings.backends] == ["lease-database", "hosts-databases[0]"]
    assert str(settings.backend("lease-database").type) == "postgresql"


def test_a_document_names_its_server() -> None:
    assert load_config({"Dhcp6": {"lease-database": PG}}).universe == 6
    assert load_config({"Dhcp4": {"lease-database": PG}}).universe == 4


def test_a_file(tmp_path: Path) -> None:
    path = tmp_path / "kea-dhcp4.json"
    path.write_text(
        "// Kea's own comments are allowed\n" + json.dumps({"Dhcp4": {"lease-database": PG}})
    )
    for source in (path, str(path)):
        assert [b.key for b in load_config(source).backends] == ["lease-database"]
    assert Lifecycle.from_config(path).settings.backend("lease-database").parameters["host"] == (
        "db.example"
    )


@pytest.mark.parametrize(
    ("source", "text"),
    [
        (
            {"lease-database": {"type": "oracle"}},
            "lease-database.type: unknown backend database type: oracle",
        ),
        (
            {"lease-database": {"type": "postgresql"}},
            "lease-database: must specify a name for the database",
        ),
        (
            {"hosts-databases": [dict(PG, port="5432")]},
            "hosts-databases[0].port: invalid value type specified for parameter 'port'",
        ),
        ({"Dhcp4": {"lease-database": 5}}, "config.Dhcp4.lease-database: lease-database must be"),
        ({}, "config: missing 'Dhcp4' or 'Dhcp6' map"),
        ({"database": PG}, "config: missing 'Dhcp4' or 'Dhcp6' map"),
        (
            {"Dhcp4": {}, "Dhcp6": {}},
            "config.Dhcp6: a configuration holds one server: 'Dhcp4' or 'Dhcp6', not both",
        ),
    ],
)
def test_what_kea_refuses_is_a_config_error_located_in_the_source(
    source: dict[str, Any], text: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(source)
    assert str(caught.value).startswith(text), str(caught.value)
    with pytest.raises(ConfigError):
        Lifecycle.from_config(source)
    with pytest.raises(ConfigError):
        AsyncLifecycle.from_config(source)


def test_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.json"
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_config(missing)


def test_a_config_error_never_shows_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"lease-database": dict(PG, password="s3cr3t-pw", port="x")})
    assert "s3cr3t-pw" not in str(caught.value)


# -- errors ----------------------------------------------------------------------------------


def test_the_error_classes() -> None:
    assert issubclass(NotServing, Unavailable) and issubclass(BackendUnavailable, Unavailable)
    for kind in (Unavailable, ConnectionLost, StartupFailed):
        assert issubclass(kind, Error)
    refused = BackendUnavailable("lease-database", "waiting", 0.25)
    assert (refused.backend, refused.state, refused.retry_after) == (
        "lease-database",
        "waiting",
        0.25,
    )
    assert str(refused) == "backend lease-database is waiting"
    assert NotServing("the server is not_serving", None).retry_after is None
    failed = StartupFailed("DHCP4_INIT_FAIL", "failed to initialize", 1)
    assert (failed.message_id, failed.exit_code, str(failed)) == (
        "DHCP4_INIT_FAIL",
        1,
        "DHCP4_INIT_FAIL failed to initialize",
    )


# -- a memfile lifecycle ---------------------------------------------------------------------


def _is_iso(text: str) -> bool:
    return datetime.datetime.fromisoformat(text).tzinfo is not None


def test_health_is_the_ietf_document() -> None:
    with Lifecycle.from_config(MEMFILE) as life:
        assert life.serving and life.alive and life.state == "serving"
        health = life.health()
        assert health["status"] == "pass" and "output" not in health
        assert list(health["checks"]) == ["lease-database:connection"]
        (check,) = health["checks"]["lease-database:connection"]
        assert check["componentId"] == "lease-database"
        assert check["componentType"] == "datastore"
        assert check["observedValue"] == "online"
        assert check["status"] == "pass"
        assert _is_iso(check["time"])
        json.dumps(health)  # JSON as it is
        assert life.backends() == {
            "lease-database": {
                "type": "memfile",
                "state": "online",
                "attempts": 0,
                "allowed": 0,
                "last_error": None,
            }
        }
        assert life.wait_serving(0.1) is True
        assert life.command({"command": "status-get"})["result"] == 0


def test_a_memfile_backend_has_no_connection_to_hand_out() -> None:
    with (
        Lifecycle.from_config(MEMFILE) as life,
        pytest.raises(Error, match="memfile"),
        life.connection("lease-database"),
    ):
        pass


def test_the_guard_passes_errors_that_are_no_loss_through() -> None:
    with Lifecycle.from_config(MEMFILE) as life:
        with life.guard("lease-database"):
            pass
        with pytest.raises(KeyError), life.guard("lease-database"):
            raise KeyError("the service's own bug")
        assert life.serving


def test_use_before_start_is_a_usage_error() -> None:
    life = Lifecycle.from_config(MEMFILE)
    assert life.state == "unstarted" and not life.alive and not life.serving
    with pytest.raises(UsageError, match="not started"), life.connection("lease-database"):
        pass
    with pytest.raises(UsageError, match="not started"), life.guard("lease-database"):
        pass
    for call in (life.health, life.backends, lambda: life.engine):
        with pytest.raises(UsageError, match="not started"):
            call()


def test_an_unknown_backend_lists_the_known_ones() -> None:
    source = {"lease-database": {"type": "memfile"}}
    with Lifecycle.from_config(source) as life:
        with (
            pytest.raises(UsageError, match=r"no backend 'hosts-database': known: lease-database"),
            life.connection("hosts-database"),
        ):
            pass
        with pytest.raises(UsageError, match="known: lease-database"), life.guard("lease"):
            pass


def test_use_after_close_is_a_usage_error() -> None:
    life = Lifecycle.from_config(MEMFILE)
    with life:
        pass
    with pytest.raises(UsageError, match="closed"), life.connection("lease-database"):
        pass
    with pytest.raises(UsageError, match="closed"), life.guard("lease-database"):
        pass
    life.close()  # idempotent
    with pytest.raises(UsageError, match="already started"):
        life.start()


def test_a_sync_lifecycle_inside_an_event_loop_is_a_usage_error() -> None:
    with Lifecycle.from_config(MEMFILE) as life:

        async def misuse() -> list[str]:
            found = []
            for call in (
                lambda: life.connection("lease-database").__enter__(),
                lambda: life.guard("lease-database").__enter__(),
                lambda: life.wait_serving(1),
                lambda: life.command({"command": "status-get"}),
            ):
                with pytest.raises(UsageError, match="AsyncLifecycle") as caught:
                    call()
                found.append(str(caught.value))
            with pytest.raises(UsageError, match="AsyncLifecycle"):
                Lifecycle.from_config(MEMFILE).start()
            return found

        assert len(asyncio.run(misuse())) == 4
        assert life.serving  # the misuse changed nothing


def test_the_async_lifecycle_on_memfile() -> None:
    async def main() -> None:
        life = AsyncLifecycle.from_config(MEMFILE)
        with pytest.raises(UsageError, match="not started"):
            async with life.connection("lease-database"):
                pass
        async with life:
            assert life.serving and (await life.wait_serving(0.1))
            assert life.health()["status"] == "pass"
            assert (await life.command({"command": "status-get"}))["result"] == 0
            with pytest.raises(UsageError, match="known: lease-database"):
                async with life.guard("hosts-databases[0]"):
                    pass
            async with life.guard("lease-database"):
                pass
            with pytest.raises(UsageError, match="already started"):
                await life.start()
        await life.aclose()  # idempotent
        with pytest.raises(UsageError, match="closed"):
            async with life.connection("lease-database"):
                pass

    asyncio.run(main())
