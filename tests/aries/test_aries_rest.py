"""``AriesRestClient`` against ``httpx.MockTransport``: bodies, acks, error mapping, secrecy."""

from __future__ import annotations

import json
import ssl
import traceback
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from engine.aries import AriesRestClient, CancelAck, PlaceAck
from engine.aries.rest import parse_retry_after
from engine.errors import (
    AuthError,
    CertificateError,
    CertificateRequestError,
    RateLimitedError,
    RequestError,
)
from engine.model import (
    OrderIntent,
    OrderLeg,
    OrderStatus,
    OrderType,
    SecurityType,
    Side,
    TimeInForce,
)

TOKEN = "eyJhbGciOiJIUzI1NiJ9.SECRET-TOKEN-VALUE.sig"
BASE = "https://aries.test"

Handler = Callable[[httpx.Request], httpx.Response]

LIMIT_BUY = OrderIntent(
    client_order_id="CLIENT-001",
    strategy="s1",
    account_id="TEST-ACCOUNT-001",
    symbol="AAPL",
    side=Side.BUY,
    type=OrderType.LIMIT,
    qty=Decimal("10"),
    price=Decimal("150.00"),
)

PLACE_ACK_BODY = {  # §8.6 VERIFIED
    "success": True,
    "clOrdId": "ORDER-20260115-001",
    "status": "NEW",
    "symbol": "AAPL",
    "side": "BUY",
    "qty": "100",
    "cumQty": "0",
    "leavesQty": "100",
    "avgPrice": "0",
    "text": "Order accepted",
    "ordRejReason": "",
    "transactTime": "2026-01-15T14:30:05Z",
}


class Recorder:
    """A MockTransport handler that records requests and answers with a fixed response."""

    def __init__(self, respond: Handler) -> None:
        self.requests: list[httpx.Request] = []
        self._respond = respond

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._respond(request)

    @property
    def body(self) -> Any:
        return json.loads(self.requests[-1].content)


def client_for(handler: Handler, token: str = TOKEN) -> AriesRestClient:
    return AriesRestClient(BASE, lambda: token, transport=httpx.MockTransport(handler))


def reply(status: int, body: Any = None, **kwargs: Any) -> Handler:
    def respond(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body, **kwargs)
        return httpx.Response(status, json=body, **kwargs)

    return respond


def raising(exc_type: type[httpx.TransportError]) -> Handler:
    def respond(request: httpx.Request) -> httpx.Response:
        raise exc_type("boom", request=request)

    return respond


UNTRUSTED = "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"


def untrusted_certificate(request: httpx.Request) -> httpx.Response:
    """What httpx raises when the TLS handshake refuses the server's certificate."""
    try:
        raise ssl.SSLCertVerificationError(1, UNTRUSTED)
    except ssl.SSLCertVerificationError as exc:
        raise httpx.ConnectError("", request=request) from exc


# --- request shapes -------------------------------------------------------------------------------


async def test_place_order_body_headers_and_ack() -> None:
    recorder = Recorder(reply(200, PLACE_ACK_BODY))
    async with client_for(recorder) as client:
        ack = await client.place_order(LIMIT_BUY)
    assert ack == PlaceAck(
        success=True,
        cl_ord_id="ORDER-20260115-001",
        status=OrderStatus.NEW,
        reject_reason="",
        text="Order accepted",
    )
    request = recorder.requests[0]
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/v1/orders")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert recorder.body == {  # §8.6 canonical body
        "tradingAccountId": "TEST-ACCOUNT-001",
        "symbol": "AAPL",
        "side": "BUY",
        "type": "LIMIT",
        "qty": "10",
        "price": "150.00",
        "timeInForce": "DAY",
        "clientId": "CLIENT-001",
    }


async def test_market_order_sends_no_prices_and_plain_decimals() -> None:
    recorder = Recorder(reply(200, PLACE_ACK_BODY))
    intent = OrderIntent(
        client_order_id="c-2",
        strategy="s1",
        account_id="A",
        symbol="MSFT",
        side=Side.SELL_SHORT,
        type=OrderType.MARKET,
        qty=Decimal("1E+2"),
        time_in_force=TimeInForce.IOC,
    )
    async with client_for(recorder) as client:
        await client.place_order(intent)
    assert recorder.body == {
        "tradingAccountId": "A",
        "symbol": "MSFT",
        "side": "SELL_SHORT",
        "type": "MARKET",
        "qty": "100",
        "timeInForce": "IOC",
        "clientId": "c-2",
    }


