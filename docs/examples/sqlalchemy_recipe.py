"""SQLAlchemy under Kea's lifecycle: the engine's own pool, guarded.

    DBFSM_CONFIG=kea-dhcp4.json python docs/examples/sqlalchemy_recipe.py

`life.guard(backend)` admits a unit of work or refuses it before any I/O (`dbfsm.Unavailable`,
with `retry_after`), and judges an error inside it by Kea's loss rules (it reads SQLAlchemy's
`DBAPIError.orig` and `connection_invalidated`); a loss goes to the lifecycle, which
reconnects on Kea's schedule. `on_restored=engine.dispose` throws the pool's connections
away when the database is back, so no request meets a connection the outage broke.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, ExceptionContext

from dbfsm import Lifecycle, Unavailable

BACKEND = "lease-database"
DATABASE: dict[str, Any] = {  # without DBFSM_CONFIG: the local PostgreSQL
    "type": "postgresql",
    "host": "127.0.0.1",
    "port": 5432,
    "name": "test",
    "user": "postgres",
    "password": "secret",
    "on-fail": "serve-retry-continue",
}
DIALECTS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}
log = logging.getLogger("recipe")


def engine_for(database: Mapping[str, Any]) -> Engine:
    """A SQLAlchemy engine on the same database map the lifecycle follows."""
    url = URL.create(
        DIALECTS[str(database["type"])],
        username=database.get("user"),
        password=database.get("password"),
        host=database.get("host"),
        port=database.get("port"),
        database=database.get("name"),
    )
    engine = create_engine(url, pool_size=5, pool_timeout=5)

    @event.listens_for(engine, "handle_error")
    def disconnects(context: ExceptionContext) -> None:
        # SQLAlchemy's own verdict: on a disconnect it invalidates the connection (and, by
        # default, the rest of the pool) and marks the error `connection_invalidated`, which
        # the guard takes as a loss. Setting `context.is_disconnect` here would change that
        # verdict; the guard also applies dbfsm's rules to `orig`, so leave it as it is.
        if context.is_disconnect:
            log.warning("disconnect: %s", type(context.original_exception).__name__)

    return engine


def main(source: str | Mapping[str, Any], rows: int = 5) -> int:
    life = Lifecycle.from_config(source)
    engine = engine_for(life.settings.backend(BACKEND).parameters)
    with life:
        for n in range(rows):
            try:
                with life.guard(BACKEND, on_restored=engine.dispose), engine.begin() as conn:
                    conn.execute(text("CREATE TABLE IF NOT EXISTS recipe_rows (n INT)"))
                    conn.execute(text("INSERT INTO recipe_rows (n) VALUES (:n)"), {"n": n})
            except Unavailable as refused:
                print(f"refused: {refused} (retry after {refused.retry_after} s)")
        with life.guard(BACKEND), engine.connect() as conn:
            count = conn.execute(text("SELECT count(*) FROM recipe_rows")).scalar_one()
        print(f"rows: {count}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(os.environ.get("DBFSM_CONFIG") or {BACKEND: DATABASE}))
