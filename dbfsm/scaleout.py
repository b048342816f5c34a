"""Where a command's independent tasks run: in this process, a local process pool, or a Dask
cluster, behind one `concurrent.futures.Executor`.

`dbfsm verify` and `dbfsm availability` split their work into picklable tasks whose results do
not depend on where they ran; this module gives them the shared `--workers` / `--cluster`
options and the executor those select, so that the three paths share one code path (Dask's
`Client.get_executor()` is a `concurrent.futures` executor too). A cluster whose workers run
another dbfsm is refused: their results could differ from this machine's.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import pickle
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, ParamSpec, TypeVar

from dbfsm.fsm import __version__
from dbfsm.fsm.errors import InputError

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")

#: How long connecting to a scheduler (and asking its workers their version) may take.
CONNECT_TIMEOUT_S = 10.0
INSTALL_HINT = "pip install 'dbfsm[cluster]' (Dask's distributed)"
_ADDRESS = re.compile(r"^tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--workers N|auto` and `--cluster tcp://HOST:PORT` to a command's parser."""
    parser.add_argument(
        "--workers",
        type=workers_value,
        default=1,
        metavar="N|auto",
        help="processes on this machine (default 1; auto: one per core)",
    )
    parser.add_argument(
        "--cluster",
        type=cluster_address,
        default=None,
        metavar="tcp://HOST:PORT",
        help=f"run the tasks on this Dask scheduler's workers instead ({INSTALL_HINT})",
    )


def workers_value(text: str) -> int:
    """`--workers`: a positive number, or `auto` for the number of cores."""
    if text.strip().lower() == "auto":
        return os.cpu_count() or 1
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or 'auto': {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text!r}")
    return value


def cluster_address(text: str) -> str:
    """`--cluster`: a scheduler's `tcp://HOST:PORT`."""
    match = _ADDRESS.match(text.strip())
    if match is None or not 0 < int(match.group(2)) < 65536:
        raise argparse.ArgumentTypeError(f"not tcp://HOST:PORT: {text!r}")
    return text.strip()


class SerialExecutor(Executor):
    """One worker: each task runs at once, in this process, in submission order.

    Tasks and results still go through pickle, so that a task that would break in a pool or on
    a cluster breaks here too, where it is easiest to see.
    """

    def __init__(self) -> None:
        self._shut = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        if self._shut:
            raise RuntimeError("cannot schedule new tasks after shutdown")
        future: Future[T] = Future()
        call: tuple[Callable[..., T], tuple[Any, ...], dict[str, Any]] = pickle.loads(
            pickle.dumps((fn, args, kwargs))
        )
        future.set_running_or_notify_cancel()
        try:
            result = call[0](*call[1], **call[2])
            future.set_result(pickle.loads(pickle.dumps(result)))
        except BaseException as exc:  # handed to the caller through the future, as a pool does
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shut = True


def worker_version() -> str:
    """What a cluster worker answers when asked its dbfsm version (runs on the worker)."""
    import importlib

    version: str = importlib.import_module("dbfsm").__version__
    return version


@contextlib.contextmanager
def executor(workers: int, cluster: str | None) -> Iterator[Executor]:
    """The executor `--workers` / `--cluster` select; `cluster` wins over `workers`.

    Raises InputError (one line) when the cluster cannot be used: `distributed` missing, the
    scheduler unreachable within CONNECT_TIMEOUT_S, no workers, or workers on another dbfsm.
    """
    if cluster is not None:
        with _cluster_executor(cluster) as pool:
            yield pool
    elif workers <= 1:
        serial = SerialExecutor()
        try:
            yield serial
        finally:
            serial.shutdown()
    else:
        # fork: the workers start in milliseconds with dbfsm already imported.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as processes:
            try:
                yield processes
            finally:
                processes.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _cluster_executor(address: str) -> Iterator[Executor]:
    try:
        import distributed
    except ImportError:
        raise InputError(
            f"--cluster needs Dask's distributed, not installed here: {INSTALL_HINT}"
        ) from None
    try:
        connect: Any = distributed.Client  # untyped
        client: Any = connect(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        why = f"no answer within {CONNECT_TIMEOUT_S:g} s" if "Timed out" in str(exc) else str(exc)
        raise InputError(f"cannot reach the Dask scheduler at {address}: {why}") from None
    try:
        check_versions(address, _ask_versions(client, address))
        pool: Executor = client.get_executor()
        try:
            yield pool
        finally:
            pool.shutdown(wait=False)  # Dask's executor cancels what it has not run
    finally:
        client.close(timeout=CONNECT_TIMEOUT_S)


def _ask_versions(client: Any, address: str) -> dict[str, str]:
    try:
        answers: dict[str, str] = client.run(worker_version, wait=True)
    except (OSError, TimeoutError) as exc:
        raise InputError(f"the Dask cluster at {address} did not answer: {exc}") from None
    except Exception as exc:  # a worker that cannot import this dbfsm at all
        raise InputError(
            f"the workers of the Dask cluster at {address} cannot run dbfsm {__version__}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    return answers


def check_versions(address: str, versions: dict[str, str]) -> None:
    """Refuse a cluster with no workers, or with a worker that runs another dbfsm version."""
    if not versions:
        raise InputError(f"the Dask cluster at {address} has no workers")
    other = sorted((w, v) for w, v in versions.items() if v != __version__)
    if other:
        worker, version = other[0]
        more = f" (and {len(other) - 1} more)" if len(other) > 1 else ""
        raise InputError(
            f"the Dask cluster at {address} runs another dbfsm: worker {worker} has {version}"
            f"{more}, this is {__version__}; install the same version on every worker"
        )


def run_in_order(
    pool: Executor,
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    cost: Callable[[T], float] | None = None,
    stop: Callable[[R], bool] = lambda _: False,
) -> Iterable[R]:
    """Yield fn(item) in the order of `items`, up to and including the first result for which
    `stop` is true; the tasks after that one are cancelled.

    The tasks are submitted most costly first (when `cost` is given) so that the longest ones
    start at once, but results come back in `items` order: what is reported, and which result
    stops the run, is the same whatever ran them.
    """
    if isinstance(pool, SerialExecutor):  # it runs a task when submitted: one at a time, in order
        for item in items:
            result = pool.submit(fn, item).result()
            yield result
            if stop(result):
                return
        return
    order = sorted(range(len(items)), key=lambda i: -cost(items[i])) if cost else range(len(items))
    futures: dict[int, Future[R]] = {}
    try:
        for i in order:
            futures[i] = pool.submit(fn, items[i])
        for i in range(len(items)):
            result = futures[i].result()
            yield result
            if stop(result):
                return
    finally:
        for future in futures.values():
            future.cancel()
