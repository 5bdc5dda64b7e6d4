"""The synthetic market model: seeded, on the $0.01 grid, lots of 100, occasional trades."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from engine.sim._market import MarketModel, price_to_ticks, ticks_to_price
from engine.sim._profile import DEFAULT_START_PRICE, START_PRICES

CENT = Decimal("0.01")


def _model(seed: int = 7, symbols: tuple[str, ...] = ("AAPL", "MSFT", "TSLA")) -> MarketModel:
    return MarketModel(symbols, random.Random(seed))


def test_tick_price_conversions_round_trip() -> None:
    assert ticks_to_price(17550) == Decimal("175.50")
    assert str(ticks_to_price(17550)) == "175.50"
    assert price_to_ticks(Decimal("175.50")) == 17550


def test_same_seed_same_market() -> None:
    a, b = _model(seed=3), _model(seed=3)
    assert [a.step() for _ in range(50)] == [b.step() for _ in range(50)]


def test_different_seed_different_market() -> None:
    a, b = _model(seed=3), _model(seed=4)
    assert [a.step() for _ in range(20)] != [b.step() for _ in range(20)]


def test_start_prices_from_profile_table_and_default() -> None:
    model = _model(symbols=("AAPL", "ZZZZ"))
    assert abs(model.mark("AAPL") - START_PRICES["AAPL"]) <= Decimal("0.02")
    assert abs(model.mark("ZZZZ") - DEFAULT_START_PRICE) <= Decimal("0.02")


def test_quotes_are_on_the_grid_with_a_few_cents_spread_and_round_lots() -> None:
    model = _model()
    for _ in range(300):
        tick = model.step()
        assert [q.symbol for q in tick.quotes] == ["AAPL", "MSFT", "TSLA"]
        for quote in tick.quotes:
            assert quote.bid == quote.bid.quantize(CENT)
            assert quote.ask == quote.ask.quantize(CENT)
            assert Decimal("0.02") <= quote.ask - quote.bid <= Decimal("0.06")
            assert quote.bid_size % 100 == 0
            assert quote.ask_size % 100 == 0
            assert quote.bid_size > 0
            assert quote.ask_size > 0


def test_trades_happen_sometimes_at_the_touch_with_growing_volume() -> None:
    model = _model()
    ticks = [model.step() for _ in range(200)]
    trade_counts = [len(t.trades) for t in ticks]
    assert sum(trade_counts) > 0
    assert trade_counts.count(0) > 0  # occasionally, not always
    seqs = [trade.seq for t in ticks for trade in t.trades]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    volume: dict[str, int] = {}
    for tick in ticks:
        quotes = {q.symbol: q for q in tick.quotes}
        for trade in tick.trades:
            assert trade.price in (quotes[trade.symbol].bid, quotes[trade.symbol].ask)
            assert trade.size % 100 == 0
            volume[trade.symbol] = volume.get(trade.symbol, 0) + trade.size
            assert trade.total_volume == volume[trade.symbol]
            assert model.summary(trade.symbol).volume >= trade.total_volume


def test_price_never_falls_below_the_floor() -> None:
    model = MarketModel(("PENNY",), random.Random(1), start_prices={"PENNY": Decimal("1.00")})
    for _ in range(2000):
        quote = model.step().quotes[0]
        assert quote.bid > 0
        assert quote.mid >= Decimal("1.00")


def test_force_quote_sets_the_touch_and_the_walk_continues_from_it() -> None:
    model = _model()
    quote = model.force_quote("AAPL", bid=Decimal("50.00"), ask=Decimal("50.04"))
    assert (quote.bid, quote.ask, quote.mid) == (
        Decimal("50.00"),
        Decimal("50.04"),
        Decimal("50.02"),
    )
    after = model.step().quotes[0]
    assert abs(after.mid - Decimal("50.02")) <= Decimal("0.05")
    with pytest.raises(ValueError, match="below"):
        model.force_quote("AAPL", bid=Decimal("50.04"), ask=Decimal("50.00"))


def test_last_trade_and_summary() -> None:
    model = _model(symbols=("AAPL",))
    assert model.last_trade("AAPL") is None
    for _ in range(100):
        model.step()
    last = model.last_trade("AAPL")
    assert last is not None
    summary = model.summary("AAPL")
    assert summary.last == last.price
    assert summary.low <= summary.last <= summary.high
    assert summary.open == summary.prev_close
    assert not model.has("MSFT")
