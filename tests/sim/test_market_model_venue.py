"""Level 2, market status and the option chain of the synthetic market (pure, seeded)."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

from engine.sim._market import MarketModel
from engine.sim._options import monthly_expiries, osi_symbol, parse_osi, strikes, underlying_of

AS_OF = date(2026, 1, 15)


def _model(seed: int = 3) -> MarketModel:
    return MarketModel(("AAPL", "MSFT", "IBM"), random.Random(seed))


def test_book_has_levels_each_side_one_tick_apart_with_the_quote_on_top() -> None:
    model = _model()
    model.step()
    quote = model.quote("AAPL")
    book = model.book("AAPL")
    assert len(book.bids) == len(book.asks) == 5
    assert (book.bids[0].price, book.bids[0].size) == (quote.bid, quote.bid_size)
    assert (book.asks[0].price, book.asks[0].size) == (quote.ask, quote.ask_size)
    assert [b.price for b in book.bids] == sorted((b.price for b in book.bids), reverse=True)
    assert [a.price for a in book.asks] == sorted(a.price for a in book.asks)
    assert all(level.size % 100 == 0 and level.size > 0 for level in book.bids + book.asks)


def test_same_seed_same_book_and_chain() -> None:
    a, b = _model(), _model()
    for _ in range(10):
        a.step()
        b.step()
    assert a.book("MSFT") == b.book("MSFT")
    assert a.option_chain("AAPL", AS_OF) == b.option_chain("AAPL", AS_OF)
    symbol = a.option_chain("AAPL", AS_OF)[0].symbol
    assert a.option_quote(symbol, AS_OF) == b.option_quote(symbol, AS_OF)


def test_market_status_is_open_and_a_copy() -> None:
    status = MarketModel.market_status()
    assert status["market"] == "open"
    status["exchanges"]["nyse"] = "closed"
    assert MarketModel.market_status()["exchanges"]["nyse"] == "open"


def test_osi_round_trip() -> None:
    symbol = osi_symbol("AAPL", date(2027, 1, 15), "CALL", Decimal(150))
    assert symbol == "AAPL270115C00150000"
    contract = parse_osi(symbol)
    assert contract is not None
    assert (contract.underlying, contract.put_call, contract.strike) == (
        "AAPL",
        "CALL",
        Decimal(150),
    )
    assert parse_osi("AAPL") is None
    assert underlying_of("MSFT260220P00402500") == "MSFT"


def test_chain_lists_monthly_expiries_and_strikes_around_the_start_price() -> None:
    model = _model()
    chain = model.option_chain("AAPL", AS_OF)
    expiries = monthly_expiries(AS_OF)
    assert expiries == (date(2026, 1, 16), date(2026, 2, 20), date(2026, 3, 20))
    assert {c.expiry for c in chain} == set(expiries)
    assert len(chain) == 3 * 7 * 2
    assert Decimal(190) in strikes(Decimal(190))
    assert model.option_chain("IBM", AS_OF) == ()  # lists no options


def test_option_prices_are_plausible() -> None:
    model = _model()
    spot = model.mark("AAPL")
    later = date(2026, 3, 20)
    call = model.option_quote(osi_symbol("AAPL", later, "CALL", Decimal(190)), AS_OF)
    put = model.option_quote(osi_symbol("AAPL", later, "PUT", Decimal(190)), AS_OF)
    assert Decimal(5) < call.theoretical < Decimal(20)  # ~2 months ATM at 30 % vol
    # put-call parity at zero rates
    assert abs(call.theoretical - put.theoretical - (spot - Decimal(190))) <= Decimal("0.05")
    assert call.bid < call.ask
    deep_itm = model.option_quote(osi_symbol("AAPL", later, "CALL", Decimal(175)), AS_OF)
    assert deep_itm.theoretical >= spot - 175
