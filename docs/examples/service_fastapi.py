"""A FastAPI service whose database work follows Kea's lifecycle.

    DBFSM_CONFIG=kea-dhcp4.json python docs/examples/service_fastapi.py

The lifespan starts an `AsyncLifecycle` from the configuration named by DBFSM_CONFIG (a Kea
configuration file; without it, `DEFAULT` below: the local PostgreSQL). While the database
is away the service does what Kea's `on-fail` says: it answers 503 with a `Retry-After`
(the seconds to the next reconnect attempt) instead of queueing requests, and where Kea
would exit it stops uvicorn and leaves with Kea's exit code.

    POST /notes  {"text": "..."}   write a row of the service's own table and read it back
    GET  /notes                    the last rows written
    GET  /healthz                  application/health+json: 200 (pass, warn) or 503 (fail)
    GET  /metrics                  Prometheus text (dbfsm.Metrics)

The service listens on 127.0.0.1, port DBFSM_PORT (default 8000).
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from dbfsm import AsyncLifecycle, ConnectionLost, Metrics, Unavailable

BACKEND = "lease-database"
DEFAULT: dict[str, Any] = {
    "lease-database": {
        "type": "postgresql",
        "host": "127.0.0.1",
        "port": 5432,
        "name": "test",
        "user": "postgres",
        "password": "secret",
        "on-fail": "serve-retry-exit",
        "max-reconnect-tries": 10,
        "reconnect-wait-time": 1000,
    }
}
HEALTH = "application/health+json"

TABLE = {  # the service's own table, in each backend's dialect
    "postgresql": "CREATE TABLE IF NOT EXISTS service_notes (id VARCHAR(36) PRIMARY KEY, "
    "body TEXT NOT NULL, created TIMESTAMPTZ NOT NULL DEFAULT now())",
    "mysql": "CREATE TABLE IF NOT EXISTS service_notes (id VARCHAR(36) PRIMARY KEY, "
    "body TEXT NOT NULL, created TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))",
}


class Note(BaseModel):
    text: str


async def query(conn: Any, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """One statement on the lifecycle's connection, its rows: a psycopg.AsyncConnection gives
    a cursor, the MySQL connection (PyMySQL in a worker thread) gives the rows."""
    result = await conn.execute(sql, params)
    if isinstance(result, list):
        return result
    return list(await result.fetchall()) if result.description else []


async def ensure_table(app: FastAPI) -> None:
    """Create the service's table if it is missing: once per process, in a block of its own
    (committed before any request relies on it)."""
    if app.state.table_ready:
        return
    life: AsyncLifecycle = app.state.life
    async with life.connection(BACKEND) as conn:
        await query(conn, TABLE[life.backends()[BACKEND]["type"]])
    app.state.table_ready = True


def create_app(
    config: str | Mapping[str, Any] | None = None, stop: Callable[[], None] | None = None
) -> FastAPI:
    """The app; `config` is what `AsyncLifecycle.from_config` takes (default: DBFSM_CONFIG or
    DEFAULT); `stop()` ends the server where Kea would exit (default: SIGTERM to this
    process, which uvicorn and most ASGI servers take as a graceful shutdown)."""
    source = config if config is not None else os.environ.get("DBFSM_CONFIG") or DEFAULT

    def on_exit(code: int) -> None:
        # Called on the event loop where Kea would exit, after the lifecycle has closed its
        # connections: record Kea's exit code and stop serving HTTP.
        app.state.exit_code = code
        (stop or (lambda: os.kill(os.getpid(), signal.SIGTERM)))()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # StartupFailed (Kea would not start) propagates: the ASGI server does not start.
        async with AsyncLifecycle.from_config(source, on_exit=on_exit) as life:
            app.state.life = life
            app.state.metrics = Metrics(life.engine)
            app.state.table_ready = False
            try:
                yield
            finally:
                app.state.metrics.close()

    app = FastAPI(lifespan=lifespan)
    app.state.exit_code = None

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, error: Unavailable) -> JSONResponse:
        # NotServing / BackendUnavailable: refused before any I/O; come back when the next
        # reconnect attempt is due.
        headers = {}
        if error.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
        return JSONResponse({"detail": str(error)}, status_code=503, headers=headers)

    @app.exception_handler(ConnectionLost)
    async def lost(request: Request, error: ConnectionLost) -> JSONResponse:
        # The connection went in the middle of this request; the lifecycle is reconnecting.
        return JSONResponse({"detail": str(error)}, status_code=503)

    @app.post("/notes")
    async def write(note: Note, request: Request) -> dict[str, Any]:
        life: AsyncLifecycle = request.app.state.life
        key = str(uuid.uuid4())
        await ensure_table(request.app)
        async with life.connection(BACKEND) as conn:  # committed when the block returns
            await query(
                conn, "INSERT INTO service_notes (id, body) VALUES (%s, %s)", (key, note.text)
            )
            rows = await query(conn, "SELECT id, body FROM service_notes WHERE id = %s", (key,))
        return {"id": rows[0][0], "text": rows[0][1]}

    @app.get("/notes")
    async def read(request: Request, limit: int = 10) -> list[dict[str, Any]]:
        life: AsyncLifecycle = request.app.state.life
        await ensure_table(request.app)
        async with life.connection(BACKEND) as conn:
            rows = await query(
                conn, "SELECT id, body FROM service_notes ORDER BY created DESC LIMIT %s", (limit,)
            )
        return [{"id": key, "text": body} for key, body in rows]

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        document = request.app.state.life.health()
        status = 503 if document["status"] == "fail" else 200
        return JSONResponse(document, status_code=status, media_type=HEALTH)

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        text = request.app.state.metrics.text()
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    return app


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server: uvicorn.Server | None = None

    def stop() -> None:
        assert server is not None
        server.should_exit = True

    app = create_app(stop=stop)
    port = int(os.environ.get("DBFSM_PORT", "8000"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info"))
    server.run()
    if app.state.exit_code is not None:
        return int(app.state.exit_code)  # Kea's exit code: the lifecycle ended the service
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
