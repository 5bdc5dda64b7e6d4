"""Per-account truth and order matching: cash, positions, orders, balances (pure, sync).

The ledger never does I/O. ``place``, ``cancel`` and ``match`` mutate the accounts and return the
account updates to publish, in order; the caller turns them into ``account.order`` /
``account.position`` / ``account.balance`` events.

Order lifecycle
    ``place``: PENDING_NEW → NEW, then an immediate execution check against the current quote;
    a marketable order fills at once (whole quantity, one fill). A non-marketable IOC/FOK order
    is CANCELED at once. A business rejection (unknown symbol, short sale in a non-margin
    account, insufficient buying power) produces a single REJECTED update and no PENDING_NEW.
    ``match`` (every market tick) checks every working order against the new quotes.
    ``cancel``: PENDING_CANCEL → CANCELED on the order's own ``clOrdId``.

Execution prices (at the limit or better, against the synthetic touch)
    MARKET buys fill at the ask, sells at the bid. LIMIT buys fill when ask <= limit, at the ask;
    LIMIT sells when bid >= limit, at the bid. STOP / STOP_LIMIT orders trigger when a buy's ask
    rises to the stop or a sell's bid falls to it (§8.6 stop direction), then behave as MARKET /
    LIMIT. After every fill: an order update (with ``lastQty``/``lastPx``), the position, the
    balance. After any other change: the balance.

Balances (INFERRED, Reg-T style; the constants live in ``engine.sim._profile``)::

    mark                    = quote midpoint
    longMV, shortMV         = Σ |quantity| × mark over long, short positions
    totalEquity             = cash + longMV − shortMV
    heldBackFunds           = Σ leavesQty × reference price over working BUY/BUY_TO_COVER orders
                              (reference: limit price; stop price for STOP; the ask for MARKET)
    creditMultiplier m      = 2 for MARGIN, 1 otherwise
    stockBuyingPower        = max(0, totalEquity × m − (longMV + shortMV) − heldBackFunds)
    netBuyingPower          = dayTradeOvernightRegTBuyingPower = stockBuyingPower
    maintReq                = r × (longMV + shortMV), r = 25 % for MARGIN, 100 % otherwise
    dayTradeBuyingPower     = max(0, (totalEquity − maintReq) × d − heldBackFunds),
                              d = 4 for MARGIN, 1 otherwise
    optionBuyingPower       = max(0, cash)
    grossMargin             = max(0, −cash)           (borrowed on margin)
    pendingOrdersMarginRequirements = heldBackFunds / m
    unsettledFunds          = valueSold               (today's sale proceeds settle T+1)
    settledFunds            = cash − unsettledFunds
    realizedPL, unRealizedPL = Σ today's realized P&L, Σ (mark − avgPrice) × quantity
    pendingOrdersCount      = working (non-terminal) orders
    sodPositionsMarketValue = gross value of the start positions at start marks
    credit, creditRemaining, SMA, smaCreditRemaining, PDT, pdtCreditRemaining = 0 (not modelled)

``stockBuyingPower`` is the brief's "equity × creditMultiplier − open buy orders" less the gross
value of the positions held: with m = 2 that is twice the equity in excess of the 50 % initial
margin of the positions, so buying $X of stock lowers buying power by $X; with m = 1 it is
``cash − heldBackFunds``.

Buying-power check at placement: BUY and SELL_SHORT orders need ``qty × reference price <=
stockBuyingPower`` (reference for a MARKET short: the bid). SELL and BUY_TO_COVER orders are not
checked in this first cut, and working short-sale orders hold nothing back.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import attrs

from engine.sim._config import SimAccount
from engine.sim._market import MarketModel, Quote
from engine.sim._profile import (
    ACCOUNT_CLASS,
    ACCOUNT_OPTIONS_LEVEL,
    ACCOUNT_STATUS,
    CL_ORD_ID_FORMAT,
    CREDIT_MULTIPLIER,
    DAY_TRADE_MULTIPLIER,
    DEFAULT_CREDIT_MULTIPLIER,
    DEFAULT_DAY_TRADE_MULTIPLIER,
    DEFAULT_MAINTENANCE_RATE,
    MAINTENANCE_RATE,
    ORD_ID_FORMAT,
    REJECT_INSUFFICIENT_BUYING_POWER,
    REJECT_SHORT_NEEDS_MARGIN,
    REJECT_UNKNOWN_SYMBOL,
    TEXT_CANCEL_PENDING,
    TEXT_CANCELED,
    TEXT_NOT_MARKETABLE,
    TEXT_ORDER_ACCEPTED,
    TEXT_ORDER_FILLED,
)
from engine.sim._requests import CancelRequest, OrderRequest
from engine.sim._vocab import OrderType, OrdStatus, Side

_ZERO = Decimal(0)
_WORKING = frozenset({OrdStatus.NEW, OrdStatus.PARTIALLY_FILLED})
_IMMEDIATE_TIF = frozenset({"IOC", "FOK"})


# ---------------------------------------------------------------------------------------------
# Read-only views handed out of the ledger
# ---------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class OrderView:
    """An order as it stands at one moment (the data of a v2 order)."""

    cl_ord_id: str
    ord_id: str
    account_id: str
    client_id: str
    symbol: str
    side: Side
    type: OrderType
    time_in_force: str
    qty: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    status: OrdStatus
    cum_qty: Decimal
    leaves_qty: Decimal
    avg_price: Decimal | None
    currency: str
    ex_destination: str
    text: str
    rej_reason: str
    created_at: datetime
    updated_at: datetime


@attrs.frozen(kw_only=True)
class PositionView:
    """A position with its mark-to-market values."""

    account_id: str
    symbol: str
    quantity: Decimal
    avg_price: Decimal
    today_realized_pnl: Decimal
    mark: Decimal
    market_value: Decimal
    unrealized_pnl: Decimal
    created_at: datetime
    updated_at: datetime


@attrs.frozen(kw_only=True)
class BalanceView:
    """The brief's balance table for one account, computed by the formulas above."""

    account_id: str
    cash: Decimal
    sod_positions_market_value: Decimal
    net_buying_power: Decimal
    stock_buying_power: Decimal
    day_trade_buying_power: Decimal
    option_buying_power: Decimal
    day_trade_overnight_reg_t_buying_power: Decimal
    total_equity: Decimal
    settled_funds: Decimal
    unsettled_funds: Decimal
    held_back_funds: Decimal
    gross_margin: Decimal
    pending_orders_margin_requirements: Decimal
    maint_req: Decimal
    credit_multiplier: Decimal
    pending_orders_count: int
    realized_pl: Decimal
    unrealized_pl: Decimal
    start_of_day_cash: Decimal
    value_bought: Decimal
    value_sold: Decimal


