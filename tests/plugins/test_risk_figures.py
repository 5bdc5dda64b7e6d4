"""The account figures the risk plugins keep between verdicts (``plugins._risk_common``) and the
answers they memoize within one: never stale, and always the very ``Decimal`` the plain loops
give (same digits, same exponent)."""

from __future__ import annotations

import collections
import random
from collections.abc import Iterator, Mapping
from decimal import Decimal
from types import MappingProxyType

import attrs
import pytest

from engine.accounts.book import AccountBook
from engine.accounts.views import SnapshotDict
from engine.model import (
    AccountView,
    BalanceReported,
    Order,
    OrderIntent,
    OrderReported,
    OrderType,
    Position,
    PositionReported,
    Quote,
    SecurityType,
    Side,
    TradingState,
)
from plugins._risk_common import (
    ZERO,
    Priced,
    closing_qty,
    exposure,
    forget_figures,
    gross_positions,
    gross_working,
    open_qty,
    position_value,
    price_order,
    working_notionals,
    working_orders,
    working_requirement,
)
from plugins.limits import (
    GrossExposureConfig,
    GrossExposureLimit,
    PositionLimit,
    PositionLimitConfig,
)
from plugins.margin import MarginCheck, MarginConfig
from plugins.price_band import PriceBand, PriceBandConfig
from tests.plugins._risk import (
    ACCOUNT,
    MARGIN,
    NOW,
    SECOND,
    D,
    balance,
    gate,
    intent,
    order,
    quote,
    quotes,
    rejected,
)


@pytest.fixture(autouse=True)
def _fresh_figures() -> Iterator[None]:
    forget_figures()
    yield
    forget_figures()


# --- the plain loops the figures replace ---------------------------------------------------------


def plain_closing(account: AccountView, order_intent: OrderIntent) -> Decimal:
    held = account.position_quantity(order_intent.symbol)
    closable = -held if order_intent.side.is_buy else held
    if order_intent.side is Side.SELL_SHORT or closable <= 0:
        return ZERO
    ahead = ZERO
    for symbol, side, qty, _type in working_orders(account, excluding=order_intent.replaces):
        if symbol == order_intent.symbol and side.is_buy == order_intent.side.is_buy:
            ahead += qty
    return min(open_qty(order_intent), max(closable - ahead, ZERO))


def plain_gross_working(account: AccountView, book_quotes: dict[str, Quote]) -> str:
    total = ZERO
    for working, notional in working_notionals(account, book_quotes):
        if notional is None:
            return f"unpriced {working.client_order_id}"
        total += notional
    return str(total)


def plain_requirement(
    account: AccountView, book_quotes: dict[str, Quote], long: Decimal, short: Decimal
) -> str:
    total = ZERO
    for working, notional in working_notionals(account, book_quotes):
        if working.security_type is not SecurityType.EQUITY:
            continue
        if working.side is Side.BUY:
            rate = long
        elif working.side is Side.SELL_SHORT:
            rate = short
        else:
            continue
        if notional is None:
            return f"unpriced {working.client_order_id}"
        total += notional * rate
    return str(total)


def cached(result: tuple[Decimal, Order | OrderIntent | None]) -> str:
    total, unpriced = result
    return str(total) if unpriced is None else f"unpriced {unpriced.client_order_id}"


# --- a randomly changing account, seen through frozen and through live mappings -----------------

SYMBOLS = ("AAPL", "MSFT", "TSLA", "NVDA")
LONG, SHORT = D("0.25"), D("0.30")


