"""Validation of the order REST bodies (§8.6, §8.7): field problems name the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from engine.sim._requests import (
    CancelRequest,
    FieldProblem,
    OrderRequest,
    parse_cancel_request,
    parse_order_request,
)
from engine.sim._vocab import OrderType, Side


def _body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tradingAccountId": "SIM-001",
        "symbol": "AAPL",
        "side": "BUY",
        "type": "LIMIT",
        "qty": "10",
        "price": "150.00",
        "timeInForce": "DAY",
        "clientId": "CLIENT-001",
    }
    for key, value in overrides.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    return body


def _problems(body: object) -> set[tuple[str, str]]:
    result = parse_order_request(body)
    assert isinstance(result, list), result
    return {(p.code, p.field) for p in result}


def test_valid_limit_order() -> None:
    result = parse_order_request(_body())
    assert result == OrderRequest(
        account_id="SIM-001",
        symbol="AAPL",
        side=Side.BUY,
        type=OrderType.LIMIT,
        qty=Decimal(10),
        time_in_force="DAY",
        price=Decimal("150.00"),
        client_id="CLIENT-001",
    )


def test_older_account_id_name_is_accepted() -> None:
    result = parse_order_request(_body(tradingAccountId=None, accountId="SIM-002"))
    assert isinstance(result, OrderRequest)
    assert result.account_id == "SIM-002"


def test_every_missing_required_field_is_reported() -> None:
    problems = _problems({"type": "MARKET"})
    assert {
        ("MISSING_FIELD", "tradingAccountId"),
        ("MISSING_FIELD", "symbol"),
        ("MISSING_FIELD", "side"),
        ("MISSING_FIELD", "qty"),
        ("MISSING_FIELD", "timeInForce"),
    } <= problems


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"price": None}, ("MISSING_FIELD", "price")),
        ({"type": "MARKET"}, ("INVALID_FIELD", "price")),
        ({"type": "STOP", "price": None}, ("MISSING_FIELD", "stopPrice")),
        ({"stopPrice": "149.00"}, ("INVALID_FIELD", "stopPrice")),
        ({"side": "HOLD"}, ("INVALID_FIELD", "side")),
        ({"type": "TRAILING"}, ("INVALID_FIELD", "type")),
        ({"timeInForce": "FOREVER"}, ("INVALID_FIELD", "timeInForce")),
        ({"qty": "abc"}, ("INVALID_FIELD", "qty")),
        ({"qty": "0"}, ("INVALID_FIELD", "qty")),
        ({"qty": "1.5"}, ("INVALID_FIELD", "qty")),
        ({"qty": 10.0}, ("INVALID_FIELD", "qty")),
        ({"price": "150.001"}, ("INVALID_FIELD", "price")),
        ({"price": "-1"}, ("INVALID_FIELD", "price")),
        ({"clientId": "x" * 51}, ("INVALID_FIELD", "clientId")),
        ({"legs": [{"securityType": "OPT"}]}, ("INVALID_FIELD", "legs")),
        ({"symbol": 7}, ("INVALID_FIELD", "symbol")),
    ],
)
def test_invalid_fields(overrides: dict[str, Any], expected: tuple[str, str]) -> None:
    assert expected in _problems(_body(**overrides))


def test_non_object_body() -> None:
    result = parse_order_request([1, 2])
    assert result == [
        FieldProblem(code="INVALID_FIELD", field="", description="body must be a JSON object")
    ]


def test_cancel_body() -> None:
    body = {"origClOrdId": "SIM-1", "tradingAccountId": "SIM-001", "symbol": "AAPL", "side": "BUY"}
    assert parse_cancel_request(body) == CancelRequest(
        orig_cl_ord_id="SIM-1", account_id="SIM-001", symbol="AAPL", side=Side.BUY
    )
    problems = parse_cancel_request({"symbol": "AAPL"})
    assert isinstance(problems, list)
    assert {(p.code, p.field) for p in problems} == {
        ("MISSING_FIELD", "origClOrdId"),
        ("MISSING_FIELD", "tradingAccountId"),
    }