@attrs.frozen(kw_only=True)
class AccountInfo:
    """The static account fields of the snapshot."""

    account_id: str
    account_type: str
    account_class: str
    options_level: str
    status: str


@attrs.frozen(kw_only=True)
class AccountSnapshot:
    """Everything the ``account`` topic's ``subscribed`` reply carries."""

    info: AccountInfo
    balance: BalanceView
    positions: tuple[PositionView, ...]
    orders: tuple[OrderView, ...]


@attrs.frozen(kw_only=True)
class OrderUpdate:
    """An order changed; ``last_qty``/``last_px`` are set on fills."""

    account_id: str
    order: OrderView
    last_qty: Decimal | None = None
    last_px: Decimal | None = None

    @property
    def is_fill(self) -> bool:
        """Whether this update reports an execution."""
        return self.last_qty is not None


@attrs.frozen(kw_only=True)
class PositionUpdate:
    """A position changed (sent once with quantity 0 when it closes)."""

    account_id: str
    position: PositionView


@attrs.frozen(kw_only=True)
class BalanceUpdate:
    """The account's balances changed; always the full table."""

    account_id: str
    balance: BalanceView


AccountUpdate = OrderUpdate | PositionUpdate | BalanceUpdate


@attrs.frozen(kw_only=True)
class PlaceResult:
    """Outcome of ``Ledger.place``: the order as acknowledged, and the updates to publish."""

    order: OrderView
    accepted: bool
    updates: tuple[AccountUpdate, ...]


