"""``AriesRestClient`` replace, preview, reads and ``exchange_token`` (MockTransport)."""

from __future__ import annotations

import json
import traceback
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import httpx
import pytest
from structlog.testing import capture_logs

from engine.aries import (
    NotAvailableError,
    Preview,
    ReplaceAck,
    TokenGrantError,
    UserAccount,
    exchange_token,
)
from engine.errors import (
    AuthError,
    CertificateError,
    CertificateRequestError,
    RateLimitedError,
    RequestError,
)
from engine.model import BalanceDetail, OrderStatus, OrderType, Position, SecurityType, Side
from engine.secrets import Secret

from .test_aries_rest import (
    BASE,
    LIMIT_BUY,
    TOKEN,
    UNTRUSTED,
    Recorder,
    client_for,
    reply,
    untrusted_certificate,
)

D = Decimal

V2_ORDER = {  # §8.5 VERIFIED
    "clOrdId": "clord-1", "ordId": "ord-1", "accountId": "TEST-ACCOUNT-001",
    "symbol": "AAPL", "side": "BUY", "type": "LIMIT", "timeInForce": "DAY", "qty": "100",
    "price": "175.50", "stopPrice": "", "ordStatus": "NEW", "cumQty": "0", "leavesQty": "100",
    "avgPrice": "0", "securityType": "EQUITY", "legs": [],
    "createdAt": "2026-01-15T14:30:00Z", "updatedAt": "2026-01-15T14:30:05Z",
}  # fmt: skip

V1_ORDER = {  # §8.5 VERIFIED legacy
    "orderId": "ord-9", "clOrdId": "clord-9", "accountId": "TEST-ACCOUNT-001",
    "symbol": "AAPL", "side": "BUY", "orderType": "LIMIT", "status": "WORKING", "tif": "DAY",
    "quantity": "100", "filledQty": "0", "leavesQty": "100", "price": "175.50",
    "stopPrice": "", "avgPrice": "0", "instrument": "EQUITY",
    "createdAt": "2026-01-15T14:30:00Z", "updatedAt": "2026-01-15T14:30:05Z",
}  # fmt: skip


# --- replace and preview ------------------------------------------------------------------------


async def test_replace_order_body_and_ack() -> None:
    recorder = Recorder(
        reply(
            200,
            {
                "success": True,
                "clOrdId": "ORDER-003",
                "origClOrdId": "ORDER-001",
                "status": "REPLACED",
                "qty": "200",
                "price": "175.50",
                "text": "Replace accepted",
                "transactTime": "2026-01-15T14:31:00Z",
            },
        )
    )
    async with client_for(recorder) as client:
        ack = await client.replace_order(
            account_id="TEST-ACCOUNT-001",
            cl_ord_id="ORDER-001",
            symbol="AAPL",
            qty=D("200"),
            price=D("175.50"),
            type=OrderType.LIMIT,
        )
    assert recorder.requests[0].url.path == "/v1/orders/replace"
    assert recorder.body == {
        "origClOrdId": "ORDER-001",
        "tradingAccountId": "TEST-ACCOUNT-001",
        "symbol": "AAPL",
        "type": "LIMIT",
        "qty": "200",
        "price": "175.50",
    }
    assert ack == ReplaceAck(
        success=True,
        cl_ord_id="ORDER-003",
        orig_cl_ord_id="ORDER-001",
        status="REPLACED",
        qty=D("200"),
        price=D("175.50"),
        text="Replace accepted",
        transact_time=datetime(2026, 1, 15, 14, 31, tzinfo=UTC),
    )


async def test_replace_without_new_id_is_an_unknown_outcome() -> None:
    async with client_for(reply(200, {"success": True})) as client:
        with pytest.raises(RequestError) as info:
            await client.replace_order(account_id="A", cl_ord_id="C", symbol="AAPL")
    assert info.value.outcome_unknown


async def test_replace_409_maps_like_cancel() -> None:
    body = {"error": "conflict", "codes": [{"code": "STALE_CL_ORD_ID", "description": "old id"}]}
    async with client_for(reply(409, body)) as client:
        with pytest.raises(RequestError) as info:
            await client.replace_order(account_id="A", cl_ord_id="C", symbol="AAPL")
    assert (info.value.status, info.value.code, info.value.outcome_unknown) == (
        409,
        "STALE_CL_ORD_ID",
        False,
    )


