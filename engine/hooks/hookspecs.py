"""Hook specifications for aries-engine plugins and strategies.

Every hook is **synchronous** and must not block or do I/O: it runs on the engine's trio thread
between two events. Strategy hooks get the event and the plugin's own ``StrategyContext``
(``ctx``), whose ``submit``/``cancel`` queue requests and return at once. A hook implementation
may take any subset of the arguments, by name, as in pytest.

Delivery: market data and connection states go to every plugin; an account's events go only to
plugins bound to that account (``account = "…"`` in ``engine.toml``, or all accounts if unset);
order events of an order a strategy submitted go to that strategy only (and to every
``[[plugins]]`` entry), while orders the engine did not submit go to every bound plugin.

Faults: a strategy hook that raises is disabled (a ``PluginFaulted`` event is published and the
traceback logged) and the engine goes on; a risk hook that raises rejects the order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.hooks.markers import hookspec

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime
    from decimal import Decimal

    from engine.config import EngineConfig
    from engine.hooks.context import StrategyContext
    from engine.model.account import AccountView
    from engine.model.events import (
        AccountInfoChanged,
        AccountSynced,
        BalanceChanged,
        ConnectionStateChanged,
        OrderFilled,
        OrderRejected,
        OrderUpdated,
        PluginFaulted,
        PositionChanged,
        TradingStateChanged,
    )
    from engine.model.market import Quote, Trade
    from engine.model.orders import OrderIntent, RiskVerdict
    from engine.model.streams import (
        BookUpdated,
        ChartQuote,
        ChartTrade,
        GreeksUpdated,
        MarketStatusChanged,
        NewsReceived,
        PnlCandleClosed,
        WatchlistChanged,
    )


# -------------------------------------------------------------------------
# Lifecycle
# -------------------------------------------------------------------------


@hookspec(historic=True)
def aries_configure(config: EngineConfig) -> None:
    """The whole validated ``engine.toml``, before the engine connects.

    Called: once per plugin, when it is registered (historic: a plugin registered later gets it
    too). A plugin's own settings come through its ``Config`` class; this is for reading the rest
    (accounts, symbols). Raising here stops the start-up with the plugin's name.
    """


@hookspec
def aries_engine_started(ctx: StrategyContext) -> None:
    """The engine is connected and every account's first snapshot is applied.

    Called: once per plugin, after start-up, before any market or account event is delivered.
    The place to read the account (``ctx.account()``) and set up state.
    """


@hookspec
def aries_engine_stopping(ctx: StrategyContext) -> None:
    """The engine is shutting down; no further events will be delivered.

    Called: once per plugin, at shutdown (end of ``--duration``, Ctrl-C, SIGTERM). Orders
    submitted here are not sent.
    """


@hookspec
def aries_on_connection_state(event: ConnectionStateChanged, ctx: StrategyContext) -> None:
    """A WebSocket endpoint changed state (connected, authenticated, subscribed, disconnected …).

    Called: on every state change of every endpoint.
    """


@hookspec
def aries_on_timer(now: datetime, ctx: StrategyContext) -> None:
    """A periodic tick: ``now`` is the wall-clock time (UTC).

    Called: every ``[engine] timer_interval`` seconds (default 1) while the engine runs, between
    two batches of events: the place for time-based logic (rebalancing, order expiry).
    """


# -------------------------------------------------------------------------
# Market data
# -------------------------------------------------------------------------


@hookspec
def aries_on_quote(quote: Quote, ctx: StrategyContext) -> None:
    """A new top of book for ``quote.symbol`` (all known fields merged).

    Called: for quotes of every subscribed symbol. Under load, quotes are conflated per symbol:
    a strategy always gets the latest, never a backlog.
    """


@hookspec
def aries_on_trade(trade: Trade, ctx: StrategyContext) -> None:
    """A print on the tape for ``trade.symbol``.

    Called: for trades of every subscribed symbol (conflated per symbol under load).
    """


@hookspec
def aries_on_book(event: BookUpdated, ctx: StrategyContext) -> None:
    """Level 2 for ``event.symbol``: price levels and per-venue quotes.

    Called: for every book update of a subscribed symbol (conflated per symbol under load).
    """


@hookspec
def aries_on_greeks(event: GreeksUpdated, ctx: StrategyContext) -> None:
    """Option greeks and implied volatility for ``event.symbol``.

    Called: for every greeks update (conflated per symbol under load).
    """


@hookspec
def aries_on_market_status(event: MarketStatusChanged, ctx: StrategyContext) -> None:
    """The market opened, closed, or entered early or after hours.

    Called: on every market status message, never conflated.
    """


@hookspec
def aries_on_chart_quote(event: ChartQuote, ctx: StrategyContext) -> None:
    """A quote from the charting socket (``[charts]``): last, bid/ask, day OHLC and volume.

    Called: for every chart quote of a ``[charts] symbols`` entry (conflated per symbol).
    """


@hookspec
def aries_on_chart_trade(event: ChartTrade, ctx: StrategyContext) -> None:
    """A trade from the charting socket: the print that builds the chart's current bar.

    Called: for every chart trade of a ``[charts] symbols`` entry (conflated per symbol).
    """


@hookspec
def aries_on_news(event: NewsReceived, ctx: StrategyContext) -> None:
    """A news story, with the symbols and topics it concerns.

    Called: once per story, never conflated.
    """


@hookspec
def aries_on_watchlist(event: WatchlistChanged, ctx: StrategyContext) -> None:
    """A watchlist was created, renamed or deleted, or a symbol added, moved or removed.

    Called: once per change, never conflated.
    """


# -------------------------------------------------------------------------
# Orders
# -------------------------------------------------------------------------


@hookspec
def aries_on_order_updated(event: OrderUpdated, ctx: StrategyContext) -> None:
    """An order changed state (``event.order.status``; ``event.previous_status`` before).

    Called: once per state change, never for duplicates the venue replays.
    """


@hookspec
def aries_on_order_filled(event: OrderFilled, ctx: StrategyContext) -> None:
    """Part or all of an order executed: ``event.qty`` at ``event.price``.

    Called: exactly once per execution, including executions that happened while the engine was
    disconnected (derived from the next snapshot).
    """


@hookspec
def aries_on_order_rejected(event: OrderRejected, ctx: StrategyContext) -> None:
    """An order, a replace or a cancel was refused; ``event.source`` says by whom (risk,
    engine, dispatch, venue).

    Called: once per refused order. With ``event.replace`` set, a replace was refused and the
    order stands on its old terms; with ``event.cancel`` set, a cancel was refused or its answer
    lost, and the order stands as far as the engine knows (its own updates say if the venue
    cancelled or filled it anyway). ``code == "LOST"`` is the one verdict that can be
    overturned: the place request's outcome was unknown and the venue's order list did not
    show the order, so the engine gave it up (its reservation released). If the venue reports
    it later after all, the engine adopts it again and this plugin hears its updates and
    fills as usual (FAULT-SCENARIOS #19: late fills are never dropped).
    """


# -------------------------------------------------------------------------
# Account
# -------------------------------------------------------------------------


@hookspec
def aries_on_position_changed(event: PositionChanged, ctx: StrategyContext) -> None:
    """A position was opened, changed or closed (``event.position.quantity == 0``).

    Called: once per change of a bound account's position.
    """


@hookspec
def aries_on_balance_changed(event: BalanceChanged, ctx: StrategyContext) -> None:
    """A bound account's balance changed (buying power, equity, margin).

    Called: once per change.
    """


@hookspec
def aries_on_account_info(event: AccountInfoChanged, ctx: StrategyContext) -> None:
    """A bound account's record changed (type, class, options level, status).

    Called: once per change, including the first snapshot's.
    """


@hookspec
def aries_on_account_synced(event: AccountSynced, ctx: StrategyContext) -> None:
    """A bound account's snapshot was applied: local state equals the venue's.

    Called: after start-up and after every reconnect.
    """


@hookspec
def aries_on_trading_state_changed(event: TradingStateChanged, ctx: StrategyContext) -> None:
    """A bound account's trading state changed (``ACTIVE``, ``RECONCILING`` …).

    Called: on every change. While not ``ACTIVE``, new orders are held or rejected.
    """


@hookspec
def aries_on_pnl_candle(event: PnlCandleClosed, ctx: StrategyContext) -> None:
    """A P&L candle of a bound account closed (its bucket ended): final OHLC of the P&L.

    Called: once per bucket, for accounts with ``pnl_interval`` set in ``engine.toml``, including
    buckets that closed while the engine was disconnected (from the replayed history).
    """


# -------------------------------------------------------------------------
# Risk
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def aries_check_order(
    intent: OrderIntent, account: AccountView, quotes: Mapping[str, Quote], now_ns: int
) -> RiskVerdict | None:
    """Approve or veto an order (or a replace: ``intent.replaces`` is set) before it is sent.

    Return ``RiskVerdict.reject(code, reason, **numbers)`` to block the order,
    ``RiskVerdict.approve()`` to let it through without asking later plugins, or ``None`` to let
    the next plugin decide. Stops at the first non-``None`` result (pluggy ``firstresult``;
    ``tryfirst``/``trylast`` order the plugins). If every plugin returns ``None`` the order is
    approved.

    Called: once per order, in the account's actor, just before it is handed to the dispatcher.
    ``account`` reflects every earlier order of this account, including those still in flight
    (``account.available_buying_power``); ``quotes`` are the latest quotes by symbol; ``now_ns``
    is the wall-clock time in nanoseconds (compare with ``account.as_of_ns`` and
    ``Quote.ts_recv``). Must be fast and must not do I/O. A hook that raises rejects the order
    (fail closed).
    """


@hookspec(firstresult=True)
def aries_order_reservation(
    intent: OrderIntent, account: AccountView, quotes: Mapping[str, Quote], now_ns: int
) -> Decimal | None:
    """The buying power an approved order holds until the venue's balance shows it.

    Return the amount (``Decimal``, not negative) to reserve, or ``None`` to let the next plugin
    (or the engine's default: the order's estimated cost, zero for sells) decide. Implement it in
    the plugin that prices orders for buying power, so what is reserved is exactly what its check
    charged: two quick orders can then never spend the same dollars twice.

    Called: once per approved order (and approved replace: return only what it adds), in the
    account's actor, right after ``aries_check_order``. A hook that raises is logged and the
    engine's default is used.
    """


# -------------------------------------------------------------------------
# Observability
# -------------------------------------------------------------------------


@hookspec
def aries_on_plugin_faulted(event: PluginFaulted, ctx: StrategyContext) -> None:
    """Another plugin raised in a hook and was disabled.

    Called: once per fault, on every remaining plugin.
    """
