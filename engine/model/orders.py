"""Orders: the venue's view (``Order``), what strategies ask for (intents), and risk verdicts.

Identifiers:
* ``client_order_id`` is ours: assigned by the engine when a strategy submits, sent to Aries as
  ``clientId`` and echoed back, so venue events can be matched to the strategy that asked.
* ``cl_ord_id`` is the Aries ``clOrdId``: server-assigned, the handle for cancel and replace; a
  replace issues a new one.
* ``venue_order_id`` is the Aries ``ordId``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import attrs

from engine.model.enums import OrderStatus, OrderType, SecurityType, Side, TimeInForce


@attrs.frozen(kw_only=True)
class OrderLeg:
    """One leg of an option order (1 leg: single option; 2-4 legs: a spread)."""

    symbol: str
    side: Side
    ratio_qty: Decimal = Decimal(1)
    position_effect: str | None = None
    security_type: SecurityType = SecurityType.OPTION
    put_call: str | None = None
    strike_price: Decimal | None = None
    maturity: date | None = None


@attrs.frozen(kw_only=True)
class Order:
    """An order as the venue last reported it, normalized.

    ``cl_ord_id`` is empty only for an order in ``UNKNOWN`` state whose place request got no
    answer: the venue may or may not have it, and has not told us its id.
    """

    account_id: str
    cl_ord_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    status: OrderStatus
    venue_order_id: str | None = None
    client_order_id: str | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    price: Decimal | None = None
    stop_price: Decimal | None = None
    cum_qty: Decimal = Decimal(0)
    leaves_qty: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    last_qty: Decimal | None = None
    last_px: Decimal | None = None
    security_type: SecurityType = SecurityType.EQUITY
    legs: tuple[OrderLeg, ...] = ()
    text: str = ""
    reject_reason: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


@attrs.frozen(kw_only=True)
class OrderIntent:
    """A strategy's request to place an order, before risk checks.

    Created by ``StrategyContext.submit``; ``client_order_id`` is returned to the strategy at once.
    """

    client_order_id: str
    strategy: str
    account_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    security_type: SecurityType = SecurityType.EQUITY
    legs: tuple[OrderLeg, ...] = ()
    reference_price: Decimal | None = None
    replaces: Order | None = None
    """Set on a replacement: the live order (as it stood when the replace was asked) it amends."""

    @property
    def is_replace(self) -> bool:
        """True for the new terms of an existing order (``StrategyContext.replace``)."""
        return self.replaces is not None

    @property
    def estimated_price(self) -> Decimal | None:
        """The limit (or stop) price, else ``reference_price`` (the touch when it was submitted)."""
        for candidate in (self.price, self.stop_price, self.reference_price):
            if candidate is not None:
                return candidate
        return None

    @property
    def estimated_cost(self) -> Decimal | None:
        """``qty × estimated_price``; ``None`` when no price is known (a market order, no quote)."""
        price = self.estimated_price
        return None if price is None else self.qty * price

    @property
    def additional_cost(self) -> Decimal | None:
        """What this intent adds to the account's commitments: ``estimated_cost``; for a
        replacement, the new unfilled quantity (``qty`` less what already filled) at the new
        price, less what the replaced order still commits (its unfilled quantity at its price).
        Negative when a replacement shrinks the order; ``None`` when no price is known."""
        old = self.replaces
        if old is None:
            return self.estimated_cost
        price = self.estimated_price
        if price is None:
            return None
        old_price = old.price if old.price is not None else old.stop_price
        if old_price is None:
            old_price = price
        new_leaves = max(self.qty - old.cum_qty, Decimal(0))
        return new_leaves * price - old.leaves_qty * old_price


@attrs.frozen(kw_only=True)
class CancelRequest:
    """A cancel on its way to the dispatcher: the order's current Aries handle and identity."""

    account_id: str
    client_order_id: str
    cl_ord_id: str
    symbol: str
    side: Side


@attrs.frozen(kw_only=True)
class ReplaceRequest:
    """A replace on its way to the dispatcher: the order's current Aries handle, the new terms.

    ``intent`` is the order as it will stand once replaced (``intent.replaces`` the old one); only
    the fields that differ from the old order are sent (ARIES.md §8.8).
    """

    account_id: str
    client_order_id: str
    cl_ord_id: str
    intent: OrderIntent


@attrs.frozen(kw_only=True)
class CancelIntent:
    """A strategy's request to cancel one of its orders."""

    strategy: str
    account_id: str
    client_order_id: str


@attrs.frozen(kw_only=True)
class RiskVerdict:
    """A risk plugin's answer about one intent. ``None`` from a hook means "no objection"."""

    approved: bool
    code: str = ""
    reason: str = ""
    plugin: str = ""
    details: tuple[tuple[str, str], ...] = ()
    """The numbers behind the verdict, as ``(name, value)`` pairs (e.g. ``("cost", "1500.00")``)."""

    @classmethod
    def reject(cls, code: str, reason: str, *, plugin: str = "", **details: object) -> RiskVerdict:
        """A rejecting verdict with a machine ``code``, a human ``reason`` and its numbers.

        Every keyword becomes a ``details`` pair, its value rendered with ``str`` (a ``Decimal``
        keeps its exact digits).
        """
        pairs = tuple((name, str(value)) for name, value in details.items())
        return cls(approved=False, code=code, reason=reason, plugin=plugin, details=pairs)

    @classmethod
    def approve(cls, *, plugin: str = "") -> RiskVerdict:
        """An explicit approval (stops later risk plugins from being asked)."""
        return cls(approved=True, plugin=plugin)
