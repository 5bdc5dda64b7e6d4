"""Canonical JSON of the venue's REST bodies (§8.2–§8.5, §8.8, §8.9).

The scalars and the shared shapes (orders, positions, balances, account events) are
``engine.sim._messages``; the builders here only assemble REST responses from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.sim import _messages as msg
from engine.sim._ledger import (
    AccountInfo,
    BalanceView,
    OrderView,
    PositionView,
)
from engine.sim._profile import (
    TEXT_REPLACE_ACCEPTED,
    USER_ACCOUNT_TYPE,
)

JSON = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# REST reads (§8.2 - §8.5)
# ---------------------------------------------------------------------------------------------


def balances_rest(balance: BalanceView, sod_at: datetime) -> JSON:
    """§8.3: the flat REST balance object (REST spelling ``realizedPl``, ``sma``, ``pdt`` …)."""
    fields = msg.balance_fields(balance)
    renames = {
        "realizedPL": "realizedPl",
        "unRealizedPL": "unrealizedPl",
        "SMA": "sma",
        "PDT": "pdt",
    }
    out: JSON = {"accountId": balance.account_id}
    for key, value in fields.items():
        out[renames.get(key, key)] = value
    out["sodTtlEquity"] = msg.money(balance.sod_total_equity)
    out["sodTtlEquityUpdatedAt"] = msg.rfc3339(sod_at)
    return out


def position_rest(position: PositionView) -> JSON:
    """§8.4: one position item, the union of variants A and B."""
    item: JSON = {
        "accountId": position.account_id,
        "symbol": position.symbol,
        "instrument": position.security_type,
        "securityType": position.security_type,
        "quantity": msg.quantity(position.quantity),
        "averagePrice": msg.avg_price(position.avg_price),
        "realizedPl": msg.money(position.today_realized_pnl),
        "todayRealizedPnL": msg.money(position.today_realized_pnl),
        "unrealizedPl": msg.money(position.unrealized_pnl),
        "dailyPl": msg.money(position.daily_pnl),
        "valueBought": msg.money(position.value_bought),
        "valueSold": msg.money(position.value_sold),
        "creditUsed": "0",
        "marketValue": msg.money(position.market_value),
        "createdAt": msg.rfc3339(position.created_at),
    }
    return item


def positions_rest(positions: Iterable[PositionView], source: str = "cache") -> JSON:
    """§8.4: ``{"positions": [...], "availability": {...}}``."""
    return {
        "positions": [position_rest(p) for p in positions],
        "availability": {"available": True, "source": source},
    }


def orders_page(orders: Sequence[OrderView], next_cursor: int) -> JSON:
    """§8.5: one page of v2 orders (``nextCursor`` 0 at the end)."""
    return {"orders": [msg.order_v2(o) for o in orders], "nextCursor": next_cursor}


def user_accounts(
    infos: Sequence[AccountInfo], user_number: int, opened_at: datetime, now: datetime
) -> JSON:
    """§8.2: the snake_case account list; ``sterling_account_id`` is the string account id."""
    accounts: list[JSON] = []
    for index, info in enumerate(infos, start=1):
        accounts.append(
            {
                "id": user_number * 1000 + index,
                "fdid": f"FDID-{info.account_id}",
                "apex_id": "",
                "apex_account_id": f"APEX-{info.account_id}",
                "sterling_account_id": info.account_id,
                "status": info.status,
                "is_sim": True,
                "account_type": USER_ACCOUNT_TYPE,
                "account_class": info.account_type,
                "primary_user_id": user_number,
                "joint_user_id": 0,
                "primary_user": None,
                "joint_user": None,
                "account_application": None,
                "created_at": msg.rfc3339(opened_at),
                "updated_at": msg.rfc3339(now),
            }
        )
    return {"accounts": accounts}


# ---------------------------------------------------------------------------------------------
# Order actions (§8.8, §8.9)
# ---------------------------------------------------------------------------------------------


def replace_ack(new_cl_ord_id: str, old: OrderView, new: OrderView | None, now: datetime) -> JSON:
    """§8.8: the replace response (``status`` REPLACED once done, PENDING_REPLACE before)."""
    source = new if new is not None else old
    return {
        "success": True,
        "clOrdId": new_cl_ord_id,
        "origClOrdId": old.cl_ord_id,
        "status": old.status.value,
        "qty": msg.quantity(source.qty),
        "price": msg.price(source.price),
        "text": TEXT_REPLACE_ACCEPTED,
        "transactTime": msg.rfc3339(now),
    }


def preview(
    cost: Decimal,
    margin: Decimal,
    commission: Decimal,
    fees: Decimal,
    buying_power_impact: Decimal,
    reject_reason: str | None,
    *,
    option_fees: Decimal | None = None,
    option_premium: Decimal | None = None,
) -> JSON:
    """§8.9: the preview response (current variant + ``rejectReason`` when it would reject)."""
    out: JSON = {
        "estimatedCost": msg.money(cost),
        "estimatedMargin": msg.money(margin),
        "commission": msg.money(commission),
        "fees": msg.money(fees),
        "buyingPowerImpact": msg.money(buying_power_impact),
        "numDayTrades": 0,
        "warnRuleId": "0",
    }
    if option_fees is not None:
        out["optionFees"] = msg.money(option_fees)
    if option_premium is not None:
        out["optionPremium"] = msg.money(option_premium)
    if reject_reason:
        out["rejectReason"] = reject_reason
    return out