async def test_stop_limit_and_legs() -> None:
    recorder = Recorder(reply(200, PLACE_ACK_BODY))
    legs = (
        OrderLeg(symbol="AAPL", side=Side.BUY, position_effect="OPEN", put_call="CALL",
                 strike_price=Decimal("150.00"), maturity=date(2027, 1, 15)),
        OrderLeg(symbol="AAPL", side=Side.SELL, ratio_qty=Decimal(2), position_effect="OPEN",
                 put_call="CALL", strike_price=Decimal("155.00"), maturity=date(2027, 1, 15)),
    )  # fmt: skip
    intent = OrderIntent(
        client_order_id="c-3",
        strategy="s1",
        account_id="A",
        symbol="AAPL",
        side=Side.BUY,
        type=OrderType.STOP_LIMIT,
        qty=Decimal(5),
        price=Decimal("1.25"),
        stop_price=Decimal("1.20"),
        time_in_force=TimeInForce.GTC,
        security_type=SecurityType.MULTI_LEG,
        legs=legs,
    )
    async with client_for(recorder) as client:
        await client.place_order(intent)
    body = recorder.body
    assert (body["price"], body["stopPrice"], body["timeInForce"]) == ("1.25", "1.20", "GTC")
    assert body["legs"] == [
        {"symbol": "AAPL", "side": "BUY", "ratioQty": "1", "securityType": "OPT",
         "positionEffect": "OPEN", "putCall": "CALL", "strikePrice": "150.00",
         "maturity": "2027-01-15"},
        {"symbol": "AAPL", "side": "SELL", "ratioQty": "2", "securityType": "OPT",
         "positionEffect": "OPEN", "putCall": "CALL", "strikePrice": "155.00",
         "maturity": "2027-01-15"},
    ]  # fmt: skip


async def test_cancel_order_body_and_ack() -> None:
    body = {  # §8.7 VERIFIED
        "success": True,
        "clOrdId": "ORDER-20260115-002",
        "origClOrdId": "ORDER-20260115-001",
        "status": "CANCELED",
        "text": "Cancel request processed",
    }
    recorder = Recorder(reply(200, body))
    async with client_for(recorder) as client:
        ack = await client.cancel_order(
            account_id="TEST-ACCOUNT-001",
            cl_ord_id="ORDER-20260115-001",
            symbol="AAPL",
            side=Side.BUY,
        )
    assert ack == CancelAck(
        success=True,
        cl_ord_id="ORDER-20260115-002",
        orig_cl_ord_id="ORDER-20260115-001",
        status="CANCELED",
        text="Cancel request processed",
    )
    assert str(recorder.requests[0].url) == f"{BASE}/v1/orders/cancel"
    assert recorder.body == {
        "origClOrdId": "ORDER-20260115-001",
        "tradingAccountId": "TEST-ACCOUNT-001",
        "symbol": "AAPL",
        "side": "BUY",
    }


async def test_minimal_cancel_ack() -> None:
    async with client_for(reply(200, {})) as client:
        ack = await client.cancel_order(account_id="A", cl_ord_id="C-1", symbol="X", side=Side.SELL)
    assert ack == CancelAck(success=True, cl_ord_id=None, orig_cl_ord_id="C-1", status="", text="")


async def test_token_is_read_for_every_request() -> None:
    tokens = iter(["first", "second"])
    recorder = Recorder(reply(200, PLACE_ACK_BODY))
    client = AriesRestClient(BASE, lambda: next(tokens), transport=httpx.MockTransport(recorder))
    async with client:
        await client.place_order(LIMIT_BUY)
        await client.place_order(LIMIT_BUY)
    assert [r.headers["Authorization"] for r in recorder.requests] == [
        "Bearer first",
        "Bearer second",
    ]


# --- acknowledgements -----------------------------------------------------------------------------


async def test_rejected_ack() -> None:
    body = {"success": False, "status": "REJECTED", "ordRejReason": "Insufficient buying power",
            "text": "Order rejected"}  # fmt: skip
    async with client_for(reply(200, body)) as client:
        ack = await client.place_order(LIMIT_BUY)
    assert ack == PlaceAck(
        success=False,
        cl_ord_id="",
        status=OrderStatus.REJECTED,
        reject_reason="Insufficient buying power",
        text="Order rejected",
    )


