"""Scalar formats and a few canonical shapes of the message builders."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from engine.sim import SimAccount
from engine.sim import _messages as msg
from engine.sim._ledger import Ledger
from engine.sim._market import MarketModel
from engine.sim._requests import FieldProblem

NOW = datetime(2026, 1, 15, 14, 30, 0, 456000, tzinfo=UTC)

#: The brief's balance table (§0.1), socket spelling.
BALANCE_KEYS = {
    "accountId", "sodPositionsMarketValue", "netBuyingPower", "stockBuyingPower",
    "dayTradeBuyingPower", "optionBuyingPower", "dayTradeOvernightRegTBuyingPower", "totalEquity",
    "settledFunds", "unsettledFunds", "heldBackFunds", "grossMargin",
    "pendingOrdersMarginRequirements", "maintReq", "creditMultiplier", "pendingOrdersCount",
    "credit", "creditRemaining", "realizedPL", "unRealizedPL", "SMA", "smaCreditRemaining", "PDT",
    "pdtCreditRemaining", "startOfDayCash", "valueBought", "valueSold",
}  # fmt: skip


def test_rfc3339_is_utc_with_milliseconds_and_z() -> None:
    assert msg.rfc3339(NOW) == "2026-01-15T14:30:00.456Z"
    eastern = NOW.astimezone(timezone(timedelta(hours=-5)))
    assert msg.rfc3339(eastern) == "2026-01-15T14:30:00.456Z"


def test_epoch_ms() -> None:
    assert msg.epoch_ms(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)) == 1000
    assert msg.epoch_ms(NOW) == 1768487400456


def test_decimal_strings() -> None:
    assert msg.money(Decimal("175.5")) == "175.50"
    assert msg.money(Decimal("-0.001")) == "0.00"
    assert msg.price(None) == ""
    assert msg.avg_price(None) == "0"
    assert msg.avg_price(Decimal("175.48")) == "175.48"
    assert msg.avg_price(Decimal("10") / Decimal("3")) == "3.3333"
    assert msg.quantity(Decimal("100.00")) == "100"
    assert msg.quantity(Decimal("-40")) == "-40"


def test_error_shape_is_the_catalogue_row_3() -> None:
    error = msg.error("MISSING_ACCOUNT_ID", "accountId is required", "s-1", NOW)
    assert error == {
        "type": "error",
        "id": "s-1",
        "payload": {
            "action": "error",
            "code": "MISSING_ACCOUNT_ID",
            "error": "accountId is required",
            "id": "s-1",
        },
        "timestamp": "2026-01-15T14:30:00.456Z",
    }


def test_auth_success_shape_is_the_catalogue_row_2() -> None:
    assert msg.auth_success("auth-1", NOW, 3_900_000) == {
        "type": "event",
        "id": "auth-1",
        "payload": {
            "action": "authSuccess",
            "id": "auth-1",
            "data": {"expiresIn": 3_900_000, "expiresAt": 1768487400456 + 3_900_000},
            "timestamp": 1768487400456,
        },
    }


def test_http_error_envelope() -> None:
    body = msg.http_error(400, [FieldProblem(code="MISSING_FIELD", field="qty", description="x")])
    assert body == {
        "error": "invalid request",
        "codes": [{"code": "MISSING_FIELD", "description": "x", "field": "qty"}],
        "metadata": {},
    }


def test_balance_fields_are_the_brief_table() -> None:
    ledger = Ledger(
        [SimAccount(account_id="A1")], MarketModel(("AAPL",), random.Random(1)), opened_at=NOW
    )
    data = msg.balance_data(ledger.balance("A1"))
    assert set(data) == BALANCE_KEYS
    assert isinstance(data["pendingOrdersCount"], int)
    assert all(isinstance(v, str) for k, v in data.items() if k != "pendingOrdersCount")
