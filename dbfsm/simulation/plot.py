"""`dbfsm availability --plot FILE`: per setting, the distribution of yearly time not serving.

Drawn as SVG text by hand (no plotting library to install): one cumulative distribution per
setting on shared axes, read as "this share of years lost at most this much service". The
x axis is logarithmic when the values span more than two decades, so that a setting that
loses seconds and one that loses days are both readable.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from html import escape

_W, _H = 720, 360
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 200, 30, 50
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf")


def _axis(lowest: float, highest: float) -> tuple[bool, float, float]:
    """(logarithmic, low, high) of the x axis."""
    if highest <= 0:
        return False, 0.0, 1.0
    if lowest > 0 and highest / lowest > 100:
        return True, math.log10(lowest), math.log10(highest)
    return False, 0.0, highest * 1.05


_STEPS = tuple(
    n * unit
    for unit, counts in (
        (1.0, (1, 2, 5, 10, 15, 30)),
        (60.0, (1, 2, 5, 10, 15, 30)),
        (3600.0, (1, 2, 3, 6, 12)),
        (86_400.0, (1, 2, 7, 14, 30, 91, 182)),
    )
    for n in counts
)


# About one tick a decade, each a round duration: 1 s, 10 s, 1 min, 10 min, 1 h, ...
_LOG_TICKS = (
    0.001,
    0.01,
    0.1,
    1.0,
    10.0,
    60.0,
    600.0,
    3600.0,
    21_600.0,
    86_400.0,
    604_800.0,
    2_592_000.0,
    15_724_800.0,
)


def _ticks(log: bool, low: float, high: float) -> list[float]:
    """Tick values: powers of ten on a log axis; else whole seconds, minutes, hours, days."""
    if log:
        return [t for t in _LOG_TICKS if low <= math.log10(t) <= high]
    step = next((s for s in _STEPS if high / s <= 6), _STEPS[-1])
    return [step * i for i in range(int(high / step) + 1)]


def _label(seconds: float) -> str:
    for unit, size in (("d", 86_400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def svg(series: Sequence[tuple[str, Counter[float]]], title: str) -> str:
    """The plot of `series`: (label, histogram of yearly seconds not serving) each."""
    values = [v for _, bins in series for v in bins]
    positive = [v for v in values if v > 0]
    log, low, high = _axis(min(positive, default=0.0), max(values, default=0.0))
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(value: float) -> float:
        if log:
            value = math.log10(max(value, 10**low))
        return _LEFT + width * (value - low) / (high - low)

    def y(share: float) -> float:
        return _TOP + height * (1 - share)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" font-family="sans-serif" font-size="12">',
        f'<rect width="{_W}" height="{_H}" fill="white"/>',
        f'<text x="{_LEFT}" y="18" font-size="14">{escape(title)}</text>',
    ]
    for tick in _ticks(log, low, high):
        out.append(
            f'<line x1="{x(tick):.1f}" y1="{_TOP}" x2="{x(tick):.1f}" '
            f'y2="{_TOP + height}" stroke="#ddd"/>'
        )
        out.append(
            f'<text x="{x(tick):.1f}" y="{_TOP + height + 16}" '
            f'text-anchor="middle">{_label(tick)}</text>'
        )
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        out.append(
            f'<line x1="{_LEFT}" y1="{y(share):.1f}" x2="{_LEFT + width}" '
            f'y2="{y(share):.1f}" stroke="#ddd"/>'
        )
        out.append(
            f'<text x="{_LEFT - 6}" y="{y(share) + 4:.1f}" text-anchor="end">{share:.0%}</text>'
        )
    out.append(
        f'<text x="{_LEFT + width / 2}" y="{_H - 12}" text-anchor="middle">'
        "time not serving in a year (at most)</text>"
    )
    out.append(
        f'<text transform="translate(16 {_TOP + height / 2}) rotate(-90)" '
        'text-anchor="middle">share of years</text>'
    )
    for i, (label, bins) in enumerate(series):
        colour = _COLOURS[i % len(_COLOURS)]
        out.append(_curve(bins, x, y, colour, _LEFT, _LEFT + width))
        ly = _TOP + 14 + 18 * i
        out.append(
            f'<line x1="{_W - _RIGHT + 12}" y1="{ly - 4}" x2="{_W - _RIGHT + 32}" '
            f'y2="{ly - 4}" stroke="{colour}" stroke-width="2"/>'
        )
        out.append(f'<text x="{_W - _RIGHT + 38}" y="{ly}">{escape(label)}</text>')
    out.append("</svg>\n")
    return "\n".join(out)


def _curve(
    bins: Counter[float],
    x: Callable[[float], float],
    y: Callable[[float], float],
    colour: str,
    left: float,
    right: float,
) -> str:
    """A step line: the empirical cumulative distribution of one setting's years."""
    total = sum(bins.values()) or 1
    points = [(left, y(0.0))]
    seen = 0
    for value in sorted(bins):
        px = max(left, x(value))
        points.append((px, y(seen / total)))
        seen += bins[value]
        points.append((px, y(seen / total)))
    points.append((right, y(seen / total)))
    path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    return f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