async def test_preview_order() -> None:
    recorder = Recorder(
        reply(
            200,
            {
                "estimatedCost": "1500.00",
                "estimatedMargin": "0.00",
                "commission": "0.00",
                "fees": "0.01",
                "buyingPowerImpact": "1500.01",
                "numDayTrades": 0,
                "warnRuleId": "0",
                "optionFees": "",
                "warnDescription": "",
            },
        )
    )
    async with client_for(recorder) as client:
        preview = await client.preview_order(LIMIT_BUY)
    assert recorder.requests[0].url.path == "/v1/orders/preview"
    assert recorder.body["tradingAccountId"] == "TEST-ACCOUNT-001"
    assert preview == Preview(
        estimated_cost=D("1500.00"),
        estimated_margin=D("0.00"),
        commission=D("0.00"),
        fees=D("0.01"),
        buying_power_impact=D("1500.01"),
        num_day_trades=0,
        warn_rule_id="0",
    )


async def test_preview_unreadable_body_names_the_field() -> None:
    async with client_for(reply(200, {"estimatedCost": "lots"})) as client:
        with pytest.raises(RequestError, match="estimatedCost"):
            await client.preview_order(LIMIT_BUY)


# --- balances, positions, accounts ------------------------------------------------------------

BALANCES = {  # §8.3 VERIFIED
    "accountId": "TEST-ACCOUNT-001", "dayTradeBuyingPower": "50000.00",
    "netBuyingPower": "125000.50", "optionBuyingPower": "25000.00",
    "stockBuyingPower": "125000.50", "totalEquity": "250000.00", "realizedPl": "1500.25",
    "unrealizedPl": "-250.75", "settledFunds": "100000.00", "unsettledFunds": "5000.00",
    "startOfDayCash": "95000.00", "maintReq": "75000.00", "grossMargin": "120000.00",
    "sma": "7", "credit": "0", "creditRemaining": "0", "pdt": "25000", "pdtCreditRemaining": "0",
    "pendingOrdersCount": 2, "pendingOrdersMarginRequirements": "2500.00",
    "valueBought": "45000.00", "valueSold": "12000.00",
    "dayTradeOvernightRegTBuyingPower": "48000.00", "heldBackFunds": "0",
    "sodPositionsMarketValue": "180000.00", "sodTtlEquity": "248000.00",
    "sodTtlEquityUpdatedAt": "2026-01-15T09:30:00Z",
}  # fmt: skip


async def test_get_balances_rest_spelling() -> None:
    recorder = Recorder(reply(200, BALANCES))
    async with client_for(recorder) as client:
        balance = await client.get_balances("TEST-ACCOUNT-001")
    request = recorder.requests[0]
    assert (request.method, request.url.path) == ("GET", "/v1/accounts/TEST-ACCOUNT-001/balances")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert isinstance(balance, BalanceDetail)
    assert (balance.realized_pl, balance.unrealized_pl, balance.sma, balance.pdt) == (
        D("1500.25"),
        D("-250.75"),
        D("7"),
        D("25000"),
    )
    assert balance.pending_orders_count == 2
    assert balance.sod_total_equity == D("248000.00")
    assert balance.sod_total_equity_updated_at == datetime(2026, 1, 15, 9, 30, tzinfo=UTC)


async def test_get_balances_of_another_account_is_refused() -> None:
    async with client_for(reply(200, BALANCES)) as client:
        with pytest.raises(RequestError, match="accountId"):
            await client.get_balances("OTHER")


_POSITION = Position(
    account_id="TEST-ACCOUNT-001",
    symbol="AAPL",
    quantity=D("100"),
    avg_price=D("170.25"),
    security_type=SecurityType.EQUITY,
    unrealized_pnl=D("515.00"),
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {
                "positions": [
                    {"accountId": "TEST-ACCOUNT-001", "symbol": "AAPL", "instrument": "EQUITY",
                     "quantity": "100", "averagePrice": "170.25", "realizedPl": "0",
                     "unrealizedPl": "515.00", "dailyPl": "125.00", "marketValue": "17540.00",
                     "createdAt": "2026-01-10T16:00:00Z"},
                ],
                "availability": {"available": True, "source": "cache"},
            },
            {"market_value": D("17540.00")},
            id="variant-a",
        ),
        pytest.param(
            {
                "positions": [
                    {"accountId": "TEST-ACCOUNT-001", "symbol": "AAPL", "securityType": "CS",
                     "quantity": "100", "averagePrice": "170.25", "todayRealizedPnL": "0",
                     "unrealizedPl": "515.00", "dailyPl": "125.00",
                     "createdAt": "2026-01-10T16:00:00Z"},
                ]
            },
            {},
            id="variant-b",
        ),
        pytest.param(
            [{"averagePrice": "170.25", "buyingPowerUsed": "0", "pnlToday": "515.00",
              "quantity": "100", "symbol": "AAPL"}],
            {},
            id="oldest-bare-array",
        ),
    ],
)  # fmt: skip
async def test_get_positions_variants(body: Any, expected: dict[str, Any]) -> None:
    recorder = Recorder(reply(200, body))
    async with client_for(recorder) as client:
        positions = await client.get_positions("TEST-ACCOUNT-001")
    assert recorder.requests[0].url.path == "/v1/accounts/TEST-ACCOUNT-001/positions"
    assert positions == (attrs.evolve(_POSITION, **expected),)


