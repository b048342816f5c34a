"""The incident page: one HTML file, its timeline an inline SVG drawn here.

Self-contained by construction: the styles and the little script (zoom, pan, hover) are
inline, nothing refers to another file or host, and the page's Content-Security-Policy
forbids loading anything, so it opens the same from a file:// URL, a CI artefact or a mail.

Everything from the input (log texts, command answers, backend names, the title) is text
to the page: escaped into HTML here, or put into the page's JSON data (with `<`, `>` and `&`
escaped, so it cannot close its script element) and shown by the script with `textContent`,
never as markup. A log line holding `<script>` shows as that text. Passwords are removed
before anything is written (`Scrub`).

The timeline's spans and bands are drawn in seconds inside one group that the script scales
to the window shown; the marks (attempts, serving changes, commands, the exit) keep their
size and are placed by the script from their `data-t`. Test hooks: `data-lane`,
`data-attempt` (`data-backend`, `data-n`, `data-ok`), `data-serving` (`data-t`), `data-exit`;
an aggregated page has `data-attempt-group` (in a group with `data-backend`) and
`data-serving-group`, each with `data-count`.
"""

from __future__ import annotations

import functools
import html
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from dbfsm.fsm import __version__
from dbfsm.fsm.settings import ServerSettings
from dbfsm.report import buckets as bk
from dbfsm.report.model import (
    GIVEN_UP,
    LOST,
    RECONNECTING,
    STATE_WORDS,
    UP,
    Attempt,
    Incident,
    Lane,
    LogLine,
)
from dbfsm.report.path import Diagram

# Geometry of the timeline, in pixels; its width is the page's (the script sets it).
WIDTH = 1200  # as drawn before the script runs
MARGIN_LEFT, MARGIN_RIGHT = 14, 14
TOP_ROW = 34  # commands and the exit
SERVING_ROW = 46
LANE_ROW = 60
LANE_BAR, LANE_BAR_Y = 22, 17
AXIS_ROW = 22
WALL_ROW = 14
LABEL_GAP = 30  # pixels between two attempt labels, at least
MAX_COMMANDS = 1000  # command marks drawn; past this the page says how many were left out
MAX_OUTAGE_ROWS = 50
MAX_LABEL = 24  # characters of a command's name drawn beside it (all of it in its details)

COLOURS = {
    UP: "#86efac",
    LOST: "#f97316",
    RECONNECTING: "#facc15",
    GIVEN_UP: "#7f1d1d",
    "serving": "#22c55e",
    "not-serving": "#dc2626",
}

_PASSWORD_FIELD = re.compile(r"""(password["']?\s*[=:]\s*["']?)([^\s"',;}]+)""", re.IGNORECASE)
_HIDDEN = "*****"


class Scrub:
    """Removes passwords from text: every password of the configuration, and any value a
    text gives as `password=...` or `"password": "..."` (Kea's logs star theirs out;
    another program's lines in the same file may not)."""

    def __init__(self, settings: ServerSettings | None = None) -> None:
        secrets: set[str] = set()
        for b in settings.backends if settings is not None else ():
            value = b.parameters.get("password")
            if isinstance(value, str) and len(value) >= 2:
                secrets.add(value)
        # Longest first: a password that contains another is removed whole.
        self._secrets = sorted(secrets, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _HIDDEN)
        return _PASSWORD_FIELD.sub(lambda m: m[1] + _HIDDEN, text)


# -- formatting -------------------------------------------------------------------------------


def seconds(t: float) -> str:
    return f"{t:.3f} s"


def duration(d: float) -> str:
    """A duration a person reads: 4.000 s, 2 min 03.5 s, 3 h 07 min."""
    if d < 60:
        return f"{d:.3f} s"
    if d < 3600:
        minutes, rest = divmod(round(d, 1), 60)
        return f"{int(minutes)} min {rest:04.1f} s"
    hours, rest = divmod(round(d / 60), 60)
    return f"{int(hours)} h {int(rest):02d} min"


