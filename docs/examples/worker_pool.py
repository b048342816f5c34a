"""Threaded workers on a psycopg_pool.ConnectionPool (PostgreSQL), under Kea's lifecycle.

    DBFSM_CONFIG=kea-dhcp4.json python docs/examples/worker_pool.py [THREADS] [SECONDS]

The service keeps its own pool; the lifecycle only says whether a request may go to the
database (`life.guard` refuses it before any I/O while Kea would not serve, or while the
backend is reconnecting) and tells the engine when a request finds the connection gone, so
the outage is handled on Kea's schedule: the workers have no retry loop of their own. When a
reconnect attempt brings the database back, `on_restored=pool.check` has the pool replace
the connections the outage broke.

Each worker inserts rows and counts what was acknowledged (the block returned: committed),
refused (`dbfsm.Unavailable`: nothing was sent) and lost (`dbfsm.ConnectionLost`: the
connection went during the insert, which may or may not have been committed).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool

from dbfsm import ConnectionLost, Lifecycle, Unavailable

BACKEND = "lease-database"
DATABASE: dict[str, Any] = {  # without DBFSM_CONFIG: the local PostgreSQL
    "type": "postgresql",
    "host": "127.0.0.1",
    "port": 5432,
    "name": "test",
    "user": "postgres",
    "password": "secret",
    "on-fail": "serve-retry-continue",
    "max-reconnect-tries": 30,
    "reconnect-wait-time": 500,
}
# Seconds a worker waits for a pooled connection (psycopg_pool's default is 30): a pool that
# cannot connect is a database that is down, which the lifecycle will hear of.
POOL_WAIT = 5.0
TABLE = (
    "CREATE TABLE IF NOT EXISTS worker_events "
    "(worker INT NOT NULL, n INT NOT NULL, PRIMARY KEY (worker, n))"
)


def conninfo(database: Mapping[str, Any]) -> str:
    """The pool's connection string, from the same Kea map the lifecycle follows."""
    return make_conninfo(
        host=database.get("host", "localhost"),
        port=database.get("port", 5432),
        dbname=database["name"],
        user=database.get("user"),
        password=database.get("password"),
        connect_timeout=database.get("connect-timeout", 5),
    )


class Workers:
    """`threads` workers inserting rows until `stop()`; `counts` says how each insert went and
    `acknowledged` holds the (worker, n) of every insert whose commit returned."""

    def __init__(self, life: Lifecycle, pool: ConnectionPool, threads: int) -> None:
        self.life = life
        self.pool = pool
        self.counts: Counter[str] = Counter()
        self.acknowledged: list[tuple[int, int]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, args=(i,), name=f"worker-{i}")
            for i in range(threads)
        ]

    def start(self) -> Workers:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _work(self, worker: int) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                with (
                    self.life.guard(BACKEND, on_restored=self.pool.check),
                    self.pool.connection() as conn,  # commits when the block returns
                ):
                    conn.execute(
                        "INSERT INTO worker_events (worker, n) VALUES (%s, %s)", (worker, n)
                    )
            except Unavailable as refused:  # nothing was sent: wait for the next attempt
                self._count("refused")
                self._stop.wait(min(refused.retry_after or 0.05, 0.2))
                continue
            except ConnectionLost:  # the engine has been told; the next call is refused
                self._count("lost")
                continue
            with self._lock:
                self.acknowledged.append((worker, n))
            self._count("acknowledged")

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1


def run(source: str | Mapping[str, Any], threads: int, seconds: float) -> Counter[str]:
    """Start the lifecycle and the pool, run the workers for `seconds`; their counts."""
    life = Lifecycle.from_config(source)
    database = life.settings.backend(BACKEND).parameters  # Kea's map, defaults filled in
    with (
        life,
        ConnectionPool(conninfo(database), max_size=threads, timeout=POOL_WAIT) as pool,
    ):
        with life.guard(BACKEND), pool.connection() as conn:
            conn.execute(TABLE)
        workers = Workers(life, pool, threads).start()
        try:
            time.sleep(seconds)
        finally:
            workers.stop()
        return workers.counts


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    counts = run(os.environ.get("DBFSM_CONFIG") or {BACKEND: DATABASE}, threads, seconds)
    print(" ".join(f"{k}={counts[k]}" for k in ("acknowledged", "refused", "lost")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