async def test_positions_not_available_is_never_flat() -> None:
    body = {"positions": [], "availability": {"available": False, "source": "cache"}}
    async with client_for(reply(200, body)) as client:
        with pytest.raises(NotAvailableError) as info:
            await client.get_positions("TEST-ACCOUNT-001")
    assert info.value.code == "NOT_AVAILABLE"
    assert isinstance(info.value, RequestError)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "positions: required field missing"),
        ({"positions": "x"}, "positions: expected an array"),
        ({"positions": [{"symbol": "AAPL", "quantity": "x"}]}, "positions.0.quantity"),
        ({"positions": [{"symbol": "AAPL", "quantity": "1", "accountId": "B"}]}, "accountId"),
    ],
)
async def test_positions_malformed(body: Any, problem: str) -> None:
    async with client_for(reply(200, body)) as client:
        with pytest.raises(RequestError, match=problem) as info:
            await client.get_positions("A")
    assert not info.value.outcome_unknown


async def test_get_accounts_snake_case_and_swapped_type_class() -> None:
    body = {
        "accounts": [
            {"id": 1, "fdid": "FDID-EXAMPLE", "apex_id": "", "apex_account_id": "APEX-EXAMPLE",
             "sterling_account_id": "STERLING-EXAMPLE", "status": "OPEN", "is_sim": False,
             "account_type": "INDIVIDUAL", "account_class": "MARGIN", "primary_user_id": 1,
             "primary_user": None, "created_at": "2026-01-13T11:07:05.157503Z",
             "updated_at": "2026-02-17T12:11:47.106076Z"},
            {"id": 2, "account_type": "CASH", "account_class": "JOINT"},
        ]
    }  # fmt: skip
    recorder = Recorder(reply(200, body))
    async with client_for(recorder) as client:
        accounts = await client.get_accounts()
    assert recorder.requests[0].url.path == "/v1/users/me/accounts"
    assert accounts[0] == UserAccount(
        account_id="STERLING-EXAMPLE",
        id="1",
        fdid="FDID-EXAMPLE",
        apex_account_id="APEX-EXAMPLE",
        sterling_account_id="STERLING-EXAMPLE",
        status="OPEN",
        is_sim=False,
        account_type="MARGIN",
        account_class="INDIVIDUAL",
        created_at=datetime(2026, 1, 13, 11, 7, 5, 157503, tzinfo=UTC),
        updated_at=datetime(2026, 2, 17, 12, 11, 47, 106076, tzinfo=UTC),
    )
    assert (accounts[1].account_id, accounts[1].account_type, accounts[1].account_class) == (
        "2",
        "CASH",
        "JOINT",
    )


# --- order lists ------------------------------------------------------------------------------


def _order(n: int) -> dict[str, Any]:
    return {**V2_ORDER, "clOrdId": f"clord-{n}"}


async def test_list_orders_follows_next_cursor_across_three_pages() -> None:
    pages = {
        None: {"orders": [_order(1), _order(2)], "nextCursor": 17},
        "17": {"orders": [_order(3)], "nextCursor": "42"},
        "42": {"orders": [_order(4)], "nextCursor": 0},
    }
    recorder = Recorder(lambda r: httpx.Response(200, json=pages[r.url.params.get("cursor")]))
    async with client_for(recorder) as client:
        orders = await client.list_orders("TEST-ACCOUNT-001", source="db", limit=2)
    assert [o.cl_ord_id for o in orders] == ["clord-1", "clord-2", "clord-3", "clord-4"]
    assert all(o.status is OrderStatus.NEW and o.side is Side.BUY for o in orders)
    params = [dict(r.url.params) for r in recorder.requests]
    assert params == [
        {"source": "db", "limit": "2"},
        {"source": "db", "limit": "2", "cursor": "17"},
        {"source": "db", "limit": "2", "cursor": "42"},
    ]
    assert {r.url.path for r in recorder.requests} == {"/v2/accounts/TEST-ACCOUNT-001/orders"}


