"""What a real Kea 2.2 does when its database's network path becomes a black hole.

Measured, not assumed: Kea 2.2 accepts only `connect-timeout` (no `read-timeout`,
`write-timeout`, `tcp-user-timeout`: its parser refuses them), and it is single-threaded, so a query
on a silent connection blocks the whole server: not even an INFORM (no database) is
answered, no loss is logged, and SIGTERM waits. Two kinds of black hole:

* the fault proxy's `blackhole` mode (dbfsm/validation/kea/proxy.py): the proxy's kernel
  still acknowledges every byte and the proxy drops it, so what Kea sent during the hole is
  gone for good, and the connection stays stuck after the mode goes back to `pass`;
* a real one: in a private network namespace (`unshare -n`, its own loopback), a routing
  rule drops every packet the proxy sends back to Kea (SYN-ACKs and data alike), so TCP
  retransmits and the stalled request completes once the rule is gone.

A connection first lost by a reset, then reconnected into a black hole, makes each reconnect
attempt block for `connect-timeout` (no answers), with answers between attempts
(serve-retry-continue). Every case runs in one child process (this file run as a script
inside the namespace), the cases in parallel, so the file takes about a minute.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEA4 = "/usr/sbin/kea-dhcp4"
ADMIN = "/usr/sbin/kea-admin"
HOLE = 3.0  # when the black hole starts, seconds after Kea starts
TRAFFIC_EVERY = 0.5  # a DISCOVER (uses the lease database)
LONG = 15.5  # a black hole longer than the brief's "still blocked after ~15 s"
_KEPT = re.compile(r"DB|DATABASE|DHCP4_LEASE_ADVERT")  # database messages, and OFFERs made

# name: (database, fault, hole length (None: to the end), until)
# faults: proxy (the proxy's blackhole, then pass), real (packets dropped, then not),
# proxy-cut (the proxy's blackhole, then its connections closed: the proxy stays a black hole
# for new ones), proxy-lost / real-lost (the open connections reset first, so the loss is
# noticed at once; then the black hole for the reconnect attempts)
CASES: dict[str, tuple[str, str, float | None, float]] = {
    "pg-proxy-1s": ("postgresql", "proxy", 1.0, 12.0),
    "mysql-proxy-1s": ("mysql", "proxy", 1.0, 12.0),
    "pg-real-1s": ("postgresql", "real", 1.0, 8.0),
    "mysql-real-1s": ("mysql", "real", 1.0, 8.0),
    "pg-real-long": ("postgresql", "real", LONG, HOLE + LONG + 14.0),
    "mysql-real-long": ("mysql", "real", LONG, HOLE + LONG + 14.0),
    "pg-proxy-cut": ("postgresql", "proxy-cut", 3.0, 16.0),
    "pg-proxy-lost": ("postgresql", "proxy-lost", None, 14.0),
    "mysql-real-lost": ("mysql", "real-lost", None, 14.0),
}


def lease_database(kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "connect-timeout": 2,
        "on-fail": "serve-retry-continue",
        "max-reconnect-tries": 3,
        "reconnect-wait-time": 1000,
        **extra,
    }


# -- inside the private network namespace ---------------------------------------------------


def _sh(command: str) -> None:
    subprocess.run(command, shell=True, check=True, capture_output=True)


def _play(name: str, backend: Any, root: Path, ports: tuple[int, int]) -> dict[str, Any]:
    from dbfsm.validation.kea import dhcp, keaconfig, observed

    kind, fault, length, until = CASES[name]
    layout = keaconfig.Layout(root / name)
    layout.directory.mkdir()
    endpoints = {f"lease-database {kind}": backend.endpoint}
    document = {"Dhcp4": {"lease-database": lease_database(kind)}}
    layout.config.write_text(json.dumps(keaconfig.rewrite(document, endpoints, layout)))
    port, client_port = ports
    client = dhcp.Client(4, port, client_port)
    rule = f"pref {10 + list(CASES).index(name)} ipproto tcp sport {backend.proxy.port}"
    env = dict(os.environ, KEA_PIDFILE_DIR=str(layout.directory))
    env["KEA_LOCKFILE_DIR"] = str(layout.directory)
    command = [KEA4, "-c", str(layout.config), "-p", str(port), "-P", str(client_port)]
    probes: list[tuple[float, bool]] = []
    uses: list[float] = []
    hole: list[float] = []
    start = time.time()
    with layout.console.open("wb") as console:
        kea = subprocess.Popen(
            command, stdout=console, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    next_use = 0.0
    try:
        while (now := time.time() - start) < until and kea.poll() is None:
            if not hole and now >= HOLE:
                hole.append(now)
                if fault.endswith("lost"):
                    backend.proxy.set_mode("reset")
                if fault.startswith("proxy"):
                    backend.proxy.set_mode("blackhole")
                else:
                    _sh(f"ip rule add {rule} blackhole")
                    backend.proxy.set_mode("pass")
            if len(hole) == 1 and length is not None and now >= HOLE + length:
                hole.append(now)
                if fault == "proxy-cut":
                    backend.proxy.cut_all()
                elif fault.startswith("proxy"):
                    backend.proxy.set_mode("pass")
                else:
                    _sh(f"ip rule del {rule}")
            if now >= next_use:
                uses.append(time.time() - start)
                client.use()
                next_use += TRAFFIC_EVERY
            at = time.time() - start
            probes.append((at, client.probe()))
            time.sleep(0.05)
        # SIGTERM while (perhaps) blocked: Kea handles signals in its packet loop.
        stopped = time.time()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(kea.pid, signal.SIGTERM)
        try:
            kea.wait(timeout=2)
            term = time.time() - stopped
        except subprocess.TimeoutExpired:
            term = None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(kea.pid, signal.SIGKILL)
            kea.wait()
    finally:
        client.close()
        if kea.poll() is None:
            os.killpg(kea.pid, signal.SIGKILL)
            kea.wait()
    log = []
    for line in layout.log.read_text().splitlines():
        wall, found = observed._wall(line), re.search(r"\] ([A-Z0-9_]+) ", line)
        if wall is not None and found and _KEPT.search(found[1]):
            log.append((round(wall - start, 3), found[1]))
    return {
        "hole": hole,
        "probes": probes,
        "uses": uses,
        "log": log,
        "term": term,
        "exit": kea.returncode,
    }


def inside() -> None:
    """Every case, in parallel, in this (private) network namespace; JSON on stdout."""
    from dbfsm.validation.kea.databases import Servers, make_backend, release
    from dbfsm.validation.kea.player import _free_udp

    _sh("ip link set lo up")
    # The local table must come after our rules, or loopback packets never meet them.
    _sh("ip rule add pref 100 lookup local && ip rule del pref 0")
    servers = Servers(None)
    root = Path(tempfile.mkdtemp(prefix="dbfsm-blackhole-"))
    backends = []
    results: dict[str, Any] = {}
    try:
        for name, (kind, *_) in CASES.items():
            backend = make_backend("lease-database", kind, servers, own=False, admin=ADMIN)
            backends.append((name, backend))

        ports: set[int] = set()  # distinct: the cases run at once, in one namespace
        while len(ports) < 2 * len(CASES):
            ports.add(_free_udp(4))
        pairs = dict(zip(CASES, zip(*[iter(sorted(ports))] * 2, strict=True), strict=True))

        def one(name: str, backend: Any) -> None:
            try:
                results[name] = _play(name, backend, root, pairs[name])
            except Exception as error:  # reported, and the test fails on it
                results[name] = {"error": repr(error)}

        threads = [threading.Thread(target=one, args=b) for b in backends]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        release([b for _, b in backends])
        servers.cleanup()
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(results))


# -- the tests -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def measured() -> dict[str, dict[str, Any]]:
    done = subprocess.run(
        ["unshare", "-n", sys.executable, __file__, "--inside"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results: dict[str, dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    for name, result in results.items():
        assert "error" not in result, f"{name}: {result['error']}"
    return results


def answers(result: dict[str, Any], start: float, end: float) -> list[bool]:
    """Whether each probe sent in [start, end] was answered (within 0.2 s)."""
    return [ok for t, ok in result["probes"] if start <= t <= end]


def ids(result: dict[str, Any], after: float = 0.0) -> list[str]:
    return [i for t, i in result["log"] if t >= after]


def at(result: dict[str, Any], wanted: str, after: float = 0.0) -> list[float]:
    return [t for t, i in result["log"] if i == wanted and t >= after]


def test_kea_2_2_has_no_read_write_or_tcp_user_timeout(tmp_path: Path) -> None:
    for kind, key in (
        ("postgresql", "tcp-user-timeout"),
        ("mysql", "read-timeout"),
        ("mysql", "write-timeout"),
    ):
        path = tmp_path / f"{key}.json"
        lease = lease_database(kind, name="x", **{key: 2})
        path.write_text(json.dumps({"Dhcp4": {"lease-database": lease}}))
        done = subprocess.run([KEA4, "-t", str(path)], capture_output=True, text=True)
        assert done.returncode == 1
        assert f'got unexpected keyword "{key}" in lease-database map' in done.stdout + done.stderr
    path = tmp_path / "connect-timeout.json"
    lease = lease_database("postgresql", name="x")
    path.write_text(json.dumps({"Dhcp4": {"lease-database": lease}}))
    done = subprocess.run([KEA4, "-t", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def blocked(result: dict[str, Any], start: float, end: float) -> None:
    """Nothing answered, no OFFER made and nothing about the database logged in [start, end]:
    Kea sits in one database call (a DISCOVER goes out right after the hole starts)."""
    probes = answers(result, start + 0.1, end - 0.25)
    assert len(probes) >= 2 and not any(probes), "Kea answered while its query blocked"
    assert [i for t, i in result["log"] if start + 0.1 <= t <= end] == []


@pytest.mark.parametrize("name", ["pg-proxy-1s", "mysql-proxy-1s"])
def test_the_proxys_black_hole_blocks_kea_for_good_even_after_it_passes_again(
    measured: dict[str, dict[str, Any]], name: str
) -> None:
    result = measured[name]
    start, end = result["hole"]
    assert 0.9 <= end - start <= 1.3
    assert all(answers(result, 0.5, start - 0.3))
    # What Kea sent during the hole was acknowledged and dropped by the proxy: no reply
    # ever comes, and with no read timeout (2.2) Kea waits on it whatever the mode is now.
    blocked(result, start, CASES[name][3])
    assert len(answers(result, start + 0.6, CASES[name][3])) >= 10
    assert result["term"] is None, "exited on SIGTERM while blocked"


@pytest.mark.parametrize("name", ["pg-real-1s", "mysql-real-1s"])
def test_a_short_real_black_hole_only_stalls(
    measured: dict[str, dict[str, Any]], name: str
) -> None:
    result = measured[name]
    start, end = result["hole"]
    until = CASES[name][3]
    assert all(answers(result, 0.5, start - 0.3))
    blocked(result, start, end)
    # TCP retransmits what was dropped: the stalled DISCOVER completes (its OFFER is made),
    # then the ones queued behind it, and Kea serves again; no loss, no reconnect.
    offers = [t for t, i in result["log"] if i == "DHCP4_LEASE_ADVERT"]
    assert any(end <= t <= end + 0.8 for t in offers)
    assert any(answers(result, end, end + 0.8))
    assert all(answers(result, end + 0.8, until))
    sent = [t for t in result["uses"] if 0.5 <= t <= until - 0.3]
    assert len([t for t in offers if t >= 0.5]) >= len(sent)  # every DISCOVER answered
    assert {i for t, i in result["log"] if t >= start} == {"DHCP4_LEASE_ADVERT"}
    assert result["term"] is not None and result["term"] < 1.0 and result["exit"] == 0


@pytest.mark.parametrize("name", ["pg-real-long", "mysql-real-long"])
def test_without_read_timeouts_a_long_real_black_hole_blocks_it_all_along(
    measured: dict[str, dict[str, Any]], name: str
) -> None:
    result = measured[name]
    start, end = result["hole"]
    assert end - start >= 15.0
    blocked(result, start, end)  # no timeout of Kea's: only the kernel's (~15 min)
    # Once packets flow again, the next retransmission completes the query: no loss.
    resumed = [t for t, ok in result["probes"] if ok and t >= end]
    assert resumed and resumed[0] - end <= 13.0
    assert all(answers(result, resumed[0] + 0.8, CASES[name][3]))
    assert {i for t, i in result["log"] if t >= start} <= {"DHCP4_LEASE_ADVERT"}


@pytest.mark.parametrize(
    ("name", "engine"),
    [("pg-proxy-lost", "PGSQL"), ("mysql-real-lost", "MYSQL"), ("pg-proxy-cut", "PGSQL")],
)
def test_each_reconnect_attempt_into_a_black_hole_blocks_for_connect_timeout(
    measured: dict[str, dict[str, Any]], name: str, engine: str
) -> None:
    result = measured[name]
    start, until = result["hole"][0], CASES[name][3]
    broken = start
    if name == "pg-proxy-cut":  # blocked until the connection breaks, then lost at once
        broken = result["hole"][1]
        blocked(result, start, broken)
    lost = at(result, "DHCP4_DB_RECONNECT_LOST_CONNECTION", start)
    # Noticed by the next DISCOVER (or the blocked one's error); Kea 2.2 logs the loss
    # again before every attempt.
    assert len(lost) == 3 and 0 <= lost[0] - broken <= TRAFFIC_EVERY + 0.2
    assert broken <= at(result, f"DATABASE_{engine}_FATAL_ERROR", start)[0] <= lost[0]
    opened = at(result, f"DHCPSRV_{engine}_DB", start)
    failed = at(result, f"DHCPSRV_{engine}_LEASE_DB_RECONNECT_ATTEMPT_FAILED", start)
    assert len(opened) == len(failed) == 3
    assert opened[0] - lost[0] < 0.05  # the first attempt at once
    for begun, ended in zip(opened, failed, strict=True):
        assert 1.95 <= ended - begun <= 2.3  # connect-timeout: 2
        probes = answers(result, begun + 0.05, ended - 0.25)
        assert len(probes) >= 5 and not any(probes), "answered during a blocking attempt"
    for ended, begun in zip(failed, opened[1:], strict=False):
        assert 0.95 <= begun - ended <= 1.4  # reconnect-wait-time: 1000, from the failure
        assert any(answers(result, ended, begun - 0.2)), "not answered between attempts"
    gave_up = at(result, "DHCP4_DB_RECONNECT_FAILED", start)
    assert len(gave_up) == 1 and gave_up[0] - failed[-1] < 0.05
    assert 7.9 <= gave_up[0] - lost[0] <= 8.8  # 3 x 2 s blocked + 2 x 1 s waiting
    assert all(answers(result, gave_up[0] + 0.3, until))  # serve-retry-continue
    assert result["term"] is not None and result["term"] < 1.0 and result["exit"] == 0


if __name__ == "__main__" and sys.argv[1:] == ["--inside"]:
    inside()
