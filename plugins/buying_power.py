"""Risk plugin: refuse any order whose cost exceeds the account's available buying power.

"Available" is the venue's ``stockBuyingPower`` minus the engine's in-flight reservations (orders
approved but not yet reflected in the venue's buying power), so two quick orders cannot spend the
same dollars twice. Plain sells need no buying power and are left to other plugins.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from engine import hookimpl
from engine.model import AccountView, OrderIntent, RiskVerdict, Side


@attrs.frozen(kw_only=True)
class BuyingPowerConfig:
    """``[plugins.config]`` of a ``BuyingPowerCheck``."""

    headroom: Decimal = Decimal(0)
    """Dollars to keep unspent on top of the order's cost."""


class BuyingPowerCheck:
    """Vetoes orders that cost more than ``available_buying_power − headroom``."""

    Config = BuyingPowerConfig

    def __init__(self, config: BuyingPowerConfig) -> None:
        self.config = config

    @hookimpl
    def aries_check_order(self, intent: OrderIntent, account: AccountView) -> RiskVerdict | None:
        """Reject when the cost exceeds what is available; otherwise no objection."""
        if intent.side is Side.SELL:
            return None
        cost = intent.estimated_cost
        if cost is None:
            return RiskVerdict.reject(
                "NO_PRICE", f"cannot price a {intent.type} order on {intent.symbol} without a quote"
            )
        if account.balance is None:
            return RiskVerdict.reject("NO_BALANCE", "the account's balance is not known yet")
        available = account.available_buying_power - self.config.headroom
        if cost > available:
            return RiskVerdict.reject(
                "INSUFFICIENT_BUYING_POWER",
                f"cost {cost} exceeds available buying power {available} "
                f"(stockBuyingPower {account.balance.stock_buying_power}, "
                f"reserved {account.reserved_buying_power}, headroom {self.config.headroom})",
            )
        return None
