"""Parsing and validation of the order REST bodies (§8.6, §8.7), pure and sync.

Each parser returns either a typed request or the list of field problems, which the REST layer
turns into a 400 with the §8.11 envelope (``INVALID_FIELD`` / ``MISSING_FIELD`` codes naming the
field). Ownership (403) and order lookup (404/409) are the ledger's business, not checked here.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import attrs

from engine.sim._options import parse_osi
from engine.sim._profile import (
    CLIENT_ID_MAX_LEN,
    HTTP_INVALID_FIELD,
    HTTP_MISSING_FIELD,
    OPTION_TIME_IN_FORCE,
    ORDER_CURRENCY,
    ORDER_EX_DESTINATION,
    PRICE_MAX_DECIMALS,
    TIME_IN_FORCE_ACCEPTED,
    TRAIL_OFFSET_DOLLAR,
    TRAIL_OFFSET_FIELD,
    TRAIL_OFFSET_PERCENT,
    TRAIL_OFFSET_TYPE_FIELD,
    TRAIL_OFFSET_TYPES,
)
from engine.sim._vocab import OrderType, Side

_EnumT = TypeVar("_EnumT", Side, OrderType)

#: Body keys naming the account: the current name first, the older one second (§8.6).
ACCOUNT_KEYS = ("tradingAccountId", "accountId")


@attrs.frozen(kw_only=True)
class FieldProblem:
    """One validation failure: a §8.11 ``codes[]`` item."""

    code: str
    field: str
    description: str


@attrs.frozen(kw_only=True)
class OrderRequest:
    """A validated ``POST /v1/orders`` body: a stock, or a single option by OSI ``symbol``."""

    account_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    time_in_force: str
    price: Decimal | None = None
    stop_price: Decimal | None = None
    client_id: str = ""
    currency: str = ORDER_CURRENCY
    ex_destination: str = ORDER_EX_DESTINATION
    trail_offset: Decimal | None = None
    trail_offset_type: str | None = None


@attrs.frozen(kw_only=True)
class ReplaceRequest:
    """A validated ``POST /v1/orders/replace`` body (§8.8): only the changing fields are set."""

    orig_cl_ord_id: str
    account_id: str
    symbol: str
    side: Side | None = None
    type: OrderType | None = None
    qty: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str | None = None
    client_id: str | None = None
    trail_offset: Decimal | None = None
    trail_offset_type: str | None = None


@attrs.frozen(kw_only=True)
class CancelRequest:
    """A validated ``POST /v1/orders/cancel`` body."""

    orig_cl_ord_id: str
    account_id: str
    symbol: str
    side: Side | None = None


class _Problems:
    def __init__(self) -> None:
        self.items: list[FieldProblem] = []

    def missing(self, field: str) -> None:
        self.items.append(
            FieldProblem(code=HTTP_MISSING_FIELD, field=field, description=f"{field} is required")
        )

    def invalid(self, field: str, description: str) -> None:
        self.items.append(
            FieldProblem(code=HTTP_INVALID_FIELD, field=field, description=description)
        )


def _present(body: dict[str, Any], key: str) -> bool:
    return key in body and body[key] is not None and body[key] != ""


def _string(body: dict[str, Any], key: str, problems: _Problems, *, required: bool) -> str | None:
    if not _present(body, key):
        if required:
            problems.missing(key)
        return None
    value = body[key]
    if not isinstance(value, str):
        problems.invalid(key, f"{key} must be a string")
        return None
    return value


def _account(body: dict[str, Any], problems: _Problems) -> str | None:
    for key in ACCOUNT_KEYS:
        if _present(body, key):
            return _string(body, key, problems, required=True)
    problems.missing(ACCOUNT_KEYS[0])
    return None


def _decimal(
    body: dict[str, Any], key: str, problems: _Problems, *, max_decimals: int | None
) -> Decimal | None:
    """A positive decimal from a decimal string (or an integer); floats are refused."""
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, str | int):
        problems.invalid(key, f"{key} must be a decimal string")
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        problems.invalid(key, f"{key} must be a decimal string")
        return None
    if not number.is_finite() or number <= 0:
        problems.invalid(key, f"{key} must be greater than zero")
        return None
    exponent = number.as_tuple().exponent
    if max_decimals is not None and isinstance(exponent, int) and -exponent > max_decimals:
        problems.invalid(key, f"{key} must have at most {max_decimals} decimals")
        return None
    return number


def _enum(
    body: dict[str, Any], key: str, enum_type: type[_EnumT], problems: _Problems
) -> _EnumT | None:
    raw = _string(body, key, problems, required=True)
    if raw is None:
        return None
    try:
        return enum_type(raw)
    except ValueError:
        allowed = ", ".join(m.value for m in enum_type)
        problems.invalid(key, f"{key} must be one of {allowed}")
        return None


def parse_order_request(body: object) -> OrderRequest | list[FieldProblem]:
    """Validate a place-order body; return the request or every problem found."""
    problems = _Problems()
    if not isinstance(body, dict):
        problems.invalid("", "body must be a JSON object")
        return problems.items
    account_id = _account(body, problems)
    symbol = _string(body, "symbol", problems, required=True)
    side = _enum(body, "side", Side, problems)
    order_type = _enum(body, "type", OrderType, problems)
    tif = _string(body, "timeInForce", problems, required=True)
    if tif is not None and tif not in TIME_IN_FORCE_ACCEPTED:
        problems.invalid(
            "timeInForce", f"timeInForce must be one of {', '.join(sorted(TIME_IN_FORCE_ACCEPTED))}"
        )
        tif = None
    qty: Decimal | None = None
    if not _present(body, "qty"):
        problems.missing("qty")
    else:
        qty = _decimal(body, "qty", problems, max_decimals=0)
    price: Decimal | None = None
    stop_price: Decimal | None = None
    if order_type is not None:
        price = _priced_field(body, "price", order_type.needs_price, order_type, problems)
        stop_price = _priced_field(
            body, "stopPrice", order_type.needs_stop_price, order_type, problems
        )
    trail_offset, trail_type = _trailing(body, order_type, problems)
    if symbol is not None and parse_osi(symbol) is not None:
        if side is not None and side not in (Side.BUY, Side.SELL):
            problems.invalid("side", "option orders take BUY or SELL")
        if tif is not None and tif not in OPTION_TIME_IN_FORCE:
            problems.invalid("timeInForce", "option orders take DAY or GTC")
    client_id = _string(body, "clientId", problems, required=False) or ""
    if len(client_id) > CLIENT_ID_MAX_LEN:
        problems.invalid("clientId", f"clientId must be at most {CLIENT_ID_MAX_LEN} characters")
    legs = body.get("legs")
    if legs not in (None, []):
        problems.invalid("legs", "option orders are not simulated yet")
    currency = _string(body, "currency", problems, required=False) or ORDER_CURRENCY
    ex_destination = (
        _string(body, "exDestination", problems, required=False) or ORDER_EX_DESTINATION
    )
    if (
        problems.items
        or account_id is None
        or symbol is None
        or side is None
        or order_type is None
        or tif is None
        or qty is None
    ):
        return problems.items
    return OrderRequest(
        account_id=account_id,
        symbol=symbol,
        side=side,
        type=order_type,
        qty=qty,
        time_in_force=tif,
        price=price,
        stop_price=stop_price,
        client_id=client_id,
        currency=currency,
        ex_destination=ex_destination,
        trail_offset=trail_offset,
        trail_offset_type=trail_type,
    )


def _trailing(
    body: dict[str, Any], order_type: OrderType | None, problems: _Problems
) -> tuple[Decimal | None, str | None]:
    """TRAILING_STOP's INFERRED ``trailOffset`` (+ ``trailOffsetType``, default DOLLAR)."""
    has_offset = _present(body, TRAIL_OFFSET_FIELD)
    if order_type is not OrderType.TRAILING_STOP:
        for key in (TRAIL_OFFSET_FIELD, TRAIL_OFFSET_TYPE_FIELD):
            if _present(body, key) and order_type is not None:
                problems.invalid(key, f"{key} must be absent for {order_type.value} orders")
        return None, None
    if not has_offset:
        problems.missing(TRAIL_OFFSET_FIELD)
        return None, None
    kind = _string(body, TRAIL_OFFSET_TYPE_FIELD, problems, required=False) or TRAIL_OFFSET_DOLLAR
    if kind not in TRAIL_OFFSET_TYPES:
        problems.invalid(
            TRAIL_OFFSET_TYPE_FIELD,
            f"{TRAIL_OFFSET_TYPE_FIELD} must be one of {', '.join(sorted(TRAIL_OFFSET_TYPES))}",
        )
        return None, None
    decimals = PRICE_MAX_DECIMALS if kind == TRAIL_OFFSET_DOLLAR else 4
    offset = _decimal(body, TRAIL_OFFSET_FIELD, problems, max_decimals=decimals)
    if offset is not None and kind == TRAIL_OFFSET_PERCENT and offset >= 100:
        problems.invalid(TRAIL_OFFSET_FIELD, "a percent trailOffset must be below 100")
        return None, None
    return offset, kind


