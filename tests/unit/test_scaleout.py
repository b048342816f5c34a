"""`--workers` / `--cluster`: the options, the executors they select, and the refusals."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from concurrent.futures import Future

import pytest

from dbfsm import __version__, scaleout
from dbfsm.fsm.errors import InputError


def parse(*args: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    scaleout.add_arguments(parser)
    return parser.parse_args(list(args))


def test_the_defaults_are_one_worker_and_no_cluster() -> None:
    assert (parse().workers, parse().cluster) == (1, None)
    assert parse("--workers", "auto").workers == (os.cpu_count() or 1)
    assert parse("--workers", "3", "--cluster", "tcp://10.0.0.7:8786").workers == 3
    assert parse("--cluster", "tcp://sched.example:8786").cluster == "tcp://sched.example:8786"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "must be 1 or more"),
        (["--workers", "many"], "not a number or 'auto'"),
        (["--cluster", "10.0.0.7:8786"], "not tcp://HOST:PORT"),
        (["--cluster", "tcp://host:99999"], "not tcp://HOST:PORT"),
    ],
)
def test_bad_values_are_argparse_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        parse(*args)
    assert exit.value.code == 2 and message in capsys.readouterr().err


def _square(n: int) -> int:
    return n * n


def test_results_come_in_item_order_up_to_the_first_stop() -> None:
    for workers in (1, 2):
        with scaleout.executor(workers, None) as pool:
            results = scaleout.run_in_order(
                pool, _square, [1, 2, 3, 4, 5], cost=float, stop=lambda r: r == 9
            )
            assert list(results) == [1, 4, 9]


def test_one_worker_runs_in_process_but_still_pickles() -> None:
    with scaleout.executor(1, None) as pool:
        assert isinstance(pool, scaleout.SerialExecutor)
        assert pool.submit(_square, 7).result() == 49
        with pytest.raises(AttributeError, match="pickle"):
            pool.submit(lambda: 1)  # a task a pool or a cluster could not run


def test_one_worker_stops_before_running_the_rest() -> None:
    ran: list[int] = []

    def note(n: int) -> int:
        ran.append(n)
        return n

    pool = scaleout.SerialExecutor()
    pool.submit = lambda fn, *args: _done(fn(*args))  # type: ignore[assignment,method-assign]
    assert list(scaleout.run_in_order(pool, note, [1, 2, 3], stop=lambda r: r == 2)) == [1, 2]
    assert ran == [1, 2]


def _done(value: int) -> Future[int]:
    future: Future[int] = Future()
    future.set_result(value)
    return future


def test_a_missing_distributed_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with (
        pytest.raises(InputError, match=r"pip install 'dbfsm\[cluster\]'"),
        scaleout.executor(1, "tcp://127.0.0.1:8786"),
    ):
        pass


def test_an_unreachable_scheduler_is_refused_within_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("distributed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens once it is closed
    monkeypatch.setattr(scaleout, "CONNECT_TIMEOUT_S", 1.0)
    with pytest.raises(InputError) as err, scaleout.executor(1, f"tcp://127.0.0.1:{port}"):
        pass
    assert str(err.value) == f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}: " + (
        "no answer within 1 s"
    )


def test_workers_on_another_version_or_none_are_refused() -> None:
    scaleout.check_versions("tcp://h:1", {"tcp://w1:2": __version__})
    with pytest.raises(InputError, match="has no workers"):
        scaleout.check_versions("tcp://h:1", {})
    with pytest.raises(InputError) as err:
        scaleout.check_versions("tcp://h:1", {"tcp://w1:2": __version__, "tcp://w2:3": "0.0.9"})
    assert str(err.value) == (
        f"the Dask cluster at tcp://h:1 runs another dbfsm: worker tcp://w2:3 has 0.0.9, this is "
        f"{__version__}; install the same version on every worker"
    )


def test_the_worker_probe_reports_this_version() -> None:
    assert scaleout.worker_version() == __version__
