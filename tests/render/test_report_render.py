"""Incident pages (`dbfsm report`) in a real browser: headless Chromium opens each page from
a file:// URL at a desktop (1280x800) and a phone (390x844) size.

Each page must open without a console error or an exception, ask for nothing but itself,
draw one hook per record (lanes, attempts, serving changes, the exit; buckets whose counts
add up to the records on an aggregated page), lay its labels out without overlaps, and show
a mark's log records on hover and on a tap. A screenshot of every page at both sizes is kept
in `browser.artefact_dir()` (build/render/ unless $DBFSM_RENDER_ARTEFACTS says otherwise)
for a person to look at, and for CI to keep.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bench_simulate import document
from dbfsm.fsm.records import Record, to_jsonl
from dbfsm.report.build import from_input, simulate_with_report
from dbfsm.report.read import parse
from dbfsm.simulation import scenario as scenarios
from dbfsm.simulation.simulate import run as simulate

from .browser import Browser, Tab, artefact_dir
from .errors import RendererUnavailable
from .mermaid import find_chromium

EXAMPLES = resources.files("dbfsm") / "examples"
TRACES = Path(__file__).resolve().parents[1] / "data" / "traces"
SIZES = {"desktop": (1280, 800, False), "phone": (390, 844, True)}
EVIL = "<script>window.owned=1</script><img src=x onerror=window.owned=2>"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        find_chromium()
    except RendererUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    with Browser() as b:
        yield b


class _Out:
    def __init__(self) -> None:
        self.text: list[str] = []

    def write(self, text: str) -> int:
        self.text.append(text)
        return len(text)


def _simulated(name: str, directory: Path) -> tuple[Path, list[Record]]:
    """`dbfsm simulate EXAMPLE --format json --report PAGE`; the page and the records."""
    loaded = scenarios.load(str(EXAMPLES / f"{name}.yaml"))
    out = _Out()
    page = directory / f"simulate-{name}.html"
    simulate_with_report(loaded, "json", str(page), out)
    text = "".join(out.text)
    return page, list(parse(text, name).records)


def _from(path: Path, directory: Path, name: str, config: Path | None = None) -> Path:
    page = directory / f"{name}.html"
    page.write_text(from_input(str(path), str(config) if config else None, None))
    return page


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[Record]]]:
    """Every kind of page: name -> (page, the records it was made from)."""
    d = tmp_path_factory.mktemp("report-pages")
    out: dict[str, tuple[Path, list[Record]]] = {}
    for example in ("default", "stop-retry-exit", "serve-retry-continue"):
        out[example] = _simulated(example, d)
    kea3 = TRACES / "kea3-two-backends.log"
    out["kea3-log"] = (
        _from(kea3, d, "kea3-log", TRACES / "two-backends.json"),
        list(parse(kea3.read_text(), "kea3").records),
    )
    kea2 = TRACES / "kea22-captured-stop-retry-exit.log"
    out["kea2-log"] = (_from(kea2, d, "kea2-log"), list(parse(kea2.read_text(), "kea2").records))
    evil = [
        Record(0.0, "serving", {"serving": True}),
        Record(1.0, "log", {"id": "DHCP4_X", "severity": "ERROR", "text": EVIL}),
        Record(1.0, "attempt", {"backend": EVIL, "n": 1, "of": 2, "ok": False}),
        Record(1.0, "serving", {"serving": False}),
        Record(2.0, "attempt", {"backend": EVIL, "n": 2, "of": 2, "ok": True}),
        Record(2.0, "serving", {"serving": True}),
        Record(3.0, "command", {"command": EVIL, "result": 1, "text": EVIL}),
        Record(4.0, "exit", {"code": 3}),
    ]
    evil_path = d / "evil.jsonl"
    evil_path.write_text(to_jsonl(evil))
    out["evil"] = (_from(evil_path, d, "evil"), evil)
    loaded = scenarios.parse(json.dumps(document(3000, 3000 * 8.64)), "<day>", Path("."))
    records = list(simulate(loaded).timeline())
    day = d / "aggregated.jsonl"
    day.write_text(to_jsonl(records))
    out["aggregated"] = (_from(day, d, "aggregated"), records)
    return out


def _count(tab: Tab, selector: str) -> int:
    return int(tab.evaluate(f"document.querySelectorAll({json.dumps(selector)}).length"))


def _sum(tab: Tab, selector: str) -> int:
    return int(
        tab.evaluate(
            f"Array.from(document.querySelectorAll({json.dumps(selector)}))"
            ".reduce((n, e) => n + Number(e.dataset.count), 0)"
        )
    )


# Every visible label of the timeline whose box overlaps another's, and every one that
# sticks out of the drawing: none may.
_OVERLAPS = """(() => {
  const svg = document.getElementById("tl-svg");
  const W = svg.getBoundingClientRect();
  const labels = Array.from(svg.querySelectorAll("text")).filter(
    (t) => t.style.display !== "none" && t.textContent.trim() && t.getBBox().width > 0);
  const boxes = labels.map((t) => [t, t.getBoundingClientRect()]);
  const issues = [];
  for (const [t, r] of boxes) {
    if (r.left < W.left - 0.5 || r.right > W.right + 0.5) issues.push("out: " + t.textContent);
  }
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, ra] = boxes[i], [b, rb] = boxes[j];
    const x = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
    const y = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
    if (x > 1 && y > 1) issues.push(a.textContent + " / " + b.textContent);
  }
  const page = document.documentElement;
  if (page.scrollWidth > page.clientWidth + 1) issues.push("the page scrolls sideways");
  return issues;
})()"""


@pytest.mark.parametrize("size", SIZES)
def test_every_page_opens_clean_and_draws_the_records(
    browser: Browser, pages: dict[str, tuple[Path, list[Record]]], size: str
) -> None:
    width, height, mobile = SIZES[size]
    for name, (page, records) in pages.items():
        with browser.tab(width, height, mobile) as tab:
            visit = tab.open(page)
            shot = artefact_dir() / f"report-{name}-{width}x{height}.png"
            tab.screenshot(shot)
            tab.screenshot(artefact_dir() / f"report-{name}-{width}x{height}-full.png", True)
            assert visit.errors == [], (name, visit.errors)
            assert visit.requests == [visit.url], (name, visit.requests)  # itself, nothing else
            counts = Counter(r.type for r in records)
            lanes = {r.data["backend"] for r in records if r.type == "attempt"}
            assert _count(tab, "[data-lane]") >= len(lanes), name
            assert _count(tab, "[data-exit]") == counts["exit"] or (
                name.endswith("-log") and _count(tab, "[data-exit]") == 1
            ), name
            if name == "aggregated":
                assert _count(tab, "[data-attempt]") == 0
                assert _sum(tab, "[data-attempt-group]") == counts["attempt"]
                assert _sum(tab, "[data-serving-group]") == counts["serving"]
            elif not name.endswith("-log"):
                assert _count(tab, "[data-attempt]") == counts["attempt"], name
                assert _count(tab, "[data-serving]") == counts["serving"], name
                for lane in lanes:
                    lane_attempts = sum(
                        r.type == "attempt" and r.data["backend"] == lane for r in records
                    )
                    found = tab.evaluate(
                        "Array.from(document.querySelectorAll('[data-attempt]'))"
                        f".filter((e) => e.dataset.backend === {json.dumps(lane)}).length"
                    )
                    assert found == lane_attempts, (name, lane)
            assert tab.evaluate(_OVERLAPS) == [], (name, size)
            assert shot.stat().st_size > 5000


def _centre(tab: Tab, selector: str, index: int = 0) -> tuple[float, float]:
    box: list[float] = tab.evaluate(
        f"(() => {{ const e = document.querySelectorAll({json.dumps(selector)})[{index}];"
        "e.scrollIntoView({block: 'center'});"
        "const r = (e.querySelector('use') || e).getBoundingClientRect();"
        "return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    return box[0], box[1]


def _tap(tab: Tab, x: float, y: float) -> None:
    tab.mouse("mouseMoved", x, y)
    tab.mouse("mousePressed", x, y, button="left", clickCount=1)
    tab.mouse("mouseReleased", x, y, button="left", clickCount=1)


@pytest.mark.parametrize("size", SIZES)
def test_a_mark_shows_its_log_records(
    browser: Browser, pages: dict[str, tuple[Path, list[Record]]], size: str
) -> None:
    width, height, mobile = SIZES[size]
    page, _ = pages["stop-retry-exit"]
    with browser.tab(width, height, mobile) as tab:
        tab.open(page)
        x, y = _centre(tab, "[data-attempt]", 2)
        tab.mouse("mouseMoved", x, y)
        tip: dict[str, Any] = tab.evaluate(
            "(() => { const t = document.getElementById('tip');"
            "const r = t.getBoundingClientRect();"
            "return {shown: t.style.display, text: t.textContent, box: [r.left, r.top, r.right,"
            "r.bottom], w: innerWidth, h: innerHeight}; })()"
        )
        assert tip["shown"] == "block"
        assert "attempt 3 of 3 on lease-database failed" in tip["text"]
        assert "MYSQL_LB_DB_RECONNECT_ATTEMPT_FAILED" in tip["text"]
        assert "MYSQL_LB_DB_RECONNECT_FAILED" in tip["text"]
        left, top, right, bottom = tip["box"]
        assert left >= 0 and top >= 0 and right <= tip["w"] and bottom <= tip["h"]
        _tap(tab, x, y)  # pinned: stays when the pointer leaves
        tab.mouse("mouseMoved", 2, 2)
        assert tab.evaluate("document.getElementById('tip').style.display") == "block"
        tab.screenshot(artefact_dir() / f"report-hover-{width}x{height}.png")
        _tap(tab, 2, 2)  # a tap elsewhere closes it
        assert tab.evaluate("document.getElementById('tip').style.display") == "none"
        assert tab.errors() == []


def test_zoom_and_pan(browser: Browser, pages: dict[str, tuple[Path, list[Record]]]) -> None:
    page, _ = pages["kea3-log"]
    with browser.tab(1280, 800) as tab:
        tab.open(page)
        ticks = "Array.from(document.querySelectorAll('.axis .tick')).map((t) => t.textContent)"
        whole = tab.evaluate(ticks)
        position = "document.querySelector('[data-attempt]').getAttribute('transform')"
        before = tab.evaluate(position)
        for _ in range(5):
            tab.evaluate("document.getElementById('zin').click()")
        zoomed = tab.evaluate(ticks)
        assert zoomed != whole and tab.evaluate(position) != before
        box = tab.evaluate(
            "(() => { const r = document.getElementById('tl-svg').getBoundingClientRect();"
            "return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        x, y = box
        tab.mouse("mouseMoved", x, y)
        tab.mouse("mousePressed", x, y, button="left", buttons=1, clickCount=1)
        tab.mouse("mouseMoved", x + 100, y, button="left", buttons=1)
        tab.mouse("mouseMoved", x + 200, y, button="left", buttons=1)
        tab.mouse("mouseReleased", x + 200, y, button="left", clickCount=1)
        assert tab.evaluate(ticks) != zoomed  # panned
        tab.send(
            "Input.dispatchMouseEvent",
            {"type": "mouseWheel", "x": x, "y": y, "deltaX": 0, "deltaY": -600},
        )
        assert tab.evaluate(_OVERLAPS) == []
        tab.screenshot(artefact_dir() / "report-zoomed-1280x800.png")
        tab.evaluate("document.getElementById('zfit').click()")
        assert tab.evaluate(ticks) == whole
        assert tab.errors() == []


def test_input_text_never_runs(
    browser: Browser, pages: dict[str, tuple[Path, list[Record]]]
) -> None:
    page, _ = pages["evil"]
    with browser.tab(1280, 800) as tab:
        visit = tab.open(page)
        x, y = _centre(tab, "[data-attempt]")
        tab.mouse("mouseMoved", x, y)  # its records, with the script's text, shown
        assert EVIL in tab.evaluate("document.getElementById('tip').textContent")
        assert tab.evaluate("window.owned === undefined")
        assert tab.evaluate("document.querySelectorAll('img').length") == 0
        lane = tab.evaluate("document.querySelector('[data-attempt]').dataset.backend")
        assert lane == EVIL
        assert visit.errors == [] and tab.errors() == []
