"""A real outage, and its incident page: what docs/images/incident.png shows.

Starts a private PostgreSQL (its own data directory and 127.0.0.1 port, as the integration
tests do: tests/integration/servers.py; run as root, with PostgreSQL 15 installed), runs
`dbfsm run CONFIG --report PAGE` against it with a stop-retry-exit lease database and a
serve-retry-continue host database, and makes an outage: the server stops, comes back,
a `status-get` command is sent, then the server stops for good and dbfsm, out of attempts,
exits 1. Then headless Chromium opens the page and the screenshots are written
(incident.png at 1280x800, incident-phone.png at 390x844).

    python -m docs.examples.real_outage [OUTPUT_DIR]   (default: docs/images)

The page itself, the records and the configuration (which holds the private server's
password) stay in a temporary directory, removed at the end.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from tests.integration.servers import PrivatePostgres
from tests.render.browser import Browser

ROOT = Path(__file__).resolve().parents[2]


def _dbfsm(cwd: Path, *args: str, stdout: IO[str] | int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dbfsm", *args],
        cwd=cwd,  # the run's own directory: the page names its files as given
        text=True,
        stdout=stdout,
    )


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="dbfsm-outage-"))
    pg = PrivatePostgres()
    pg.start()
    try:
        lease = pg.database_map(
            **{"max-reconnect-tries": 4, "reconnect-wait-time": 1000, "on-fail": "stop-retry-exit"}
        )
        hosts = pg.database_map(
            **{
                "max-reconnect-tries": 3,
                "reconnect-wait-time": 500,
                "on-fail": "serve-retry-continue",
            }
        )
        socket = work / "kea.sock"
        config = work / "kea-dhcp4.json"
        document = {
            "Dhcp4": {
                "control-socket": {"socket-type": "unix", "socket-name": str(socket)},
                "lease-database": lease,
                "hosts-databases": [hosts],
            }
        }
        config.write_text(json.dumps(document, indent=2))
        page = work / "incident.html"
        records = work / "run.jsonl"
        with records.open("w") as output:
            run = _dbfsm(
                work, "run", config.name, "--traffic", "20", "--format", "json",
                "--report", page.name,
                stdout=output,
            )  # fmt: skip
            time.sleep(2.0)
            pg.stop("fast")  # the lease database goes: the service stops
            time.sleep(2.6)
            pg.start()  # back before the attempts run out: serving again
            time.sleep(1.5)
            pg.terminate_sessions()  # the host database's session is cut: it reconnects
            time.sleep(1.5)
            _dbfsm(work, "command", str(socket), '{"command": "status-get"}',
                   stdout=subprocess.DEVNULL).wait(10)  # fmt: skip
            time.sleep(1.0)
            pg.stop("fast")  # gone for good: four attempts, then exit 1
            code = run.wait(60)
        print(f"dbfsm run exited {code}; {sum(1 for _ in records.open())} records")
        if pg.password in page.read_text():
            raise SystemExit("the page shows the database password")
        with Browser() as browser, browser.tab(1280, 800) as tab:
            visit = tab.open(page)
            if visit.errors:
                raise SystemExit(f"the page logged errors: {visit.errors}")
            shot = tab.screenshot(out / "incident.png")
        with Browser() as browser, browser.tab(390, 844, mobile=True) as tab:
            tab.open(page)
            tab.screenshot(out / "incident-phone.png")
        print(f"screenshot: {shot}")
        return 0
    finally:
        pg.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images"))