async def test_ack_without_success_flag_uses_status() -> None:
    async with client_for(reply(200, {"clOrdId": "C", "status": "PENDING_NEW"})) as client:
        ack = await client.place_order(LIMIT_BUY)
    assert (ack.success, ack.status, ack.cl_ord_id) == (True, OrderStatus.PENDING_NEW, "C")
    async with client_for(reply(200, {"status": "REJECTED"})) as client:
        assert (await client.place_order(LIMIT_BUY)).success is False


@pytest.mark.parametrize(
    "body",
    ["not json", "[1]", {"success": True}, {"success": True, "clOrdId": "C", "status": "ODD"}],
)
async def test_unreadable_success_is_an_unknown_outcome(body: Any) -> None:
    async with client_for(reply(200, body)) as client:
        with pytest.raises(RequestError) as info:
            await client.place_order(LIMIT_BUY)
    assert (info.value.status, info.value.outcome_unknown) == (200, True)
    assert not isinstance(info.value, RateLimitedError)


# --- error mapping --------------------------------------------------------------------------------


async def test_429_with_retry_after() -> None:
    handler = reply(429, {"error": "rate limited", "codes": [{"code": "RATE_LIMITED"}]},
                    headers={"Retry-After": "2"})  # fmt: skip
    async with client_for(handler) as client:
        with pytest.raises(RateLimitedError) as info:
            await client.place_order(LIMIT_BUY)
    assert (info.value.status, info.value.retry_after, info.value.outcome_unknown) == (
        429,
        2.0,
        False,
    )


async def test_503_without_retry_after() -> None:
    async with client_for(reply(503, "Service Unavailable")) as client:
        with pytest.raises(RateLimitedError) as info:
            await client.cancel_order(account_id="A", cl_ord_id="C", symbol="X", side=Side.BUY)
    assert (info.value.status, info.value.retry_after) == (503, None)