@attrs.define
class Account:
    """Live state changed at random; ``frozen()`` views it as the book does (snapshots),
    ``live`` is one view whose mappings are proxies over the same live dicts (it changes
    under the same view object)."""

    rng: random.Random
    positions: SnapshotDict[str, Position] = attrs.field(factory=SnapshotDict)
    open_orders: SnapshotDict[str, Order] = attrs.field(factory=SnapshotDict)
    in_flight: SnapshotDict[str, OrderIntent] = attrs.field(factory=SnapshotDict)
    replacing: SnapshotDict[str, OrderIntent] = attrs.field(factory=SnapshotDict)
    quotes: dict[str, Quote] = attrs.field(factory=dict)
    serial: int = 0
    live: AccountView = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.live = self._view(
            MappingProxyType(self.positions),
            MappingProxyType(self.open_orders),
            MappingProxyType(self.in_flight),
            MappingProxyType(self.replacing),
        )

    def _view(
        self,
        positions: Mapping[str, Position],
        open_orders: Mapping[str, Order],
        in_flight: Mapping[str, OrderIntent],
        replacing: Mapping[str, OrderIntent],
    ) -> AccountView:
        return AccountView(
            account_id=ACCOUNT,
            trading_state=TradingState.ACTIVE,
            balance=balance(stock_buying_power="1000000"),
            positions=positions,
            open_orders=open_orders,
            in_flight=in_flight,
            replacing=replacing,
            info=MARGIN,
            as_of_ns=NOW,
        )

    def frozen(self) -> AccountView:
        return self._view(
            self.positions.snapshot(),
            self.open_orders.snapshot(),
            self.in_flight.snapshot(),
            self.replacing.snapshot(),
        )

    def _decimal(self, low: int, high: int, places: int) -> Decimal:
        return Decimal(self.rng.randrange(low, high)).scaleb(-places)

    def change(self) -> None:
        """One random change: a position, an open order, an in-flight order, a replace, a quote."""
        self.serial += 1
        rng, symbol = self.rng, self.rng.choice(SYMBOLS)
        what = rng.randrange(7)
        side = rng.choice([Side.BUY, Side.SELL, Side.SELL_SHORT, Side.BUY_TO_COVER])
        if what == 0:
            qty = self._decimal(-500, 500, rng.choice([0, 1, 2]))
            value = None if rng.random() < 0.5 else qty * self._decimal(1000, 9000, 2)
            self.positions[symbol] = Position(
                account_id=ACCOUNT, symbol=symbol, quantity=qty, market_value=value, avg_price=D(50)
            )
        elif what == 1 and self.positions:
            self.positions.pop(rng.choice(list(self.positions)))
        elif what == 2:
            price = (
                None if rng.random() < 0.3 else str(self._decimal(1000, 9000, rng.choice([1, 2])))
            )
            new = order(
                symbol,
                side,
                str(self._decimal(1, 300, rng.choice([0, 1]))),
                price,
                cl_ord_id=f"X-{self.serial}",
                client_order_id=f"c-{self.serial}",
            )
            self.open_orders[new.cl_ord_id] = new
        elif what == 3 and self.open_orders:
            self.open_orders.pop(rng.choice(list(self.open_orders)))
        elif what == 4:
            price = None if rng.random() < 0.3 else str(self._decimal(1000, 9000, 2))
            flying = intent(
                symbol, side, str(rng.randrange(1, 200)), price, client_order_id=f"f-{self.serial}"
            )
            self.in_flight[flying.client_order_id] = flying
        elif what == 5 and self.open_orders:
            amended = self.open_orders[rng.choice(list(self.open_orders))]
            terms = intent(
                amended.symbol,
                amended.side,
                str(rng.randrange(1, 400)),
                str(self._decimal(1000, 9000, 2)),
                client_order_id=amended.client_order_id or "",
            )
            self.replacing[terms.client_order_id] = terms
        else:
            mid = self._decimal(1000, 9000, 2)
            self.quotes[symbol] = Quote(
                symbol=symbol,
                bid=None if rng.random() < 0.1 else mid - D("0.01"),
                ask=mid + D("0.015"),
                ts_recv=NOW,
            )


def test_cached_figures_are_the_plain_loops_decimal_for_decimal_through_300_changes() -> None:
    account = Account(random.Random(20250102))
    for _step in range(300):
        account.change()
        for view in (account.frozen(), account.live, account.frozen(), account.live):
            for symbol in SYMBOLS:
                assert tuple(map(str, exposure(view, symbol))) == tuple(
                    map(str, view.exposure(symbol))
                )
                for side in Side:
                    asked = intent(symbol, side, "120")
                    assert str(closing_qty(view, asked)) == str(plain_closing(view, asked))
            plain = sum((position_value(p, account.quotes) for p in view.positions.values()), ZERO)
            assert str(gross_positions(view, account.quotes)) == str(plain)
            assert cached(gross_working(view, account.quotes)) == plain_gross_working(
                view, account.quotes
            )
            for long, short in ((LONG, SHORT), (D("0.5"), D("0.50"))):
                assert cached(working_requirement(view, account.quotes, long, short)) == (
                    plain_requirement(view, account.quotes, long, short)
                )


