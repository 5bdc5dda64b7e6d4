"""REST handlers: ``POST /v1/orders`` and ``POST /v1/orders/cancel`` (§8.6, §8.7, §8.11)."""

from __future__ import annotations

import hmac
import json
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.sim import _messages as msg
from engine.sim._core import SimCore
from engine.sim._ledger import CancelOutcome
from engine.sim._profile import (
    HTTP_FORBIDDEN,
    HTTP_INVALID_FIELD,
    HTTP_METHOD_NOT_ALLOWED,
    HTTP_NOT_FOUND,
    HTTP_ORDER_NOT_CANCELABLE,
    HTTP_ORDER_NOT_FOUND,
    HTTP_UNAUTHORIZED,
)
from engine.sim._requests import FieldProblem, parse_cancel_request, parse_order_request

log = structlog.get_logger(__name__)


def _error(status: int, code: str, description: str, field: str = "") -> JSONResponse:
    problem = FieldProblem(code=code, field=field, description=description)
    return JSONResponse(msg.http_error(status, [problem]), status_code=status)


def _problems(problems: list[FieldProblem]) -> JSONResponse:
    return JSONResponse(msg.http_error(400, problems), status_code=400)


async def not_found(request: Request, exc: Exception) -> Response:
    """Unknown REST path: 404 with the §8.11 envelope."""
    return _error(404, HTTP_NOT_FOUND, f"no route {request.method} {request.url.path}")


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    """Known path, wrong method: 405 with the §8.11 envelope."""
    return _error(405, HTTP_METHOD_NOT_ALLOWED, f"{request.method} is not allowed here")


class RestHandlers:
    """The order endpoints over one simulator core."""

    def __init__(self, core: SimCore) -> None:
        self._core = core

    def _unauthorized(self, request: Request) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self._core.config.token.encode()
        ):
            return None
        log.info("sim.http.unauthorized", path=request.url.path, had_header=bool(header))
        return _error(401, HTTP_UNAUTHORIZED, "missing, invalid or expired bearer token")

    @staticmethod
    async def _body(request: Request) -> tuple[Any, JSONResponse | None]:
        raw = await request.body()
        try:
            return json.loads(raw), None
        except ValueError:
            return None, _error(400, HTTP_INVALID_FIELD, "body must be a JSON object")

    async def place_order(self, request: Request) -> Response:
        """``POST /v1/orders``: validate, check ownership, hand to the ledger, publish events."""
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        body, bad = await self._body(request)
        if bad is not None:
            return bad
        parsed = parse_order_request(body)
        if isinstance(parsed, list):
            return _problems(parsed)
        core = self._core
        if not core.ledger.owns(parsed.account_id):
            log.info("sim.order.forbidden", account_id=parsed.account_id)
            return _error(
                403, HTTP_FORBIDDEN, "account does not belong to the user", "tradingAccountId"
            )
        now = core.now()
        result = core.ledger.place(parsed, now)
        core.hub.note_order_placed()
        core.hub.publish_account_updates(result.updates)
        order = result.order
        (log.debug if result.accepted else log.info)(
            "sim.order.placed" if result.accepted else "sim.order.rejected",
            account_id=order.account_id,
            cl_ord_id=order.cl_ord_id,
            symbol=order.symbol,
            side=order.side.value,
            type=order.type.value,
            qty=str(order.qty),
            reason=order.rej_reason or None,
        )
        return JSONResponse(msg.order_ack(order, result.accepted, now))

    async def cancel_order(self, request: Request) -> Response:
        """``POST /v1/orders/cancel``: PENDING_CANCEL then CANCELED on the original order."""
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        body, bad = await self._body(request)
        if bad is not None:
            return bad
        parsed = parse_cancel_request(body)
        if isinstance(parsed, list):
            return _problems(parsed)
        core = self._core
        if not core.ledger.owns(parsed.account_id):
            return _error(
                403, HTTP_FORBIDDEN, "account does not belong to the user", "tradingAccountId"
            )
        result = core.ledger.cancel(parsed, core.now())
        outcome = result.outcome
        if outcome is CancelOutcome.NOT_FOUND:
            return _error(404, HTTP_ORDER_NOT_FOUND, "no such order in this account", "origClOrdId")
        if outcome is CancelOutcome.SYMBOL_MISMATCH:
            return _error(400, HTTP_INVALID_FIELD, "symbol does not match the order", "symbol")
        if outcome is CancelOutcome.SIDE_MISMATCH:
            return _error(400, HTTP_INVALID_FIELD, "side does not match the order", "side")
        if outcome is CancelOutcome.NOT_CANCELABLE:
            assert result.order is not None
            return _error(
                409,
                HTTP_ORDER_NOT_CANCELABLE,
                f"order is {result.order.status.value}",
                "origClOrdId",
            )
        assert result.order is not None
        assert result.cancel_cl_ord_id is not None
        core.hub.publish_account_updates(result.updates)
        log.debug(
            "sim.order.canceled",
            account_id=result.order.account_id,
            cl_ord_id=result.order.cl_ord_id,
        )
        return JSONResponse(msg.cancel_ack(result.cancel_cl_ord_id, result.order))