def _header(name: str, more: Sequence[str], x: int, y: int) -> str:
    """A row's name (the script shortens one the width cannot hold) and the optional rest."""
    optional = "".join(f'<tspan class="mute opt"> \u00b7 {_e(m)}</tspan>' for m in more if m)
    return (
        f'<text class="hd" x="{x}" y="{y}"><tspan class="name">{_e(name)}</tspan>{optional}</text>'
    )


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _at(t: float) -> str:
    """A time of the run: in seconds, or past ten minutes as a duration from the start."""
    return seconds(t) if t < 600 else f"{duration(t)} in"


def _range(a: float, b: float) -> str:
    return f"{a:.3f}\u2013{b:.3f} s"


def _n(x: float) -> str:
    """A coordinate: at most six decimals, no trailing zeros."""
    text = f"{x:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _script_json(value: Any) -> str:
    """JSON inside a <script> element: nothing in it can end the element or start markup."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# -- the marks' details ------------------------------------------------------------------------


class _Details:
    """What hovering a mark shows, as the page's JSON: a heading, a line under it, and log
    records. Texts repeat (the same failure every attempt), so each is stored once."""

    def __init__(self, scrub: Scrub, wall: datetime | None) -> None:
        self.scrub = scrub
        self.wall = wall
        self.texts: list[list[str]] = []
        self._text_index: dict[tuple[str, str, str], int] = {}
        self.marks: list[list[Any]] = []

    def when(self, t: float) -> str:
        if self.wall is None:
            return seconds(t)
        clock = (self.wall + timedelta(seconds=t)).strftime("%H:%M:%S.%f")[:-3]
        return f"{seconds(t)} ({clock})"

    def add(self, heading: str, sub: str, logs: Sequence[LogLine] = (), more: int = 0) -> int:
        rows = []
        for line in logs:
            key = (line.id, line.severity, line.text)
            index = self._text_index.get(key)
            if index is None:
                index = self._text_index[key] = len(self.texts)
                self.texts.append([self.scrub(s) for s in key])
            rows.append([round(line.t, 6), index])
        self.marks.append([self.scrub(heading), self.scrub(sub), rows, more])
        return len(self.marks) - 1


# -- the timeline ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """The vertical layout: where each row starts."""

    top: int
    serving: int
    lanes: tuple[int, ...]
    axis: int
    height: int


def _rows(incident: Incident) -> _Rows:
    serving = TOP_ROW
    lanes = tuple(serving + SERVING_ROW + i * LANE_ROW for i in range(len(incident.lanes)))
    axis = serving + SERVING_ROW + len(incident.lanes) * LANE_ROW
    height = axis + AXIS_ROW + (WALL_ROW if incident.wall_start is not None else 0) + 4
    return _Rows(0, serving, lanes, axis, height)


class _Timeline:
    def __init__(self, incident: Incident, details: _Details, scrub: Scrub) -> None:
        self.incident = incident
        self.details = details
        self.scrub = scrub
        self.span = incident.end if incident.end > 0 else 1.0
        self.rows = _rows(incident)
        self.k = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / self.span
        self.aggregated = bk.aggregated(incident)
        self.buckets = bk.Buckets(self.span)
        self.scales: dict[str, float] = {}  # row -> the share of a bucket its full height is

    def x(self, t: float) -> float:
        return MARGIN_LEFT + t * self.k

    def svg(self) -> str:
        r = self.rows
        zoom: list[str] = []
        marks: list[str] = []
        self._serving(zoom, marks)
        for lane, y in zip(self.incident.lanes, r.lanes, strict=True):
            self._lane(lane, y, zoom, marks)
        top = self._top()
        headers = self._headers()
        width = WIDTH
        return (
            f'<svg id="tl-svg" xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{r.height}" viewBox="0 0 {width} {r.height}" role="img" '
            f'aria-label="timeline of the run">'
            f"{_DEFS}"
            f'<clipPath id="r-clip"><rect id="r-clip-rect" x="{MARGIN_LEFT - 8}" y="0" '
            f'width="{width - MARGIN_LEFT - MARGIN_RIGHT + 16}" height="{r.height}"/></clipPath>'
            f'<g class="axis" data-top="{r.serving + 16}" data-y="{r.axis}"'
            f' data-wall="{1 if self.incident.wall_start else 0}">'
            f"{self._axis()}</g>"
            f"{headers}"
            f'<g clip-path="url(#r-clip)">'
            f'<g class="zoom" transform="matrix({_n(self.k)} 0 0 1 {MARGIN_LEFT} 0)">'
            f"{''.join(zoom)}</g>"
            f"{top}{''.join(marks)}</g>"
            f"</svg>"
        )

    # -- rows ------------------------------------------------------------------------------

    def _headers(self) -> str:
        """Each row's name, then what else is known of it, each part dropped by the script,
        last first, where the width does not hold it (a phone)."""
        r = self.rows
        words = {
            "inferred": "inferred from each backend\u2019s on-fail",
            "model": "the model\u2019s, from conform",
        }
        service = [words.get(self.incident.serving_source, ""), self._scale("service")]
        parts = [
            f'<text class="hd" x="{MARGIN_LEFT}" y="{r.top + 12}">commands and exit</text>',
            _header("service", service, MARGIN_LEFT, r.serving + 11),
        ]
        for lane, y in zip(self.incident.lanes, r.lanes, strict=True):
            name = self.scrub(lane.name)
            more = [
                lane.type.value if lane.type else "",
                lane.on_fail.value if lane.on_fail else "",
                self._scale(lane.name),
            ]
            parts.append(
                f'<g data-lane="{_e(name)}">{_header(name, more, MARGIN_LEFT, y + 12)}</g>'
            )
        return "".join(parts)

    def _scale(self, row: str) -> str:
        """What the full height of an aggregated row's bars is."""
        return f"full bar {self.scales[row]:.0%}" if row in self.scales else ""

    def _serving(self, zoom: list[str], marks: list[str]) -> None:
        inc, y = self.incident, self.rows.serving + 23
        h = 14
        zoom.append(
            f'<rect class="band" x="0" y="{y}" width="{_n(self.span)}" height="{h}" '
            f'fill="{COLOURS["serving"]}"/>'
        )
        if not self.aggregated:
            for a, b in inc.not_serving():
                i = self.details.add(
                    "not serving",
                    f"from {self.details.when(a)} to {self.details.when(b)}: {duration(b - a)}",
                )
                zoom.append(
                    f'<rect class="off" x="{_n(a)}" y="{y}" width="{_n(b - a)}" height="{h}" '
                    f'fill="{COLOURS["not-serving"]}" data-i="{i}"/>'
                )
            row = [f'<g class="row" transform="translate(0 {y})">']
            for change in inc.changes:
                word = "serving again" if change.serving else "stopped serving"
                logs = inc.logs_near(change.t)
                i = self.details.add(word, f"at {self.details.when(change.t)}", logs)
                shape = "r-start" if change.serving else "r-stop"
                row.append(
                    f'<g class="mk" data-serving="{"true" if change.serving else "false"}" '
                    f'data-t="{_n(change.t)}" data-i="{i}" '
                    f'transform="translate({_n(self.x(change.t))} 0)">'
                    f'<use href="#{shape}"/></g>'
                )
            row.append("</g>")
            marks.append("".join(row))
            return
        found = bk.serving(inc, self.buckets)
        worst = self.scales["service"] = max((sb.off for sb in found), default=1.0) or 1.0
        for sb in found:
            a, end = self.buckets.bounds(sb.index)
            i = self.details.add(
                f"not serving {sb.off:.0%}: {duration(sb.off * (end - a))}",
                f"{sb.changes} change(s), {_range(a, end)}",
            )
            height = max(1, round(sb.off / worst * h)) if sb.off > 0 else 0
            fill = COLOURS["not-serving"] if height else "transparent"
            zoom.append(
                f'<rect data-serving-group="" data-count="{sb.changes}" data-i="{i}" '
                f'x="{_n(a)}" y="{y + h - (height or h)}" width="{_n(end - a)}" '
                f'height="{height or h}" fill="{fill}"/>'
            )

    def _lane(self, lane: Lane, y: int, zoom: list[str], marks: list[str]) -> None:
        bar = y + LANE_BAR_Y
        name = _e(self.scrub(lane.name))
        zoom.append(
            f'<rect class="band" x="0" y="{bar}" width="{_n(self.span)}" height="{LANE_BAR}" '
            f'fill="{COLOURS[UP]}"/>'
        )
        if self.aggregated:
            self._lane_buckets(lane, bar, zoom)
            return
        for span in lane.spans:
            if span.state == UP:
                continue
            i = self.details.add(
                f"{lane.name} {STATE_WORDS[span.state]}",
                f"from {self.details.when(span.start)} to {self.details.when(span.end)}: "
                f"{duration(span.duration)}",
            )
            zoom.append(
                f'<rect class="span" data-state="{span.state}" x="{_n(span.start)}" y="{bar}" '
                f'width="{_n(span.duration)}" height="{LANE_BAR}" '
                f'fill="{COLOURS[span.state]}" data-i="{i}"/>'
            )
        row = [f'<g class="row attempts" transform="translate(0 {bar + LANE_BAR // 2})">']
        last = -math.inf
        for a in lane.attempts:
            x = self.x(a.t)
            shown = x - last >= LABEL_GAP
            last = x if shown else last
            row.append(self._attempt(a, name, x, shown))
        row.append("</g>")
        marks.append("".join(row))

    def _attempt(self, a: Attempt, name: str, x: float, shown: bool) -> str:
        outcome = "succeeded" if a.ok else "failed"
        logs = self.incident.logs_near(a.t, a.backend)
        i = self.details.add(
            f"attempt {a.number} on {a.backend} {outcome}", f"at {self.details.when(a.t)}", logs
        )
        label = f"{a.n}/{a.of}" if a.of is not None else str(a.n)
        hidden = "" if shown else ' style="display:none"'
        return (
            f'<g class="mk" data-attempt="" data-backend="{name}" data-n="{a.n}" '
            f'data-of="{a.of if a.of is not None else ""}" '
            f'data-ok="{"true" if a.ok else "false"}" data-t="{_n(a.t)}" data-i="{i}" '
            f'transform="translate({_n(x)} 0)"><use href="#{"r-ok" if a.ok else "r-fail"}"/>'
            f'<text class="lb" y="{LANE_BAR // 2 + 13}"{hidden}>{label}</text></g>'
        )

    def _lane_buckets(self, lane: Lane, bar: int, zoom: list[str]) -> None:
        """Each bucket in which the backend was down, as a bar as high as its share of the
        bucket down, stacked by state, on a scale whose top is the lane's worst bucket (at
        the scale of a day an outage of seconds is no wider than a hair)."""
        states = bk.lane_states(lane, self.buckets)
        worst = max((sum(b.shares) for b in states), default=1.0)
        self.scales[lane.name] = worst
        runs: list[tuple[int, int, tuple[int, ...], list[float]]] = []
        for b in states:
            heights = tuple(
                max(1, round(share / worst * LANE_BAR)) if share > 0 else 0 for share in b.shares
            )
            if runs and runs[-1][1] == b.index - 1 and runs[-1][2] == heights:
                runs[-1] = (runs[-1][0], b.index, heights, runs[-1][3])
            else:
                runs.append((b.index, b.index, heights, [0.0, 0.0, 0.0]))
            a, end = self.buckets.bounds(b.index)
            for slot, share in enumerate(b.shares):
                runs[-1][3][slot] += share * (end - a)
        for first, last, heights, seconds_in in runs:
            a, end = self.buckets.bounds(first)[0], self.buckets.bounds(last)[1]
            down = sum(seconds_in)
            words = ", ".join(
                f"{STATE_WORDS[s]} {duration(x)}"
                for s, x in zip(bk.DOWN_STATES, seconds_in, strict=True)
                if x > 0
            )
            i = self.details.add(
                f"{lane.name} down {down / max(end - a, 1e-12):.0%}: {duration(down)}",
                f"{_range(a, end)}: {words}",
            )
            bottom = bar + LANE_BAR
            rects = []
            for state, height in zip(bk.DOWN_STATES, heights, strict=True):
                if height:
                    bottom -= height
                    rects.append(
                        f'<rect x="{_n(a)}" y="{bottom}" width="{_n(end - a)}" '
                        f'height="{height}" fill="{COLOURS[state]}"'
                    )
            if len(rects) == 1:  # the common case: the hover on the bar itself
                zoom.append(f'{rects[0]} data-i="{i}"/>')
            else:
                zoom.append(f'<g data-i="{i}">' + "".join(r + "/>" for r in rects) + "</g>")
        name = _e(self.scrub(lane.name))
        attempts = bk.lane_attempts(lane, self.buckets)
        most = max((ab.count for ab in attempts), default=1)
        group = [f'<g data-backend="{name}" transform="translate(0 {bar + LANE_BAR + 3})">']
        for ab in attempts:
            a, end = self.buckets.bounds(ab.index)
            i = self.details.add(
                f"{ab.count} attempts on {lane.name}, {ab.failed} failed",
                _range(ab.first, ab.last),
                self.incident.logs_between(ab.first, ab.last, lane.name, 4),
            )
            opacity = 0.35 + 0.65 * ab.count / most
            group.append(
                f'<rect data-attempt-group="" data-count="{ab.count}" data-failed="{ab.failed}" '
                f'data-i="{i}" x="{_n(a)}" width="{_n(end - a)}" height="6" '
                f'class="{"af" if ab.failed else "ao"}" fill-opacity="{opacity:.2f}"/>'
            )
        zoom.append("".join(group) + "</g>")

    def _top(self) -> str:
        """The commands and the exit: marks in the top row; the exit a line through all."""
        inc, y = self.incident, self.rows.top + 24
        parts = [f'<g class="row commands" transform="translate(0 {y})">']
        last = -math.inf
        for c in inc.commands[:MAX_COMMANDS]:
            answer = f" \u2192 result {c.result}" if c.result is not None else ""
            i = self.details.add(
                f"command {c.name}{answer}",
                f"at {self.details.when(c.t)}" + (f": {c.text}" if c.result is not None else ""),
                inc.logs_near(c.t),
            )
            x = self.x(c.t)
            name = _e(self.scrub(c.name))
            label = _e(_short(self.scrub(c.name), MAX_LABEL))
            room = 6.5 * min(len(c.name), MAX_LABEL + 1) + 14
            shown = x - last >= room
            last = x if shown else last
            failed = c.result not in (None, 0)
            left = x + room > WIDTH - MARGIN_RIGHT  # near the right edge: the label before it
            parts.append(
                f'<g class="mk" data-command="{name}" data-t="{_n(c.t)}" data-i="{i}" '
                f'transform="translate({_n(x)} 0)">'
                f'<use href="#{"r-cmd-bad" if failed else "r-cmd"}"/>'
                f'<text class="lb cl{" left" if left else ""}" x="{-9 if left else 9}" y="4"'
                f"{'' if shown else ' style=display:none'}>{label}</text></g>"
            )
        parts.append("</g>")
        ex = inc.exit
        if ex is not None:
            code = "" if ex.code is None else str(ex.code)
            i = self.details.add(
                f"exit {code or '(code not logged)'}",
                f"at {self.details.when(ex.t)}: {ex.reason}",
                inc.logs_near(ex.t),
            )
            x = self.x(ex.t)
            left = x > WIDTH - 90
            parts.append(
                f'<g class="mk" data-exit="{_e(code)}" data-t="{_n(ex.t)}" data-i="{i}" '
                f'transform="translate({_n(x)} 0)">'
                f'<line class="exit" x1="0" x2="0" y1="4" y2="{self.rows.axis}"/>'
                f'<rect class="exit-box" x="{-58 if left else 4}" y="3" width="54" height="16" '
                f'rx="3"/><text class="exit-text" x="{-31 if left else 31}" y="15">'
                f"exit {_e(code or '?')}</text></g>"
            )
        return "".join(parts)

    def _axis(self) -> str:
        """Ticks at zoom 1 (the script redraws them for the window shown)."""
        r = self.rows
        step = _step(self.span, WIDTH - MARGIN_LEFT - MARGIN_RIGHT)
        out = []
        t = 0.0
        count = 0
        while t <= self.span + 1e-9 and count < 200:
            x = _n(self.x(t))
            edge = _edge(self.x(t), WIDTH)
            out.append(
                f'<line class="grid" x1="{x}" x2="{x}" y1="{r.serving + 16}" y2="{r.axis + 4}"/>'
                f'<text class="tick{edge}" x="{x}" y="{r.axis + 16}">{_tick(t, step)}</text>'
            )
            if self.incident.wall_start is not None:
                clock = (self.incident.wall_start + timedelta(seconds=t)).strftime("%H:%M:%S")
                out.append(f'<text class="tick{edge}" x="{x}" y="{r.axis + 29}">{clock}</text>')
            count += 1
            t = count * step
        return "".join(out)


