"""``StrategyContext``: what a plugin can do and see from inside a hook.

Every plugin instance gets its own context. ``submit``, ``cancel``, ``replace`` and
``set_trading_state`` only queue commands (the plugin host publishes them when the hook returns)
and return at once; reads return immutable views.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import secrets
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import attrs
import structlog

from engine.accounts.views import AccountViews
from engine.model.account import AccountView
from engine.model.enums import OrderType, SecurityType, Side, TimeInForce, TradingState
from engine.model.events import (
    CancelOrder,
    Event,
    MarketDataRequested,
    ReplaceOrder,
    SubmitOrder,
    TradingStateRequested,
)
from engine.model.market import Quote
from engine.model.orders import OrderIntent

MAX_CLIENT_ORDER_ID = 50  # the Aries ``clientId`` limit (ARIES.md §8.6)
# An OCC/OSI option symbol: root, expiry YYMMDD, C or P, strike × 1000 in 8 digits.
_OSI_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.]{0,5} *\d{6}[CP]\d{8}$")
_RUN_TAG = secrets.token_hex(3)  # keeps client order ids unique across restarts


def client_order_id_prefix(name: str, run_tag: str) -> str:
    """How the client order ids of plugin ``name`` begin in a run tagged ``run_tag``.

    ``<name, cut to 16>-<6 hex of its hash>-<run tag>-``; the order's counter follows. With
    ``run_tag=""`` it is the part shared by every run (``aries-engine replay`` reads the tag of a
    recorded run from there).
    """
    # The name is cut to fit the venue's 50 characters; its hash keeps two instances whose
    # names share a beginning apart.
    digest = hashlib.blake2s(name.encode(), digest_size=3).hexdigest()
    return f"{name[:16]}-{digest}-{run_tag}-" if run_tag else f"{name[:16]}-{digest}-"


def _to_decimal(name: str, value: Decimal | int | str | None) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float | bool):
        raise TypeError(f"{name} must be a Decimal, int or str, not {type(value).__name__}")
    return Decimal(str(value))


@attrs.define(eq=False)
class StrategyContext:
    """A plugin's handle on the engine: submit, cancel and replace orders, read accounts and
    quotes, and switch an account's trading state (a kill switch)."""

    name: str
    accounts: tuple[str, ...]
    _views: AccountViews
    _quotes: Mapping[str, Quote]
    _emit: Callable[[Event], None]
    _ids: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1), init=False)
    log: Any = attrs.field(init=False)
    run_tag: str | None = attrs.field(default=None, kw_only=True)
    """The tag in this context's client order ids; ``None``: this process' random one. Fixed by
    ``aries-engine replay`` so that replayed ids are reproducible."""

    def __attrs_post_init__(self) -> None:
        self.log = structlog.get_logger("strategy").bind(plugin=self.name)
        if len(self.accounts) == 1:
            self.log = self.log.bind(account=self.accounts[0])

    def submit(
        self,
        symbol: str,
        side: Side | str,
        qty: Decimal | int | str,
        *,
        price: Decimal | int | str | None = None,
        stop_price: Decimal | int | str | None = None,
        type: OrderType | str | None = None,
        time_in_force: TimeInForce | str = TimeInForce.DAY,
        account: str | None = None,
        security_type: SecurityType | str | None = None,
    ) -> str:
        """Queue an order and return its ``client_order_id`` at once.

        ``type`` defaults to ``LIMIT`` when a price is given, else ``MARKET``. ``security_type``
        defaults to ``OPTION`` for an OSI option symbol (``AAPL  270115C00150000``), else
        ``EQUITY``; risk plugins price options per contract (× 100). The order is
        checked by the risk plugins and sent after the hook returns; its fate arrives through
        ``aries_on_order_updated`` / ``aries_on_order_filled`` / ``aries_on_order_rejected``.

        Raises:
            ValueError: a non-positive quantity, a limit order without a price, or an account
                this plugin is not bound to.
        """
        account_id = self._account_id(account)
        quantity = _to_decimal("qty", qty)
        if quantity is None or quantity <= 0:
            raise ValueError(f"qty must be positive, got {qty!r}")
        limit = _to_decimal("price", price)
        stop = _to_decimal("stop_price", stop_price)
        order_type = (
            OrderType(type)
            if type is not None
            else (OrderType.LIMIT if limit is not None else OrderType.MARKET)
        )
        if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and limit is None:
            raise ValueError(f"a {order_type} order needs a price")
        if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and stop is None:
            raise ValueError(f"a {order_type} order needs a stop_price")
        order_side = Side(side)
        client_order_id = self._next_id()
        intent = OrderIntent(
            client_order_id=client_order_id,
            strategy=self.name,
            account_id=account_id,
            symbol=symbol,
            side=order_side,
            type=order_type,
            qty=quantity,
            price=limit,
            stop_price=stop,
            time_in_force=TimeInForce(time_in_force),
            security_type=_security_type(symbol, security_type),
            reference_price=self._touch(symbol, order_side),
        )
        self._emit(SubmitOrder(account_id=account_id, intent=intent))
        return client_order_id

    def cancel(self, client_order_id: str, *, account: str | None = None) -> None:
        """Queue a cancel of one of this plugin's orders (a no-op, logged, if it is done).

        The venue's answer arrives through ``aries_on_order_updated`` (``CANCELED``) or, if it
        refuses the cancel or its answer is lost, ``aries_on_order_rejected`` with
        ``event.cancel`` set.
        """
        account_id = self._account_id(account)
        self._emit(
            CancelOrder(account_id=account_id, client_order_id=client_order_id, strategy=self.name)
        )

    def replace(
        self,
        client_order_id: str,
        *,
        qty: Decimal | int | str | None = None,
        price: Decimal | int | str | None = None,
        stop_price: Decimal | int | str | None = None,
        time_in_force: TimeInForce | str | None = None,
        account: str | None = None,
    ) -> str:
        """Queue new terms for one of this plugin's open orders; return its id (unchanged).

        Only the terms given change. The replacement is checked by the risk plugins like a new
        order (``intent.replaces`` is set), then sent; the venue's answer arrives through
        ``aries_on_order_updated`` (the old terms go ``REPLACED``, the new ones come ``NEW``) or
        ``aries_on_order_rejected`` with ``event.replace`` set (the order stands unchanged).

        Raises:
            ValueError: no term given, a non-positive quantity or price, an order this plugin did
                not submit, or an account it is not bound to.
        """
        account_id = self._account_id(account)
        if not self.owns(client_order_id):
            raise ValueError(f"order {client_order_id!r} was not submitted by {self.name!r}")
        quantity = _to_decimal("qty", qty)
        limit = _to_decimal("price", price)
        stop = _to_decimal("stop_price", stop_price)
        if quantity is None and limit is None and stop is None and time_in_force is None:
            raise ValueError("replace needs at least one of qty, price, stop_price, time_in_force")
        for name, value in (("qty", quantity), ("price", limit), ("stop_price", stop)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        self._emit(
            ReplaceOrder(
                account_id=account_id,
                client_order_id=client_order_id,
                strategy=self.name,
                qty=quantity,
                price=limit,
                stop_price=stop,
                time_in_force=None if time_in_force is None else TimeInForce(time_in_force),
            )
        )
        return client_order_id

    def set_trading_state(
        self, state: TradingState | str, reason: str, *, account: str | None = None
    ) -> None:
        """Ask for an account's trading state: ``HALTED`` (a kill switch: no new orders),
        ``REDUCING`` (only orders that shrink a position) or ``ACTIVE`` again.

        The decision outlives reconnects; ``TradingStateChanged`` says when it took effect.
        """
        account_id = self._account_id(account)
        requested = TradingState(state)
        self.log.warning(
            "strategy.trading_state_requested", account=account_id, state=requested, reason=reason
        )
        self._emit(
            TradingStateRequested(
                account_id=account_id, state=requested, reason=f"{self.name}: {reason}"
            )
        )

    def subscribe(self, *symbols: str) -> None:
        """Ask for quotes and trades of ``symbols`` (kept across reconnects)."""
        if symbols:
            self._emit(MarketDataRequested(strategy=self.name, subscribe=tuple(symbols)))

    def unsubscribe(self, *symbols: str) -> None:
        """Give up ``symbols``; they stay subscribed while config or another plugin wants them."""
        if symbols:
            self._emit(MarketDataRequested(strategy=self.name, unsubscribe=tuple(symbols)))

    def account(self, account_id: str | None = None) -> AccountView:
        """The latest immutable view of a bound account (the only one, if just one is bound)."""
        resolved = self._account_id(account_id)
        view = self._views.get(resolved)
        if view is None:
            raise LookupError(f"no state yet for account {resolved!r}")
        return view

    def quote(self, symbol: str) -> Quote | None:
        """The latest quote of ``symbol``, or ``None`` if none arrived yet."""
        return self._quotes.get(symbol)

    def owns(self, client_order_id: str | None) -> bool:
        """True if ``client_order_id`` was returned by this context's ``submit``."""
        return client_order_id is not None and client_order_id.startswith(self._id_prefix)

    @property
    def _id_prefix(self) -> str:
        return client_order_id_prefix(self.name, self.run_tag or _RUN_TAG)

    def _next_id(self) -> str:
        client_order_id = f"{self._id_prefix}{next(self._ids)}"
        if len(client_order_id) > MAX_CLIENT_ORDER_ID:
            raise ValueError(f"client order id {client_order_id!r} is longer than 50 characters")
        return client_order_id

    def _account_id(self, account: str | None) -> str:
        if account is None:
            if len(self.accounts) != 1:
                raise ValueError(
                    f"plugin {self.name!r} is bound to {len(self.accounts)} accounts: pass account="
                )
            return self.accounts[0]
        if account not in self.accounts:
            raise ValueError(f"plugin {self.name!r} is not bound to account {account!r}")
        return account

    def _touch(self, symbol: str, side: Side) -> Decimal | None:
        quote = self._quotes.get(symbol)
        if quote is None:
            return None
        return quote.ask if side.is_buy else quote.bid


def _security_type(symbol: str, given: SecurityType | str | None) -> SecurityType:
    if given is not None:
        return SecurityType(given)
    return SecurityType.OPTION if _OSI_SYMBOL.match(symbol) else SecurityType.EQUITY
