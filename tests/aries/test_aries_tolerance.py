"""The client tolerance checklist (ARIES.md §10 and the client rules of §2-§5): every variant the
client must accept decodes to the same result as the canonical form."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from engine.aries import (
    AuthExpired,
    AuthFailed,
    AuthSuccess,
    ErrorMessage,
    PnlHistory,
    RefreshAuth,
    Subscribed,
)
from engine.model import (
    AccountSnapshotReceived,
    OrderReported,
    OrderStatus,
    OrderType,
    PositionReported,
    SecurityType,
    Side,
    TimeInForce,
)

from .samples import (
    AUTH_SUCCESS,
    DELETE,
    ERROR,
    ORDER_STOCK,
    ORDER_V1,
    ORDER_V2_SNAPSHOT,
    POSITION,
    SNAPSHOT_ACCOUNT,
    SNAPSHOT_POSITION,
    SUBSCRIBED_SNAPSHOT,
    Json,
    decode,
    decode_error,
    variant,
)
from .test_aries_decode import EXPECTED_BALANCE, EXPECTED_SNAPSHOT, EXPECTED_SNAPSHOT_ORDER

# --- auth and session ---------------------------------------------------------------------------


@pytest.mark.parametrize("envelope_type", ["event", "response"])
def test_auth_success_as_event_or_response(envelope_type: str) -> None:
    assert decode(variant(AUTH_SUCCESS, type=envelope_type)) == AuthSuccess(
        id="auth-1", expires_in_ms=3_900_000, expires_at_ms=1_768_491_000_000
    )


@pytest.mark.parametrize(
    ("changes", "expected_id"),
    [
        ({}, "auth-1"),
        ({"id": DELETE}, "auth-1"),  # payload.id only
        ({"payload__id": DELETE}, "auth-1"),  # top level only
        ({"id": "top", "payload__id": "inner"}, "top"),  # top level wins
        ({"id": DELETE, "payload__id": DELETE}, None),
    ],
)
def test_id_at_top_level_or_in_payload(changes: dict[str, Any], expected_id: str | None) -> None:
    message = decode(variant(AUTH_SUCCESS, **changes))
    assert isinstance(message, AuthSuccess)
    assert message.id == expected_id


def test_action_at_top_level() -> None:
    message: Json = {"type": "event", "action": "authExpired"}
    assert decode(message) == AuthExpired()


def test_expiry_directly_in_payload() -> None:
    message = variant(
        AUTH_SUCCESS, payload__data=DELETE, payload__expiresIn="3900000", payload__expiresAt=1.0e12
    )
    assert decode(message) == AuthSuccess(
        id="auth-1", expires_in_ms=3_900_000, expires_at_ms=1_000_000_000_000
    )


@pytest.mark.parametrize("action", ["refreshAuth", "refreshWarning", "refresh_auth"])
def test_refresh_warning_names(action: str) -> None:
    message: Json = {"type": "event", "payload": {"action": action, "data": {"expiresIn": 300000}}}
    assert decode(message) == RefreshAuth(expires_in_ms=300_000, expires_at_ms=None)


@pytest.mark.parametrize("action", ["authExpired", "sessionExpired", "session_expired"])
def test_expiry_names(action: str) -> None:
    assert decode({"type": "event", "payload": {"action": action}}) == AuthExpired()


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        {"type": "error", "id": "x", "payload": {"code": "UNKNOWN_TOPIC", "error": "bad topic"}},
        {"type": "event", "id": "x", "payload": {"action": "error", "code": "UNKNOWN_TOPIC",
                                                   "error": "bad topic"}},
        {"type": "response", "id": "x", "code": "UNKNOWN_TOPIC", "message": "bad topic",
         "payload": {"action": "error"}},
        {"type": "error", "payload": {"id": "x", "error": {"code": "UNKNOWN_TOPIC",
                                                           "message": "bad topic"}}},
        {"type": "error", "id": "x", "code": "UNKNOWN_TOPIC",
         "payload": {"message": "bad topic"}},
    ],
)  # fmt: skip
def test_error_variants(message: Json) -> None:
    assert decode(message) == ErrorMessage(id="x", code="UNKNOWN_TOPIC", message="bad topic")


def test_error_code_search_order() -> None:
    message = variant(ERROR, code="TOP", payload__code="INNER")
    assert decode(message) == ErrorMessage(id="s-1", code="INNER", message="accountId is required")


def test_error_without_code_or_text() -> None:
    assert decode({"type": "error"}) == ErrorMessage(id=None, code="", message="")


@pytest.mark.parametrize(
    ("text", "code"),
    [("authentication failed", "INVALID_TOKEN"), ("Token is required", "TOKEN_REQUIRED")],
)
def test_auth_failure_texts_without_code(text: str, code: str) -> None:
    message: Json = {"type": "event", "payload": {"action": "error", "error": text, "id": "a"}}
    assert decode(message) == AuthFailed(id="a", code=code, message=text)


# --- subscribe acks and snapshot layouts ------------------------------------------------------


@pytest.mark.parametrize(
    "ack",
    [
        {"type": "subscribed", "id": "s-1", "topic": "watchlist"},
        {"type": "response", "id": "s-1", "topic": "watchlist",
         "payload": {"action": "subscribed"}},
        {"type": "event", "id": "s-1", "payload": {"action": "subscribeSuccess",
                                                     "topic": "watchlist"}},
        {"type": "subscribed", "id": "s-1", "topic": "watchlistUpdates"},
    ],
)  # fmt: skip
def test_subscribe_ack_variants(ack: Json) -> None:
    assert decode(ack) == Subscribed(id="s-1", topic="watchlist")


def _payload(**layout: Any) -> Json:
    return variant(SUBSCRIBED_SNAPSHOT, payload=layout)


def _snapshot_of(message: Json) -> AccountSnapshotReceived:
    decoded = decode(message)
    if isinstance(decoded, Subscribed):
        assert decoded.snapshot is not None
        return decoded.snapshot
    assert isinstance(decoded, AccountSnapshotReceived)
    return decoded


_INFO_KEYS = ("accountId", "accountType", "accountClass", "optionsLevel", "status")
_INFO = {key: SNAPSHOT_ACCOUNT[key] for key in _INFO_KEYS}
_BALANCE = {key: value for key, value in SNAPSHOT_ACCOUNT.items() if key not in _INFO_KEYS[1:]}
_LISTS = {"positions": [SNAPSHOT_POSITION], "ordersV2": [ORDER_V2_SNAPSHOT]}


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(SUBSCRIBED_SNAPSHOT, id="canonical"),
        pytest.param(_payload(account=_INFO, balance=_BALANCE, **_LISTS), id="split"),
        pytest.param(_payload(**SNAPSHOT_ACCOUNT, **_LISTS), id="flat-payload"),
        pytest.param(_payload(data={**SNAPSHOT_ACCOUNT, **_LISTS}), id="flat-payload-data"),
        pytest.param(
            _payload(data={"account": SNAPSHOT_ACCOUNT, **_LISTS}), id="account-in-payload-data"
        ),
        pytest.param(variant(SUBSCRIBED_SNAPSHOT, topic="accUpdates"), id="legacy-topic-name"),
    ],
)
def test_snapshot_layouts(message: Json) -> None:
    assert _snapshot_of(message) == EXPECTED_SNAPSHOT


def test_snapshot_as_separate_event() -> None:
    ack: Json = {"type": "subscribed", "id": "sub-acct-1", "topic": "account",
                 "params": {"accountId": "ACC-001"}}  # fmt: skip
    assert decode(ack) == Subscribed(id="sub-acct-1", topic="account")
    event = {
        "type": "event",
        "topic": "account",
        "payload": {
            "action": "snapshot",
            "accountId": "ACC-001",
            "data": {"account": SNAPSHOT_ACCOUNT, **_LISTS},
        },
        "timestamp": "2026-01-15T14:30:00.500Z",
    }
    assert decode(event) == EXPECTED_SNAPSHOT


def test_pnl_history_snapshot_is_not_an_account_snapshot() -> None:
    message: Json = {
        "type": "event",
        "topic": "pnl",
        "payload": {"action": "snapshot", "type": "pnl.candle", "accountId": "A", "data": []},
    }
    assert decode(message) == PnlHistory(account_id="A", interval="1m", candles=(), snapshot=True)


def test_snapshot_prefers_orders_v2_over_legacy_orders() -> None:
    v2 = variant(ORDER_V2_SNAPSHOT, clOrdId="FROM-V2")
    v1 = variant(ORDER_V1, clOrdId="FROM-V1")
    message = variant(SUBSCRIBED_SNAPSHOT, payload__ordersV2=[v2], payload__orders=[v1])
    assert [order.cl_ord_id for order in _snapshot_of(message).orders] == ["FROM-V2"]
    empty_v2 = variant(SUBSCRIBED_SNAPSHOT, payload__ordersV2=[], payload__orders=[v1])
    assert _snapshot_of(empty_v2).orders == ()


def test_snapshot_with_legacy_v1_orders_only() -> None:
    message = variant(SUBSCRIBED_SNAPSHOT, payload__ordersV2=DELETE)
    assert _snapshot_of(message).orders == (EXPECTED_SNAPSHOT_ORDER,)


def test_snapshot_without_balance_fields_and_with_null_arrays() -> None:
    message = _payload(account=_INFO, positions=None, ordersV2=None, orders=[ORDER_V1])
    snapshot = _snapshot_of(message)
    assert snapshot.balance is None
    assert snapshot.info is not None
    assert (snapshot.positions, snapshot.orders) == ((), ())


def test_snapshot_balance_only() -> None:
    snapshot = _snapshot_of(_payload(balance=_BALANCE, positions=[], orders=[]))
    assert snapshot.balance == EXPECTED_BALANCE
    assert snapshot.info is None


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (_payload(account=SNAPSHOT_ACCOUNT, ordersV2=[]), "payload.positions"),
        (_payload(account=SNAPSHOT_ACCOUNT, positions=[]), "payload.ordersV2"),
        (_payload(data={**SNAPSHOT_ACCOUNT, "positions": []}), "payload.data.ordersV2"),
    ],
)
def test_snapshot_missing_arrays_is_an_error_not_an_empty_account(
    message: Json, field: str
) -> None:
    """A snapshot replaces local state: an absent array must never read as "none"."""
    error = decode_error(message)
    assert (error.message_type, error.field) == ("subscribed", field)


def test_order_event_with_snapshot_action_is_not_an_account_snapshot() -> None:
    message = variant(ORDER_STOCK, payload__action="snapshot")
    assert isinstance(decode(message), OrderReported)


# --- orders ---------------------------------------------------------------------------------------


def test_v1_order_shape_in_an_event() -> None:
    message = variant(ORDER_STOCK, payload__accountId="ACC-001", payload__data=ORDER_V1)
    report = decode(message)
    assert isinstance(report, OrderReported)
    assert report.order == EXPECTED_SNAPSHOT_ORDER


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("WORKING", OrderStatus.NEW),
        ("SUPERSEDED", OrderStatus.REPLACED),
        ("REPLACED", OrderStatus.REPLACED),
        ("CANCELLED", OrderStatus.CANCELED),
        ("partially_filled", OrderStatus.PARTIALLY_FILLED),
    ],
)
def test_order_status_aliases(status: str, expected: OrderStatus) -> None:
    report = decode(variant(ORDER_STOCK, payload__data__ordStatus=status))
    assert isinstance(report, OrderReported)
    assert report.order.status is expected


def test_order_enum_aliases() -> None:
    message = variant(
        ORDER_STOCK,
        payload__data__type="STOPLIMIT",
        payload__data__timeInForce="AT_THE_CLOSE",
        payload__data__securityType="CS",
        payload__data__stopPrice="170",
    )
    report = decode(message)
    assert isinstance(report, OrderReported)
    order = report.order
    assert (order.type, order.time_in_force, order.security_type, order.stop_price) == (
        OrderType.STOP_LIMIT,
        TimeInForce.CLO,
        SecurityType.EQUITY,
        Decimal("170"),
    )


def test_trading_account_id_instead_of_account_id() -> None:
    message = variant(
        ORDER_STOCK,
        payload__accountId=DELETE,
        payload__tradingAccountId="TEST-ACCOUNT-001",
        payload__data__accountId=DELETE,
        payload__data__tradingAccountId="TEST-ACCOUNT-001",
    )
    report = decode(message)
    assert isinstance(report, OrderReported)
    assert report.account_id == report.order.account_id == "TEST-ACCOUNT-001"


def test_account_id_only_in_envelope() -> None:
    report = decode(variant(ORDER_STOCK, payload__data__accountId=DELETE))
    assert isinstance(report, OrderReported)
    assert report.order.account_id == "TEST-ACCOUNT-001"


def test_unset_values_and_missing_optionals() -> None:
    data: Json = {"clOrdId": "C", "symbol": "AAPL", "side": "SELL", "type": "MARKET", "qty": 10,
                  "ordStatus": "PENDING_NEW", "price": "", "stopPrice": "", "cumQty": "",
                  "legs": None, "clientId": "", "createdAt": ""}  # fmt: skip
    report = decode(variant(ORDER_STOCK, payload__data=data))
    assert isinstance(report, OrderReported)
    order = report.order
    assert order.price is None
    assert order.stop_price is None
    assert order.cum_qty == Decimal(0)
    assert order.leaves_qty == Decimal(0)
    assert order.time_in_force is TimeInForce.DAY
    assert order.client_order_id is None
    assert order.venue_order_id is None
    assert order.created_at is None
    assert order.legs == ()
    assert order.side is Side.SELL
    assert order.qty == Decimal(10)


def test_single_option_leg_with_short_codes() -> None:
    leg: Json = {"side": "S", "putCall": "P", "positionEffect": "C", "securityType": "OPT",
                 "strikePrice": 95, "maturity": "2027-01-15"}  # fmt: skip
    message = variant(ORDER_STOCK, payload__data__securityType=DELETE, payload__data__legs=[leg])
    report = decode(message)
    assert isinstance(report, OrderReported)
    order = report.order
    assert order.security_type is SecurityType.OPTION
    (only,) = order.legs
    assert (only.symbol, only.side, only.put_call, only.position_effect, only.ratio_qty) == (
        "AAPL",
        Side.SELL,
        "PUT",
        "CLOSE",
        Decimal(1),
    )
    assert only.strike_price == Decimal("95")


# --- positions ----------------------------------------------------------------------------------


def _position(**data_changes: Any) -> PositionReported:
    changes = {f"payload__data__{key}": value for key, value in data_changes.items()}
    report = decode(variant(POSITION, **changes))
    assert isinstance(report, PositionReported)
    return report


@pytest.mark.parametrize(
    "changes",
    [
        {"avgPrice": DELETE},  # avgCost
        {"avgPrice": "", "avgCost": DELETE, "averagePrice": "171.62"},
        {"avgPrice": DELETE, "avgCost": DELETE, "averagePrice": 171.62},
    ],
)
def test_position_avg_price_aliases(changes: dict[str, Any]) -> None:
    assert _position(**changes).position.avg_price == Decimal("171.62")


def test_position_realized_and_security_type_aliases() -> None:
    report = _position(
        todayRealizedPnL=DELETE, realizedPL="12.5", securityType=DELETE, instrument="OPT"
    )
    assert report.position.today_realized_pnl == Decimal("12.5")
    assert report.position.security_type is SecurityType.OPTION


def test_position_primary_fields_win_over_aliases() -> None:
    report = _position(avgCost="1", realizedPL="2", instrument="OPTION")
    assert report.position.avg_price == Decimal("171.62")
    assert report.position.today_realized_pnl == Decimal(0)
    assert report.position.security_type is SecurityType.EQUITY


@pytest.mark.parametrize(
    ("code", "expected"),
    [("CS", SecurityType.EQUITY), ("E", SecurityType.EQUITY), ("O", SecurityType.OPTION)],
)
def test_position_security_type_codes(code: str, expected: SecurityType) -> None:
    assert _position(securityType=code).position.security_type is expected


def test_short_and_closed_positions() -> None:
    assert _position(quantity="-50").position.quantity == Decimal(-50)
    assert _position(quantity=0).position.quantity == Decimal(0)


# --- timestamps and decimals --------------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-01-15T14:30:07Z",
        "2026-01-15T14:30:07.000Z",
        "2026-01-15T09:30:07-05:00",
        "2026-01-15T14:30:07.000000000+00:00",
        1768487407000,
        "1768487407000",
    ],
)
def test_timestamp_forms_at_top_level(timestamp: object) -> None:
    report = decode(variant(POSITION, timestamp=timestamp))
    assert isinstance(report, PositionReported)
    assert report.ts_event == datetime(2026, 1, 15, 14, 30, 7, tzinfo=UTC)
    assert report.ts_event.tzinfo is UTC


@pytest.mark.parametrize("timestamp", ["2026-01-15T14:30:07Z", 1768487407000])
def test_timestamp_in_payload(timestamp: object) -> None:
    report = decode(variant(POSITION, timestamp=DELETE, payload__timestamp=timestamp))
    assert isinstance(report, PositionReported)
    assert report.ts_event == datetime(2026, 1, 15, 14, 30, 7, tzinfo=UTC)


def test_no_timestamp_at_all() -> None:
    report = decode(variant(POSITION, timestamp=DELETE))
    assert isinstance(report, PositionReported)
    assert report.ts_event is None


@pytest.mark.parametrize(
    ("timestamp", "problem"),
    [
        ("2026-01-15T14:30:07", "without UTC offset"),
        ("2026-01-15", "without UTC offset"),
        ("15/01/2026 14:30", "not an RFC 3339"),
        (-5, "out of range"),
        (True, "expected an RFC 3339"),
    ],
)
def test_bad_timestamps_are_rejected(timestamp: object, problem: str) -> None:
    error = decode_error(variant(POSITION, timestamp=timestamp))
    assert (error.message_type, error.field) == ("account.position", "timestamp")
    assert problem in error.problem


def test_naive_domain_timestamp_is_rejected() -> None:
    error = decode_error(variant(POSITION, payload__data__updatedAt="2026-01-15T14:30:07"))
    assert (error.message_type, error.field) == ("account.position", "payload.data.updatedAt")
    assert "without UTC offset" in error.problem


def _with_quantity_literal(literal: str) -> str:
    """The position sample with ``quantity`` written as the raw JSON text ``literal``."""
    return json.dumps(variant(POSITION, payload__data__quantity="@")).replace('"@"', literal)


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ('"0.1"', "0.1"),
        ("0.1", "0.1"),
        ("100", "100"),
        ("123456789.123456789", "123456789.123456789"),
        ("1.5e3", "1.5E+3"),
        ('"-0.00"', "-0.00"),
        ('"1e-18"', "1E-18"),
    ],
)
def test_decimals_as_strings_or_numbers_are_exact(literal: str, expected: str) -> None:
    report = decode(_with_quantity_literal(literal))
    assert isinstance(report, PositionReported)
    assert report.position.quantity == Decimal(expected)
    assert str(report.position.quantity) == expected


@pytest.mark.parametrize(
    "raw", ["NaN", "nan", "Infinity", "-Infinity", "sNaN", "1e400", "1e-400", "1_000", "", "0x10"]
)
def test_non_finite_or_absurd_decimal_strings_are_rejected(raw: str) -> None:
    error = decode_error(variant(POSITION, payload__data__quantity=raw))
    assert (error.message_type, error.field) == ("account.position", "payload.data.quantity")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "1E+16"])
def test_non_finite_or_absurd_json_numbers_are_rejected(literal: str) -> None:
    error = decode_error(_with_quantity_literal(literal))
    assert (error.message_type, error.field) == ("account.position", "payload.data.quantity")


def test_unknown_fields_are_ignored() -> None:
    report = decode(variant(POSITION, payload__data__brandNewField={"x": [1, 2]}, extra=1))
    assert isinstance(report, PositionReported)
    assert report.position.quantity == Decimal(140)