class CancelOutcome(enum.Enum):
    """How a cancel request ended."""

    CANCELED = "canceled"
    NOT_FOUND = "not_found"
    NOT_CANCELABLE = "not_cancelable"
    SYMBOL_MISMATCH = "symbol_mismatch"
    SIDE_MISMATCH = "side_mismatch"


@attrs.frozen(kw_only=True)
class CancelResult:
    """Outcome of ``Ledger.cancel``; ``cancel_cl_ord_id`` is the id issued to the request."""

    outcome: CancelOutcome
    order: OrderView | None = None
    cancel_cl_ord_id: str | None = None
    updates: tuple[AccountUpdate, ...] = ()


# ---------------------------------------------------------------------------------------------
# Mutable state, private to the ledger
# ---------------------------------------------------------------------------------------------


@attrs.define(eq=False)
class _Order:
    cl_ord_id: str
    ord_id: str
    account_id: str
    client_id: str
    symbol: str
    side: Side
    type: OrderType
    time_in_force: str
    qty: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    currency: str
    ex_destination: str
    created_at: datetime
    updated_at: datetime
    status: OrdStatus = OrdStatus.PENDING_NEW
    cum_qty: Decimal = _ZERO
    notional: Decimal = _ZERO
    text: str = ""
    rej_reason: str = ""
    triggered: bool = False

    @property
    def leaves_qty(self) -> Decimal:
        return _ZERO if self.status.is_terminal else self.qty - self.cum_qty

    def view(self) -> OrderView:
        return OrderView(
            cl_ord_id=self.cl_ord_id,
            ord_id=self.ord_id,
            account_id=self.account_id,
            client_id=self.client_id,
            symbol=self.symbol,
            side=self.side,
            type=self.type,
            time_in_force=self.time_in_force,
            qty=self.qty,
            price=self.price,
            stop_price=self.stop_price,
            status=self.status,
            cum_qty=self.cum_qty,
            leaves_qty=self.leaves_qty,
            avg_price=self.notional / self.cum_qty if self.cum_qty else None,
            currency=self.currency,
            ex_destination=self.ex_destination,
            text=self.text,
            rej_reason=self.rej_reason,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


@attrs.define(eq=False)
class _Position:
    symbol: str
    quantity: Decimal
    avg_price: Decimal
    created_at: datetime
    updated_at: datetime
    realized_today: Decimal = _ZERO

    def apply(self, signed_qty: Decimal, price: Decimal) -> Decimal:
        """Apply a fill of ``signed_qty`` (+ buy, − sell) at ``price``; return the realized P&L."""
        old = self.quantity
        new = old + signed_qty
        if old == 0 or (old > 0) == (signed_qty > 0):
            self.avg_price = (abs(old) * self.avg_price + abs(signed_qty) * price) / abs(new)
            self.quantity = new
            return _ZERO
        closing = min(abs(old), abs(signed_qty))
        realized = (price - self.avg_price) * closing * (1 if old > 0 else -1)
        if new == 0:
            self.avg_price = _ZERO
        elif (new > 0) != (old > 0):
            self.avg_price = price  # flipped through flat: the remainder opened at this price
        self.quantity = new
        self.realized_today += realized
        return realized


@attrs.define(eq=False)
class _Account:
    account_id: str
    account_type: str
    cash: Decimal
    start_cash: Decimal
    sod_market_value: Decimal
    positions: dict[str, _Position]
    orders: dict[str, _Order] = attrs.field(factory=dict)
    working: dict[str, _Order] = attrs.field(factory=dict)
    realized: Decimal = _ZERO
    value_bought: Decimal = _ZERO
    value_sold: Decimal = _ZERO

    @property
    def credit_multiplier(self) -> Decimal:
        return CREDIT_MULTIPLIER.get(self.account_type, DEFAULT_CREDIT_MULTIPLIER)


# ---------------------------------------------------------------------------------------------
# The ledger
# ---------------------------------------------------------------------------------------------


class Ledger:
    """All accounts of the simulated user, their orders and the matching against the market."""

    def __init__(
        self, accounts: Sequence[SimAccount], market: MarketModel, *, opened_at: datetime
    ) -> None:
        self._market = market
        self._next_id = 0
        self._accounts: dict[str, _Account] = {}
        for account in accounts:
            positions = {
                p.symbol: _Position(
                    symbol=p.symbol,
                    quantity=p.quantity,
                    avg_price=p.avg_price,
                    created_at=opened_at,
                    updated_at=opened_at,
                )
                for p in account.positions
            }
            sod_value = sum(
                (abs(p.quantity) * market.mark(p.symbol) for p in positions.values()), _ZERO
            )
            self._accounts[account.account_id] = _Account(
                account_id=account.account_id,
                account_type=account.account_type,
                cash=account.cash,
                start_cash=account.cash,
                sod_market_value=sod_value,
                positions=positions,
            )

    # -- queries ---------------------------------------------------------------------------

    @property
    def account_ids(self) -> tuple[str, ...]:
        """Every account of the simulated user."""
        return tuple(self._accounts)

    def owns(self, account_id: str) -> bool:
        """Whether ``account_id`` belongs to the simulated user."""
        return account_id in self._accounts

    def balance(self, account_id: str) -> BalanceView:
        """The account's balance table right now."""
        return self._balance(self._accounts[account_id])

    def order(self, account_id: str, cl_ord_id: str) -> OrderView | None:
        """One order of the account, or ``None``."""
        order = self._accounts[account_id].orders.get(cl_ord_id)
        return order.view() if order is not None else None

    def position(self, account_id: str, symbol: str) -> PositionView | None:
        """One position of the account (possibly flat), or ``None`` if never held."""
        acct = self._accounts[account_id]
        pos = acct.positions.get(symbol)
        return self._position_view(acct, pos) if pos is not None else None

    def snapshot(self, account_id: str) -> AccountSnapshot:
        """The state the ``account`` topic's subscribe reply carries."""
        acct = self._accounts[account_id]
        return AccountSnapshot(
            info=AccountInfo(
                account_id=acct.account_id,
                account_type=acct.account_type,
                account_class=ACCOUNT_CLASS,
                options_level=ACCOUNT_OPTIONS_LEVEL,
                status=ACCOUNT_STATUS,
            ),
            balance=self._balance(acct),
            positions=tuple(
                self._position_view(acct, p) for p in acct.positions.values() if p.quantity != 0
            ),
            orders=tuple(o.view() for o in acct.orders.values()),
        )

    # -- commands --------------------------------------------------------------------------

    def place(self, request: OrderRequest, now: datetime) -> PlaceResult:
        """Accept (or reject) an order and execute it at once if it is marketable.

        The caller has validated the body and checked that the account is the user's.
        """
        acct = self._accounts[request.account_id]
        n = self._new_id()
        order = _Order(
            cl_ord_id=CL_ORD_ID_FORMAT.format(n=n),
            ord_id=ORD_ID_FORMAT.format(n=n),
            account_id=acct.account_id,
            client_id=request.client_id,
            symbol=request.symbol,
            side=request.side,
            type=request.type,
            time_in_force=request.time_in_force,
            qty=request.qty,
            price=request.price,
            stop_price=request.stop_price,
            currency=request.currency,
            ex_destination=request.ex_destination,
            created_at=now,
            updated_at=now,
        )
        acct.orders[order.cl_ord_id] = order
        reason = self._reject_reason(acct, order)
        if reason is not None:
            order.status = OrdStatus.REJECTED
            order.text = order.rej_reason = reason
            view = order.view()
            return PlaceResult(
                order=view,
                accepted=False,
                updates=(OrderUpdate(account_id=acct.account_id, order=view),),
            )
        updates: list[AccountUpdate] = [OrderUpdate(account_id=acct.account_id, order=order.view())]
        order.status = OrdStatus.NEW
        order.text = TEXT_ORDER_ACCEPTED
        acct.working[order.cl_ord_id] = order
        ack = order.view()
        updates.append(OrderUpdate(account_id=acct.account_id, order=ack))
        price = self._execution_price(order, self._market.quote(order.symbol))
        if price is not None:
            updates.extend(self._fill(acct, order, order.leaves_qty, price, now))
        elif order.time_in_force in _IMMEDIATE_TIF:
            updates.extend(
                self._terminate(acct, order, OrdStatus.CANCELED, TEXT_NOT_MARKETABLE, now)
            )
        else:
            updates.append(BalanceUpdate(account_id=acct.account_id, balance=self._balance(acct)))
        return PlaceResult(order=ack, accepted=True, updates=tuple(updates))

    def cancel(self, request: CancelRequest, now: datetime) -> CancelResult:
        """Cancel a working order: PENDING_CANCEL then CANCELED on its ``clOrdId``."""
        acct = self._accounts[request.account_id]
        order = acct.orders.get(request.orig_cl_ord_id)
        if order is None:
            return CancelResult(outcome=CancelOutcome.NOT_FOUND)
        if order.symbol != request.symbol:
            return CancelResult(outcome=CancelOutcome.SYMBOL_MISMATCH, order=order.view())
        if request.side is not None and request.side != order.side:
            return CancelResult(outcome=CancelOutcome.SIDE_MISMATCH, order=order.view())
        if order.status.is_terminal:
            return CancelResult(outcome=CancelOutcome.NOT_CANCELABLE, order=order.view())
        cancel_id = CL_ORD_ID_FORMAT.format(n=self._new_id())
        order.status = OrdStatus.PENDING_CANCEL
        order.text = TEXT_CANCEL_PENDING
        order.updated_at = now
        updates: list[AccountUpdate] = [OrderUpdate(account_id=acct.account_id, order=order.view())]
        updates.extend(self._terminate(acct, order, OrdStatus.CANCELED, TEXT_CANCELED, now))
        return CancelResult(
            outcome=CancelOutcome.CANCELED,
            order=order.view(),
            cancel_cl_ord_id=cancel_id,
            updates=tuple(updates),
        )

    def match(self, now: datetime) -> list[AccountUpdate]:
        """Execute every working order the current quotes cross; return the updates."""
        updates: list[AccountUpdate] = []
        for acct in self._accounts.values():
            for order in list(acct.working.values()):
                price = self._execution_price(order, self._market.quote(order.symbol))
                if price is not None:
                    updates.extend(self._fill(acct, order, order.leaves_qty, price, now))
        return updates

    # -- internals -------------------------------------------------------------------------

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _reject_reason(self, acct: _Account, order: _Order) -> str | None:
        if not self._market.has(order.symbol):
            return REJECT_UNKNOWN_SYMBOL
        if order.side is Side.SELL_SHORT and acct.credit_multiplier <= 1:
            return REJECT_SHORT_NEEDS_MARGIN
        if order.side in (Side.BUY, Side.SELL_SHORT):
            cost = order.qty * self._reference_price(order, self._market.quote(order.symbol))
            if cost > self._balance(acct).stock_buying_power:
                return REJECT_INSUFFICIENT_BUYING_POWER
        return None

    @staticmethod
    def _reference_price(order: _Order, quote: Quote) -> Decimal:
        """The price an open order is costed at for buying power and held-back funds."""
        if order.price is not None:
            return order.price
        if order.stop_price is not None:
            return order.stop_price
        return quote.ask if order.side.is_buy else quote.bid

    @staticmethod
    def _execution_price(order: _Order, quote: Quote) -> Decimal | None:
        """The fill price if the quote executes the order now, else ``None``."""
        buy = order.side.is_buy
        if order.type.needs_stop_price and not order.triggered:
            assert order.stop_price is not None
            hit = quote.ask >= order.stop_price if buy else quote.bid <= order.stop_price
            if not hit:
                return None
            order.triggered = True
        touch = quote.ask if buy else quote.bid
        if order.price is None:  # MARKET, or a triggered STOP
            return touch
        crosses = touch <= order.price if buy else touch >= order.price
        return touch if crosses else None

    def _fill(
        self, acct: _Account, order: _Order, qty: Decimal, price: Decimal, now: datetime
    ) -> list[AccountUpdate]:
        notional = qty * price
        order.cum_qty += qty
        order.notional += notional
        order.updated_at = now
        order.text = TEXT_ORDER_FILLED
        if order.cum_qty >= order.qty:
            order.status = OrdStatus.FILLED
            acct.working.pop(order.cl_ord_id, None)
        else:
            order.status = OrdStatus.PARTIALLY_FILLED
        if order.side.is_buy:
            acct.cash -= notional
            acct.value_bought += notional
            signed = qty
        else:
            acct.cash += notional
            acct.value_sold += notional
            signed = -qty
        position = acct.positions.get(order.symbol)
        if position is None:
            position = _Position(
                symbol=order.symbol, quantity=_ZERO, avg_price=_ZERO, created_at=now, updated_at=now
            )
            acct.positions[order.symbol] = position
        acct.realized += position.apply(signed, price)
        position.updated_at = now
        return [
            OrderUpdate(
                account_id=acct.account_id, order=order.view(), last_qty=qty, last_px=price
            ),
            PositionUpdate(
                account_id=acct.account_id, position=self._position_view(acct, position)
            ),
            BalanceUpdate(account_id=acct.account_id, balance=self._balance(acct)),
        ]

    def _terminate(
        self, acct: _Account, order: _Order, status: OrdStatus, text: str, now: datetime
    ) -> list[AccountUpdate]:
        order.status = status
        order.text = text
        order.updated_at = now
        acct.working.pop(order.cl_ord_id, None)
        return [
            OrderUpdate(account_id=acct.account_id, order=order.view()),
            BalanceUpdate(account_id=acct.account_id, balance=self._balance(acct)),
        ]

    def _position_view(self, acct: _Account, pos: _Position) -> PositionView:
        mark = self._market.mark(pos.symbol)
        return PositionView(
            account_id=acct.account_id,
            symbol=pos.symbol,
            quantity=pos.quantity,
            avg_price=pos.avg_price,
            today_realized_pnl=pos.realized_today,
            mark=mark,
            market_value=pos.quantity * mark,
            unrealized_pnl=(mark - pos.avg_price) * pos.quantity,
            created_at=pos.created_at,
            updated_at=pos.updated_at,
        )

    def _balance(self, acct: _Account) -> BalanceView:
        long_mv = short_mv = unrealized = _ZERO
        for pos in acct.positions.values():
            if pos.quantity == 0:
                continue
            mark = self._market.mark(pos.symbol)
            if pos.quantity > 0:
                long_mv += pos.quantity * mark
            else:
                short_mv -= pos.quantity * mark
            unrealized += (mark - pos.avg_price) * pos.quantity
        held = _ZERO
        for order in acct.working.values():
            if order.side.is_buy:
                held += order.leaves_qty * self._reference_price(
                    order, self._market.quote(order.symbol)
                )
        m = acct.credit_multiplier
        equity = acct.cash + long_mv - short_mv
        gross = long_mv + short_mv
        stock_bp = max(_ZERO, equity * m - gross - held)
        maint = MAINTENANCE_RATE.get(acct.account_type, DEFAULT_MAINTENANCE_RATE) * gross
        day_mult = DAY_TRADE_MULTIPLIER.get(acct.account_type, DEFAULT_DAY_TRADE_MULTIPLIER)
        return BalanceView(
            account_id=acct.account_id,
            cash=acct.cash,
            sod_positions_market_value=acct.sod_market_value,
            net_buying_power=stock_bp,
            stock_buying_power=stock_bp,
            day_trade_buying_power=max(_ZERO, (equity - maint) * day_mult - held),
            option_buying_power=max(_ZERO, acct.cash),
            day_trade_overnight_reg_t_buying_power=stock_bp,
            total_equity=equity,
            settled_funds=acct.cash - acct.value_sold,
            unsettled_funds=acct.value_sold,
            held_back_funds=held,
            gross_margin=max(_ZERO, -acct.cash),
            pending_orders_margin_requirements=held / m,
            maint_req=maint,
            credit_multiplier=m,
            pending_orders_count=len(acct.working),
            realized_pl=acct.realized,
            unrealized_pl=unrealized,
            start_of_day_cash=acct.start_cash,
            value_bought=acct.value_bought,
            value_sold=acct.value_sold,
        )