_STEPS = (
    [m * 10.0**e for e in range(-3, 2) for m in (1, 2, 5)]
    + [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
    + [86400 * d for d in (2, 7, 14, 28)]
)
MIN_TICK_PX = 90


def _step(span: float, width: float) -> float:
    return next((s for s in _STEPS if s * width / span >= MIN_TICK_PX), _STEPS[-1])


def _edge(x: float, width: float) -> str:
    """A tick label near an edge is aligned to it rather than centred (and cut)."""
    if x - MARGIN_LEFT < 30:
        return " first"
    return " last" if width - MARGIN_RIGHT - x < 30 else ""


def _tick(t: float, step: float) -> str:
    if step >= 60:
        h, rest = divmod(round(t), 3600)
        return f"{h}:{rest // 60:02d}:{rest % 60:02d}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{t:.{decimals}f} s"


_DEFS = (
    "<defs>"
    '<g id="r-fail"><circle r="6" fill="#fff" stroke="#b91c1c" stroke-width="2"/>'
    '<path d="M-2.6-2.6L2.6 2.6M2.6-2.6L-2.6 2.6" stroke="#b91c1c" stroke-width="1.8"/></g>'
    '<g id="r-ok"><circle r="6.5" fill="#15803d" stroke="#fff" stroke-width="1.5"/>'
    '<path d="M-3 0.2L-0.8 2.4L3-2" fill="none" stroke="#fff" stroke-width="1.8"/></g>'
    '<path id="r-stop" d="M-5-7L5-7L0-1Z" fill="#b91c1c"/>'
    '<path id="r-start" d="M-5-1L5-1L0-7Z" fill="#15803d"/>'
    '<path id="r-cmd" d="M0-6L6 0L0 6L-6 0Z" fill="#2563eb" stroke="#fff"/>'
    '<path id="r-cmd-bad" d="M0-6L6 0L0 6L-6 0Z" fill="#ea580c" stroke="#fff"/>'
    "</defs>"
)


# -- the rest of the page ----------------------------------------------------------------------


def _cards(incident: Incident) -> str:
    s = incident.summary()
    ex = incident.exit
    if ex is None:
        state = f", server {incident.final_state}" if incident.final_state else ""
        ending = ("still running", f"at the end, {_at(incident.end)}{state}")
    else:
        code = "?" if ex.code is None else str(ex.code)
        ending = (f"exit {code}", f"at {_at(ex.t)}")
    share = s.not_serving / s.duration if s.duration > 0 else 0.0
    longest = max((lane.longest for lane in s.lanes), default=0.0)
    outages = sum(lane.outages for lane in s.lanes)
    cards = [
        ending,
        (duration(s.not_serving), f"not serving ({share:.1%} of {duration(s.duration)})"),
        (f"{outages:,}", f"outage{'s' if outages != 1 else ''}, longest {duration(longest)}"),
        (f"{s.attempts:,}", f"reconnect attempts, {s.failed:,} failed"),
    ]
    return "".join(
        f'<div class="card"><div class="big">{_e(a)}</div><div class="small">{_e(b)}</div></div>'
        for a, b in cards
    )


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    hd = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return (
        f'<div class="scroll"><table class="{cls}"><thead><tr>{hd}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _summary(incident: Incident, scrub: Scrub) -> str:
    s = incident.summary()
    lanes = {lane.name: lane for lane in incident.lanes}
    parts = []
    if incident.exit is not None:
        parts.append(
            f'<p class="reason"><b>Why it exited:</b> {_e(scrub(incident.exit.reason))}</p>'
        )
    parts.append(
        f"<p>Not serving {_e(duration(s.not_serving))} in {s.not_serving_periods:,} "
        f"period(s), of a run of {_e(duration(s.duration))}.</p>"
    )
    if s.lanes:
        parts.append(
            _table(
                (
                    "backend",
                    "on-fail",
                    "outages",
                    "down in total",
                    "longest",
                    "not serving meanwhile",
                    "attempts failed",
                    "succeeded",
                    "given up",
                ),
                (
                    (
                        scrub(ls.name),
                        lanes[ls.name].on_fail or "\u2014",
                        f"{ls.outages:,}",
                        duration(ls.down),
                        duration(ls.longest),
                        duration(ls.not_serving),
                        f"{ls.failed:,}",
                        f"{ls.succeeded:,}",
                        f"{ls.gave_up:,}",
                    )
                    for ls in s.lanes
                ),
                "figures",
            )
        )
    outages = sorted((o for lane in incident.lanes for o in lane.outages), key=lambda o: o.start)
    if outages:
        shown = outages
        note = ""
        if len(outages) > MAX_OUTAGE_ROWS:
            longest = sorted(outages, key=lambda o: o.duration, reverse=True)[:MAX_OUTAGE_ROWS]
            shown = sorted(longest, key=lambda o: o.start)
            note = f" (the {MAX_OUTAGE_ROWS} longest of {len(outages):,})"
        parts.append(f"<h3>Outages{_e(note)}</h3>")
        parts.append(
            _table(
                ("backend", "from", "to", "duration", "attempts", "how it ended"),
                (
                    (
                        scrub(o.backend),
                        seconds(o.start),
                        seconds(o.end),
                        duration(o.duration),
                        f"{o.attempts:,}",
                        o.outcome,
                    )
                    for o in shown
                ),
            )
        )
    if incident.commands:
        left = len(incident.commands) - MAX_OUTAGE_ROWS
        parts.append(
            "<h3>Commands" + (f" (the first {MAX_OUTAGE_ROWS})" if left > 0 else "") + "</h3>"
        )
        parts.append(
            _table(
                ("at", "command", "result", "answer"),
                (
                    (
                        seconds(c.t),
                        scrub(c.name),
                        "" if c.result is None else str(c.result),
                        scrub(c.text) if c.result is not None else "",
                    )
                    for c in incident.commands[:MAX_OUTAGE_ROWS]
                ),
            )
        )
    return "".join(parts)


def _path(diagrams: Sequence[Diagram] | None, why_not: str) -> str:
    if not diagrams:
        return f'<p class="mute">{_e(why_not or "no state changes to draw.")}</p>'
    parts = []
    for d in diagrams:
        drawing = (
            f'<div class="diagram">{d.svg}</div>'
            if d.svg is not None
            else f'<p class="mute">No drawing: {_e(d.problem)}</p>'
        )
        taken = _table(("transition taken", "times"), ((e, str(n)) for e, n in d.taken), "path")
        parts.append(f'<div class="view"><h3>{_e(d.view.title)}</h3>{drawing}{taken}</div>')
    return f'<div class="views">{"".join(parts)}</div>'


@dataclass(frozen=True)
class PageParts:
    """What the page says besides the incident itself."""

    title: str
    diagrams: Sequence[Diagram] | None = None
    no_path: str = ""  # why there is no path, if there is none
    verdict: str | None = None  # conform's report, for a recorded run checked against a config
    verdict_ok: bool = False


def render(incident: Incident, parts: PageParts, scrub: Scrub | None = None) -> str:
    scrub = scrub or Scrub()
    details = _Details(scrub, incident.wall_start)
    timeline = _Timeline(incident, details, scrub)
    svg = timeline.svg()
    aggregated = ""
    notes = list(incident.notes)
    if timeline.aggregated:
        aggregated = (
            f'<p class="agg">More than {bk.MAX_MARKS:,} marks: each bar shows the share of a '
            f"{duration(timeline.buckets.width)} bucket that a backend was down (or the "
            "service not serving), up to the row\u2019s worst bucket (\u201cfull bar\u201d); "
            "the strip under a lane, its attempts (red: some failed).</p>"
        )
        notes.append(
            f"This run has more than {bk.MAX_MARKS:,} marks of a kind: the timeline draws "
            f"{timeline.buckets.n:,} buckets of {duration(timeline.buckets.width)} each, "
            "with how long each backend was down in each and how many attempts it made."
        )
    if len(incident.commands) > MAX_COMMANDS:
        notes.append(
            f"{len(incident.commands) - MAX_COMMANDS:,} commands after the first "
            f"{MAX_COMMANDS:,} are not drawn."
        )
    if not incident.lanes:
        notes.append("No backend of this run lost its connection (and no --config names one).")
    data = {
        "end": timeline.span,
        "ml": MARGIN_LEFT,
        "mr": MARGIN_RIGHT,
        "height": timeline.rows.height,
        "wall": _wall(incident.wall_start),
        "texts": details.texts,
        "marks": details.marks,
        "buckets": timeline.buckets.n if timeline.aggregated else 0,
    }
    title = scrub(parts.title)
    sub = f"{scrub(incident.name)} \u00b7 {incident.dialect} \u00b7 {duration(incident.end)}"
    if incident.wall_start is not None:
        sub += f" from {incident.wall_start:%Y-%m-%d %H:%M:%S}"
    verdict = ""
    if parts.verdict is not None:
        cls = "ok" if parts.verdict_ok else "bad"
        verdict = (
            "<section><h2>Does the model allow this run? (<code>dbfsm conform</code>)</h2>"
            f'<pre class="verdict {cls}">{_e(scrub(parts.verdict))}</pre></section>'
        )
    notes_html = ""
    if notes:
        items = "".join(f"<li>{_e(scrub(n))}</li>" for n in notes)
        notes_html = f'<section class="notes"><h2>Notes</h2><ul>{items}</ul></section>'
    return _PAGE.format(
        title=_e(title),
        sub=_e(sub),
        version=_e(__version__),
        cards=_cards(incident),
        legend=_LEGEND,
        svg=aggregated + svg,
        summary=_summary(incident, scrub),
        path=_path(parts.diagrams, parts.no_path),
        verdict=verdict,
        notes=notes_html,
        data=_script_json(data),
        csp=CSP,
        style=_resource("page.css"),
        script=_resource("page.js"),
    )


def _wall(start: datetime | None) -> float | None:
    """Seconds since midnight of the wall-clock start, for the script's clock labels."""
    if start is None:
        return None
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    return (start - midnight).total_seconds()


def _swatch(colour: str, word: str) -> str:
    return f'<span class="key"><i style="background:{colour}"></i>{_e(word)}</span>'


def _legend() -> str:
    keys = [_swatch(COLOURS[s], STATE_WORDS[s]) for s in (UP, LOST, RECONNECTING, GIVEN_UP)]
    keys += [_swatch(COLOURS["serving"], "serving"), _swatch(COLOURS["not-serving"], "not serving")]
    icons = (
        ('<circle cx="8" cy="8" r="5.5" fill="#fff" stroke="#b91c1c" stroke-width="2"/>',
         "attempt failed"),
        ('<circle cx="8" cy="8" r="6" fill="#15803d"/>', "attempt succeeded"),
        ('<path d="M8 2L14 8L8 14L2 8Z" fill="#2563eb"/>', "command"),
        ('<line x1="8" x2="8" y1="1" y2="15" stroke="#7f1d1d" stroke-width="2" '
         'stroke-dasharray="3 2"/>', "exit"),
    )  # fmt: skip
    keys += [
        f'<span class="key"><svg width="16" height="16" aria-hidden="true">{icon}</svg>'
        f"{_e(word)}</span>"
        for icon, word in icons
    ]
    return "".join(keys)


_LEGEND = _legend()


# Nothing may be loaded: no script, style, image, font or connection but the page's own.
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


@functools.cache
def _resource(name: str) -> str:
    """The page's style sheet or script, kept beside this module as files of their own."""
    return (resources.files("dbfsm.report") / name).read_text(encoding="utf-8")


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="generator" content="dbfsm {version}">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p class="sub">{sub}</p>
<div class="cards">{cards}</div>
</header>
<main>
<section>
<h2>Timeline</h2>
<div class="bar">
<div class="tools">
<button id="zin" type="button" title="zoom in">+</button>
<button id="zout" type="button" title="zoom out">\u2212</button>
<button id="zfit" type="button" title="the whole run">whole run</button>
<span class="hint">wheel to zoom, drag to pan, hover or tap a mark</span>
</div>
<div class="legend">{legend}</div>
</div>
<div class="tl">{svg}<div id="tip" class="tip" role="tooltip"></div></div>
</section>
<section><h2>Summary</h2>{summary}</section>
<section><h2>Path through the lifecycle</h2>{path}</section>
{verdict}
{notes}
</main>
<footer>Generated by dbfsm {version} (<code>dbfsm report</code>).
One file: nothing is loaded from anywhere.</footer>
<script type="application/json" id="tl-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""
