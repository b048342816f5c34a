"""Prometheus metrics of a lifecycle (dbfsm.live.metrics): a real engine through a loss and a
recovery on simulated databases and a virtual clock, read back from the exposition text."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from dbfsm.fsm.config import from_document
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.errors import InputError, UsageError
from dbfsm.live.metrics import Metrics
from tests.property.harness import Harness

LEASE = "lease-database"
SECRET = "pw-never-shown"


def settings(on_fail: str = "stop-retry-exit", tries: int = 5, **server: Any) -> Any:
    lease = {
        "type": "postgresql",
        "name": "kea",
        "host": "db.example",
        "password": SECRET,
        "max-reconnect-tries": tries,
        "reconnect-wait-time": 2000,
        "on-fail": on_fail,
    }
    return from_document({"Dhcp4": {"lease-database": lease, **server}})


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition text by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics.text())[(name, tuple(sorted(labels.items())))]


def started(config: Any) -> tuple[Harness, Metrics]:
    """A harness at t=0 with metrics from before startup, started and settled."""
    harness = Harness(config)
    metrics = Metrics(harness.engine, harness.clock)
    harness.start()
    harness.settle()
    return harness, metrics


def lose(harness: Harness, key: str = LEASE, at_ms: int = 10_000) -> None:
    harness.now_ms = at_ms
    harness.driver.set_up(key, False)
    harness.notice_loss(key)
    harness.settle()


def test_loss_and_recovery() -> None:
    """stop-retry-exit, reconnect-wait-time 2 s: lost at 10 s, attempts fail at 10 s and 12 s,
    the third at 14 s succeeds. Each series says so; not-serving time is current at scrape
    time, with no notification in between."""
    harness, metrics = started(settings())
    assert value(metrics, "dbfsm_serving") == 1
    assert value(metrics, "dbfsm_backend_connected", backend=LEASE) == 1
    assert value(metrics, "dbfsm_backend_losses_total", backend=LEASE) == 0
    assert value(metrics, "dbfsm_not_serving_seconds_total") == 0

    lose(harness)
    assert harness.engine.backend_states() == {LEASE: "waiting"}
    assert value(metrics, "dbfsm_serving") == 0
    assert value(metrics, "dbfsm_backend_connected", backend=LEASE) == 0
    assert value(metrics, "dbfsm_backend_losses_total", backend=LEASE) == 1
    assert value(metrics, "dbfsm_reconnect_attempts_total", backend=LEASE, result="failure") == 1
    assert value(metrics, "dbfsm_reconnect_attempts_total", backend=LEASE, result="success") == 0
    harness.now_ms = 11_500  # no timer, no notification: only the clock moved
    assert value(metrics, "dbfsm_not_serving_seconds_total") == pytest.approx(1.5)

    harness.advance(500)
    harness.settle()  # 12 s: the second attempt fails
    harness.driver.set_up(LEASE, True)
    harness.advance(2000)
    harness.settle()  # 14 s: the third succeeds
    assert harness.engine.serving
    assert harness.engine.backend_states() == {LEASE: "online"}

    harness.now_ms = 60_000  # serving since 14 s: the total stays 4 s
    got = samples(metrics.text())
    lease = (("backend", LEASE),)
    assert got[("dbfsm_serving", ())] == 1
    assert got[("dbfsm_backend_connected", lease)] == 1
    assert got[("dbfsm_backend_losses_total", lease)] == 1
    assert got[("dbfsm_reconnect_attempts_total", (*lease, ("result", "failure")))] == 2
    assert got[("dbfsm_reconnect_attempts_total", (*lease, ("result", "success")))] == 1
    assert got[("dbfsm_not_serving_seconds_total", ())] == pytest.approx(4.0)
    assert got[("dbfsm_recovery_seconds_count", lease)] == 1
    assert got[("dbfsm_recovery_seconds_sum", lease)] == pytest.approx(4.0)
    assert got[("dbfsm_recovery_seconds_bucket", (*lease, ("le", "2.5")))] == 0
    assert got[("dbfsm_recovery_seconds_bucket", (*lease, ("le", "5.0")))] == 1

    lose(harness, at_ms=70_000)  # a second episode counts again
    assert value(metrics, "dbfsm_backend_losses_total", backend=LEASE) == 2


def test_not_serving_stops_at_exit() -> None:
    """Two failed attempts under stop-retry-exit: the server exits at 12 s and its
    not-serving time is 2 s however long after that it is read."""
    harness, metrics = started(settings(tries=2))
    lose(harness)
    harness.advance(2000)
    harness.settle()
    assert harness.engine.exit_code == 1
    harness.now_ms = 100_000
    assert value(metrics, "dbfsm_not_serving_seconds_total") == pytest.approx(2.0)
    assert value(metrics, "dbfsm_serving") == 0
    assert value(metrics, "dbfsm_reconnect_attempts_total", backend=LEASE, result="failure") == 2
    assert value(metrics, "dbfsm_recovery_seconds_count", backend=LEASE) == 0


def test_serve_retry_continue_keeps_serving_without_the_backend() -> None:
    """A hosts backend lost under serve-retry-continue: the server serves on, the backend is
    not connected; its label is its key."""
    hosts = {
        "type": "mysql",
        "name": "hosts",
        "password": SECRET,
        "on-fail": "serve-retry-continue",
    }
    harness, metrics = started(settings(**{"hosts-databases": [hosts]}))
    key = "hosts-databases[0]"
    assert key in harness.engine.backend_states()
    lose(harness, key)
    assert value(metrics, "dbfsm_serving") == 1
    assert value(metrics, "dbfsm_backend_connected", backend=key) == 0
    assert value(metrics, "dbfsm_backend_connected", backend=LEASE) == 1
    assert value(metrics, "dbfsm_backend_losses_total", backend=key) == 1
    assert value(metrics, "dbfsm_not_serving_seconds_total") == 0


def test_labels_hold_backend_keys_only() -> None:
    harness, metrics = started(settings())
    lose(harness)
    text = metrics.text()
    assert SECRET not in text
    assert "db.example" not in text
    labels = {v for (_, ls), _v in samples(text).items() for k, v in ls if k == "backend"}
    assert labels == {LEASE}


def test_two_lifecycles_do_not_clash() -> None:
    """Each Metrics has its own registry by default; sharing one is refused, not mixed."""
    first, first_metrics = started(settings())
    second, second_metrics = started(settings())
    lose(first)
    assert value(first_metrics, "dbfsm_backend_losses_total", backend=LEASE) == 1
    assert value(second_metrics, "dbfsm_backend_losses_total", backend=LEASE) == 0
    assert first_metrics.registry is not second_metrics.registry

    shared = CollectorRegistry()
    Metrics(first.engine, first.clock, registry=shared)
    with pytest.raises(ValueError, match="Duplicated"):
        Metrics(second.engine, second.clock, registry=shared)


def test_close_stops_listening() -> None:
    harness, metrics = started(settings())
    metrics.close()
    lose(harness)
    assert value(metrics, "dbfsm_backend_losses_total", backend=LEASE) == 0


def test_needs_transitions() -> None:
    with pytest.raises(UsageError, match="transitions=True"):
        Metrics(Engine(settings(), transitions=False))


def test_serve_answers_on_loopback() -> None:
    harness, metrics = started(settings())
    lose(harness)
    with metrics.serve(0) as server:
        assert server.host == "127.0.0.1"
        assert server.port > 0
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as r:
            assert r.status == 200
            body = r.read().decode("utf-8")
        assert samples(body) == samples(metrics.text())
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        with pytest.raises(InputError, match="cannot serve metrics"):
            metrics.serve(server.port)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=2)


def test_missing_prometheus_client_names_the_extra() -> None:
    """Without prometheus_client the import fails with one line naming `dbfsm[metrics]`."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["prometheus_client"] = None
        try:
            import dbfsm.live.metrics
        except ImportError as error:
            from dbfsm.fsm.errors import InputError
            assert isinstance(error, InputError)
            print(error)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "pip install 'dbfsm[metrics]'" in out


def test_dbfsm_run_serves_metrics(tmp_path: Path) -> None:
    """`dbfsm run --metrics-port 0` with a memfile lease database (no database server): it
    says where the metrics are and serves them while it runs."""
    config = tmp_path / "kea.json"
    config.write_text('{"Dhcp4": {"lease-database": {"type": "memfile"}}}', encoding="utf-8")
    argv = [sys.executable, "-m", "dbfsm", "run", str(config), "--until", "20", "--traffic", "0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [*argv, "--metrics-port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            found = re.search(r"http://127\.0\.0\.1:(\d+)/metrics", line)
            assert found, line
            url = found.group(0)
            deadline = time.monotonic() + 10
            while True:
                with urllib.request.urlopen(url, timeout=5) as r:
                    got = samples(r.read().decode("utf-8"))
                if got[("dbfsm_serving", ())] == 1 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert got[("dbfsm_serving", ())] == 1
            assert got[("dbfsm_backend_connected", (("backend", LEASE),))] == 1
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    assert proc.returncode == 0