def test_a_live_view_that_changes_under_the_same_object_is_never_answered_from_memory() -> None:
    account = Account(random.Random(1))
    account.positions["AAPL"] = Position(account_id=ACCOUNT, symbol="AAPL", quantity=D(100))
    sell = intent("AAPL", Side.SELL, "100")
    assert closing_qty(account.live, sell) == D(100)
    account.open_orders["X-1"] = order("AAPL", Side.SELL, "60", cl_ord_id="X-1")
    assert closing_qty(account.live, sell) == D(40)  # same view object, same intent
    assert exposure(account.live, "AAPL") == (D(40), D(100))


# --- a book's views: the next verdict sees every change -------------------------------------------


def book_with(*positions: Position) -> AccountBook:
    book = AccountBook(ACCOUNT)
    for held in positions:
        book.apply(PositionReported(account_id=ACCOUNT, ts_recv=NOW, position=held))
    book.apply(
        BalanceReported(
            account_id=ACCOUNT,
            ts_recv=NOW,
            balance=balance(stock_buying_power="1000000", total_equity="100000", maint_req="0"),
        )
    )
    return book


def now_view(book: AccountBook) -> AccountView:
    return attrs.evolve(book.view(TradingState.ACTIVE), info=MARGIN)


def test_a_new_working_order_counts_in_the_next_position_limit_verdict() -> None:
    book = book_with(Position(account_id=ACCOUNT, symbol="AAPL", quantity=D(800)))
    risk = gate(PositionLimit(PositionLimitConfig(max_position=D(1000))))
    buy = intent("AAPL", Side.BUY, "150", client_order_id="c-2")
    assert risk(buy, now_view(book)).approved
    book.track_intent(intent("AAPL", Side.BUY, "100", client_order_id="c-1"), reserve=ZERO)
    details = rejected(risk(buy, now_view(book)), "MAX_POSITION")
    assert (details["working"], details["projected"]) == ("100", "1050")
    order_report = order("AAPL", Side.SELL, "300", cl_ord_id="X-7", client_order_id="w-7")
    book.apply(OrderReported(account_id=ACCOUNT, ts_recv=NOW, order=order_report))
    sell = intent("AAPL", Side.SELL, "1500", client_order_id="c-3")
    assert risk(sell, now_view(book)).approved  # 800 - 300 - 1500 = -1000: at the limit
    sell = intent("AAPL", Side.SELL, "1501", client_order_id="c-4")
    details = rejected(risk(sell, now_view(book)), "MAX_POSITION")
    assert (details["working"], details["projected"]) == ("-300", "-1001")


def test_a_position_change_and_a_new_quote_count_in_the_next_gross_exposure_verdict() -> None:
    marked = Position(account_id=ACCOUNT, symbol="MSFT", quantity=D(100))  # no market value
    book = book_with(
        Position(account_id=ACCOUNT, symbol="AAPL", quantity=D(10), market_value=D("1000.00")),
        marked,
    )
    limit = GrossExposureLimit(GrossExposureConfig(max_gross=D(30000)))
    book_quotes = quotes(quote("MSFT", "99.99", "100.01"))
    risk = gate(limit)
    risk.quotes = book_quotes
    buy = intent("TSLA", Side.BUY, "10", "100")
    assert risk(buy, now_view(book)).approved  # 1000 + 10000 + 1000
    book_quotes["MSFT"] = quote("MSFT", "289.99", "290.01")
    details = rejected(risk(buy, now_view(book)), "GROSS_EXPOSURE_LIMIT")
    assert details["positions_gross"] == "30000.00"
    book_quotes["MSFT"] = quote("MSFT", "99.99", "100.01")
    assert risk(buy, now_view(book)).approved
    bigger = Position(account_id=ACCOUNT, symbol="AAPL", quantity=D(200), market_value=D("20000"))
    book.apply(PositionReported(account_id=ACCOUNT, ts_recv=NOW, position=bigger))
    details = rejected(risk(buy, now_view(book)), "GROSS_EXPOSURE_LIMIT")
    assert (details["positions_gross"], details["working_gross"]) == ("30000.00", "0")


def test_a_new_in_flight_buy_counts_in_the_next_margin_verdict() -> None:
    book = book_with()
    risk = gate(MarginCheck(MarginConfig(min_excess=D(50000))))
    buy = intent("AAPL", Side.BUY, "100", "100")
    assert risk(buy, now_view(book)).approved  # 100000 - 2500 ≥ 50000
    book.track_intent(intent("MSFT", Side.BUY, "1901", "100", client_order_id="c-9"), reserve=ZERO)
    details = rejected(risk(buy, now_view(book)), "INSUFFICIENT_MARGIN")
    assert (details["working_req"], details["order_req"]) == ("47525.00", "2500.00")