def parse_replace_request(body: object) -> ReplaceRequest | list[FieldProblem]:
    """Validate a replace body (§8.8); return the request or every problem found."""
    problems = _Problems()
    if not isinstance(body, dict):
        problems.invalid("", "body must be a JSON object")
        return problems.items
    orig = _string(body, "origClOrdId", problems, required=True)
    account_id = _account(body, problems)
    symbol = _string(body, "symbol", problems, required=True)
    side = _enum(body, "side", Side, problems) if _present(body, "side") else None
    order_type = _enum(body, "type", OrderType, problems) if _present(body, "type") else None
    qty = _decimal(body, "qty", problems, max_decimals=0) if _present(body, "qty") else None
    price = (
        _decimal(body, "price", problems, max_decimals=PRICE_MAX_DECIMALS)
        if _present(body, "price")
        else None
    )
    stop_price = (
        _decimal(body, "stopPrice", problems, max_decimals=PRICE_MAX_DECIMALS)
        if _present(body, "stopPrice")
        else None
    )
    tif = _string(body, "timeInForce", problems, required=False)
    if tif is not None and tif not in TIME_IN_FORCE_ACCEPTED:
        problems.invalid(
            "timeInForce", f"timeInForce must be one of {', '.join(sorted(TIME_IN_FORCE_ACCEPTED))}"
        )
    client_id = _string(body, "clientId", problems, required=False)
    if client_id is not None and len(client_id) > CLIENT_ID_MAX_LEN:
        problems.invalid("clientId", f"clientId must be at most {CLIENT_ID_MAX_LEN} characters")
    trail_offset: Decimal | None = None
    trail_type: str | None = None
    if _present(body, TRAIL_OFFSET_FIELD):
        trail_offset, trail_type = _trailing(body, OrderType.TRAILING_STOP, problems)
    if (
        order_type is None
        and qty is None
        and price is None
        and stop_price is None
        and tif is None
        and trail_offset is None
        and not problems.items
    ):
        problems.invalid("", "nothing to replace: give qty, price, stopPrice, type or timeInForce")
    if problems.items or orig is None or account_id is None or symbol is None:
        return problems.items
    return ReplaceRequest(
        orig_cl_ord_id=orig,
        account_id=account_id,
        symbol=symbol,
        side=side,
        type=order_type,
        qty=qty,
        price=price,
        stop_price=stop_price,
        time_in_force=tif,
        client_id=client_id,
        trail_offset=trail_offset,
        trail_offset_type=trail_type,
    )


def _priced_field(
    body: dict[str, Any], key: str, required: bool, order_type: OrderType, problems: _Problems
) -> Decimal | None:
    present = _present(body, key)
    if required and not present:
        problems.missing(key)
        return None
    if not required and present:
        problems.invalid(key, f"{key} must be absent for {order_type.value} orders")
        return None
    if not present:
        return None
    return _decimal(body, key, problems, max_decimals=PRICE_MAX_DECIMALS)


def parse_cancel_request(body: object) -> CancelRequest | list[FieldProblem]:
    """Validate a cancel body; return the request or every problem found."""
    problems = _Problems()
    if not isinstance(body, dict):
        problems.invalid("", "body must be a JSON object")
        return problems.items
    orig = _string(body, "origClOrdId", problems, required=True)
    account_id = _account(body, problems)
    symbol = _string(body, "symbol", problems, required=True)
    side = _enum(body, "side", Side, problems) if _present(body, "side") else None
    if problems.items or orig is None or account_id is None or symbol is None:
        return problems.items
    return CancelRequest(orig_cl_ord_id=orig, account_id=account_id, symbol=symbol, side=side)
