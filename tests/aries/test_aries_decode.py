"""Every canonical server message of ARIES.md decodes to the right record, and a malformed copy
raises a ``ProtocolError`` naming the message type and the field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import attrs
import pytest

from engine.aries import (
    AuthExpired,
    AuthFailed,
    AuthSuccess,
    ErrorMessage,
    MarketStatus,
    Pong,
    QuoteUpdate,
    RefreshAuth,
    Subscribed,
    TradeUpdate,
    UnknownMessage,
    Unsubscribed,
    WireQuote,
    WireTrade,
    decode_message,
)
from engine.errors import ProtocolError
from engine.model import (
    AccountInfo,
    AccountInfoReported,
    AccountSnapshotReceived,
    Balance,
    BalanceReported,
    Endpoint,
    Order,
    OrderLeg,
    OrderReported,
    OrderStatus,
    OrderType,
    Position,
    PositionReported,
    SecurityType,
    Side,
    TimeInForce,
)

from .samples import (
    ACCOUNT_INFO,
    AUTH_EXPIRED,
    AUTH_FAILED_MARKET,
    AUTH_REQUIRED,
    AUTH_SUCCESS,
    AUTH_SUCCESS_MARKET,
    BALANCE,
    DELETE,
    ERROR,
    ERROR_EVENT,
    LEVEL2,
    MARKET_STATUS,
    MARKET_SUBSCRIBED,
    ORDER_MULTI_LEG,
    ORDER_STOCK,
    PNL_CANDLE,
    PONG,
    POSITION,
    QUOTE,
    REFRESH_AUTH,
    SUBSCRIBED_PNL,
    SUBSCRIBED_SNAPSHOT,
    TRADE,
    TS_RECV,
    UNSUBSCRIBED,
    decode,
    decode_error,
    variant,
)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


# --- auth ---------------------------------------------------------------------------------------


def test_auth_success() -> None:
    assert decode(AUTH_SUCCESS) == AuthSuccess(
        id="auth-1", expires_in_ms=3_900_000, expires_at_ms=1_768_491_000_000
    )


def test_auth_success_market_form_has_id_in_payload_only() -> None:
    assert decode(AUTH_SUCCESS_MARKET, Endpoint.MARKET) == AuthSuccess(
        id="auth-001", expires_in_ms=2_700_000, expires_at_ms=None
    )


def test_auth_success_malformed_expiry() -> None:
    error = decode_error(variant(AUTH_SUCCESS, payload__data__expiresIn="soon"))
    assert (error.message_type, error.field) == ("authSuccess", "payload.data.expiresIn")
    assert "soon" in error.problem
    assert error.excerpt.startswith('{"type":"event"')


def test_auth_failure_market_form_maps_text_to_invalid_token() -> None:
    assert decode(AUTH_FAILED_MARKET, Endpoint.MARKET) == AuthFailed(
        id="auth-001", code="INVALID_TOKEN", message="authentication failed"
    )


def test_auth_error_codes_are_auth_failures() -> None:
    message = variant(ERROR, payload__code="INVALID_TOKEN", payload__error="token expired")
    assert decode(message) == AuthFailed(id="s-1", code="INVALID_TOKEN", message="token expired")


def test_auth_required_action() -> None:
    assert decode(AUTH_REQUIRED) == AuthFailed(
        id=None, code="AUTH_REQUIRED", message="authentication required"
    )


def test_refresh_warning() -> None:
    assert decode(REFRESH_AUTH) == RefreshAuth(
        expires_in_ms=300_000, expires_at_ms=1_768_491_000_000
    )


def test_refresh_warning_malformed() -> None:
    error = decode_error(variant(REFRESH_AUTH, payload__data__expiresAt=[1]))
    assert (error.message_type, error.field) == ("refreshAuth", "payload.data.expiresAt")


def test_auth_expired() -> None:
    assert decode(AUTH_EXPIRED) == AuthExpired()


def test_auth_expired_malformed_type() -> None:
    error = decode_error(variant(AUTH_EXPIRED, type=7))
    assert (error.message_type, error.field) == ("authExpired", "type")


# --- errors, ping/pong --------------------------------------------------------------------------


def test_error() -> None:
    assert decode(ERROR) == ErrorMessage(
        id="s-1", code="MISSING_ACCOUNT_ID", message="accountId is required"
    )


def test_error_event_form() -> None:
    assert decode(ERROR_EVENT) == ErrorMessage(
        id="sub-pnl-1",
        code="MISSING_START_TIME",
        message="startTime is required for the pnl topic",
    )


def test_error_malformed_code() -> None:
    error = decode_error(variant(ERROR, payload__code={"nested": True}))
    assert (error.message_type, error.field) == ("error", "payload.code")


def test_pong() -> None:
    assert decode(PONG) == Pong(id="p-1")


def test_pong_malformed_id() -> None:
    error = decode_error(variant(PONG, id=["p-1"]))
    assert (error.message_type, error.field) == ("pong", "id")


# --- subscriptions and the account snapshot ---------------------------------------------------

EXPECTED_BALANCE = Balance(
    account_id="ACC-001",
    sod_positions_market_value=Decimal("17025.00"),
    net_buying_power=Decimal("125000.50"),
    stock_buying_power=Decimal("125000.50"),
    day_trade_buying_power=Decimal("50000.00"),
    option_buying_power=Decimal("25000.00"),
    day_trade_overnight_reg_t_buying_power=Decimal("48000.00"),
    total_equity=Decimal("250000.00"),
    settled_funds=Decimal("100000.00"),
    unsettled_funds=Decimal("5000.00"),
    held_back_funds=Decimal("0"),
    gross_margin=Decimal("0"),
    pending_orders_margin_requirements=Decimal("0"),
    maint_req=Decimal("75000.00"),
    credit_multiplier=Decimal("2"),
    pending_orders_count=1,
    credit=Decimal("0"),
    credit_remaining=Decimal("0"),
    realized_pl=Decimal("1500.25"),
    unrealized_pl=Decimal("-250.75"),
    sma=Decimal("0"),
    sma_credit_remaining=Decimal("0"),
    pdt=Decimal("0"),
    pdt_credit_remaining=Decimal("0"),
    start_of_day_cash=Decimal("95000.00"),
    value_bought=Decimal("0"),
    value_sold=Decimal("0"),
)

EXPECTED_SNAPSHOT_ORDER = Order(
    account_id="ACC-001",
    cl_ord_id="CL-0001",
    venue_order_id="ord-0001",
    symbol="AAPL",
    side=Side.BUY,
    type=OrderType.LIMIT,
    time_in_force=TimeInForce.DAY,
    qty=Decimal("100"),
    price=Decimal("175.50"),
    stop_price=None,
    status=OrderStatus.NEW,
    cum_qty=Decimal("0"),
    leaves_qty=Decimal("100"),
    avg_price=Decimal("0"),
    security_type=SecurityType.EQUITY,
    legs=(),
    created_at=utc(2026, 1, 15, 14, 30),
    updated_at=utc(2026, 1, 15, 14, 30, 5),
)

EXPECTED_SNAPSHOT = AccountSnapshotReceived(
    account_id="ACC-001",
    info=AccountInfo(
        account_id="ACC-001",
        account_type="MARGIN",
        account_class="INDIVIDUAL",
        options_level="LEVEL_2",
        status="OPEN",
    ),
    balance=EXPECTED_BALANCE,
    positions=(
        Position(
            account_id="ACC-001",
            symbol="AAPL",
            quantity=Decimal("100"),
            avg_price=Decimal("170.25"),
            security_type=SecurityType.EQUITY,
            today_realized_pnl=Decimal("0"),
            unrealized_pnl=Decimal("515.00"),
            market_value=Decimal("17540.00"),
            updated_at=utc(2026, 1, 15, 14, 30),
        ),
    ),
    orders=(EXPECTED_SNAPSHOT_ORDER,),
    ts_event=utc(2026, 1, 15, 14, 30, 0, 500_000),
    ts_recv=TS_RECV,
)


def test_subscribed_with_full_snapshot() -> None:
    assert decode(SUBSCRIBED_SNAPSHOT) == Subscribed(
        id="sub-acct-1", topic="account", snapshot=EXPECTED_SNAPSHOT, symbols=()
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"payload__account__netBuyingPower": "NaN"}, "payload.account.netBuyingPower"),
        ({"payload__positions__0__quantity": DELETE}, "payload.positions.0.quantity"),
        ({"payload__ordersV2__0__ordStatus": "BOGUS"}, "payload.ordersV2.0.ordStatus"),
        (
            {"payload__ordersV2__0__createdAt": "2026-01-15T14:30:00"},
            "payload.ordersV2.0.createdAt",
        ),
        ({"payload__positions": {"AAPL": {}}}, "payload.positions"),
        ({"params__accountId": "ACC-999"}, "payload.account.accountId"),
    ],
)
def test_subscribed_snapshot_malformed(change: dict[str, object], field: str) -> None:
    error = decode_error(variant(SUBSCRIBED_SNAPSHOT, **change))
    assert (error.message_type, error.field) == ("subscribed", field)


def test_subscribed_without_snapshot() -> None:
    assert decode(SUBSCRIBED_PNL) == Subscribed(id="sub-pnl-1", topic="pnl")


def test_market_subscribed_lists_symbols() -> None:
    assert decode(MARKET_SUBSCRIBED, Endpoint.MARKET) == Subscribed(
        id="sub-1", topic=None, symbols=("AAPL", "MSFT")
    )


def test_market_subscribed_malformed_symbols() -> None:
    error = decode_error(variant(MARKET_SUBSCRIBED, payload__symbols="AAPL"), Endpoint.MARKET)
    assert (error.message_type, error.field) == ("subscribed", "payload.symbols")


def test_unsubscribed() -> None:
    assert decode(UNSUBSCRIBED) == Unsubscribed(id="unsub-1", topic="pnl")


def test_unsubscribed_malformed_topic() -> None:
    error = decode_error(variant(UNSUBSCRIBED, topic=5))
    assert (error.message_type, error.field) == ("unsubscribed", "topic")


# --- account events -----------------------------------------------------------------------------


def test_order_stock() -> None:
    assert decode(ORDER_STOCK) == OrderReported(
        account_id="TEST-ACCOUNT-001",
        order=Order(
            account_id="TEST-ACCOUNT-001",
            cl_ord_id="ORDER-20260115-001",
            venue_order_id="ord-7f3a9c2e-0001",
            client_order_id="CLIENT-001",
            symbol="AAPL",
            side=Side.BUY,
            type=OrderType.LIMIT,
            time_in_force=TimeInForce.DAY,
            qty=Decimal("100"),
            price=Decimal("175.50"),
            stop_price=None,
            status=OrderStatus.PARTIALLY_FILLED,
            cum_qty=Decimal("40"),
            leaves_qty=Decimal("60"),
            avg_price=Decimal("175.48"),
            last_qty=Decimal("40"),
            last_px=Decimal("175.48"),
            security_type=SecurityType.EQUITY,
            legs=(),
            text="",
            reject_reason="",
            created_at=utc(2026, 1, 15, 14, 30),
            updated_at=utc(2026, 1, 15, 14, 30, 7),
        ),
        ts_event=utc(2026, 1, 15, 14, 30, 7),
        ts_recv=TS_RECV,
    )


def test_order_multi_leg() -> None:
    report = decode(ORDER_MULTI_LEG)
    assert isinstance(report, OrderReported)
    order = report.order
    assert order.security_type is SecurityType.MULTI_LEG
    assert order.client_order_id is None
    assert (order.qty, order.price, order.status) == (
        Decimal("5"),
        Decimal("1.25"),
        OrderStatus.NEW,
    )
    assert order.legs == (
        OrderLeg(
            symbol="AAPL",
            side=Side.BUY,
            ratio_qty=Decimal("1"),
            position_effect="OPEN",
            security_type=SecurityType.OPTION,
            put_call="CALL",
            strike_price=Decimal("150.00"),
            maturity=date(2027, 1, 15),
        ),
        OrderLeg(
            symbol="AAPL",
            side=Side.SELL,
            ratio_qty=Decimal("1"),
            position_effect="OPEN",
            security_type=SecurityType.OPTION,
            put_call="CALL",
            strike_price=Decimal("155.00"),
            maturity=date(2027, 1, 15),
        ),
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"payload__data__cumQty": "abc"}, "payload.data.cumQty"),
        ({"payload__data__clOrdId": DELETE}, "payload.data.clOrdId"),
        ({"payload__data__side": "SIDEWAYS"}, "payload.data.side"),
        ({"payload__data__qty": None}, "payload.data.qty"),
        ({"payload__data__price": "Infinity"}, "payload.data.price"),
        ({"payload__data__updatedAt": "yesterday"}, "payload.data.updatedAt"),
        ({"payload__data": "not an object"}, "payload.data"),
        ({"payload__data__accountId": "OTHER"}, "payload.data.accountId"),
    ],
)
def test_order_stock_malformed(change: dict[str, object], field: str) -> None:
    error = decode_error(variant(ORDER_STOCK, **change))
    assert (error.message_type, error.field) == ("account.order", field)


def test_order_multi_leg_malformed_leg() -> None:
    message = variant(ORDER_MULTI_LEG, payload__data__legs__1__maturity="15/01/2027")
    error = decode_error(message)
    assert (error.message_type, error.field) == ("account.order", "payload.data.legs.1.maturity")


def test_position() -> None:
    assert decode(POSITION) == PositionReported(
        account_id="ACC-001",
        position=Position(
            account_id="ACC-001",
            symbol="AAPL",
            quantity=Decimal("140"),
            avg_price=Decimal("171.62"),
            security_type=SecurityType.EQUITY,
            today_realized_pnl=Decimal("0"),
            unrealized_pnl=Decimal("512.00"),
            market_value=Decimal("24539.00"),
            updated_at=utc(2026, 1, 15, 14, 30, 7),
        ),
        ts_event=utc(2026, 1, 15, 14, 30, 7, 10_000),
        ts_recv=TS_RECV,
    )


def test_position_malformed() -> None:
    error = decode_error(variant(POSITION, payload__data__quantity=DELETE))
    assert (error.message_type, error.field) == ("account.position", "payload.data.quantity")


def test_balance_every_field() -> None:
    assert decode(BALANCE) == BalanceReported(
        account_id="ACC-001",
        balance=Balance(
            account_id="ACC-001",
            sod_positions_market_value=Decimal("17025.00"),
            net_buying_power=Decimal("118000.50"),
            stock_buying_power=Decimal("118000.50"),
            day_trade_buying_power=Decimal("43000.00"),
            option_buying_power=Decimal("25000.00"),
            day_trade_overnight_reg_t_buying_power=Decimal("48000.00"),
            total_equity=Decimal("250010.00"),
            settled_funds=Decimal("100000.00"),
            unsettled_funds=Decimal("5000.00"),
            held_back_funds=Decimal("0"),
            gross_margin=Decimal("0"),
            pending_orders_margin_requirements=Decimal("0"),
            maint_req=Decimal("75000.00"),
            credit_multiplier=Decimal("2"),
            pending_orders_count=1,
            credit=Decimal("0"),
            credit_remaining=Decimal("0"),
            realized_pl=Decimal("1500.25"),
            unrealized_pl=Decimal("-240.75"),
            sma=Decimal("0"),
            sma_credit_remaining=Decimal("0"),
            pdt=Decimal("0"),
            pdt_credit_remaining=Decimal("0"),
            start_of_day_cash=Decimal("95000.00"),
            value_bought=Decimal("7025.00"),
            value_sold=Decimal("0"),
        ),
        ts_event=utc(2026, 1, 15, 14, 30, 7, 20_000),
        ts_recv=TS_RECV,
    )


def test_balance_fields_are_distinct_on_the_wire() -> None:
    """Each balance field reads its own key: a unique value per key lands in one field only."""
    data: dict[str, Any] = {
        key: str(index + 1) for index, key in enumerate(BALANCE["payload"]["data"])
    }
    data["accountId"] = "ACC-001"
    data["pendingOrdersCount"] = 99
    report = decode(variant(BALANCE, payload__data=data))
    assert isinstance(report, BalanceReported)
    values = [
        getattr(report.balance, field.name)
        for field in attrs.fields(Balance)
        if field.name not in ("account_id", "pending_orders_count")
    ]
    assert len(values) == 25
    assert len(set(values)) == 25
    assert Decimal(0) not in values
    assert report.balance.pending_orders_count == 99


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"payload__data__pendingOrdersCount": "1.5"}, "payload.data.pendingOrdersCount"),
        ({"payload__data__SMA": "1e400"}, "payload.data.SMA"),
        ({"payload__data__netBuyingPower": True}, "payload.data.netBuyingPower"),
    ],
)
def test_balance_malformed(change: dict[str, object], field: str) -> None:
    error = decode_error(variant(BALANCE, **change))
    assert (error.message_type, error.field) == ("account.balance", field)


def test_account_info() -> None:
    assert decode(ACCOUNT_INFO) == AccountInfoReported(
        account_id="ACC-001",
        info=AccountInfo(
            account_id="ACC-001",
            account_type="MARGIN",
            account_class="INDIVIDUAL",
            options_level="LEVEL_3",
            status="OPEN",
        ),
        ts_event=utc(2026, 1, 15, 15),
        ts_recv=TS_RECV,
    )


def test_account_info_malformed() -> None:
    error = decode_error(variant(ACCOUNT_INFO, payload__data__isSim="maybe"))
    assert (error.message_type, error.field) == ("account.info", "payload.data.isSim")


def test_account_event_without_account_id() -> None:
    message = variant(POSITION, payload__accountId=DELETE, payload__data__accountId=DELETE)
    error = decode_error(message)
    assert (error.message_type, error.field) == ("account.position", "payload.data.accountId")


# --- market data --------------------------------------------------------------------------------


def test_market_status() -> None:
    status = decode(MARKET_STATUS, Endpoint.MARKET)
    assert isinstance(status, MarketStatus)
    assert status.market == "closed"
    assert status.raw["exchanges"] == {"nasdaq": "closed", "nyse": "closed", "otc": "closed"}
    assert status.ts_event == datetime(2023, 12, 1, 17, 0, 0, 123_000, tzinfo=UTC)


def test_market_status_malformed() -> None:
    error = decode_error(variant(MARKET_STATUS, payload__data__market=DELETE), Endpoint.MARKET)
    assert (error.message_type, error.field) == ("marketStatus", "payload.data.market")


def test_quote() -> None:
    assert decode(QUOTE, Endpoint.MARKET) == QuoteUpdate(
        data=WireQuote(
            symbol="AAPL",
            bid_price=Decimal("189.49"),
            bid_size=Decimal("300"),
            ask_price=Decimal("189.51"),
            ask_size=Decimal("100"),
            quote_timestamp=utc(2026, 1, 15, 14, 45, 1, 123_000),
        ),
        ts_event=utc(2026, 1, 15, 14, 45, 1, 123_000),
        ts_recv=TS_RECV,
    )


def test_quote_malformed() -> None:
    error = decode_error(variant(QUOTE, payload__data__bidPrice="Infinity"), Endpoint.MARKET)
    assert (error.message_type, error.field) == ("quote", "payload.data.bidPrice")


def test_trade() -> None:
    assert decode(TRADE, Endpoint.MARKET) == TradeUpdate(
        data=WireTrade(
            symbol="AAPL",
            last_price=Decimal("189.50"),
            size=Decimal("100"),
            total_volume=Decimal("1203344"),
            trade_exchange="NSDQ",
            trade_timestamp=utc(2026, 1, 15, 14, 45, 1, 120_000),
            trade_seq=88123,
        ),
        ts_event=utc(2026, 1, 15, 14, 45, 1, 124_000),
        ts_recv=TS_RECV,
    )


def test_trade_malformed() -> None:
    error = decode_error(variant(TRADE, payload__data__tradeSeq="x"), Endpoint.MARKET)
    assert (error.message_type, error.field) == ("trade", "payload.data.tradeSeq")


def test_trade_missing_symbol() -> None:
    error = decode_error(variant(TRADE, payload__data__symbol=DELETE), Endpoint.MARKET)
    assert (error.message_type, error.field) == ("trade", "payload.data.symbol")
    assert error.problem == "required field missing"


# --- unknown and unparseable ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            variant(PNL_CANDLE, payload__type="pnl.forecast"),
            UnknownMessage(type="event", action="update", event_type="pnl.forecast"),
        ),
        (
            variant(LEVEL2, payload__type="level3"),
            UnknownMessage(type="event", action="update", event_type="level3"),
        ),
        ({"type": "brandNew", "payload": {}}, UnknownMessage(type="brandNew", action=None)),
        ({}, UnknownMessage(type=None, action=None)),
    ],
)
def test_unknown_messages_are_records(message: dict[str, object], expected: UnknownMessage) -> None:
    assert decode(message) == expected


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object, got array"),
        ('"text"', "expected a JSON object, got string"),
        ('{"type": "pong"} trailing', "invalid JSON"),
    ],
)
def test_unparseable_lines(line: str, problem: str) -> None:
    error = decode_error(line)
    assert (error.message_type, error.field) == ("?", "")
    assert error.problem.startswith(problem)
    assert error.excerpt == line


def test_invalid_utf8_bytes() -> None:
    with pytest.raises(ProtocolError, match="invalid UTF-8"):
        decode_message(b'{"type":"pong","id":"\xff"}', Endpoint.MARKET, ts_recv=TS_RECV)


def test_excerpt_is_bounded() -> None:
    error = decode_error(variant(PONG, id=["x" * 500]))
    assert len(error.excerpt) == 120
