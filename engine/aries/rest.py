"""The Aries REST client: order entry (place, preview, cancel, replace), account reads
(accounts, balances, positions, v2 order lists with cursor paging) and the OAuth2 token endpoint.

``AriesRestClient`` wraps one ``httpx.AsyncClient`` (which runs under trio through anyio). Each
call takes a fresh bearer token from the ``token`` callable, so a refreshed token is used at once.

Error mapping (ARIES.md §8.11, tables in ``engine.aries.protocol``)::

    429 / 503                     -> RateLimitedError(retry_after=Retry-After seconds or None)
    401                           -> AuthError("UNAUTHORIZED", ...)
    other 3xx / 4xx               -> RequestError(status, code=first codes[].code,
                                                  outcome_unknown=False)
    5xx                           -> RequestError(status, outcome_unknown=True)
    connect failure / pool timeout (nothing sent)
                                  -> RequestError(status=None, outcome_unknown=False)
    certificate not trusted (TLS handshake, nothing sent)
                                  -> CertificateRequestError (a RequestError as above, code
                                     UNTRUSTED_CERTIFICATE, and a CertificateError)
    read/write timeout, reset, protocol error after sending
                                  -> RequestError(status=None, outcome_unknown=True)
    2xx with a body that cannot be read as an acknowledgement
                                  -> RequestError(status, outcome_unknown=True)

Reads (``GET``) map errors the same way; a 200 whose body cannot be read is a ``RequestError``
(``outcome_unknown=False``: nothing changed), and ``availability.available == false`` (§8.4,
§8.5: data not ready) is a ``NotAvailableError`` — never an empty account. The token endpoint
(``exchange_token``) maps RFC 6749 errors: 400 ``invalid_grant`` → ``TokenGrantError``, 401
``invalid_client`` → ``AuthError``, 429/503 → ``RateLimitedError``, an untrusted certificate →
``CertificateRequestError``.

Plain ``http://`` is refused before dialling unless the host is loopback
(``engine.runtime.urls.url_problem``, the rule config validation applies too): the client and the
token endpoint raise ``ValueError`` for such a URL.

An unknown outcome is never retried here or by the caller: the order may be live, and the account
actor reconciles it (§8.10). Error bodies are read leniently (``error`` / ``message`` /
``codes[]``). The token never appears in an exception, a log line or a ``repr``; any echo of it in
a server's error text is redacted.
"""

from __future__ import annotations

import email.utils
import math
import ssl
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self, TypeVar

import attrs
import cattrs
import httpx
import structlog

from engine.aries import normalize, protocol
from engine.aries.converter import (
    WireError,
    default_converter,
    json_type,
    loads,
    resolve_aliases,
    structure,
    structure_int,
)
from engine.aries.decode import order_from_json
from engine.aries.wire import (
    WireBalance,
    WireBalanceExtra,
    WireCancelResponse,
    WirePlaceResponse,
    WirePosition,
    WirePreviewResponse,
    WireReplaceResponse,
    WireTokenResponse,
    WireUserAccount,
)
from engine.errors import AuthError, CertificateRequestError, RateLimitedError, RequestError
from engine.model.account import Position
from engine.model.enums import OrderStatus, OrderType, Side, TimeInForce
from engine.model.orders import Order, OrderIntent, OrderLeg
from engine.model.streams import BalanceDetail
from engine.runtime.urls import url_problem
from engine.secrets import Secret

__all__ = [
    "AriesRestClient",
    "CancelAck",
    "NotAvailableError",
    "PlaceAck",
    "Preview",
    "ReplaceAck",
    "TokenGrantError",
    "TokenResponse",
    "UserAccount",
    "exchange_token",
]

log = structlog.get_logger(__name__)

T = TypeVar("T")

_REDACTED = "[redacted]"
_MAX_SERVER_TEXT = 200

#: Transport failures that happen before any byte of the request left: safe to treat as "not sent".
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.ProxyError,
)


@attrs.frozen(kw_only=True)
class PlaceAck:
    """The venue's answer to a place request (§8.6): an acknowledgement, not a fill.

    ``success`` false means the venue refused it (``status`` ``REJECTED``, ``reject_reason``).
    """

    success: bool
    cl_ord_id: str
    status: OrderStatus
    reject_reason: str
    text: str


@attrs.frozen(kw_only=True)
class CancelAck:
    """The venue's answer to a cancel request (§8.7). ``cl_ord_id`` is the cancel's own new id;
    the order's final state still arrives as an ``account.order`` event on ``orig_cl_ord_id``."""

    success: bool
    cl_ord_id: str | None
    orig_cl_ord_id: str
    status: str
    text: str


