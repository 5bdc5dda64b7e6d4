"""The pieces: average-cost accounting and the chart's ticks."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import attrs
import pytest

from engine.model import Side
from engine.report.data import Curve, CurvePoint
from engine.report.pnl import CostBasis
from engine.report.svg import render_chart, time_ticks, value_ticks

D = Decimal


def test_average_cost_long_then_flip_short_then_cover() -> None:
    basis = CostBasis()
    assert basis.apply(Side.BUY, D(10), D(100)) == 0
    assert basis.apply(Side.BUY, D(30), D(104)) == 0
    assert (basis.position, basis.average) == (D(40), D(103))
    assert basis.apply(Side.SELL, D(10), D(110)) == D(70)  # 10 × (110 − 103)
    assert (basis.position, basis.average) == (D(30), D(103))  # the rest keeps its average
    assert basis.apply(Side.SELL_SHORT, D(40), D(100)) == D(-90)  # 30 closed at −3, flips
    assert (basis.position, basis.average) == (D(-10), D(100))  # 10 short opened at 100
    assert basis.apply(Side.SELL_SHORT, D(10), D(90)) == 0  # adds to the short
    assert (basis.position, basis.average) == (D(-20), D(95))
    assert basis.apply(Side.BUY_TO_COVER, D(20), D(93)) == D(40)  # 20 × (95 − 93)
    assert (basis.position, basis.average, basis.realized) == (D(0), D(0), D(20))
    assert (basis.bought, basis.sold, basis.fills) == (D(60), D(60), 6)


def test_average_cost_is_exact_decimal() -> None:
    basis = CostBasis()
    basis.apply(Side.BUY, D(1), D("0.10"))
    basis.apply(Side.BUY, D(2), D("0.20"))
    realized = basis.apply(Side.SELL, D(3), D("0.30"))
    assert realized == D("0.40")  # 3 × 0.30 − (0.10 + 0.40); no float noise
    assert isinstance(realized, Decimal)
    # Partial closes at an average of 0.1666…: the round trip still realizes exactly.
    basis.apply(Side.BUY, D(1), D("0.10"))
    basis.apply(Side.BUY, D(2), D("0.20"))
    basis.apply(Side.SELL, D(1), D("0.30"))
    basis.apply(Side.SELL, D(2), D("0.30"))
    assert basis.realized == D("0.80")
    assert (basis.position, basis.cost) == (D(0), D(0))


def test_seeded_position_is_closed_against_its_average() -> None:
    basis = CostBasis.opened(D(-5), D(50))
    assert basis.average == D(50)
    assert basis.apply(Side.BUY_TO_COVER, D(5), D(45)) == D(25)


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (D("-2.4"), D("0"), ["-2.5", "-2.0", "-1.5", "-1.0", "-0.5", "0.0"]),
        (D("99990"), D("100010"), ["99990", "99995", "100000", "100005", "100010"]),
        (D("3"), D("3"), ["2.6", "2.8", "3.0", "3.2", "3.4"]),
        (D("0"), D("0"), ["-1", "-0.5", "0", "0.5", "1"]),
    ],
)
def test_value_ticks_are_round_and_cover_the_values(
    low: Decimal, high: Decimal, expected: list[str]
) -> None:
    ticks = value_ticks(low, high)
    assert [D(t) for t in expected] == ticks
    assert ticks[0] <= low
    assert ticks[-1] >= high


def test_time_ticks_are_round_utc_times() -> None:
    start = datetime(2024, 5, 1, 14, 29, 47, tzinfo=UTC)
    ticks, fmt = time_ticks(start, datetime(2024, 5, 1, 15, 2, 10, tzinfo=UTC))
    assert fmt == "%H:%M"
    assert [t.strftime(fmt) for t in ticks] == ["14:30", "14:40", "14:50", "15:00"]
    ticks, fmt = time_ticks(start, datetime(2024, 5, 3, 9, 0, tzinfo=UTC))
    assert fmt == "%m-%d %H:%M"
    assert all(t.tzinfo is UTC and t.minute == 0 and t.hour % 12 == 0 for t in ticks)


def test_single_point_chart_still_draws() -> None:
    moment = datetime(2024, 5, 1, 14, 30, tzinfo=UTC)
    curve = Curve(
        account_id="A<1>",
        source="pnl_candles",
        label="A<1> — P&L",
        points=(CurvePoint(time=moment, value=D("-0.30")),),
    )
    svg = render_chart(curve)
    assert svg.count("<polyline") == 1
    assert svg.count("<circle") == 1
    assert 'aria-label="A&lt;1&gt; — P&amp;L"' in svg
    assert "A<1>" not in svg
    assert render_chart(attrs.evolve(curve, points=())) == ""