async def test_list_orders_accepts_v1_bodies() -> None:
    body = {"orders": [V1_ORDER], "availability": {"available": True, "source": "cache"}}
    async with client_for(reply(200, body)) as client:
        orders = await client.list_orders("TEST-ACCOUNT-001")
    assert [(o.cl_ord_id, o.status) for o in orders] == [("clord-9", OrderStatus.NEW)]
    async with client_for(reply(200, {"orders": None, "nextCursor": 0})) as client:
        assert await client.list_orders("TEST-ACCOUNT-001") == ()
    unavailable = {"orders": [], "availability": {"available": False}}
    async with client_for(reply(200, unavailable)) as client:
        with pytest.raises(NotAvailableError):
            await client.list_orders("TEST-ACCOUNT-001")


async def test_list_orders_refuses_a_cursor_loop_and_bad_items() -> None:
    async with client_for(reply(200, {"orders": [], "nextCursor": 5})) as client:
        with pytest.raises(RequestError, match="repeats"):
            await client.list_orders("A")
    async with client_for(reply(200, {"orders": [{**V2_ORDER, "qty": "x"}]})) as client:
        with pytest.raises(RequestError, match=r"orders\.0\.qty"):
            await client.list_orders("TEST-ACCOUNT-001")
    async with client_for(reply(200, {"orders": [V2_ORDER]})) as client:
        with pytest.raises(RequestError, match="accountId"):
            await client.list_orders("OTHER")
    async with client_for(reply(200, {"orders": []})) as client:
        with pytest.raises(ValueError, match="source"):
            await client.list_orders("A", source="memory")
        with pytest.raises(ValueError, match="limit"):
            await client.list_orders("A", limit=501)


async def test_orders_history_params() -> None:
    recorder = Recorder(reply(200, {"orders": [V2_ORDER], "nextCursor": 0}))
    async with client_for(recorder) as client:
        orders = await client.orders_history(
            "TEST-ACCOUNT-001",
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 1, 15, 12, 0, tzinfo=UTC),
            order_by="asc",
        )
    assert len(orders) == 1
    request = recorder.requests[0]
    assert request.url.path == "/v2/accounts/TEST-ACCOUNT-001/orders/history"
    assert dict(request.url.params) == {
        "from": "2026-01-01T00:00:00Z",
        "to": "2026-01-15T12:00:00Z",
        "order_by": "asc",
    }
    async with client_for(recorder) as client:
        with pytest.raises(ValueError, match="order_by"):
            await client.orders_history("A", datetime(2026, 1, 1, tzinfo=UTC), order_by="up")


async def test_reads_map_errors_like_order_entry() -> None:
    async with client_for(reply(429, {"error": "slow down"}, headers={"Retry-After": "3"})) as c:
        with pytest.raises(RateLimitedError) as limited:
            await c.get_positions("A")
    assert limited.value.retry_after == 3.0
    async with client_for(reply(401, {"error": f"bad token {TOKEN}"})) as c:
        with pytest.raises(AuthError) as auth:
            await c.get_balances("A")
    assert TOKEN not in str(auth.value)
    async with client_for(reply(502, "bad gateway")) as c:
        with pytest.raises(RequestError) as info:
            await c.list_orders("A")
    assert (info.value.status, info.value.outcome_unknown) == (502, False)


# --- token endpoint (§7.4) ----------------------------------------------------------------------

CLIENT_SECRET = "secret_xyz789abc-DO-NOT-LEAK"
REFRESH = "eyJ.REFRESH-TOKEN-VALUE.sig"
ACCESS = "eyJ.ACCESS-TOKEN-VALUE.sig"


async def _exchange(handler: Any, **overrides: Any) -> Any:
    kwargs: dict[str, Any] = {
        "grant_type": "refresh_token",
        "client_id": "client_abc123xyz",
        "client_secret": Secret(CLIENT_SECRET),
        "refresh_token": Secret(REFRESH),
        "transport": httpx.MockTransport(handler),
    }
    kwargs.update(overrides)
    return await exchange_token(BASE, **kwargs)