@attrs.frozen(kw_only=True)
class ReplaceAck:
    """The venue's answer to a replace (§8.8). ``cl_ord_id`` is the order's **new** id: every
    later cancel/replace must use it; ``orig_cl_ord_id`` is now invalid."""

    success: bool
    cl_ord_id: str
    orig_cl_ord_id: str
    status: str
    qty: Decimal | None = None
    price: Decimal | None = None
    text: str = ""
    transact_time: datetime | None = None


@attrs.frozen(kw_only=True)
class Preview:
    """The venue's cost estimate for an order (§8.9); a value it did not send is ``None``."""

    estimated_cost: Decimal | None
    estimated_margin: Decimal | None
    commission: Decimal | None
    fees: Decimal | None
    buying_power_impact: Decimal | None
    num_day_trades: int | None
    warn_rule_id: str | None
    warn_description: str | None = None
    reject_reason: str | None = None
    option_fees: Decimal | None = None
    option_requirement: Decimal | None = None
    option_premium: Decimal | None = None


@attrs.frozen(kw_only=True)
class UserAccount:
    """One of the user's accounts (§8.2). ``account_id`` is the id orders and balances take
    (INFERRED: ``sterling_account_id``, else the numeric ``id``, §11.5)."""

    account_id: str
    id: str | None = None
    fdid: str | None = None
    apex_account_id: str | None = None
    sterling_account_id: str | None = None
    status: str | None = None
    is_sim: bool | None = None
    account_type: str | None = None
    account_class: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@attrs.frozen(kw_only=True)
class TokenResponse:
    """Tokens from ``POST /v1/oauth2/token`` (§7.4); both tokens are ``Secret``.

    ``refresh_token`` is ``None`` when the venue did not rotate it (keep the old one).
    """

    access_token: Secret
    refresh_token: Secret | None
    expires_in: int | None
    refresh_token_expires_in: int | None
    scope: str | None
    token_type: str | None = None


class NotAvailableError(RequestError):
    """The venue answered but its data is not ready (``availability.available == false``,
    §8.4/§8.5): retry later; it says nothing about the account being flat."""

    def __init__(self, message: str, *, status: int | None) -> None:
        super().__init__(message, status=status, code=protocol.NOT_AVAILABLE_CODE)


class TokenGrantError(AuthError):
    """The token endpoint refused the grant (RFC 6749 ``invalid_grant``: a bad, expired, used or
    revoked code or refresh token). A new browser consent is needed; retrying cannot help."""


def _decimal_text(value: Decimal) -> str:
    """A decimal as a plain string (never exponent notation: ``1E+2`` is sent as ``100``)."""
    return format(value, "f")


def _leg_body(leg: OrderLeg) -> dict[str, Any]:
    body: dict[str, Any] = {
        "symbol": leg.symbol,
        "side": leg.side.value,
        "ratioQty": _decimal_text(leg.ratio_qty),
        "securityType": protocol.REST_SECURITY_TYPE_CODES.get(
            leg.security_type, leg.security_type.value
        ),
    }
    if leg.position_effect is not None:
        body["positionEffect"] = leg.position_effect
    if leg.put_call is not None:
        body["putCall"] = leg.put_call
    if leg.strike_price is not None:
        body["strikePrice"] = _decimal_text(leg.strike_price)
    if leg.maturity is not None:
        body["maturity"] = leg.maturity.isoformat()
    return body


def place_order_body(intent: OrderIntent) -> dict[str, Any]:
    """The JSON body of ``POST /v1/orders`` for ``intent`` (§8.6)."""
    body: dict[str, Any] = {
        protocol.REST_ACCOUNT_ID_FIELD: intent.account_id,
        "symbol": intent.symbol,
        "side": intent.side.value,
        "type": intent.type.value,
        "qty": _decimal_text(intent.qty),
        "timeInForce": intent.time_in_force.value,
        "clientId": intent.client_order_id,
    }
    if intent.price is not None:
        body["price"] = _decimal_text(intent.price)
    if intent.stop_price is not None:
        body["stopPrice"] = _decimal_text(intent.stop_price)
    if intent.legs:
        body["legs"] = [_leg_body(leg) for leg in intent.legs]
    return body


