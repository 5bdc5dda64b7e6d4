"""Per-account truth and order matching: cash, positions, orders, balances (pure, sync).

The ledger never does I/O and never sleeps. Commands (``place``, ``activate``, ``cancel``,
``complete_cancel``, ``replace``, ``complete_replace``, ``match``, ``expire_day_orders``) mutate
the accounts and return the account updates to publish, in order; the caller turns them into
``account.order`` / ``account.position`` / ``account.balance`` events. Latency is the caller's:
with ``defer=True`` a command stops in its PENDING_* state and the caller completes it later.

Order lifecycle
    ``place``: PENDING_NEW, then (``activate``) NEW and an immediate execution check. A business
    rejection (unknown symbol, options level too low, short sale in a cash account, insufficient
    buying power) is a single REJECTED update (never PENDING_NEW). IOC cancels whatever the first
    check did not fill; FOK fills in full at once or is CANCELED untouched. ``match`` (every
    market tick) checks every live order (NEW, PARTIALLY_FILLED, PENDING_CANCEL,
    PENDING_REPLACE: a fill can race a pending cancel or replace).
    ``cancel``: PENDING_CANCEL then (``complete_cancel``) CANCELED on the order's own ``clOrdId``,
    unless a fill completed it meanwhile. ``replace`` (§8.8): PENDING_REPLACE on the old id, then
    (``complete_replace``) REPLACED on the old id and NEW on a new ``clOrdId`` that inherits the
    old order's executions (``cumQty``/``avgPrice``); the old id is stale from then on.

Partial fills (INFERRED venue model)
    An order executes against the displayed size at the touch: a buy against the ask size, a sell
    against the bid size, shared by every order on that side of that symbol within one market
    tick. Quote sizes are lots of 100 (options: ``OPTION_QUOTE_SIZE`` contracts), so a large
    order fills over several ticks, each fill a PARTIALLY_FILLED (``lastQty``/``lastPx``) until
    FILLED.

Execution prices (at the limit or better, against the synthetic touch)
    MARKET buys fill at the ask, sells at the bid. LIMIT buys fill when ask <= limit, at the ask;
    LIMIT sells when bid >= limit, at the bid. STOP / STOP_LIMIT orders trigger when a buy's ask
    rises to the stop or a sell's bid falls to it (§8.6 stop direction), then behave as MARKET /
    LIMIT. TRAILING_STOP keeps its stop ``offset`` (dollars, or percent of the reference) above
    the lowest ask seen (buys) or below the highest bid seen (sells), reported as ``stopPrice``,
    and becomes a MARKET order when triggered.

Balances (INFERRED, Reg-T style; constants in ``engine.sim._profile``). ``L``/``S`` are the long
and short stock market values, ``OL``/``OS`` the long and short option market values (× 100),
``U`` the underlying value of short options, marks are quote midpoints::

    totalEquity             = cash + L − S + OL − OS
    m (creditMultiplier)    = 2 for MARGIN, 1 otherwise
    stockHeld               = Σ leavesQty × reference price over open BUY / SELL_SHORT stock orders
                              (reference: limit; stop for STOP; current stop for TRAILING_STOP;
                              the touch for MARKET)
    optionHeld              = Σ leavesQty × reference × 100 over open option buys
    heldBackFunds           = stockHeld + optionHeld
    pendingOrdersMarginRequirements = stockHeld / m + optionHeld   (options are not marginable)
    pendingOrdersCount      = open (non-terminal) orders
    nonMarginable           = OL + OS + 20 % × U + optionHeld
    stockBuyingPower        = max(0, (totalEquity − nonMarginable) × m − (L + S) − stockHeld)
    netBuyingPower          = dayTradeOvernightRegTBuyingPower = stockBuyingPower
    maintReq (MARGIN)       = 25 % × L + 30 % × S + OL + OS + 20 % × U
    maintReq (other types)  = L + S + OL + OS            (fully paid)
    dayTradeBuyingPower     = max(0, (totalEquity − maintReq) × 4 − stockHeld) for a pattern day
                              trader's MARGIN account, else stockBuyingPower
    optionBuyingPower       = max(0, min(cash − heldBackFunds, stockBuyingPower / m))
    grossMargin             = max(0, −cash)                        (the margin debit)
    valueBought, valueSold  = Σ today's buy, sell notionals (× 100 for options)
    unsettledFunds          = min(valueSold, max(0, cash))   (today's sale proceeds settle T+1)
    settledFunds            = cash − unsettledFunds
    realizedPL              = Σ today's realized P&L (position ``todayRealizedPnL`` summed)
    unRealizedPL            = Σ (mark − avgPrice) × quantity (× 100 for options)
    startOfDayCash          = cash at start; sodPositionsMarketValue = Σ |qty| × start mark
    credit, creditRemaining, SMA, smaCreditRemaining, PDT, pdtCreditRemaining = 0 (not modelled)

With m = 2 buying $X of stock lowers stock buying power by $X (twice the equity in excess of the
50 % initial margin); with m = 1 it is ``cash − heldBackFunds`` less the option value held.

Checks at placement (and for the replacement order of a replace): BUY and SELL_SHORT stock orders
need ``qty × reference <= stockBuyingPower``; option buys ``qty × reference × 100 <=
optionBuyingPower``. SELL_SHORT, or a SELL of more than the long position less open sells, in a
non-margin account is a short sale in a cash account. Options: closing is always allowed; buying
needs LEVEL_2; a covered call (shares ≥ 100 × contracts) or cash-secured put (cash ≥ strike × 100 ×
contracts) LEVEL_1; any other sale to open (naked) LEVEL_4.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

import attrs

from engine.sim._config import SimAccount
from engine.sim._market import MarketModel
from engine.sim._options import OptionContract
from engine.sim._profile import (
    ACCOUNT_CLASS,
    ACCOUNT_STATUS,
    CL_ORD_ID_FORMAT,
    CREDIT_MULTIPLIER,
    DEFAULT_CREDIT_MULTIPLIER,
    MAINT_RATE_LONG,
    MAINT_RATE_SHORT,
    MAINT_RATE_SHORT_OPTION_UNDERLYING,
    OPTION_MULTIPLIER,
    OPTIONS_LEVEL_COVERED,
    OPTIONS_LEVEL_LONG,
    OPTIONS_LEVEL_NAKED,
    OPTIONS_LEVELS,
    ORD_ID_FORMAT,
    PDT_DAY_TRADE_MULTIPLIER,
    REJECT_INSUFFICIENT_BUYING_POWER,
    REJECT_OPTIONS_LEVEL,
    REJECT_SHORT_IN_CASH_ACCOUNT,
    REJECT_UNKNOWN_SYMBOL,
    TEXT_CANCEL_PENDING,
    TEXT_CANCELED,
    TEXT_EXPIRED_AT_CLOSE,
    TEXT_FOK_NOT_FILLABLE,
    TEXT_IOC_REMAINDER,
    TEXT_NOT_MARKETABLE,
    TEXT_ORDER_ACCEPTED,
    TEXT_ORDER_FILLED,
    TEXT_ORDER_PENDING,
    TEXT_REPLACE_ACCEPTED,
    TEXT_REPLACE_LOST_RACE,
    TEXT_REPLACE_PENDING,
    TEXT_REPLACED,
    TICK_SIZE,
    TRAIL_OFFSET_PERCENT,
)
from engine.sim._requests import CancelRequest, OrderRequest, ReplaceRequest
from engine.sim._vocab import OrderType, OrdStatus, Side

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_LIVE = frozenset(
    {
        OrdStatus.NEW,
        OrdStatus.PARTIALLY_FILLED,
        OrdStatus.PENDING_CANCEL,
        OrdStatus.PENDING_REPLACE,
    }
)
_IMMEDIATE_TIF = frozenset({"IOC", "FOK"})
EQUITY = "EQUITY"
OPTION = "OPTION"


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
    security_type: str = EQUITY
    trail_offset: Decimal | None = None
    trail_offset_type: str | None = None
    orig_cl_ord_id: str | None = None


@attrs.frozen(kw_only=True)
class PositionView:
    """A position with its mark-to-market values (option values include the × 100)."""

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
    security_type: str = EQUITY
    value_bought: Decimal = _ZERO
    value_sold: Decimal = _ZERO
    daily_pnl: Decimal = _ZERO


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
    sod_total_equity: Decimal = _ZERO


@attrs.frozen(kw_only=True)
class AccountInfo:
    """The static account fields of the snapshot."""

    account_id: str
    account_type: str
    account_class: str
    options_level: str
    status: str
    pattern_day_trader: bool = False


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
    """How a cancel (or replace) request ended."""

    CANCELED = "canceled"
    NOT_FOUND = "not_found"
    NOT_CANCELABLE = "not_cancelable"
    SYMBOL_MISMATCH = "symbol_mismatch"
    SIDE_MISMATCH = "side_mismatch"
    STALE = "stale"
    INVALID = "invalid"
    REJECTED = "rejected"


@attrs.frozen(kw_only=True)
class CancelResult:
    """Outcome of ``Ledger.cancel``; ``cancel_cl_ord_id`` is the id issued to the request."""

    outcome: CancelOutcome
    order: OrderView | None = None
    cancel_cl_ord_id: str | None = None
    updates: tuple[AccountUpdate, ...] = ()


@attrs.frozen(kw_only=True)
class ReplaceResult:
    """Outcome of ``Ledger.replace``: ``new_cl_ord_id`` is the replacement's id when accepted.

    ``detail`` explains an INVALID or REJECTED outcome (field name, reason).
    """

    outcome: CancelOutcome
    order: OrderView | None = None
    new_cl_ord_id: str | None = None
    replacement: OrderView | None = None
    detail: str = ""
    field: str = ""
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
    security_type: str = EQUITY
    contract: OptionContract | None = None
    trail_offset: Decimal | None = None
    trail_offset_type: str | None = None
    trail_ref: Decimal | None = None
    status: OrdStatus = OrdStatus.PENDING_NEW
    cum_qty: Decimal = _ZERO
    notional: Decimal = _ZERO
    text: str = ""
    rej_reason: str = ""
    triggered: bool = False
    resting_status: OrdStatus = OrdStatus.NEW
    pending_replace: ReplaceRequest | None = None
    replacement_id: int | None = None
    orig_cl_ord_id: str | None = None
    activated: bool = False

    @property
    def is_option(self) -> bool:
        return self.contract is not None

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
            security_type=self.security_type,
            trail_offset=self.trail_offset,
            trail_offset_type=self.trail_offset_type,
            orig_cl_ord_id=self.orig_cl_ord_id,
        )


@attrs.define(eq=False)
class _Position:
    symbol: str
    quantity: Decimal
    avg_price: Decimal
    created_at: datetime
    updated_at: datetime
    multiplier: int = 1
    realized_today: Decimal = _ZERO
    value_bought: Decimal = _ZERO
    value_sold: Decimal = _ZERO

    def apply(self, signed_qty: Decimal, price: Decimal) -> Decimal:
        """Apply a fill of ``signed_qty`` (+ buy, − sell) at ``price``; return the realized P&L."""
        notional = abs(signed_qty) * price * self.multiplier
        if signed_qty > 0:
            self.value_bought += notional
        else:
            self.value_sold += notional
        old = self.quantity
        new = old + signed_qty
        if old == 0 or (old > 0) == (signed_qty > 0):
            self.avg_price = (abs(old) * self.avg_price + abs(signed_qty) * price) / abs(new)
            self.quantity = new
            return _ZERO
        closing = min(abs(old), abs(signed_qty))
        realized = (price - self.avg_price) * closing * (1 if old > 0 else -1) * self.multiplier
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
    options_level: str
    pattern_day_trader: bool
    cash: Decimal
    start_cash: Decimal
    sod_market_value: Decimal
    sod_equity: Decimal
    positions: dict[str, _Position]
    orders: dict[str, _Order] = attrs.field(factory=dict)
    open: dict[str, _Order] = attrs.field(factory=dict)
    realized: Decimal = _ZERO
    value_bought: Decimal = _ZERO
    value_sold: Decimal = _ZERO
    status: str = ACCOUNT_STATUS

    @property
    def credit_multiplier(self) -> Decimal:
        return CREDIT_MULTIPLIER.get(self.account_type, DEFAULT_CREDIT_MULTIPLIER)

    @property
    def is_margin(self) -> bool:
        return self.credit_multiplier > 1

    @property
    def options_rank(self) -> int:
        return OPTIONS_LEVELS.index(self.options_level)


@attrs.frozen
class _Touch:
    bid: Decimal
    ask: Decimal
    bid_size: int
    ask_size: int

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


# ---------------------------------------------------------------------------------------------
# The ledger
# ---------------------------------------------------------------------------------------------


class Ledger:
    """Every simulated account, their orders and the matching against the market."""

    def __init__(
        self, accounts: Sequence[SimAccount], market: MarketModel, *, opened_at: datetime
    ) -> None:
        self._market = market
        self._next_id = 0
        self._as_of: date = opened_at.date()
        self._accounts: dict[str, _Account] = {}
        self._consumed: dict[tuple[str, bool], int] = {}
        self._consumed_tick = market.tick_number
        for account in accounts:
            self.add_account(account, opened_at=opened_at)

    def add_account(self, account: SimAccount, *, opened_at: datetime) -> None:
        """Open one more account (at construction, or for users beyond the default one)."""
        if account.account_id in self._accounts:
            raise ValueError(f"duplicate account id {account.account_id!r}")
        positions: dict[str, _Position] = {}
        for p in account.positions:
            contract = self._market.option_contract(p.symbol, self._as_of)
            positions[p.symbol] = _Position(
                symbol=p.symbol,
                quantity=p.quantity,
                avg_price=p.avg_price,
                created_at=opened_at,
                updated_at=opened_at,
                multiplier=OPTION_MULTIPLIER if contract is not None else 1,
            )
        sod_value = sum(
            (abs(p.quantity) * self._mark(p.symbol) * p.multiplier for p in positions.values()),
            _ZERO,
        )
        acct = _Account(
            account_id=account.account_id,
            account_type=account.account_type,
            options_level=account.options_level,
            pattern_day_trader=account.pattern_day_trader,
            cash=account.cash,
            start_cash=account.cash,
            sod_market_value=sod_value,
            sod_equity=_ZERO,
            positions=positions,
        )
        self._accounts[account.account_id] = acct
        acct.sod_equity = self._balance(acct).total_equity

    # -- queries ---------------------------------------------------------------------------

    @property
    def as_of(self) -> date:
        """The trading date the option chain is listed for (the day the simulator opened)."""
        return self._as_of

    @property
    def account_ids(self) -> tuple[str, ...]:
        """Every simulated account."""
        return tuple(self._accounts)

    def owns(self, account_id: str) -> bool:
        """Whether ``account_id`` exists here (per-user ownership is ``UserRegistry.owns``)."""
        return account_id in self._accounts

    def info(self, account_id: str) -> AccountInfo:
        """The static fields of one account."""
        acct = self._accounts[account_id]
        return AccountInfo(
            account_id=acct.account_id,
            account_type=acct.account_type,
            account_class=ACCOUNT_CLASS,
            options_level=acct.options_level,
            status=acct.status,
            pattern_day_trader=acct.pattern_day_trader,
        )

    def update_info(
        self, account_id: str, *, status: str | None = None, options_level: str | None = None
    ) -> AccountInfo | None:
        """Change an account's status and/or options level; the new info if anything changed."""
        acct = self._accounts[account_id]
        if options_level is not None and options_level not in OPTIONS_LEVELS:
            raise ValueError(f"options_level must be one of {OPTIONS_LEVELS}")
        before = (acct.status, acct.options_level)
        if status is not None:
            acct.status = status
        if options_level is not None:
            acct.options_level = options_level
        if (acct.status, acct.options_level) == before:
            return None
        return self.info(account_id)

    def balance(self, account_id: str) -> BalanceView:
        """The account's balance table right now."""
        return self._balance(self._accounts[account_id])

    def order(self, account_id: str, cl_ord_id: str) -> OrderView | None:
        """One order of the account, or ``None``."""
        order = self._accounts[account_id].orders.get(cl_ord_id)
        return order.view() if order is not None else None

    def orders(self, account_id: str) -> tuple[OrderView, ...]:
        """Every order of the account, in creation order (incl. rejected and replaced ones)."""
        return tuple(o.view() for o in self._accounts[account_id].orders.values())

    def position(self, account_id: str, symbol: str) -> PositionView | None:
        """One position of the account (possibly flat), or ``None`` if never held."""
        acct = self._accounts[account_id]
        pos = acct.positions.get(symbol)
        return self._position_view(acct, pos) if pos is not None else None

    def positions(self, account_id: str) -> tuple[PositionView, ...]:
        """Every position held today (flat ones included: they carry today's P&L)."""
        acct = self._accounts[account_id]
        return tuple(self._position_view(acct, p) for p in acct.positions.values())

    def snapshot(self, account_id: str) -> AccountSnapshot:
        """The state the ``account`` topic's subscribe reply carries."""
        acct = self._accounts[account_id]
        return AccountSnapshot(
            info=self.info(account_id),
            balance=self._balance(acct),
            positions=tuple(
                self._position_view(acct, p) for p in acct.positions.values() if p.quantity != 0
            ),
            orders=tuple(o.view() for o in acct.orders.values()),
        )

    def preview(self, request: OrderRequest) -> tuple[Decimal, Decimal, str | None]:
        """Estimated cost, margin requirement and the rejection reason placing it would get."""
        acct = self._accounts[request.account_id]
        order = self._new_order(acct, request, self._as_of_datetime(), assign_id=False)
        reason = self._reject_reason(acct, order)
        if not self._market.has(order.symbol) and order.contract is None:
            return _ZERO, _ZERO, reason
        cost = order.qty * self._reference_price(order) * self._multiplier(order)
        margin = _ZERO
        if not order.is_option and acct.is_margin and order.side in (Side.BUY, Side.SELL_SHORT):
            margin = cost / acct.credit_multiplier
        return cost, margin, reason

    # -- commands --------------------------------------------------------------------------

    def place(self, request: OrderRequest, now: datetime, *, defer: bool = False) -> PlaceResult:
        """Accept (or reject) an order; unless ``defer``, activate it at once (NEW + execution).

        The caller has validated the body and checked that the account is the user's. With
        ``defer`` the order stays PENDING_NEW until ``activate``.
        """
        self._as_of = now.date()
        acct = self._accounts[request.account_id]
        order = self._new_order(acct, request, now)
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
        order.text = TEXT_ORDER_PENDING
        acct.open[order.cl_ord_id] = order
        self._init_trailing(order)
        updates: list[AccountUpdate] = [OrderUpdate(account_id=acct.account_id, order=order.view())]
        if defer:
            updates.append(self._balance_update(acct))
            return PlaceResult(order=order.view(), accepted=True, updates=tuple(updates))
        ack, rest = self._activate(acct, order, now)
        updates.extend(rest)
        return PlaceResult(order=ack, accepted=True, updates=tuple(updates))

    def activate(self, account_id: str, cl_ord_id: str, now: datetime) -> list[AccountUpdate]:
        """Complete a deferred ``place``: NEW and the immediate execution check.

        Nothing happens if the order left PENDING_NEW meanwhile (a cancel won the race).
        """
        acct = self._accounts[account_id]
        order = acct.orders.get(cl_ord_id)
        if order is None or order.status is not OrdStatus.PENDING_NEW:
            return []
        return self._activate(acct, order, now)[1]

    def cancel(self, request: CancelRequest, now: datetime, *, defer: bool = False) -> CancelResult:
        """Cancel an open order: PENDING_CANCEL, then (unless ``defer``) CANCELED."""
        acct = self._accounts[request.account_id]
        order = acct.orders.get(request.orig_cl_ord_id)
        if order is None:
            return CancelResult(outcome=CancelOutcome.NOT_FOUND)
        if order.symbol != request.symbol:
            return CancelResult(outcome=CancelOutcome.SYMBOL_MISMATCH, order=order.view())
        if request.side is not None and request.side != order.side:
            return CancelResult(outcome=CancelOutcome.SIDE_MISMATCH, order=order.view())
        if order.status is OrdStatus.REPLACED:
            return CancelResult(outcome=CancelOutcome.STALE, order=order.view())
        if order.status.is_terminal or order.status in (
            OrdStatus.PENDING_CANCEL,
            OrdStatus.PENDING_REPLACE,
        ):
            return CancelResult(outcome=CancelOutcome.NOT_CANCELABLE, order=order.view())
        cancel_id = CL_ORD_ID_FORMAT.format(n=self._new_id())
        if order.status is not OrdStatus.PENDING_NEW:
            order.resting_status = order.status
        order.status = OrdStatus.PENDING_CANCEL
        order.text = TEXT_CANCEL_PENDING
        order.updated_at = now
        updates: list[AccountUpdate] = [OrderUpdate(account_id=acct.account_id, order=order.view())]
        if not defer:
            updates.extend(self.complete_cancel(acct.account_id, order.cl_ord_id, now))
        return CancelResult(
            outcome=CancelOutcome.CANCELED,
            order=order.view(),
            cancel_cl_ord_id=cancel_id,
            updates=tuple(updates),
        )

    def complete_cancel(
        self, account_id: str, cl_ord_id: str, now: datetime
    ) -> list[AccountUpdate]:
        """CANCELED, unless a fill completed the order during PENDING_CANCEL."""
        acct = self._accounts[account_id]
        order = acct.orders.get(cl_ord_id)
        if order is None or order.status.is_terminal:
            return []
        return self._terminate(acct, order, OrdStatus.CANCELED, TEXT_CANCELED, now)

    def replace(
        self, request: ReplaceRequest, now: datetime, *, defer: bool = False
    ) -> ReplaceResult:
        """§8.8: PENDING_REPLACE on the old id, then (unless ``defer``) REPLACED + a new NEW."""
        self._as_of = now.date()
        acct = self._accounts[request.account_id]
        order = acct.orders.get(request.orig_cl_ord_id)
        if order is None:
            return ReplaceResult(outcome=CancelOutcome.NOT_FOUND)
        if order.symbol != request.symbol:
            return ReplaceResult(outcome=CancelOutcome.SYMBOL_MISMATCH, order=order.view())
        if request.side is not None and request.side != order.side:
            return ReplaceResult(outcome=CancelOutcome.SIDE_MISMATCH, order=order.view())
        if order.status is OrdStatus.REPLACED:
            return ReplaceResult(outcome=CancelOutcome.STALE, order=order.view())
        if order.status.is_terminal or order.status not in _LIVE - {
            OrdStatus.PENDING_CANCEL,
            OrdStatus.PENDING_REPLACE,
        }:
            return ReplaceResult(outcome=CancelOutcome.NOT_CANCELABLE, order=order.view())
        problem = self._replace_problem(acct, order, request)
        if problem is not None:
            outcome, field, detail = problem
            return ReplaceResult(outcome=outcome, order=order.view(), field=field, detail=detail)
        n = self._new_id()
        order.replacement_id = n
        order.pending_replace = request
        order.resting_status = order.status
        order.status = OrdStatus.PENDING_REPLACE
        order.text = TEXT_REPLACE_PENDING
        order.updated_at = now
        updates: list[AccountUpdate] = [OrderUpdate(account_id=acct.account_id, order=order.view())]
        replacement: OrderView | None = None
        if not defer:
            more = self.complete_replace(acct.account_id, order.cl_ord_id, now)
            updates.extend(more)
            replacement = self.order(acct.account_id, CL_ORD_ID_FORMAT.format(n=n))
        return ReplaceResult(
            outcome=CancelOutcome.CANCELED,
            order=order.view(),
            new_cl_ord_id=CL_ORD_ID_FORMAT.format(n=n),
            replacement=replacement,
            updates=tuple(updates),
        )

    def complete_replace(
        self, account_id: str, cl_ord_id: str, now: datetime
    ) -> list[AccountUpdate]:
        """REPLACED on the old id and NEW on the new one (which inherits the executions).

        If a fill completed the old order during PENDING_REPLACE, or left nothing for the new
        quantity, the replacement is REJECTED and the old order keeps its state.
        """
        acct = self._accounts[account_id]
        old = acct.orders.get(cl_ord_id)
        if old is None or old.pending_replace is None or old.replacement_id is None:
            return []
        request, n = old.pending_replace, old.replacement_id
        old.pending_replace = None
        new = self._replacement(acct, old, request, n, now)
        acct.orders[new.cl_ord_id] = new
        updates: list[AccountUpdate] = []
        if old.status.is_terminal or new.qty <= old.cum_qty:
            if not old.status.is_terminal:
                old.status = old.resting_status
                old.text = TEXT_ORDER_ACCEPTED
                old.updated_at = now
                updates.append(OrderUpdate(account_id=acct.account_id, order=old.view()))
            new.status = OrdStatus.REJECTED
            new.text = new.rej_reason = TEXT_REPLACE_LOST_RACE
            updates.append(OrderUpdate(account_id=acct.account_id, order=new.view()))
            return updates
        old.status = OrdStatus.REPLACED
        old.text = TEXT_REPLACED
        old.updated_at = now
        acct.open.pop(old.cl_ord_id, None)
        updates.append(OrderUpdate(account_id=acct.account_id, order=old.view()))
        new.status = OrdStatus.NEW if new.cum_qty == 0 else OrdStatus.PARTIALLY_FILLED
        new.text = TEXT_REPLACE_ACCEPTED
        acct.open[new.cl_ord_id] = new
        self._init_trailing(new)
        updates.append(OrderUpdate(account_id=acct.account_id, order=new.view()))
        updates.extend(self._execute(acct, new, now, immediate=True))
        return updates

    def match(self, now: datetime) -> list[AccountUpdate]:
        """Execute every live order the current quotes cross; return the updates."""
        self._as_of = now.date()
        updates: list[AccountUpdate] = []
        for acct in self._accounts.values():
            for order in list(acct.open.values()):
                if order.status in _LIVE and order.activated:
                    updates.extend(self._execute(acct, order, now, immediate=False))
        return updates

    def expire_day_orders(self, now: datetime) -> list[AccountUpdate]:
        """The close: every open DAY order is EXPIRED (the simulated market never closes by
        itself; tests and a future session clock call this)."""
        updates: list[AccountUpdate] = []
        for acct in self._accounts.values():
            for order in list(acct.open.values()):
                if order.time_in_force == "DAY" and not order.status.is_terminal:
                    updates.extend(
                        self._terminate(acct, order, OrdStatus.EXPIRED, TEXT_EXPIRED_AT_CLOSE, now)
                    )
        return updates

    # -- internals: orders -----------------------------------------------------------------

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _as_of_datetime(self) -> datetime:
        return datetime(self._as_of.year, self._as_of.month, self._as_of.day)

    def _new_order(
        self, acct: _Account, request: OrderRequest, now: datetime, *, assign_id: bool = True
    ) -> _Order:
        n = self._new_id() if assign_id else 0
        contract = self._market.option_contract(request.symbol, self._as_of)
        return _Order(
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
            security_type=OPTION if contract is not None else EQUITY,
            contract=contract,
            trail_offset=request.trail_offset,
            trail_offset_type=request.trail_offset_type,
        )

    def _replacement(
        self, acct: _Account, old: _Order, request: ReplaceRequest, n: int, now: datetime
    ) -> _Order:
        new_type = request.type if request.type is not None else old.type
        price = request.price if request.price is not None else old.price
        stop = request.stop_price if request.stop_price is not None else old.stop_price
        if not new_type.needs_price:
            price = None
        if not new_type.needs_stop_price:
            stop = None
        trail_offset = (
            request.trail_offset if request.trail_offset is not None else old.trail_offset
        )
        trail_type = (
            request.trail_offset_type
            if request.trail_offset_type is not None
            else old.trail_offset_type
        )
        if new_type is not OrderType.TRAILING_STOP:
            trail_offset = trail_type = None
        return _Order(
            cl_ord_id=CL_ORD_ID_FORMAT.format(n=n),
            ord_id=old.ord_id,
            account_id=acct.account_id,
            client_id=request.client_id if request.client_id is not None else old.client_id,
            symbol=old.symbol,
            side=old.side,
            type=new_type,
            time_in_force=request.time_in_force or old.time_in_force,
            qty=request.qty if request.qty is not None else old.qty,
            price=price,
            stop_price=stop,
            currency=old.currency,
            ex_destination=old.ex_destination,
            created_at=now,
            updated_at=now,
            security_type=old.security_type,
            contract=old.contract,
            trail_offset=trail_offset,
            trail_offset_type=trail_type,
            cum_qty=old.cum_qty,
            notional=old.notional,
            triggered=old.triggered and new_type is old.type,
            orig_cl_ord_id=old.cl_ord_id,
            activated=True,
        )

    def _replace_problem(
        self, acct: _Account, old: _Order, request: ReplaceRequest
    ) -> tuple[CancelOutcome, str, str] | None:
        new_type = request.type if request.type is not None else old.type
        price = request.price if request.price is not None else old.price
        stop = request.stop_price if request.stop_price is not None else old.stop_price
        if new_type.needs_price and price is None:
            return CancelOutcome.INVALID, "price", f"price is required for {new_type.value}"
        if new_type.needs_stop_price and stop is None:
            return CancelOutcome.INVALID, "stopPrice", f"stopPrice is required for {new_type}"
        if (
            new_type is OrderType.TRAILING_STOP
            and (request.trail_offset if request.trail_offset is not None else old.trail_offset)
            is None
        ):
            return CancelOutcome.INVALID, "trailOffset", "trailOffset is required"
        qty = request.qty if request.qty is not None else old.qty
        if qty <= old.cum_qty:
            return CancelOutcome.INVALID, "qty", "qty must exceed the quantity already filled"
        probe = self._replacement(acct, old, request, 0, old.updated_at)
        probe.status = OrdStatus.NEW
        self._init_trailing(probe)
        reason = self._reject_reason(acct, probe, exclude=old)
        if reason is not None:
            return CancelOutcome.REJECTED, "", reason
        return None

    def _activate(
        self, acct: _Account, order: _Order, now: datetime
    ) -> tuple[OrderView, list[AccountUpdate]]:
        order.activated = True
        order.status = OrdStatus.NEW
        order.text = TEXT_ORDER_ACCEPTED
        order.updated_at = now
        ack = order.view()
        updates: list[AccountUpdate] = [OrderUpdate(account_id=acct.account_id, order=ack)]
        updates.extend(self._execute(acct, order, now, immediate=True))
        return ack, updates

    def _execute(
        self, acct: _Account, order: _Order, now: datetime, *, immediate: bool
    ) -> list[AccountUpdate]:
        """Fill what the touch allows; at activation apply IOC/FOK; always end with a balance."""
        touch = self._touch(order)
        buy = order.side.is_buy
        price = self._execution_price(order, touch)
        available = self._available(order, touch) if price is not None else 0
        updates: list[AccountUpdate] = []
        tif = order.time_in_force
        if immediate and tif == "FOK" and (price is None or available < order.leaves_qty):
            text = TEXT_NOT_MARKETABLE if price is None else TEXT_FOK_NOT_FILLABLE
            return self._terminate(acct, order, OrdStatus.CANCELED, text, now)
        if price is not None and available > 0:
            qty = min(order.leaves_qty, Decimal(available))
            self._consume(order.symbol, buy, int(qty))
            updates.extend(self._fill(acct, order, qty, price, now))
        if immediate and tif in _IMMEDIATE_TIF and not order.status.is_terminal:
            text = TEXT_IOC_REMAINDER if order.cum_qty else TEXT_NOT_MARKETABLE
            if updates:
                updates.pop()  # the fill's balance: the cancel below reports a fresher one
            updates.extend(self._terminate(acct, order, OrdStatus.CANCELED, text, now))
        elif immediate and not updates:
            updates.append(self._balance_update(acct))
        return updates

    def _available(self, order: _Order, touch: _Touch) -> int:
        if self._consumed_tick != self._market.tick_number:
            self._consumed.clear()
            self._consumed_tick = self._market.tick_number
        buy = order.side.is_buy
        shown = touch.ask_size if buy else touch.bid_size
        return max(0, shown - self._consumed.get((order.symbol, buy), 0))

    def _consume(self, symbol: str, buy: bool, qty: int) -> None:
        key = (symbol, buy)
        self._consumed[key] = self._consumed.get(key, 0) + qty

    def _touch(self, order: _Order) -> _Touch:
        return self._touch_of(order.symbol)

    def _touch_of(self, symbol: str) -> _Touch:
        if self._market.has(symbol):
            q = self._market.quote(symbol)
            return _Touch(q.bid, q.ask, q.bid_size, q.ask_size)
        o = self._market.option_quote(symbol, self._as_of)
        return _Touch(o.bid, o.ask, o.bid_size, o.ask_size)

    def _mark(self, symbol: str) -> Decimal:
        return self._touch_of(symbol).mid

    @staticmethod
    def _multiplier(order: _Order) -> int:
        return OPTION_MULTIPLIER if order.is_option else 1

    def _init_trailing(self, order: _Order) -> None:
        if order.type is not OrderType.TRAILING_STOP or order.trail_offset is None:
            return
        touch = self._touch(order)
        order.trail_ref = touch.ask if order.side.is_buy else touch.bid
        order.stop_price = self._trail_stop(order)

    def _trail_stop(self, order: _Order) -> Decimal:
        assert order.trail_ref is not None
        assert order.trail_offset is not None
        offset = order.trail_offset
        if order.trail_offset_type == TRAIL_OFFSET_PERCENT:
            offset = (order.trail_ref * order.trail_offset / _HUNDRED).quantize(TICK_SIZE)
        return order.trail_ref + offset if order.side.is_buy else order.trail_ref - offset

    def _execution_price(self, order: _Order, touch: _Touch) -> Decimal | None:
        """The fill price if the touch executes the order now, else ``None``."""
        buy = order.side.is_buy
        if order.type is OrderType.TRAILING_STOP and not order.triggered:
            ref = touch.ask if buy else touch.bid
            if order.trail_ref is not None and (
                ref < order.trail_ref if buy else ref > order.trail_ref
            ):
                order.trail_ref = ref
                order.stop_price = self._trail_stop(order)
        if (
            order.type in (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP)
            and not order.triggered
        ):
            if order.stop_price is None:
                return None
            hit = touch.ask >= order.stop_price if buy else touch.bid <= order.stop_price
            if not hit:
                return None
            order.triggered = True
        price = touch.ask if buy else touch.bid
        if order.price is None:  # MARKET, or a triggered STOP / TRAILING_STOP
            return price
        crosses = price <= order.price if buy else price >= order.price
        return price if crosses else None

    def _fill(
        self, acct: _Account, order: _Order, qty: Decimal, price: Decimal, now: datetime
    ) -> list[AccountUpdate]:
        multiplier = self._multiplier(order)
        notional = qty * price * multiplier
        order.cum_qty += qty
        order.notional += qty * price
        order.updated_at = now
        order.text = TEXT_ORDER_FILLED
        if order.cum_qty >= order.qty:
            order.status = OrdStatus.FILLED
            order.pending_replace = None
            acct.open.pop(order.cl_ord_id, None)
        elif order.status in (OrdStatus.NEW, OrdStatus.PARTIALLY_FILLED):
            order.status = OrdStatus.PARTIALLY_FILLED
        else:  # a fill racing a pending cancel/replace: the pending state stays
            order.resting_status = OrdStatus.PARTIALLY_FILLED
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
                symbol=order.symbol,
                quantity=_ZERO,
                avg_price=_ZERO,
                created_at=now,
                updated_at=now,
                multiplier=multiplier,
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
            self._balance_update(acct),
        ]

    def _terminate(
        self, acct: _Account, order: _Order, status: OrdStatus, text: str, now: datetime
    ) -> list[AccountUpdate]:
        order.status = status
        order.text = text
        order.updated_at = now
        order.pending_replace = None
        acct.open.pop(order.cl_ord_id, None)
        return [
            OrderUpdate(account_id=acct.account_id, order=order.view()),
            self._balance_update(acct),
        ]

    # -- internals: rules ------------------------------------------------------------------

    def _reject_reason(
        self, acct: _Account, order: _Order, *, exclude: _Order | None = None
    ) -> str | None:
        if not self._market.has(order.symbol) and order.contract is None:
            return REJECT_UNKNOWN_SYMBOL
        if order.contract is not None:
            return self._option_reject_reason(acct, order, exclude)
        if not acct.is_margin:
            if order.side is Side.SELL_SHORT:
                return REJECT_SHORT_IN_CASH_ACCOUNT
            if order.side is Side.SELL:
                held = acct.positions.get(order.symbol)
                long_qty = held.quantity if held is not None and held.quantity > 0 else _ZERO
                selling = sum(
                    (
                        o.leaves_qty
                        for o in acct.open.values()
                        if o.symbol == order.symbol and not o.side.is_buy and o is not exclude
                    ),
                    _ZERO,
                )
                if order.qty + selling > long_qty:
                    return REJECT_SHORT_IN_CASH_ACCOUNT
        if order.side in (Side.BUY, Side.SELL_SHORT):
            cost = (order.qty - order.cum_qty) * self._reference_price(order)
            if cost > self._balance(acct, exclude=exclude).stock_buying_power:
                return REJECT_INSUFFICIENT_BUYING_POWER
        return None

    def _option_reject_reason(
        self, acct: _Account, order: _Order, exclude: _Order | None
    ) -> str | None:
        contract = order.contract
        assert contract is not None
        held = acct.positions.get(order.symbol)
        qty = held.quantity if held is not None else _ZERO
        rank = acct.options_rank
        if order.side.is_buy:
            closing = qty < 0 and order.qty <= -qty
            if not closing and rank < OPTIONS_LEVEL_LONG:
                return REJECT_OPTIONS_LEVEL
            if not closing:
                cost = (
                    (order.qty - order.cum_qty) * self._reference_price(order) * OPTION_MULTIPLIER
                )
                if cost > self._balance(acct, exclude=exclude).option_buying_power:
                    return REJECT_INSUFFICIENT_BUYING_POWER
            return None
        if qty > 0 and order.qty <= qty:
            return None  # closing a long option
        if contract.put_call == "CALL":
            shares = acct.positions.get(contract.underlying)
            covered = shares is not None and shares.quantity >= order.qty * OPTION_MULTIPLIER
        else:
            covered = acct.cash >= contract.strike * OPTION_MULTIPLIER * order.qty
        needed = OPTIONS_LEVEL_COVERED if covered else OPTIONS_LEVEL_NAKED
        if rank < needed:
            return REJECT_OPTIONS_LEVEL
        if not covered and not acct.is_margin:
            return REJECT_OPTIONS_LEVEL
        return None

    def _reference_price(self, order: _Order) -> Decimal:
        """The price an open order is costed at for buying power and held-back funds."""
        if order.price is not None:
            return order.price
        if order.stop_price is not None:
            return order.stop_price
        touch = self._touch(order)
        return touch.ask if order.side.is_buy else touch.bid

    # -- internals: valuation --------------------------------------------------------------

    def _position_view(self, acct: _Account, pos: _Position) -> PositionView:
        mark = self._mark(pos.symbol)
        unrealized = (mark - pos.avg_price) * pos.quantity * pos.multiplier
        return PositionView(
            account_id=acct.account_id,
            symbol=pos.symbol,
            quantity=pos.quantity,
            avg_price=pos.avg_price,
            today_realized_pnl=pos.realized_today,
            mark=mark,
            market_value=pos.quantity * mark * pos.multiplier,
            unrealized_pnl=unrealized,
            created_at=pos.created_at,
            updated_at=pos.updated_at,
            security_type=OPTION if pos.multiplier != 1 else EQUITY,
            value_bought=pos.value_bought,
            value_sold=pos.value_sold,
            daily_pnl=pos.realized_today + unrealized,
        )

    def _balance_update(self, acct: _Account) -> BalanceUpdate:
        return BalanceUpdate(account_id=acct.account_id, balance=self._balance(acct))

    def _balance(self, acct: _Account, *, exclude: _Order | None = None) -> BalanceView:
        long_mv = short_mv = opt_long = opt_short = short_underlying = unrealized = _ZERO
        for pos in acct.positions.values():
            if pos.quantity == 0:
                continue
            mark = self._mark(pos.symbol)
            value = abs(pos.quantity) * mark * pos.multiplier
            unrealized += (mark - pos.avg_price) * pos.quantity * pos.multiplier
            if pos.multiplier == 1:
                if pos.quantity > 0:
                    long_mv += value
                else:
                    short_mv += value
            elif pos.quantity > 0:
                opt_long += value
            else:
                opt_short += value
                contract = self._market.option_contract(pos.symbol, self._as_of)
                if contract is not None:
                    short_underlying += (
                        abs(pos.quantity) * OPTION_MULTIPLIER * self._mark(contract.underlying)
                    )
        stock_held = option_held = _ZERO
        open_count = 0
        for order in acct.open.values():
            if order.status.is_terminal:
                continue
            open_count += 1
            if order is exclude:
                continue
            if order.is_option:
                if order.side.is_buy:
                    option_held += (
                        order.leaves_qty * self._reference_price(order) * OPTION_MULTIPLIER
                    )
            elif order.side in (Side.BUY, Side.SELL_SHORT):
                stock_held += order.leaves_qty * self._reference_price(order)
        m = acct.credit_multiplier
        equity = acct.cash + long_mv - short_mv + opt_long - opt_short
        short_option_req = MAINT_RATE_SHORT_OPTION_UNDERLYING * short_underlying
        non_marginable = opt_long + opt_short + short_option_req + option_held
        stock_bp = max(_ZERO, (equity - non_marginable) * m - (long_mv + short_mv) - stock_held)
        if acct.is_margin:
            maint = (
                MAINT_RATE_LONG * long_mv
                + MAINT_RATE_SHORT * short_mv
                + opt_long
                + opt_short
                + short_option_req
            )
        else:
            maint = long_mv + short_mv + opt_long + opt_short
        if acct.is_margin and acct.pattern_day_trader:
            day_bp = max(_ZERO, (equity - maint) * PDT_DAY_TRADE_MULTIPLIER - stock_held)
        else:
            day_bp = stock_bp
        held = stock_held + option_held
        unsettled = min(acct.value_sold, max(_ZERO, acct.cash))
        return BalanceView(
            account_id=acct.account_id,
            cash=acct.cash,
            sod_positions_market_value=acct.sod_market_value,
            net_buying_power=stock_bp,
            stock_buying_power=stock_bp,
            day_trade_buying_power=day_bp,
            option_buying_power=max(_ZERO, min(acct.cash - held, stock_bp / m)),
            day_trade_overnight_reg_t_buying_power=stock_bp,
            total_equity=equity,
            settled_funds=acct.cash - unsettled,
            unsettled_funds=unsettled,
            held_back_funds=held,
            gross_margin=max(_ZERO, -acct.cash),
            pending_orders_margin_requirements=stock_held / m + option_held,
            maint_req=maint,
            credit_multiplier=m,
            pending_orders_count=open_count,
            realized_pl=acct.realized,
            unrealized_pl=unrealized,
            start_of_day_cash=acct.start_cash,
            value_bought=acct.value_bought,
            value_sold=acct.value_sold,
            sod_total_equity=acct.sod_equity,
        )