def test_retry_after_forms() -> None:
    now = datetime(2026, 1, 15, 14, 30, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(30.0)
    earlier = format_datetime(now - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(earlier, now=now.timestamp()) == 0.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    for bad in (None, "soon", "nan", "inf", ""):
        assert parse_retry_after(bad) is None


async def test_400_with_codes() -> None:
    body = {  # §8.11 VERIFIED envelope
        "error": "invalid request",
        "codes": [{"code": "INVALID_FIELD", "description": "qty must be positive", "field": "qty"},
                  {"code": "MISSING_FIELD", "description": "price is required"}],
        "metadata": {},
    }  # fmt: skip
    async with client_for(reply(400, body)) as client:
        with pytest.raises(RequestError) as info:
            await client.place_order(LIMIT_BUY)
    error = info.value
    assert (error.status, error.code, error.outcome_unknown) == (400, "INVALID_FIELD", False)
    assert "invalid request" in str(error)
    assert "qty must be positive" in str(error)


@pytest.mark.parametrize(
    ("body", "code", "text"),
    [
        ({"error": "bad_request", "message": "Invalid request parameters"}, "", "Invalid request"),
        ({"error": {"code": "NOT_FOUND", "message": "no such order"}}, "NOT_FOUND", "no such"),
        ({"code": "ORDER_NOT_CANCELABLE"}, "ORDER_NOT_CANCELABLE", "Conflict"),
        ("<html>oops</html>", "", "<html>oops</html>"),
        ([1, 2], "", "Conflict"),
    ],
)
async def test_lenient_error_bodies(body: Any, code: str, text: str) -> None:
    async with client_for(reply(409, body)) as client:
        with pytest.raises(RequestError) as info:
            await client.cancel_order(account_id="A", cl_ord_id="C", symbol="X", side=Side.BUY)
    assert (info.value.status, info.value.code, info.value.outcome_unknown) == (409, code, False)
    assert text in str(info.value)


async def test_401_is_an_auth_error() -> None:
    body = {"error": "unauthorized", "message": "Invalid or expired token"}
    async with client_for(reply(401, body)) as client:
        with pytest.raises(AuthError) as info:
            await client.place_order(LIMIT_BUY)
    assert info.value.code == "UNAUTHORIZED"
    assert "Invalid or expired token" in str(info.value)


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_5xx_is_an_unknown_outcome(status: int) -> None:
    async with client_for(reply(status, {"error": "internal_error"})) as client:
        with pytest.raises(RequestError) as info:
            await client.place_order(LIMIT_BUY)
    assert (info.value.status, info.value.outcome_unknown) == (status, True)
    assert not isinstance(info.value, RateLimitedError)


@pytest.mark.parametrize(
    ("exc_type", "unknown"),
    [
        (httpx.ConnectError, False),
        (httpx.ConnectTimeout, False),
        (httpx.PoolTimeout, False),
        (httpx.ReadTimeout, True),
        (httpx.WriteTimeout, True),
        (httpx.ReadError, True),
        (httpx.WriteError, True),
        (httpx.RemoteProtocolError, True),
    ],
)
async def test_transport_failures(exc_type: type[httpx.TransportError], unknown: bool) -> None:
    async with client_for(raising(exc_type)) as client:
        with pytest.raises(RequestError) as info:
            await client.place_order(LIMIT_BUY)
    assert (info.value.status, info.value.outcome_unknown) == (None, unknown)
    assert isinstance(info.value.__cause__, exc_type)
    assert exc_type.__name__ in str(info.value)


async def test_an_untrusted_certificate_is_a_certificate_error_and_nothing_was_sent() -> None:
    with capture_logs() as logs:
        async with client_for(untrusted_certificate) as client:
            with pytest.raises(CertificateRequestError) as info:
                await client.place_order(LIMIT_BUY)
    error = info.value
    # A RequestError to order entry (the order failed, nothing reached the venue) and a
    # CertificateError to whoever must stop on it.
    assert isinstance(error, RequestError)
    assert isinstance(error, CertificateError)
    assert (error.status, error.code, error.outcome_unknown) == (
        None,
        "UNTRUSTED_CERTIFICATE",
        False,
    )
    assert str(error) == f"POST {BASE}/v1/orders: {UNTRUSTED}"
    assert [e["event"] for e in logs] == ["rest.certificate_refused"]
    text = "".join(traceback.format_exception(error)) + repr(logs)
    assert TOKEN not in text


@pytest.mark.parametrize("url", ["http://aries.test", "http://10.0.0.5:8080", "ws://aries.test"])
def test_plain_text_to_another_host_is_refused_before_anything_is_sent(url: str) -> None:
    with pytest.raises(ValueError, match="refusing the REST base URL"):
        AriesRestClient(url, lambda: TOKEN)


def test_plain_text_to_loopback_is_allowed() -> None:
    client = AriesRestClient("http://127.0.0.1:8080", lambda: TOKEN)
    assert repr(client) == "AriesRestClient(base_url='http://127.0.0.1:8080')"


# --- secrecy --------------------------------------------------------------------------------------


def test_repr_has_no_token() -> None:
    client = client_for(reply(200, {}))
    assert repr(client) == "AriesRestClient(base_url='https://aries.test')"
    assert TOKEN not in repr(client)
    assert TOKEN not in str(vars(client).keys())


@pytest.mark.parametrize(
    "handler",
    [
        reply(401, {"error": "unauthorized", "message": f"token {TOKEN} is expired"}),
        reply(400, {"codes": [{"code": "X", "description": f"bad header Bearer {TOKEN}"}]}),
        reply(429, f"slow down {TOKEN}"),
        reply(500, f"crash while checking {TOKEN}"),
        reply(200, {"success": False, "status": "REJECTED", "text": f"echo {TOKEN}",
                    "ordRejReason": TOKEN}),
        raising(httpx.ReadTimeout),
        raising(httpx.ConnectError),
        untrusted_certificate,
    ],
)  # fmt: skip
async def test_token_never_in_errors_logs_or_tracebacks(handler: Handler) -> None:
    texts: list[str] = []
    with capture_logs() as logs:
        async with client_for(handler) as client:
            try:
                ack = await client.place_order(LIMIT_BUY)
            except (RequestError, AuthError) as exc:
                texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
            else:
                texts += [repr(ack)]
    texts.append(repr(logs))
    for text in texts:
        assert TOKEN not in text


async def test_echoed_token_is_redacted() -> None:
    handler = reply(401, {"error": "unauthorized", "message": f"token {TOKEN} is expired"})
    async with client_for(handler) as client:
        with pytest.raises(AuthError) as info:
            await client.place_order(LIMIT_BUY)
    assert "token [redacted] is expired" in str(info.value)
