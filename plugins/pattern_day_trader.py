"""Risk plugin: the pattern-day-trader rule (FINRA 4210): under $25,000 of equity, at most
``max_day_trades`` day trades in ``window_days`` business days.

A *day trade* is counted from the fills this plugin hears (``aries_on_order_filled``; it hears
every order of its accounts as a ``[[plugins]]`` entry): a fill that reduces a position opened the
same day. Per account and symbol, it keeps what was opened today: ``BUY`` fills open longs,
``SELL_SHORT`` fills open shorts; a ``SELL``/``SELL_SHORT`` fill that meets longs bought today, or a
``BUY``/``BUY_TO_COVER`` fill that meets shorts sold today, is a day trade. A closing order counts
once, however many fills it takes (keyed by ``client_order_id``, else the venue's ``cl_ord_id``).
Days are calendar days in ``timezone`` (the fill's venue time, else its receive time); the window
is the last ``window_days`` weekdays, today included (exchange holidays are not known: a holiday
counts as a business day, which only keeps trades in the window longer).

``day_trades_already``: day trades made before the engine started (in another app, or before a
restart): they count as inside the window for the whole run (restart with a lower number when
they age out). Positions opened today before the engine started are not known: their closing is
not seen as a day trade (count it in ``day_trades_already``).

An order is refused (``PDT_DAY_TRADE_LIMIT``) when it would be a day trade (it closes, on its
side, a same-day opening of its symbol) while the account's ``totalEquity`` is under
``min_equity`` and ``day_trades_already`` + the day trades seen in the window + the working
orders that would also be day trades (approved, not yet filled) already reach ``max_day_trades``.
The working ones are counted so that a burst of closing orders cannot exceed the limit before
their fills arrive (conservative: one of them might not fill).

The rule applies to ``MARGIN`` accounts, and to accounts whose type is unknown (fail closed);
cash and retirement accounts are exempt (they cannot day-trade on margin at all).

Reason codes: ``PDT_DAY_TRADE_LIMIT`` (details ``day_trades``, ``day_trades_already``,
``working``, ``max_day_trades``, ``window_days``, ``total_equity``, ``min_equity``),
``NO_BALANCE``, ``STALE_STATE``.

Configure it in ``engine.toml``::

    [[plugins]]
    name = "pattern-day-trader"
    path = "plugins.pattern_day_trader:PatternDayTrader"
    [plugins.config]
    min_equity = "25000"
    max_day_trades = 3
    window_days = 5             # business days, today included
    day_trades_already = 0      # made before the engine started, inside the window
    timezone = "America/New_York"
    max_state_age = 65          # seconds
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from engine import ConfigValueError, hookimpl
from engine.model import AccountView, OrderFilled, OrderIntent, RiskVerdict, SecurityType, Side
from engine.validators import non_negative, positive
from plugins._risk_common import (
    BUY_SIDES,
    DEFAULT_MAX_STATE_AGE,
    NO_BALANCE,
    NON_MARGIN_ACCOUNT_TYPES,
    NS_PER_SECOND,
    ZERO,
    instrument_symbol,
    seconds_to_ns,
    stale_state,
)

PDT_DAY_TRADE_LIMIT = "PDT_DAY_TRADE_LIMIT"


def _time_zone(_instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigValueError(attribute.name, f"unknown time zone {value!r}") from None


@attrs.frozen(kw_only=True)
class PatternDayTraderConfig:
    """``[plugins.config]`` of a ``PatternDayTrader``."""

    min_equity: Decimal = attrs.field(default=Decimal(25000), validator=non_negative)
    """Accounts with ``totalEquity`` under this are limited (FINRA: $25,000)."""
    max_day_trades: int = attrs.field(default=3, validator=non_negative)
    """Most day trades in the window while under ``min_equity``."""
    window_days: int = attrs.field(default=5, validator=positive)
    """Length of the rolling window in business days, today included."""
    day_trades_already: int = attrs.field(default=0, validator=non_negative)
    """Day trades made before the engine started that are still inside the window."""
    timezone: str = attrs.field(default="America/New_York", validator=_time_zone)
    """Where a trading day begins and ends."""
    max_state_age: float = attrs.field(default=DEFAULT_MAX_STATE_AGE, validator=positive)
    """Seconds: an older account picture rejects with ``STALE_STATE``."""


@attrs.define
class _OpenedToday:
    """What one symbol of one account opened on ``day`` and has not closed yet."""

    day: date
    long: Decimal = ZERO
    short: Decimal = ZERO


class PatternDayTrader:
    """Counts day trades from fills and vetoes one that would exceed the PDT allowance."""

    Config = PatternDayTraderConfig

    def __init__(self, config: PatternDayTraderConfig) -> None:
        self.config = config
        self._zone = ZoneInfo(config.timezone)
        self._max_state_age_ns = seconds_to_ns(config.max_state_age)
        self._opened: dict[tuple[str, str], _OpenedToday] = {}
        self._day_trades: dict[str, dict[str, date]] = {}
        """account → closing order key → the day it became a day trade."""
        self._second: int | None = None
        self._day_of_second = date.min
        """``_day_of_ns`` of the last second asked about (orders come many to a second)."""

    # --- counting ------------------------------------------------------------------------------

    def day_trades(self, account_id: str, today: date) -> int:
        """Day trades seen in the window ending ``today`` (without ``day_trades_already``)."""
        trades = self._day_trades.get(account_id, {})
        first = self._window_start(today)
        for key in [k for k, day in trades.items() if day < first]:
            del trades[key]  # aged out
        return len(trades)

    @hookimpl
    def aries_on_order_filled(self, event: OrderFilled) -> None:
        """Record what the fill opened today, and count it if it closed a same-day opening."""
        day = self._day_of_event(event)
        state = self._state(event.account_id, event.symbol, day)
        qty = event.qty
        if event.side.is_buy:
            matched = min(qty, state.short)
            state.short -= matched
            if event.side is Side.BUY:
                state.long += qty - matched
        else:
            matched = min(qty, state.long)
            state.long -= matched
            if event.side is Side.SELL_SHORT:
                state.short += qty - matched
        if matched > 0:
            key = event.client_order_id or event.cl_ord_id
            self._day_trades.setdefault(event.account_id, {}).setdefault(key, day)

    @hookimpl
    def aries_check_order(
        self, intent: OrderIntent, account: AccountView, now_ns: int
    ) -> RiskVerdict | None:
        """Refuse an order that would be one day trade too many for an account under
        ``min_equity``."""
        stale = stale_state(account, now_ns, self._max_state_age_ns)
        if stale is not None:
            return stale
        info = account.info
        if info is not None and info.account_type in NON_MARGIN_ACCOUNT_TYPES:
            return None
        today = self._day_of_ns(now_ns)
        key = intent.client_order_id
        seen = self._day_trades.get(account.account_id, {})
        if key in seen or not self._closes_today(
            account.account_id, instrument_symbol(intent), intent.side, today
        ):
            return None
        balance = account.balance
        if balance is None:
            return RiskVerdict.reject(
                NO_BALANCE,
                f"the equity of account {account.account_id} is unknown (no balance yet)",
            )
        if balance.total_equity >= self.config.min_equity:
            return None
        made = self.day_trades(account.account_id, today)
        working = self._working_day_trades(account, intent, today)
        already = self.config.day_trades_already
        total = made + already + working
        limit = self.config.max_day_trades
        if total < limit:
            return None
        return RiskVerdict.reject(
            PDT_DAY_TRADE_LIMIT,
            f"{intent.side} {intent.qty} {intent.symbol} would be day trade #{total + 1} in "
            f"{self.config.window_days} business days ({made} seen + {already} before start "
            f"+ {working} working); with equity {balance.total_equity} under "
            f"{self.config.min_equity} at most {limit} are allowed",
            day_trades=made,
            day_trades_already=already,
            working=working,
            max_day_trades=limit,
            window_days=self.config.window_days,
            total_equity=balance.total_equity,
            min_equity=self.config.min_equity,
        )

    # --- internals -----------------------------------------------------------------------------

    def _closes_today(self, account_id: str, symbol: str, side: Side, today: date) -> bool:
        state = self._opened.get((account_id, symbol))
        if state is None or state.day != today:
            return False
        return state.short > 0 if side in BUY_SIDES else state.long > 0

    def _working_day_trades(self, account: AccountView, intent: OrderIntent, today: date) -> int:
        """Working orders (not this one, nor the one it replaces) that would be day trades."""
        seen = self._day_trades.get(account.account_id, {})
        keys: set[str] = set()
        skip = intent.client_order_id
        candidates: list[tuple[str | None, str, Side, SecurityType]] = [
            (o.client_order_id or o.cl_ord_id, o.symbol, o.side, o.security_type)
            for o in account.open_orders.values()
        ]
        candidates += [
            (i.client_order_id, instrument_symbol(i), i.side, i.security_type)
            for i in account.in_flight.values()
        ]
        for key, symbol, side, _type in candidates:
            if key is None or key == skip or key in seen or key in keys:
                continue
            if self._closes_today(account.account_id, symbol, side, today):
                keys.add(key)
        return len(keys)

    def _state(self, account_id: str, symbol: str, day: date) -> _OpenedToday:
        state = self._opened.get((account_id, symbol))
        if state is None or state.day != day:
            state = self._opened[(account_id, symbol)] = _OpenedToday(day=day)
        return state

    def _window_start(self, today: date) -> date:
        """The first day of the window: ``window_days`` weekdays ending today."""
        day, remaining = today, self.config.window_days
        while True:
            if day.weekday() < 5:
                remaining -= 1
                if remaining == 0:
                    return day
            day -= timedelta(days=1)

    def _day_of_ns(self, ns: int) -> date:
        second = ns // NS_PER_SECOND
        if second != self._second:
            self._day_of_second = datetime.fromtimestamp(second, tz=self._zone).date()
            self._second = second
        return self._day_of_second

    def _day_of_event(self, event: OrderFilled) -> date:
        if event.ts_event is not None:
            return event.ts_event.astimezone(self._zone).date()
        return self._day_of_ns(event.ts_recv)