def test_a_working_market_order_is_revalued_when_its_quote_changes() -> None:
    book = book_with()
    market_buy = order("AAPL", Side.BUY, "100", None, cl_ord_id="X-1", client_order_id="w-1")
    book.apply(OrderReported(account_id=ACCOUNT, ts_recv=NOW, order=market_buy))
    book_quotes = quotes(quote("AAPL", "99.90", "100.10"))
    view = now_view(book)
    assert gross_working(view, book_quotes) == (D("10010.00"), None)
    book_quotes["AAPL"] = quote("AAPL", "149.90", "150.10")
    assert gross_working(view, book_quotes) == (D("15010.00"), None)
    del book_quotes["AAPL"]
    assert gross_working(view, book_quotes) == (ZERO, market_buy)


# --- answers memoized within a verdict ------------------------------------------------------------


def test_a_price_is_recomputed_when_its_buffer_quote_or_time_differs() -> None:
    market = intent("AAPL", Side.BUY, "10", None)
    book_quotes = quotes(quote("AAPL", "99.90", "100.00"))

    def priced(buffer: str, now: int = NOW) -> str:
        result = price_order(
            market, book_quotes, now, buffer_pct=D(buffer), max_quote_age_ns=5 * SECOND
        )
        return str(result.price) if isinstance(result, Priced) else result.code

    assert priced("1") == "101.0000"
    assert priced("1.000") == "101.00000"  # an equal buffer with another exponent
    assert priced("2") == "102.0000"
    book_quotes["AAPL"] = quote("AAPL", "109.90", "110.00")
    assert priced("2") == "112.2000"
    assert priced("2", NOW + 6 * SECOND) == "STALE_QUOTE"
    limit = intent("AAPL", Side.BUY, "10", "99.5")
    for buffer in ("1", "2"):
        result = price_order(limit, book_quotes, NOW, buffer_pct=D(buffer), max_quote_age_ns=SECOND)
        assert isinstance(result, Priced)
        assert (result.price, result.source) == (D("99.5"), "limit")


def test_the_price_band_follows_a_new_quote() -> None:
    band = PriceBand(PriceBandConfig(max_deviation_pct=D(5)))
    book_quotes = quotes(quote("AAPL", "99.90", "100.10"))
    buy = intent("AAPL", Side.BUY, "10", "104")
    assert band.aries_check_order(buy, book_quotes, NOW) is None
    book_quotes["AAPL"] = quote("AAPL", "89.90", "90.10")
    details = rejected(band.aries_check_order(buy, book_quotes, NOW), "PRICE_BAND")
    assert (details["reference"], details["band_high"]) == ("90.00", "94.50")
    book_quotes["AAPL"] = quote("AAPL", "99.90", "100.10")
    assert band.aries_check_order(buy, book_quotes, NOW) is None


def test_the_same_verdicts_with_figures_kept_or_forgotten_before_each() -> None:
    """Every plugin's answer on a changing account is the same whether the figures of the
    previous verdict are reused or recomputed."""
    account = Account(random.Random(7))
    for symbol in SYMBOLS:
        account.quotes[symbol] = quote(symbol, "99.90", "100.10")
    gates = [
        gate(plugin)
        for plugin in (
            PositionLimit(PositionLimitConfig(max_position=D(300))),
            GrossExposureLimit(GrossExposureConfig(max_gross=D(80000))),
            MarginCheck(MarginConfig(min_excess=D(0))),
        )
    ]
    rng = random.Random(8)
    verdicts: collections.Counter[str] = collections.Counter()
    for step in range(200):
        account.change()
        asked = intent(
            rng.choice(SYMBOLS),
            rng.choice(list(Side)),
            str(rng.randrange(1, 300)),
            None if rng.random() < 0.3 else "100",
            client_order_id=f"q-{step}",
        )
        if asked.type is OrderType.MARKET and asked.symbol not in account.quotes:
            continue
        view = attrs.evolve(account.frozen(), balance=balance(total_equity="100000"))
        for risk in gates:
            risk.quotes = account.quotes  # the live quotes, as the plugin host's
            kept = risk(asked, view)
            forget_figures()
            again = risk(asked, view)
            assert kept == again, (step, kept, again)
            verdicts[kept.code] += 1
    assert len(verdicts) >= 3  # approvals and at least two kinds of rejection
