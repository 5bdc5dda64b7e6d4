"""The Aries REST client for order entry (``POST /v1/orders``, ``POST /v1/orders/cancel``).

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
    read/write timeout, reset, protocol error after sending
                                  -> RequestError(status=None, outcome_unknown=True)
    2xx with a body that cannot be read as an acknowledgement
                                  -> RequestError(status, outcome_unknown=True)

An unknown outcome is never retried here or by the caller: the order may be live, and the account
actor reconciles it (§8.10). Error bodies are read leniently (``error`` / ``message`` /
``codes[]``). The token never appears in an exception, a log line or a ``repr``; any echo of it in
a server's error text is redacted.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable
from decimal import Decimal
from types import TracebackType
from typing import Any, Self, TypeVar

import attrs
import cattrs
import httpx
import structlog

from engine.aries import protocol
from engine.aries.converter import WireError, default_converter, loads, structure
from engine.aries.wire import WireCancelResponse, WirePlaceResponse
from engine.errors import AuthError, RateLimitedError, RequestError
from engine.model.enums import OrderStatus, Side
from engine.model.orders import OrderIntent, OrderLeg

__all__ = ["AriesRestClient", "CancelAck", "PlaceAck"]

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


class AriesRestClient:
    """Order entry over the Aries REST API.

    Args:
        base_url: e.g. ``https://api.aries.com`` (the simulator's URL in tests).
        token: Returns the current access token; called once per request.
        timeout: Seconds for connect, read, write and pool acquisition each.
        transport: An ``httpx`` transport (``httpx.MockTransport`` in tests).

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

    # --- internals ------------------------------------------------------------------------------

    async def _post(self, path: str, body: dict[str, Any]) -> tuple[httpx.Response, str]:
        """POST ``body``; returns the response and the token it was sent with (for redaction)."""
        token = self._token()
        headers = {"Authorization": f"Bearer {token}"}
        try:
            response = await self._client.post(path, json=body, headers=headers)
        except _NOT_SENT as exc:
            log.warning("rest.request_failed", path=path, error=type(exc).__name__, sent=False)
            raise RequestError(
                f"POST {path}: {type(exc).__name__} before the request was sent",
                status=None,
                outcome_unknown=False,
            ) from exc
        except httpx.HTTPError as exc:
            log.error("rest.request_failed", path=path, error=type(exc).__name__, sent=True)
            raise RequestError(
                f"POST {path}: {type(exc).__name__} after the request may have been sent",
                status=None,
                outcome_unknown=True,
            ) from exc
        if not response.is_success:
            raise self._status_error(path, response, token)
        return response, token

    def _status_error(
        self, path: str, response: httpx.Response, token: str
    ) -> RequestError | AuthError:
        status = response.status_code
        error = _error_body(response)
        detail = _redact(error.text, token) or response.reason_phrase
        message = f"POST {path}: HTTP {status}: {detail}"
        log.warning(
            "rest.request_failed", path=path, status=status, code=_redact(error.code, token)
        )
        if status in protocol.RATE_LIMIT_STATUSES:
            return RateLimitedError(
                message,
                status=status,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status == protocol.UNAUTHORIZED_STATUS:
            return AuthError(protocol.UNAUTHORIZED_CODE, message)
        return RequestError(
            message, status=status, code=_redact(error.code, token), outcome_unknown=status >= 500
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