async def test_exchange_refresh_token() -> None:
    recorder = Recorder(
        reply(
            200,
            {
                "access_token": ACCESS,
                "refresh_token": "eyJ.NEW-REFRESH.sig",
                "token_type": "Bearer",
                "expires_in": 3600,
                "refresh_token_expires_in": 2592000,
                "scope": "read write",
            },
        )
    )
    with capture_logs() as logs:
        tokens = await _exchange(recorder)
    request = recorder.requests[0]
    assert request.url.path == "/v1/oauth2/token"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "grant_type": "refresh_token",
        "client_id": "client_abc123xyz",
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH,
    }
    assert tokens.access_token.reveal() == ACCESS
    assert tokens.refresh_token is not None
    assert tokens.refresh_token.reveal() == "eyJ.NEW-REFRESH.sig"
    assert (tokens.expires_in, tokens.refresh_token_expires_in, tokens.scope) == (
        3600,
        2592000,
        "read write",
    )
    text = repr(tokens) + str(logs)
    for secret in (ACCESS, "NEW-REFRESH", CLIENT_SECRET, REFRESH):
        assert secret not in text


async def test_exchange_authorization_code_with_pkce_and_no_rotation() -> None:
    recorder = Recorder(reply(200, {"access_token": ACCESS, "expires_in": "3600"}))
    tokens = await _exchange(
        recorder,
        grant_type="authorization_code",
        client_secret=None,
        refresh_token=None,
        code="auth_code_abc",
        code_verifier=Secret("verifier"),
        redirect_uri="https://app.example/callback",
    )
    assert json.loads(recorder.requests[0].content) == {
        "grant_type": "authorization_code",
        "client_id": "client_abc123xyz",
        "code": "auth_code_abc",
        "code_verifier": "verifier",
        "redirect_uri": "https://app.example/callback",
    }
    assert tokens.refresh_token is None
    assert tokens.expires_in == 3600


async def test_exchange_invalid_grant_never_shows_secrets() -> None:
    body = {"error": "invalid_grant", "error_description": f"refresh token {REFRESH} revoked"}
    with capture_logs() as logs, pytest.raises(TokenGrantError) as info:
        await _exchange(reply(400, body))
    error = info.value
    assert isinstance(error, AuthError)
    assert error.code == "invalid_grant"
    text = str(error) + "".join(traceback.format_exception(error)) + str(logs)
    assert REFRESH not in text
    assert CLIENT_SECRET not in text
    assert "revoked" in str(error)


async def test_exchange_invalid_client_and_other_errors() -> None:
    with pytest.raises(AuthError) as info:
        await _exchange(reply(401, {"error": "invalid_client"}))
    assert not isinstance(info.value, TokenGrantError)
    assert info.value.code == "invalid_client"
    with pytest.raises(RequestError) as other:
        await _exchange(reply(400, {"error": "unsupported_grant_type"}))
    assert (other.value.status, other.value.code) == (400, "unsupported_grant_type")
    with pytest.raises(RequestError, match="access_token"):
        await _exchange(reply(200, {"token_type": "Bearer"}))


@pytest.mark.parametrize("status", [429, 503])
async def test_exchange_rate_limited(status: int) -> None:
    with pytest.raises(RateLimitedError) as info:
        await _exchange(reply(status, {"error": "slow_down"}, headers={"Retry-After": "7"}))
    assert (info.value.status, info.value.retry_after) == (status, 7.0)


async def test_exchange_with_an_untrusted_certificate_is_a_certificate_error() -> None:
    with capture_logs() as logs, pytest.raises(CertificateRequestError) as info:
        await _exchange(untrusted_certificate)
    error = info.value
    assert isinstance(error, CertificateError)
    assert str(error) == f"POST {BASE}/v1/oauth2/token: {UNTRUSTED}"
    text = "".join(traceback.format_exception(error)) + str(logs)
    assert REFRESH not in text
    assert CLIENT_SECRET not in text


async def test_exchange_refuses_plain_text_to_another_host_before_sending() -> None:
    recorder = Recorder(reply(200, {"access_token": ACCESS}))
    with pytest.raises(ValueError, match="refusing the REST base URL"):
        await exchange_token(
            "http://aries.test",
            grant_type="refresh_token",
            client_id="client_abc123xyz",
            client_secret=Secret(CLIENT_SECRET),
            refresh_token=Secret(REFRESH),
            transport=httpx.MockTransport(recorder),
        )
    assert recorder.requests == []


async def test_exchange_argument_checks() -> None:
    with pytest.raises(ValueError, match="grant_type"):
        await _exchange(reply(200, {}), grant_type="client_credentials")
    with pytest.raises(ValueError, match="refresh_token"):
        await _exchange(reply(200, {}), refresh_token=None)
    with pytest.raises(ValueError, match="code"):
        await _exchange(reply(200, {}), grant_type="authorization_code")
