"""`--cluster`: a real local Dask cluster (a scheduler and two workers on 127.0.0.1, started
and stopped here) gives `dbfsm verify` the same report as `--workers 1`, and a cluster whose
worker runs another dbfsm is refused."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dbfsm import __version__, cli
from tests.integration.servers import free_port

distributed = pytest.importorskip("distributed")

DASK = str(Path(sys.executable).with_name("dask"))
_TIMING = re.compile(r"in [0-9.]+ s \([0-9]+ states/s, peak memory [0-9]+ MB\)|[0-9.]+ s  ")


@contextmanager
def cluster(workers: int, env: dict[str, str] | None = None) -> Iterator[str]:
    """A scheduler and `workers` single-threaded workers, all with `env` added to this
    environment; the scheduler's address. Their scratch space (Dask's temporary directory)
    is a directory of its own, removed afterwards: nothing is left in /tmp."""
    with tempfile.TemporaryDirectory(prefix="dbfsm-dask-") as scratch:
        yield from _cluster(
            workers, {**os.environ, "DASK_TEMPORARY_DIRECTORY": scratch, **(env or {})}
        )


def _cluster(workers: int, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [
        subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            env=env,
            **quiet,  # type: ignore[call-overload]
        )
    ]
    try:
        for _ in range(workers):
            processes.append(
                subprocess.Popen(  # type: ignore[call-overload]
                    [
                        DASK,
                        "worker",
                        address,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--no-nanny",
                    ],
                    env=env,
                    **quiet,
                )
            )
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=90)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def report(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["verify", "-v", *args])
    captured = capsys.readouterr()
    return code, _TIMING.sub("<time>", captured.out), captured.err


ARGS = ["--backends", "2", "--modes", "serve-retry-exit,stop-retry-exit", "--tries", "1,2"]


def test_a_cluster_gives_the_same_report_as_one_worker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alone = report([*ARGS, "--workers", "1"], capsys)
    with cluster(2) as address:
        spread = report([*ARGS, "--cluster", address], capsys)
    assert alone[0] == 0 and "every invariant holds" in alone[1]
    assert spread == alone


def test_a_worker_on_another_dbfsm_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package = Path(cli.__file__).resolve().parents[1]
    other = tmp_path / "other" / "dbfsm"
    shutil.copytree(package, other, ignore=shutil.ignore_patterns("__pycache__"))
    version = other / "fsm" / "__init__.py"
    version.write_text(
        re.sub(r'__version__ = ".*"', '__version__ = "0.0.0.other"', version.read_text())
    )
    with cluster(1, {"PYTHONPATH": str(other.parent)}) as address:
        code, out, err = report([*ARGS, "--cluster", address], capsys)
    assert code == 2 and out == ""
    assert re.fullmatch(
        rf"dbfsm verify: the Dask cluster at {address} runs another dbfsm: worker "
        rf"tcp://127\.0\.0\.1:\d+ has 0\.0\.0\.other, this is {re.escape(__version__)}; "
        r"install the same version on every worker\n",
        err,
    ), err
