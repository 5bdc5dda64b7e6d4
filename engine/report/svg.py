"""An inline SVG line chart of one curve, with axes, ticks and labels computed here (no JS).

Values stay ``Decimal`` up to the tick labels; only pixel positions are floats. Y ticks are
"nice" steps (1, 2 or 5 × a power of ten) covering the values; X ticks are round UTC times
(1 s … 1 week apart). The markup carries no ``xmlns`` or any other URL: inline SVG in HTML
needs none, and the report must not reference the network.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from html import escape

import attrs

from engine.report.data import BALANCE, Curve, CurvePoint

__all__ = ["render_chart", "time_ticks", "value_ticks"]

WIDTH = 960
HEIGHT = 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 88, 24, 16, 44
MAX_MARKERS = 200  # beyond this many points the line is drawn without dots
# Seconds between X ticks: 1 s … 1 week.
_TIME_STEPS: tuple[int, ...] = (
    *(1, 2, 5, 10, 15, 30),
    *(60, 120, 300, 600, 900, 1800),
    *(3600, 7200, 10800, 21600, 43200),
    *(86400, 172800, 604800),
)


def value_ticks(low: Decimal, high: Decimal, target: int = 5) -> list[Decimal]:
    """Evenly spaced round values from at or below ``low`` to at or above ``high``."""
    if high < low:
        low, high = high, low
    if high == low:
        pad = abs(low) / 10 if low else Decimal(1)
        low, high = low - pad, high + pad
    raw = (high - low) / target
    magnitude = Decimal(1).scaleb(raw.adjusted())
    step = next(magnitude * m for m in (1, 2, 5, 10) if magnitude * m >= raw)
    first = (low / step).to_integral_value(rounding=ROUND_FLOOR)
    last = (high / step).to_integral_value(rounding=ROUND_CEILING)
    return [step * i for i in range(int(first), int(last) + 1)]


def time_ticks(start: datetime, end: datetime, target: int = 6) -> tuple[list[datetime], str]:
    """Round UTC times between ``start`` and ``end``, and the ``strftime`` format to label them."""
    t0, t1 = start.timestamp(), end.timestamp()
    span = max(t1 - t0, 1.0)
    step = next((s for s in _TIME_STEPS if span / s <= target), _TIME_STEPS[-1])
    first = -(-int(t0) // step) * step  # ceil to a multiple of step
    ticks = [datetime.fromtimestamp(t, tz=UTC) for t in range(first, int(t1) + 1, step)]
    if step >= 86400:
        fmt = "%Y-%m-%d"
    elif span >= 86400:
        fmt = "%m-%d %H:%M"
    elif step >= 60:
        fmt = "%H:%M"
    else:
        fmt = "%H:%M:%S"
    return ticks, fmt


def _decimals(values: list[Decimal]) -> int:
    """Digits after the point needed to print every tick exactly."""
    exponents = [int(v.normalize().as_tuple().exponent) for v in values if v != 0]
    return max([0, *(-e for e in exponents)])


def _format_value(value: Decimal, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


@attrs.frozen
class _Frame:
    """The plot area and its scales: values and times to pixels."""

    width: int
    height: int
    y_ticks: list[Decimal]
    t_lo: float
    t_hi: float

    @property
    def right(self) -> int:
        return self.width - _RIGHT

    @property
    def bottom(self) -> int:
        return self.height - _BOTTOM

    def x(self, moment: datetime) -> float:
        return _LEFT + (moment.timestamp() - self.t_lo) / (self.t_hi - self.t_lo) * (
            self.right - _LEFT
        )

    def y(self, value: Decimal) -> float:
        lo, hi = float(self.y_ticks[0]), float(self.y_ticks[-1])
        return _TOP + (hi - float(value)) / (hi - lo) * (self.bottom - _TOP)


def _axes(frame: _Frame, what: str) -> list[str]:
    """The plot area, grid lines, tick labels and axis titles."""
    parts = [
        f'<rect class="plot" x="{_LEFT}" y="{_TOP}" width="{frame.right - _LEFT}"'
        f' height="{frame.bottom - _TOP}"/>'
    ]
    decimals = _decimals(frame.y_ticks)
    for tick in frame.y_ticks:
        y = frame.y(tick)
        css = "grid zero" if tick == 0 else "grid"
        parts.append(
            f'<line class="{css}" x1="{_LEFT}" x2="{frame.right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="ytick" x="{_LEFT - 6}" y="{y + 4:.1f}">'
            f"{escape(_format_value(tick, decimals))}</text>"
        )
    start = datetime.fromtimestamp(frame.t_lo, tz=UTC)
    end = datetime.fromtimestamp(frame.t_hi, tz=UTC)
    x_ticks, time_format = time_ticks(start, end)
    for moment in x_ticks:
        x = frame.x(moment)
        parts.append(
            f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{_TOP}" y2="{frame.bottom}"/>'
            f'<text class="xtick" x="{x:.1f}" y="{frame.bottom + 16}">'
            f"{escape(moment.strftime(time_format))}</text>"
        )
    middle_x = (_LEFT + frame.right) / 2
    middle_y = (_TOP + frame.bottom) / 2
    parts.append(
        f'<text class="axis" x="{middle_x:.1f}" y="{frame.height - 6}">time (UTC)</text>'
        f'<text class="axis" transform="translate(14 {middle_y:.1f}) rotate(-90)">'
        f"{escape(what)}</text>"
    )
    return parts


def _series(frame: _Frame, points: tuple[CurvePoint, ...]) -> list[str]:
    """Candle ranges (behind), the line, and a dot with a tooltip per point (if not too many)."""
    coords = [(frame.x(p.time), frame.y(p.value)) for p in points]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    if len(points) > MAX_MARKERS:
        return [f'<polyline class="series" points="{line}"/>']
    parts = []
    for point, (x, _) in zip(points, coords, strict=True):
        if point.low is not None and point.high is not None and point.low != point.high:
            high_y, low_y = frame.y(point.high), frame.y(point.low)
            parts.append(
                f'<line class="range" x1="{x:.1f}" x2="{x:.1f}" y1="{high_y:.1f}"'
                f' y2="{low_y:.1f}"/>'
            )
    parts.append(f'<polyline class="series" points="{line}"/>')
    for point, (x, y) in zip(points, coords, strict=True):
        tip = f"{point.time:%Y-%m-%d %H:%M:%S} UTC: {point.value:,f}"
        if point.low is not None and point.high is not None:
            tip += f" (low {point.low:,f}, high {point.high:,f})"
        parts.append(
            f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3">'
            f"<title>{escape(tip)}</title></circle>"
        )
    return parts


def render_chart(curve: Curve, *, width: int = WIDTH, height: int = HEIGHT) -> str:
    """``curve`` as an ``<svg>`` element: one ``<polyline class="series">`` point per value.

    A candle's low-high range is drawn as a pale vertical bar behind its point. Empty string
    for a curve without points.
    """
    points = curve.points
    if not points:
        return ""
    values = [p.value for p in points]
    values += [v for p in points for v in (p.low, p.high) if v is not None]
    t_lo, t_hi = points[0].time.timestamp(), points[-1].time.timestamp()
    if t_hi == t_lo:
        t_lo, t_hi = t_lo - 30, t_hi + 30
    frame = _Frame(width, height, value_ticks(min(values), max(values)), t_lo, t_hi)
    what = "total equity" if curve.source == BALANCE else "P&L"
    label = escape(curve.label)
    return "".join(
        [
            f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}"'
            f' height="{height}" role="img" aria-label="{label}"><title>{label}</title>',
            *_axes(frame, what),
            *_series(frame, points),
            "</svg>",
        ]
    )