def cancel_order_body(
    *, account_id: str, cl_ord_id: str, symbol: str, side: Side
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/orders/cancel`` (§8.7)."""
    return {
        "origClOrdId": cl_ord_id,
        protocol.REST_ACCOUNT_ID_FIELD: account_id,
        "symbol": symbol,
        "side": side.value,
    }


def replace_order_body(
    *,
    account_id: str,
    cl_ord_id: str,
    symbol: str,
    side: Side | None = None,
    type: OrderType | None = None,
    qty: Decimal | None = None,
    price: Decimal | None = None,
    stop_price: Decimal | None = None,
    time_in_force: TimeInForce | None = None,
    client_id: str | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/orders/replace`` (§8.8): only the fields that change."""
    body: dict[str, Any] = {
        "origClOrdId": cl_ord_id,
        protocol.REST_ACCOUNT_ID_FIELD: account_id,
        "symbol": symbol,
    }
    if side is not None:
        body["side"] = side.value
    if type is not None:
        body["type"] = type.value
    if qty is not None:
        body["qty"] = _decimal_text(qty)
    if price is not None:
        body["price"] = _decimal_text(price)
    if stop_price is not None:
        body["stopPrice"] = _decimal_text(stop_price)
    if time_in_force is not None:
        body["timeInForce"] = time_in_force.value
    if client_id is not None:
        body["clientId"] = client_id
    return body


def _rfc3339(when: datetime, name: str) -> str:
    if when.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return when.astimezone(UTC).isoformat().removesuffix("+00:00") + "Z"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; ``None`` if absent or invalid."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


@attrs.frozen(kw_only=True)
class _ErrorBody:
    text: str
    code: str


def _error_body(response: httpx.Response) -> _ErrorBody:
    """Read ``error`` / ``message`` / ``codes[]`` from an error response, whatever its shape."""
    try:
        body = loads(response.text)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return _ErrorBody(text=response.text[:_MAX_SERVER_TEXT].strip(), code="")
    if not isinstance(body, dict):
        return _ErrorBody(text="", code="")
    parts: list[str] = []
    code = ""
    for key in ("error", "message"):
        value = body.get(key)
        if isinstance(value, str) and value and value not in parts:
            parts.append(value)
        elif isinstance(value, dict):
            inner = value.get("message")
            if isinstance(inner, str) and inner:
                parts.append(inner)
            if not code and isinstance(value.get("code"), str):
                code = value["code"]
    codes = body.get("codes")
    if isinstance(codes, list):
        for item in codes:
            if not isinstance(item, dict):
                continue
            item_code = item.get("code")
            if not code and isinstance(item_code, str):
                code = item_code
            description = item.get("description")
            if isinstance(description, str) and description:
                parts.append(description)
    if not code and isinstance(body.get("code"), str):
        code = body["code"]
    return _ErrorBody(text="; ".join(parts)[:_MAX_SERVER_TEXT], code=code)


def _redact(text: str, token: str) -> str:
    """``text`` with any echo of ``token`` replaced (servers sometimes quote what they got)."""
    if token and token in text:
        return text.replace(token, _REDACTED)
    return text


def _status_error(
    method: str,
    path: str,
    response: httpx.Response,
    secrets: tuple[str, ...],
    *,
    mutating: bool,
) -> RequestError | AuthError:
    status = response.status_code
    error = _error_body(response)
    text, code = error.text, error.code
    for secret in secrets:
        text, code = _redact(text, secret), _redact(code, secret)
    message = f"{method} {path}: HTTP {status}: {text or response.reason_phrase}"
    log.warning("rest.request_failed", path=path, status=status, code=code)
    if status in protocol.RATE_LIMIT_STATUSES:
        return RateLimitedError(
            message,
            status=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if status == protocol.UNAUTHORIZED_STATUS:
        return AuthError(protocol.UNAUTHORIZED_CODE, message)
    return RequestError(
        message, status=status, code=code, outcome_unknown=mutating and status >= 500
    )


def _reveal(value: Secret | str | None) -> str | None:
    if value is None:
        return None
    return value.reveal() if isinstance(value, Secret) else value


def _refuse_plain_text(base_url: str) -> None:
    """Raise ``ValueError`` before anything dials ``http://`` to a host off this machine."""
    problem = url_problem(base_url, "http")
    if problem is not None:
        raise ValueError(f"refusing the REST base URL: {problem}")


def _certificate_refused(
    method: str, url: str, exc: httpx.HTTPError
) -> CertificateRequestError | None:
    """The ``CertificateRequestError`` for ``exc`` if the TLS handshake refused the venue's
    certificate (an ``ssl.SSLCertVerificationError`` in its chain), else ``None``."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLCertVerificationError):
            log.error("rest.certificate_refused", method=method, url=url, error=str(cause))
            return CertificateRequestError(f"{method} {url}: {cause}")
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


async def exchange_token(
    base_url: str,
    *,
    grant_type: str,
    client_id: str,
    client_secret: Secret | str | None = None,
    refresh_token: Secret | str | None = None,
    code: Secret | str | None = None,
    code_verifier: Secret | str | None = None,
    redirect_uri: str | None = None,
    http_timeout: float = 10.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> TokenResponse:
    """``POST /v1/oauth2/token`` (§7.4): exchange an authorization code or a refresh token.

    The body is JSON (VERIFIED). Only the arguments given are sent. Secrets (client secret,
    tokens, code, verifier) never appear in an exception, a log line or a ``repr``.

    Raises:
        ValueError: an unknown ``grant_type`` or a missing field of the grant.
        TokenGrantError: 400 ``invalid_grant`` (code ``invalid_grant``).
        AuthError: 401, or another RFC 6749 credential error (``invalid_client`` …).
        RateLimitedError: 429/503 (``retry_after`` from ``Retry-After``).
        CertificateRequestError: the endpoint's TLS certificate is not trusted (never retry).
        RequestError: anything else, or a 200 without an ``access_token``.
        ValueError: also for ``http://`` to a host that is not loopback (nothing is sent).
    """
    _refuse_plain_text(base_url)
    if grant_type not in protocol.TOKEN_GRANT_TYPES:
        raise ValueError(f"grant_type must be one of {sorted(protocol.TOKEN_GRANT_TYPES)}")
    if grant_type == "refresh_token" and refresh_token is None:
        raise ValueError("the refresh_token grant needs refresh_token")
    if grant_type == "authorization_code" and code is None:
        raise ValueError("the authorization_code grant needs code")
    fields: dict[str, str | None] = {
        "grant_type": grant_type,
        "client_id": client_id,
        "client_secret": _reveal(client_secret),
        "refresh_token": _reveal(refresh_token),
        "code": _reveal(code),
        "code_verifier": _reveal(code_verifier),
        "redirect_uri": redirect_uri,
    }
    body = {key: value for key, value in fields.items() if value is not None}
    secrets = tuple(
        value
        for key, value in body.items()
        if key in ("client_secret", "refresh_token", "code", "code_verifier") and value
    )
    path = protocol.TOKEN_PATH
    async with httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(http_timeout),
        transport=transport,
        headers={"Accept": "application/json"},
    ) as client:
        try:
            response = await client.post(path, json=body)
        except httpx.HTTPError as exc:
            untrusted = _certificate_refused("POST", f"{base_url.rstrip('/')}{path}", exc)
            if untrusted is not None:
                raise untrusted from None
            log.warning("oauth.token_failed", error=type(exc).__name__)
            raise RequestError(
                f"POST {path}: {type(exc).__name__}", status=None, outcome_unknown=False
            ) from None
    if not response.is_success:
        raise _token_error(path, response, secrets)
    try:
        wire = structure(default_converter(), loads(response.text), WireTokenResponse, path="")
    except (ValueError, RecursionError, WireError) as exc:
        field = exc.field if isinstance(exc, WireError) else "body"
        log.error("oauth.unreadable_token_response", field=field)
        raise RequestError(
            f"POST {path}: HTTP {response.status_code}: unreadable token response ({field})",
            status=response.status_code,
        ) from None
    if not wire.access_token:
        raise RequestError(
            f"POST {path}: HTTP {response.status_code}: no access_token",
            status=response.status_code,
        )
    log.info("oauth.token_issued", grant_type=grant_type, expires_in=wire.expires_in)
    return TokenResponse(
        access_token=Secret(wire.access_token),
        refresh_token=Secret(wire.refresh_token) if wire.refresh_token else None,
        expires_in=wire.expires_in,
        refresh_token_expires_in=wire.refresh_token_expires_in,
        scope=wire.scope or None,
        token_type=wire.token_type or None,
    )


def _token_error(
    path: str, response: httpx.Response, secrets: tuple[str, ...]
) -> RequestError | AuthError:
    """RFC 6749 §5.2 errors (``error``, ``error_description``), everything redacted."""
    status = response.status_code
    oauth_code = ""
    description = ""
    try:
        body = loads(response.text)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        if isinstance(body.get("error"), str):
            oauth_code = body["error"]
        if isinstance(body.get("error_description"), str):
            description = body["error_description"]
    if not oauth_code:
        return _status_error("POST", path, response, secrets, mutating=False)
    for secret in secrets:
        oauth_code, description = _redact(oauth_code, secret), _redact(description, secret)
    oauth_code, description = oauth_code[:_MAX_SERVER_TEXT], description[:_MAX_SERVER_TEXT]
    message = f"POST {path}: HTTP {status}: {oauth_code}" + (
        f": {description}" if description else ""
    )
    log.warning("oauth.token_refused", status=status, code=oauth_code)
    if status in protocol.RATE_LIMIT_STATUSES:
        return RateLimitedError(
            message,
            status=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if oauth_code == protocol.TOKEN_INVALID_GRANT:
        return TokenGrantError(oauth_code, message)
    if status == protocol.UNAUTHORIZED_STATUS or oauth_code in protocol.TOKEN_AUTH_ERROR_CODES:
        return AuthError(oauth_code, message)
    return RequestError(message, status=status, code=oauth_code)


#: How long an idle pooled REST connection is reused. Kept well below the usual server idle
#: time-outs (hypercorn's and many load balancers' 5 s): a request sent on a connection the
#: server is closing at that moment fails as "may have been sent", a needless unknown outcome.
KEEPALIVE_EXPIRY = 2.0


def venue_transport(ssl_context: ssl.SSLContext) -> httpx.AsyncHTTPTransport:
    """The HTTP transport for the venue's REST API: its trust and its keep-alive policy."""
    return httpx.AsyncHTTPTransport(
        verify=ssl_context, limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY)
    )


class AriesRestClient:
    """Order entry and account reads over the Aries REST API.

    Args:
        base_url: e.g. ``https://api.aries.com`` (the simulator's URL in tests).
        token: Returns the current access token; called once per request.
        timeout: Seconds for connect, read, write and pool acquisition each.
        transport: An ``httpx`` transport (``httpx.MockTransport`` in tests).

    Raises ``ValueError`` for an ``http://`` ``base_url`` whose host is not loopback.

    Resource handling: call ``aclose()`` or use ``async with``.
    """

    def __init__(
        self,
        base_url: str,
        token: Callable[[], str],
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        converter: cattrs.Converter | None = None,
    ) -> None:
        _refuse_plain_text(base_url)
        self._base_url = base_url
        self._token = token
        self._converter = converter or default_converter()
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"AriesRestClient(base_url={self._base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def place_order(self, intent: OrderIntent) -> PlaceAck:
        """Send ``intent`` (``clientId`` = ``intent.client_order_id``) and return the ack.

        Raises:
            RateLimitedError: 429/503; nothing was placed.
            AuthError: 401.
            RequestError: anything else; ``outcome_unknown`` when the order may have been placed.
        """
        response, token = await self._post(protocol.PLACE_ORDER_PATH, place_order_body(intent))
        wire = self._read_ack(response, WirePlaceResponse)
        success = wire.success
        if success is None:
            success = wire.status is not OrderStatus.REJECTED
        status = wire.status
        if status is None:
            status = OrderStatus.NEW if success else OrderStatus.REJECTED
        if success and not wire.cl_ord_id:
            raise self._unknown_ack(response, "acknowledgement without clOrdId")
        return PlaceAck(
            success=success,
            cl_ord_id=wire.cl_ord_id or "",
            status=status,
            reject_reason=_redact(wire.ord_rej_reason or "", token),
            text=_redact(wire.text or "", token),
        )

    async def cancel_order(
        self, *, account_id: str, cl_ord_id: str, symbol: str, side: Side
    ) -> CancelAck:
        """Ask to cancel the order whose current ``clOrdId`` is ``cl_ord_id``.

        Raises:
            RateLimitedError: 429/503; nothing was cancelled.
            AuthError: 401.
            RequestError: anything else (``outcome_unknown`` when the cancel may have happened).
        """
        body = cancel_order_body(
            account_id=account_id, cl_ord_id=cl_ord_id, symbol=symbol, side=side
        )
        response, token = await self._post(protocol.CANCEL_ORDER_PATH, body)
        wire = self._read_ack(response, WireCancelResponse)
        success = True if wire.success is None else wire.success
        return CancelAck(
            success=success,
            cl_ord_id=wire.cl_ord_id or None,
            orig_cl_ord_id=wire.orig_cl_ord_id or cl_ord_id,
            status=wire.status or "",
            text=_redact(wire.text or "", token),
        )

    async def replace_order(
        self,
        *,
        account_id: str,
        cl_ord_id: str,
        symbol: str,
        side: Side | None = None,
        type: OrderType | None = None,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
        time_in_force: TimeInForce | None = None,
        client_id: str | None = None,
    ) -> ReplaceAck:
        """Replace the order whose current ``clOrdId`` is ``cl_ord_id`` (§8.8).

        Send only what changes. The ack's ``cl_ord_id`` is the order's new id.

        Raises:
            RateLimitedError: 429/503; nothing was replaced.
            AuthError: 401.
            RequestError: anything else (``outcome_unknown`` when the replace may have happened,
                including an accepted ack without the new ``clOrdId``).
        """
        body = replace_order_body(
            account_id=account_id,
            cl_ord_id=cl_ord_id,
            symbol=symbol,
            side=side,
            type=type,
            qty=qty,
            price=price,
            stop_price=stop_price,
            time_in_force=time_in_force,
            client_id=client_id,
        )
        response, token = await self._post(protocol.REPLACE_ORDER_PATH, body)
        wire = self._read_ack(response, WireReplaceResponse)
        success = True if wire.success is None else wire.success
        if success and not wire.cl_ord_id:
            raise self._unknown_ack(response, "acknowledgement without the new clOrdId")
        return ReplaceAck(
            success=success,
            cl_ord_id=wire.cl_ord_id or "",
            orig_cl_ord_id=wire.orig_cl_ord_id or cl_ord_id,
            status=wire.status or "",
            qty=wire.qty,
            price=wire.price,
            text=_redact(wire.text or "", token),
            transact_time=wire.transact_time,
        )

    async def preview_order(self, intent: OrderIntent) -> Preview:
        """The venue's estimate of cost, margin and fees for ``intent`` (§8.9); places nothing.

        Raises:
            RateLimitedError: 429/503.
            AuthError: 401.
            RequestError: anything else.
        """
        response, token = await self._post(protocol.PREVIEW_ORDER_PATH, place_order_body(intent))
        wire = self._read_body(response, WirePreviewResponse)
        return Preview(
            estimated_cost=wire.estimated_cost,
            estimated_margin=wire.estimated_margin,
            commission=wire.commission,
            fees=wire.fees,
            buying_power_impact=wire.buying_power_impact,
            num_day_trades=wire.num_day_trades,
            warn_rule_id=wire.warn_rule_id or None,
            warn_description=_redact(wire.warn_description, token) or None
            if wire.warn_description
            else None,
            reject_reason=_redact(wire.reject_reason, token) or None
            if wire.reject_reason
            else None,
            option_fees=wire.option_fees,
            option_requirement=wire.option_requirement,
            option_premium=wire.option_premium,
        )

    async def get_accounts(self) -> tuple[UserAccount, ...]:
        """The user's accounts (§8.2, snake case).

        Raises:
            RateLimitedError, AuthError, RequestError: as for every call.
        """
        response, _ = await self._get(protocol.ACCOUNTS_PATH)
        body = self._read_json(response)
        items = body.get(protocol.USER_ACCOUNTS_KEY) if isinstance(body, dict) else body
        if items is None:
            items = []
        if not isinstance(items, list):
            raise self._unreadable(response, f"{protocol.USER_ACCOUNTS_KEY}: expected an array")
        accounts = []
        for index, item in enumerate(items):
            path = f"{protocol.USER_ACCOUNTS_KEY}.{index}"
            wire = self._structure(response, item, WireUserAccount, path)
            accounts.append(self._user_account(response, wire, path))
        return tuple(accounts)

    async def get_balances(self, account_id: str) -> BalanceDetail:
        """The account's balances (§8.3; REST spellings ``realizedPl``, ``sma``, ``pdt`` …).

        Raises:
            RateLimitedError, AuthError, RequestError: as for every call (``RequestError`` also
                when the body names another account).
        """
        response, _ = await self._get(protocol.BALANCES_PATH.format(account_id=account_id))
        body = self._read_json(response)
        wire = self._structure(response, body, WireBalance, "")
        extra = self._structure(response, body, WireBalanceExtra, "")
        if wire.account_id is not None and wire.account_id != account_id:
            raise self._unreadable(response, f"accountId {wire.account_id!r} is not {account_id!r}")
        balance = normalize.balance_from_wire(wire, account_id=account_id)
        return BalanceDetail(
            **attrs.asdict(balance, recurse=False),
            sod_total_equity=extra.sod_ttl_equity,
            sod_total_equity_updated_at=extra.sod_ttl_equity_updated_at,
        )

    async def get_positions(self, account_id: str) -> tuple[Position, ...]:
        """The account's positions, in any of the three variants of §8.4.

        Raises:
            NotAvailableError: ``availability.available`` is false (data not ready: retry later,
                never read it as flat).
            RateLimitedError, AuthError, RequestError: as for every call.
        """
        response, _ = await self._get(protocol.POSITIONS_PATH.format(account_id=account_id))
        items = self._list(response, self._read_json(response), protocol.POSITIONS_LIST_KEY)
        positions = []
        for index, item in enumerate(items):
            path = f"{protocol.POSITIONS_LIST_KEY}.{index}"
            if not isinstance(item, dict):
                raise self._unreadable(response, f"{path}: expected an object")
            data = resolve_aliases(item, protocol.REST_POSITION_KEY_ALIASES)
            wire = self._structure(response, data, WirePosition, path)
            if wire.account_id is not None and wire.account_id != account_id:
                raise self._unreadable(
                    response, f"{path}.accountId: {wire.account_id!r} is not {account_id!r}"
                )
            positions.append(normalize.position_from_wire(wire, account_id=account_id))
        return tuple(positions)

    async def list_orders(
        self, account_id: str, *, source: str = "cache", limit: int | None = None
    ) -> tuple[Order, ...]:
        """Today's orders (open and terminal) of the account, every page (§8.5 v2).

        ``source`` (``cache`` | ``db``) stays the same on every page; ``limit`` is the page size
        (1-500, the venue's default 50 when ``None``). Legacy v1 bodies are accepted too.

        Raises:
            ValueError: bad ``source`` or ``limit``.
            NotAvailableError: a (v1) body says its data is not ready.
            RateLimitedError, AuthError, RequestError: as for every call.
        """
        if source not in protocol.ORDER_SOURCES:
            raise ValueError(f"source must be one of {sorted(protocol.ORDER_SOURCES)}")
        params: dict[str, Any] = {"source": source}
        return await self._paged_orders(
            protocol.ORDERS_PATH.format(account_id=account_id), account_id, params, limit
        )

    async def orders_history(
        self,
        account_id: str,
        start: datetime,
        end: datetime | None = None,
        order_by: str = "desc",
        *,
        limit: int | None = None,
    ) -> tuple[Order, ...]:
        """The account's orders created from ``start`` (to ``end``, default now), every page.

        The venue caps the span at 90 days and excludes ``SUPERSEDED`` orders (§8.5).

        Raises:
            ValueError: naive datetimes, bad ``order_by`` or ``limit``.
            RateLimitedError, AuthError, RequestError: as for every call.
        """
        if order_by not in protocol.ORDER_HISTORY_ORDER_BY:
            raise ValueError(f"order_by must be one of {sorted(protocol.ORDER_HISTORY_ORDER_BY)}")
        params: dict[str, Any] = {"from": _rfc3339(start, "start"), "order_by": order_by}
        if end is not None:
            params["to"] = _rfc3339(end, "end")
        return await self._paged_orders(
            protocol.ORDERS_HISTORY_PATH.format(account_id=account_id), account_id, params, limit
        )

    # --- internals ------------------------------------------------------------------------------

    async def _paged_orders(
        self, path: str, account_id: str, params: dict[str, Any], limit: int | None
    ) -> tuple[Order, ...]:
        if limit is not None:
            if not 1 <= limit <= protocol.ORDERS_PAGE_LIMIT_MAX:
                raise ValueError(f"limit must be in 1..{protocol.ORDERS_PAGE_LIMIT_MAX}")
            params["limit"] = limit
        orders: list[Order] = []
        seen: set[int] = set()
        cursor = 0
        for _ in range(protocol.MAX_ORDER_PAGES):
            page_params = dict(params)
            if cursor:
                page_params["cursor"] = cursor
            response, _ = await self._get(path, page_params)
            body = self._read_json(response)
            for index, item in enumerate(self._list(response, body, protocol.ORDERS_LIST_KEY)):
                item_path = f"{protocol.ORDERS_LIST_KEY}.{index}"
                try:
                    orders.append(order_from_json(item, item_path, account_id, self._converter))
                except WireError as exc:
                    raise self._unreadable(response, f"{exc.field}: {exc.problem}") from None
            cursor = self._next_cursor(response, body)
            if not cursor:
                return tuple(orders)
            if cursor in seen:
                raise self._unreadable(response, f"{protocol.NEXT_CURSOR_KEY} {cursor} repeats")
            seen.add(cursor)
        raise RequestError(
            f"GET {path}: more than {protocol.MAX_ORDER_PAGES} pages", outcome_unknown=False
        )

    def _next_cursor(self, response: httpx.Response, body: Any) -> int:
        if not isinstance(body, dict):
            return 0
        value = body.get(protocol.NEXT_CURSOR_KEY)
        if value is None or value == "":
            return 0
        try:
            cursor = structure_int(value)
        except (ValueError, TypeError) as exc:
            raise self._unreadable(response, f"{protocol.NEXT_CURSOR_KEY}: {exc}") from None
        if cursor < 0:
            raise self._unreadable(response, f"{protocol.NEXT_CURSOR_KEY}: negative")
        return cursor

    def _list(self, response: httpx.Response, body: Any, key: str) -> list[Any]:
        """The items of a list response: a bare array, or ``body[key]`` after checking
        ``availability`` (``null`` items are an empty list)."""
        if isinstance(body, list):
            return body
        if not isinstance(body, dict):
            raise self._unreadable(response, f"expected an object or array, got {json_type(body)}")
        availability = body.get(protocol.AVAILABILITY_KEY)
        if isinstance(availability, dict) and availability.get("available") is False:
            path = response.request.url.path
            source = availability.get("source")
            log.warning("rest.not_available", path=path, source=source)
            raise NotAvailableError(
                f"GET {path}: data not available yet (source {source!r}); retry later",
                status=response.status_code,
            )
        if key not in body:
            raise self._unreadable(response, f"{key}: required field missing")
        items = body[key]
        if items is None:
            return []
        if not isinstance(items, list):
            raise self._unreadable(response, f"{key}: expected an array, got {json_type(items)}")
        return items

    def _user_account(
        self, response: httpx.Response, wire: WireUserAccount, path: str
    ) -> UserAccount:
        account_id = None
        for key in protocol.USER_ACCOUNT_ID_KEYS:
            value = getattr(wire, key)
            if value:
                account_id = value
                break
        if account_id is None:
            raise self._unreadable(response, f"{path}: no account id")
        account_type, account_class = wire.account_type, wire.account_class
        if account_type in protocol.ACCOUNT_CLASSES or account_class in protocol.ACCOUNT_TYPES:
            account_type, account_class = account_class, account_type
        return UserAccount(
            account_id=account_id,
            id=wire.id,
            fdid=wire.fdid or None,
            apex_account_id=wire.apex_account_id or None,
            sterling_account_id=wire.sterling_account_id or None,
            status=wire.status or None,
            is_sim=wire.is_sim,
            account_type=account_type or None,
            account_class=account_class or None,
            created_at=wire.created_at,
            updated_at=wire.updated_at,
        )

    async def _post(self, path: str, body: dict[str, Any]) -> tuple[httpx.Response, str]:
        """POST ``body``; returns the response and the token it was sent with (for redaction)."""
        return await self._send("POST", path, body=body)

    async def _get(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> tuple[httpx.Response, str]:
        return await self._send("GET", path, params=params)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> tuple[httpx.Response, str]:
        token = self._token()
        headers = {"Authorization": f"Bearer {token}"}
        mutating = method != "GET"
        try:
            response = await self._client.request(
                method, path, json=body, params=params, headers=headers
            )
        except _NOT_SENT as exc:
            untrusted = _certificate_refused(method, f"{self._base_url.rstrip('/')}{path}", exc)
            if untrusted is not None:
                raise untrusted from exc
            log.warning("rest.request_failed", path=path, error=type(exc).__name__, sent=False)
            raise RequestError(
                f"{method} {path}: {type(exc).__name__} before the request was sent",
                status=None,
                outcome_unknown=False,
            ) from exc
        except httpx.HTTPError as exc:
            log.error("rest.request_failed", path=path, error=type(exc).__name__, sent=True)
            raise RequestError(
                f"{method} {path}: {type(exc).__name__} after the request may have been sent",
                status=None,
                outcome_unknown=mutating,
            ) from exc
        if not response.is_success:
            raise _status_error(method, path, response, (token,), mutating=mutating)
        return response, token

    def _read_json(self, response: httpx.Response) -> Any:
        try:
            return loads(response.text)
        except (ValueError, RecursionError) as exc:
            raise self._unreadable(response, "body is not JSON") from exc

    def _structure(self, response: httpx.Response, data: object, cls: type[T], path: str) -> T:
        try:
            return structure(self._converter, data, cls, path=path)
        except WireError as exc:
            raise self._unreadable(response, f"{exc.field or 'body'}: {exc.problem}") from None

    def _read_body(self, response: httpx.Response, cls: type[T]) -> T:
        return self._structure(response, self._read_json(response), cls, "")

    def _unreadable(self, response: httpx.Response, problem: str) -> RequestError:
        """A 2xx body of a call that changed nothing, which cannot be read."""
        request = response.request
        log.error("rest.unreadable_body", path=request.url.path, problem=problem)
        return RequestError(
            f"{request.method} {request.url.path}: HTTP {response.status_code}: {problem}",
            status=response.status_code,
            outcome_unknown=False,
        )

    def _read_ack(self, response: httpx.Response, cls: type[T]) -> T:
        try:
            body = loads(response.text)
        except (ValueError, RecursionError) as exc:
            raise self._unknown_ack(response, "body is not JSON") from exc
        try:
            return structure(self._converter, body, cls, path="")
        except WireError as exc:
            problem = f"{exc.field or 'body'}: {exc.problem}" if exc.field else exc.problem
            raise self._unknown_ack(response, f"unreadable acknowledgement ({problem})") from None

    def _unknown_ack(self, response: httpx.Response, problem: str) -> RequestError:
        path = response.request.url.path
        log.error("rest.unreadable_ack", path=path, status=response.status_code, problem=problem)
        return RequestError(
            f"POST {path}: HTTP {response.status_code}: {problem}",
            status=response.status_code,
            outcome_unknown=True,
        )
