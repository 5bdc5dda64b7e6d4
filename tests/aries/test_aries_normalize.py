"""``MarketNormalizer``: partial quote updates merge per symbol; trades carry the last price."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.aries import MarketNormalizer, QuoteUpdate, TradeUpdate, WireQuote, WireTrade
from engine.errors import ProtocolError
from engine.model import Endpoint, Quote, Trade

from .samples import QUOTE, TRADE, TS_RECV, decode, variant

T0 = datetime(2026, 1, 15, 14, 45, tzinfo=UTC)


def quote_update(
    symbol: str = "AAPL",
    ts_recv: int = 1,
    *,
    bid_price: Decimal | None = None,
    ask_price: Decimal | None = None,
    bid_size: Decimal | None = None,
    ask_size: Decimal | None = None,
) -> QuoteUpdate:
    data = WireQuote(
        symbol=symbol,
        bid_price=bid_price,
        ask_price=ask_price,
        bid_size=bid_size,
        ask_size=ask_size,
    )
    return QuoteUpdate(data=data, ts_event=T0, ts_recv=ts_recv)


def test_first_quote_from_the_wire() -> None:
    update = decode(QUOTE, Endpoint.MARKET)
    assert isinstance(update, QuoteUpdate)
    assert MarketNormalizer().quote(update) == Quote(
        symbol="AAPL",
        bid=Decimal("189.49"),
        ask=Decimal("189.51"),
        bid_size=Decimal("300"),
        ask_size=Decimal("100"),
        ts_event=datetime(2026, 1, 15, 14, 45, 1, 123_000, tzinfo=UTC),
        ts_recv=TS_RECV,
    )


def test_partial_updates_keep_the_latest_known_values() -> None:
    normalizer = MarketNormalizer()
    normalizer.quote(quote_update(bid_price=Decimal("10"), bid_size=Decimal("5")))
    second = normalizer.quote(quote_update(ask_price=Decimal("11"), ts_recv=2))
    assert (second.bid, second.bid_size, second.ask, second.ask_size) == (
        Decimal("10"),
        Decimal("5"),
        Decimal("11"),
        None,
    )
    assert second.mid == Decimal("10.5")
    third = normalizer.quote(quote_update(bid_price=Decimal("10.5"), ask_size=Decimal("7")))
    assert (third.bid, third.bid_size, third.ask, third.ask_size) == (
        Decimal("10.5"),
        Decimal("5"),
        Decimal("11"),
        Decimal("7"),
    )
    assert second.ts_recv == 2
    assert normalizer.latest_quote("AAPL") == third


def test_partial_update_from_the_wire() -> None:
    normalizer = MarketNormalizer()
    first = decode(QUOTE, Endpoint.MARKET)
    assert isinstance(first, QuoteUpdate)
    normalizer.quote(first)
    data = {"symbol": "AAPL", "askPrice": 189.55}  # a number, and only the changed field
    partial = decode(variant(QUOTE, payload__data=data), Endpoint.MARKET)
    assert isinstance(partial, QuoteUpdate)
    merged = normalizer.quote(partial)
    assert (merged.bid, merged.ask, merged.bid_size, merged.ask_size) == (
        Decimal("189.49"),
        Decimal("189.55"),
        Decimal("300"),
        Decimal("100"),
    )
    # No quoteTimestamp in the partial update: the envelope's epoch-ms timestamp is used.
    assert merged.ts_event == datetime(2026, 1, 15, 14, 45, 1, 123_000, tzinfo=UTC)


def test_symbols_are_independent_and_reset_forgets() -> None:
    normalizer = MarketNormalizer()
    normalizer.quote(quote_update("AAPL", bid_price=Decimal(1)))
    msft = normalizer.quote(quote_update("MSFT", ask_price=Decimal(2)))
    assert (msft.bid, msft.ask) == (None, Decimal(2))
    normalizer.reset("AAPL")
    assert normalizer.quote(quote_update("AAPL", ask_price=Decimal(3))).bid is None
    assert normalizer.latest_quote("MSFT") is not None
    normalizer.reset()
    assert normalizer.latest_quote("MSFT") is None


_PRICES = st.none() | st.decimals(min_value=1, max_value=1000, places=2)


@given(st.lists(st.tuples(_PRICES, _PRICES, _PRICES, _PRICES), min_size=1, max_size=20))
def test_merged_quote_equals_last_value_seen_per_field(
    updates: list[tuple[Decimal | None, ...]],
) -> None:
    normalizer = MarketNormalizer()
    latest: list[Decimal | None] = [None, None, None, None]
    for bid, ask, bid_size, ask_size in updates:
        quote = normalizer.quote(
            quote_update(bid_price=bid, ask_price=ask, bid_size=bid_size, ask_size=ask_size)
        )
        fields = (bid, ask, bid_size, ask_size)
        latest = [new if new is not None else old for new, old in zip(fields, latest, strict=True)]
        assert [quote.bid, quote.ask, quote.bid_size, quote.ask_size] == latest


def test_trade_from_the_wire() -> None:
    update = decode(TRADE, Endpoint.MARKET)
    assert isinstance(update, TradeUpdate)
    assert MarketNormalizer().trade(update) == Trade(
        symbol="AAPL",
        price=Decimal("189.50"),
        size=Decimal("100"),
        total_volume=Decimal("1203344"),
        exchange="NSDQ",
        sequence=88123,
        ts_event=datetime(2026, 1, 15, 14, 45, 1, 120_000, tzinfo=UTC),
        ts_recv=TS_RECV,
    )


def test_trade_price_alias_and_volume_only_update() -> None:
    normalizer = MarketNormalizer()
    first = normalizer.trade(
        TradeUpdate(
            data=WireTrade(symbol="X", last_price=Decimal(5), total_volume=Decimal(100)),
            ts_event=T0,
            ts_recv=1,
        )
    )
    assert first.price == Decimal(5)
    volume_only = decode(
        variant(TRADE, payload__data={"symbol": "X", "totalVolume": "150"}), Endpoint.MARKET
    )
    assert isinstance(volume_only, TradeUpdate)
    second = normalizer.trade(volume_only)
    assert (second.price, second.total_volume, second.size) == (Decimal(5), Decimal(150), None)
    time_and_sales = decode(
        variant(TRADE, payload__data={"symbol": "X", "price": "5.5", "size": 10}), Endpoint.MARKET
    )
    assert isinstance(time_and_sales, TradeUpdate)
    assert normalizer.trade(time_and_sales).price == Decimal("5.5")


def test_trade_without_any_known_price() -> None:
    update = TradeUpdate(data=WireTrade(symbol="X", size=Decimal(1)), ts_event=None, ts_recv=1)
    with pytest.raises(ProtocolError) as info:
        MarketNormalizer().trade(update)
    assert (info.value.message_type, info.value.field) == ("trade", "payload.data.lastPrice")
