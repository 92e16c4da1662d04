"""Server-rendered SVG charts for the console: pure functions from numbers to SVG coordinates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 600
HEIGHT = 140
PAD = 4


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int


@dataclass(frozen=True)
class Chart:
    """One series over the last hour, scaled into a ``WIDTH`` x ``HEIGHT`` viewBox."""

    line: str
    bars: list[Bar]
    top: int
    latest: int | None
    width: int = WIDTH
    height: int = HEIGHT


def _top(values: Sequence[int | None]) -> int:
    """A round upper bound of the axis (1, 2 or 5 times a power of ten), so the scale does not jitter."""
    peak = max([v for v in values if v is not None] or [0])
    step = 1
    while True:
        for m in (1, 2, 5):
            if step * m >= peak:
                return max(1, step * m)
        step *= 10


def line_chart(values: Sequence[int | None]) -> Chart:
    """A polyline through the known values (minutes without a sample are skipped, not drawn as zero)."""
    top = _top(values)
    n = max(1, len(values) - 1)
    points = [
        f"{PAD + i * (WIDTH - 2 * PAD) / n:.1f},{HEIGHT - PAD - v * (HEIGHT - 2 * PAD) / top:.1f}"
        for i, v in enumerate(values)
        if v is not None
    ]
    known = [v for v in values if v is not None]
    return Chart(line=" ".join(points), bars=[], top=top, latest=known[-1] if known else None)


def bar_chart(values: Sequence[int]) -> Chart:
    top = _top(values)
    slot = (WIDTH - 2 * PAD) / max(1, len(values))
    bars = []
    for i, v in enumerate(values):
        h = v * (HEIGHT - 2 * PAD) / top
        bars.append(Bar(x=PAD + i * slot + slot * 0.1, y=HEIGHT - PAD - h, width=slot * 0.8, height=h, value=v))
    return Chart(line="", bars=bars, top=top, latest=values[-1] if values else None)
