"""`dbfsm spec run --target kea` against the real Kea on this machine (tox -e kea).

The whole suite must give no `fail`; a wrong Kea (tests/kea/wrap-kea.sh changes the
configuration it is given) must make the clauses it breaks fail; bad input is one line and
exit status 2; nothing is left behind. Needs root, Kea 2.2 (apt-get install kea-dhcp4-server
kea-dhcp6-server kea-admin), PostgreSQL 15 and MariaDB: without them these tests FAIL.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = Path(__file__).with_name("wrap-kea.sh")
KEA4 = "/usr/sbin/kea-dhcp4"


def dbfsm(
    *args: str, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "dbfsm", "spec", "run", "--target", "kea", *args]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


@pytest.fixture
def private_tmp() -> Iterator[Path]:
    """A temporary directory for one run (its TMPDIR): every directory the run makes, its
    own (dbfsm-kea-*) and its private servers' (dbfsm-postgresql-*, dbfsm-mysql-*), is in it
    and no one else's is, however many runs and tests share the machine's /tmp."""
    path = Path(tempfile.mkdtemp(prefix="dbfsm-test-tmp-"))
    path.chmod(0o755)  # the servers' users and Kea reach their directories through it
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def in_tmp(tmp: Path) -> dict[str, str]:
    return dict(os.environ, TMPDIR=str(tmp))


def leftovers(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir())


def kea_processes(tmp: Path | None = None) -> list[str]:
    where = re.escape(str(tmp or tempfile.gettempdir()))
    found = subprocess.run(
        ["pgrep", "-a", "-f", f"kea-dhcp[46] -c {where}/dbfsm-kea-"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.splitlines()


def server_processes(tmp: Path) -> list[str]:
    """Private servers (initdb, postgres, mariadb-install-db, mariadbd) of the run's."""
    found = subprocess.run(
        ["pgrep", "-a", "-f", f"{re.escape(str(tmp))}/dbfsm-(postgresql|mysql)-"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.splitlines()


def test_kea_is_installed() -> None:
    for path in (KEA4, "/usr/sbin/kea-dhcp6", "/usr/sbin/kea-admin"):
        assert os.access(path, os.X_OK), (
            f"{path} missing: apt-get install kea-dhcp4-server kea-dhcp6-server kea-admin"
        )


def test_the_whole_suite_has_no_failure(tmp_path: Path, private_tmp: Path) -> None:
    junit = tmp_path / "kea.xml"
    # A case mostly waits on real time (its scenario's seconds), so 4 at once on 2 cores: the
    # same verdicts for every case as with 2, and each case as long (measured: 2 runs each).
    done = dbfsm("--jobs", "4", "--junit", str(junit), env=in_tmp(private_tmp))
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    summary = done.stdout.strip().splitlines()
    line = next(ln for ln in summary if ln.startswith("Kea "))
    assert re.match(
        r"Kea 2\.2\.0 \(.*\): \d+ cases: \d+ pass, 0 fail, \d+ not applicable, \d+ diverge", line
    )
    root = ET.parse(junit).getroot()
    assert root.get("failures") == "0"
    reasons = [s.get("message", "") for s in root.iter("skipped")]
    assert reasons and all(
        r.startswith(("not applicable to Kea 2.2.0: ", "diverges in Kea 2.2.0: ")) for r in reasons
    )
    assert leftovers(private_tmp) == [] and not kea_processes(private_tmp)
    assert not server_processes(private_tmp)


@pytest.mark.parametrize(
    ("how", "clause"),
    [
        ("tries", "normal.fatal-before-exit"),
        ("on-fail", "normal.fatal-before-exit"),
        ("tries", "normal.retries-exhausted"),
    ],
)
def test_a_wrong_kea_is_caught(how: str, clause: str) -> None:
    env = dict(os.environ, DBFSM_WRONG_KEA=how, DBFSM_REAL_KEA=KEA4)
    done = dbfsm("--only", clause, "--kea-dhcp4", str(WRAPPER), "--jobs", "2", env=env)
    assert done.returncode == 1, done.stdout
    assert f"FAIL  {clause}" in done.stdout
    assert re.search(r"\d+ cases: \d+ pass, [1-9]\d* fail", done.stdout)


def test_the_right_kea_passes_the_same_clauses() -> None:
    done = dbfsm(
        "--only", "normal.fatal-before-exit", "--only", "normal.retries-exhausted", "--jobs", "2"
    )
    assert done.returncode == 0, done.stdout
    assert "diverges in Kea 2.2.0: when the reconnect attempts run out" in done.stdout


def test_keep_keeps_each_case_and_junit_skips_with_the_reason(tmp_path: Path) -> None:
    keep, junit = tmp_path / "kept", tmp_path / "out.xml"
    done = dbfsm(
        "--only",
        "normal.fatal-before-exit",
        "--only",
        "startup.retry-on-startup",
        "--keep",
        str(keep),
        "--junit",
        str(junit),
        "--jobs",
        "2",
    )
    assert done.returncode == 0, done.stdout
    logs = sorted(keep.glob("case*/kea.log"))
    assert logs and all(
        "DHCP4_STARTED" in p.read_text() or "DHCP6_STARTED" in p.read_text() for p in logs
    )
    skipped = [s.get("message", "") for s in ET.parse(junit).getroot().iter("skipped")]
    assert any(
        s.startswith("not applicable to Kea 2.2.0: retry-on-startup is new in Kea 2.4")
        for s in skipped
    )
    assert any(s.startswith("diverges in Kea 2.2.0: ") for s in skipped)


@pytest.mark.parametrize("option", ["--kea-dhcp4", "--kea-admin"])
def test_a_missing_binary_is_one_line_and_exit_2(option: str) -> None:
    done = dbfsm("--only", "normal.fatal-before-exit", option, "/nonexistent/kea")
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert "/nonexistent/kea" in done.stderr


def test_without_kea_on_the_path_it_says_how_to_install_it(tmp_path: Path) -> None:
    from dbfsm.fsm.errors import InputError
    from dbfsm.validation.kea import binaries

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(binaries.shutil, "which", lambda *a, **k: None)
        with pytest.raises(
            InputError, match=r"kea-dhcp6 not found .*apt-get install kea-dhcp6-server"
        ):
            binaries.locate("kea-dhcp6", None)


def test_ctrl_c_stops_everything_and_leaves_nothing(private_tmp: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "dbfsm",
        "spec",
        "run",
        "--target",
        "kea",
        "--only",
        "normal.serve-retry-continue",
        "--jobs",
        "2",
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=in_tmp(private_tmp),
    )
    try:
        import time

        deadline = time.monotonic() + 60
        while not kea_processes(private_tmp) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert kea_processes(private_tmp), "no Kea started within 60 s"
        process.send_signal(2)  # SIGINT, as Ctrl-C
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode != 0
    assert not kea_processes(private_tmp) and not server_processes(private_tmp)
    # Its own directory and the private servers' (dbfsm-kea-*, dbfsm-postgresql-*,
    # dbfsm-mysql-*), even one still being started or cleaned up when Ctrl-C came.
    assert leftovers(private_tmp) == []
