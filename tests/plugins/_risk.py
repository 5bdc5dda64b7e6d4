"""Factories for the built-in risk plugins' tests: views, intents, orders, quotes, a gate."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs
import pluggy

from engine.hooks import RiskGate, make_plugin_manager
from engine.hooks.manager import LoadedPlugin
from engine.model import (
    AccountInfo,
    AccountView,
    Balance,
    Order,
    OrderIntent,
    OrderLeg,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    RiskVerdict,
    SecurityType,
    Side,
    TradingState,
)

ACCOUNT = "SIM-001"
NOW_DT = datetime(2025, 1, 2, 15, 0, tzinfo=UTC)  # a Thursday, 10:00 in New York
NOW = int(NOW_DT.timestamp()) * 1_000_000_000
SECOND = 1_000_000_000
MARGIN = AccountInfo(account_id=ACCOUNT, account_type="MARGIN", options_level="LEVEL_2")


def D(value: str | int) -> Decimal:
    """Shorthand for ``Decimal(str(value))``."""
    return Decimal(str(value))


def balance(account_id: str = ACCOUNT, **fields: str | int) -> Balance:
    """A ``Balance`` with the given fields (as decimal strings); the rest zero."""
    changes: dict[str, Any] = {name: D(value) for name, value in fields.items()}
    return attrs.evolve(Balance(account_id=account_id), **changes)


def view(
    *,
    bal: Balance | None = None,
    positions: Mapping[str, str | int] | None = None,
    position_objects: tuple[Position, ...] = (),
    open_orders: tuple[Order, ...] = (),
    in_flight: tuple[OrderIntent, ...] = (),
    reserved: str | int = "0",
    info: AccountInfo | None = MARGIN,
    as_of_ns: int | None = NOW,
    account_id: str = ACCOUNT,
) -> AccountView:
    """An ``ACTIVE`` view as the account actor builds it (confirmed at ``NOW`` by default)."""
    held = {
        symbol: Position(account_id=account_id, symbol=symbol, quantity=D(qty))
        for symbol, qty in (positions or {}).items()
    }
    held.update({p.symbol: p for p in position_objects})
    return AccountView(
        account_id=account_id,
        trading_state=TradingState.ACTIVE,
        balance=bal,
        positions=MappingProxyType(held),
        open_orders=MappingProxyType({o.cl_ord_id: o for o in open_orders}),
        reserved_buying_power=D(reserved),
        in_flight=MappingProxyType({i.client_order_id: i for i in in_flight}),
        info=info,
        as_of_ns=as_of_ns,
    )


def intent(
    symbol: str = "AAPL",
    side: Side = Side.BUY,
    qty: str | int = "10",
    price: str | int | None = "100",
    *,
    type: OrderType | None = None,
    stop_price: str | None = None,
    security_type: SecurityType = SecurityType.EQUITY,
    legs: tuple[OrderLeg, ...] = (),
    client_order_id: str = "c-1",
    replaces: Order | None = None,
    reference_price: str | None = None,
    account_id: str = ACCOUNT,
) -> OrderIntent:
    """An intent; ``type`` defaults to LIMIT with a price, else MARKET."""
    return OrderIntent(
        client_order_id=client_order_id,
        strategy="s",
        account_id=account_id,
        symbol=symbol,
        side=side,
        type=type or (OrderType.LIMIT if price is not None else OrderType.MARKET),
        qty=D(qty),
        price=None if price is None else D(price),
        stop_price=None if stop_price is None else D(stop_price),
        security_type=security_type,
        legs=legs,
        replaces=replaces,
        reference_price=None if reference_price is None else D(reference_price),
    )


def order(
    symbol: str = "AAPL",
    side: Side = Side.BUY,
    qty: str | int = "10",
    price: str | int | None = "100",
    *,
    cl_ord_id: str = "X-1",
    client_order_id: str | None = None,
    cum_qty: str | int = "0",
    type: OrderType | None = None,
    security_type: SecurityType = SecurityType.EQUITY,
    account_id: str = ACCOUNT,
) -> Order:
    """An open order at the venue (``NEW`` or ``PARTIALLY_FILLED`` when ``cum_qty`` > 0)."""
    filled = D(cum_qty)
    return Order(
        account_id=account_id,
        cl_ord_id=cl_ord_id,
        client_order_id=client_order_id,
        symbol=symbol,
        side=side,
        type=type or (OrderType.LIMIT if price is not None else OrderType.MARKET),
        qty=D(qty),
        status=OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.NEW,
        price=None if price is None else D(price),
        cum_qty=filled,
        leaves_qty=D(qty) - filled,
        security_type=security_type,
    )


def quote(
    symbol: str = "AAPL",
    bid: str | None = "99.90",
    ask: str | None = "100.10",
    *,
    age_s: float = 0.0,
) -> Quote:
    """A quote received ``age_s`` seconds before ``NOW``."""
    return Quote(
        symbol=symbol,
        bid=None if bid is None else D(bid),
        ask=None if ask is None else D(ask),
        ts_recv=NOW - int(age_s * SECOND),
    )


def quotes(*items: Quote) -> dict[str, Quote]:
    """Quotes by symbol."""
    return {q.symbol: q for q in items}


def leg(
    side: Side,
    put_call: str = "CALL",
    strike: str = "150",
    *,
    symbol: str = "AAPL",
    ratio: str = "1",
    effect: str = "OPEN",
    maturity: date = date(2027, 1, 15),
) -> OrderLeg:
    """One option leg."""
    return OrderLeg(
        symbol=symbol,
        side=side,
        ratio_qty=D(ratio),
        position_effect=effect,
        put_call=put_call,
        strike_price=D(strike),
        maturity=maturity,
    )


NOT_IN_REASON = frozenset({"as_of_ns"})
"""Detail keys a reason need not repeat (a raw nanosecond timestamp says nothing to a human)."""


def rejected(verdict: RiskVerdict | None, code: str) -> dict[str, str]:
    """Assert ``verdict`` rejects with ``code`` and a reason that states every number of its
    details; return the details as a dict."""
    assert verdict is not None, f"expected a {code} rejection, got no objection"
    assert not verdict.approved
    assert verdict.code == code, (verdict.code, verdict.reason)
    details = dict(verdict.details)
    for name, value in details.items():
        if name not in NOT_IN_REASON:
            assert value in verdict.reason, f"{name}={value} is not in {verdict.reason!r}"
    return details


def gate(
    *plugins: object,
    quotes_by_symbol: Mapping[str, Quote] | None = None,
    clock: Callable[[], int] | None = None,
    accounts: tuple[str, ...] = (ACCOUNT,),
) -> RiskGate:
    """A ``RiskGate`` over ``plugins`` registered in order, in a fresh plugin manager."""
    pm: pluggy.PluginManager = make_plugin_manager()
    loaded = []
    for index, plugin in enumerate(plugins):
        name = f"{type(plugin).__name__}-{index}"
        pm.register(plugin, name=name)
        loaded.append(LoadedPlugin(name=name, kind="plugin", obj=plugin, accounts=accounts))
    pm.check_pending()
    return RiskGate(pm, loaded, quotes=dict(quotes_by_symbol or {}), clock=clock or (lambda: NOW))
