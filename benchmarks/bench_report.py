"""Incident pages (`dbfsm report`): a simulated day against a run of 1,000 records.

8. The page of the simulated day of `bench_simulate` (10,000 faults, about 100,000
   records), against the page of a run of about 1,000 records (the same scenario shape,
   100 faults over a hundredth of the day), both from their `--format json` records: the
   page's size, the time `dbfsm report` takes to make it, and the time headless Chromium
   takes to open it (navigation to the page's script done, best of 5, the two pages in
   turns in one browser). Targets: the day's page opens within 3 s; its size grows with what
   is drawn, not with the records: the size ratio at most a tenth of the records ratio.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

from benchmarks.bench_simulate import DAY, document
from benchmarks.measure import Figure, progress, table, timed
from dbfsm import cli

RUNS = {"day": (10_000, DAY), "1,000 records": (100, DAY / 100)}
OPEN_TARGET = 3.0  # seconds


def _records(path: Path, out: Path) -> int:
    with out.open("w") as handle, contextlib.redirect_stdout(handle):
        assert cli.main(["simulate", str(path), "--format", "json"]) == 0
    with out.open() as handle:
        return sum(1 for _ in handle)


def _page(records: Path, page: Path) -> float:
    def once() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli.main(["report", str(records), "-o", str(page)]) == 0

    return timed(once, repeat=3)[0]


def _open_times(pages: dict[str, Path], rounds: int = 5) -> dict[str, float]:
    """Best time to open each page in headless Chromium, measured in turns."""
    from tests.render.browser import Browser

    best = dict.fromkeys(pages, float("inf"))
    with Browser() as browser:
        for _ in range(rounds):
            for name, page in pages.items():
                with browser.tab(1280, 800) as tab:
                    visit = tab.open(page)
                    if visit.errors:
                        raise RuntimeError(f"{name}: {visit.errors}")
                    best[name] = min(best[name], visit.seconds)
    return best


def report() -> str:
    sizes, counts, makes, pages = {}, {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (faults, seconds) in RUNS.items():
            progress(f"report: {name}")
            scenario = Path(tmp) / f"{faults}.json"
            scenario.write_text(json.dumps(document(faults, seconds)))
            records = Path(tmp) / f"{faults}.jsonl"
            counts[name] = _records(scenario, records)
            page = pages[name] = Path(tmp) / f"{faults}.html"
            makes[name] = _page(records, page)
            sizes[name] = page.stat().st_size
        progress("report: opening the pages in headless Chromium")
        try:
            opened = _open_times(pages)
        except Exception as err:  # no Chromium here: say so instead of a figure
            opened = {}
            missing = f"{type(err).__name__}: {err}"
    day, small = "day", "1,000 records"
    records_ratio = counts[day] / counts[small]
    size_ratio = sizes[day] / sizes[small]
    figures = [
        Figure(
            "page size, a day with 10,000 faults",
            f"{sizes[day] / 1e6:.2f} MB for {counts[day]:,} records",
            f"{sizes[small] / 1e3:.0f} kB for {counts[small]:,} records "
            f"(records {records_ratio:.0f}x)",
            size_ratio,
            f"\u2264 {records_ratio / 10:.1f}x (a tenth of the records ratio)",
            size_ratio <= records_ratio / 10,
        ),
        Figure(
            "`dbfsm report` making the page",
            f"{makes[day]:.2f} s",
            f"{makes[small]:.3f} s",
            makes[day] / makes[small],
        ),
    ]
    if opened:
        figures.append(
            Figure(
                "headless Chromium opening the page",
                f"{opened[day]:.2f} s",
                f"{opened[small]:.2f} s",
                opened[day] / opened[small],
                f"day \u2264 {OPEN_TARGET:g} s",
                opened[day] <= OPEN_TARGET,
            )
        )
    else:
        figures.append(Figure("headless Chromium opening the page", f"not measured: {missing}"))
    return (
        "## Incident pages\n\n"
        + (__doc__ or "").split("\n", 2)[2]
        + "\n"
        + table(figures)
        + "\nPast 2,000 marks of a kind the page draws 1,000 time buckets instead of each\n"
        "mark, so the day's page stays the same size however many faults the day has.\n"
    )


if __name__ == "__main__":
    print(report())
