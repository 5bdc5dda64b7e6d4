"""REST handlers of the simulator (§7.3, §7.4, §8.2–§8.9, §8.11).

Every trading and account endpoint takes ``Authorization: Bearer <token>``; the token names a
user (``SimCore.users``), and an account that user does not own is 403 ``FORBIDDEN``. With
``SimConfig.order_latency > 0`` place/cancel/replace answer in their PENDING_* state and complete
the transition that many seconds (trio clock) after the response, as a Starlette background task.
Order and connection traffic is logged at info when ``SimConfig.log_traffic`` (standalone), else
at debug.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import ROUND_UP, Decimal
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl

import structlog
import trio
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.sim import _messages as msg
from engine.sim import _venue_messages as vmsg
from engine.sim._config import SimUser
from engine.sim._core import SimCore
from engine.sim._ledger import AccountUpdate, CancelOutcome, OrderView
from engine.sim._oauth import OAuthError
from engine.sim._profile import (
    HISTORY_MAX_DAYS,
    HTTP_FORBIDDEN,
    HTTP_INSUFFICIENT_BUYING_POWER,
    HTTP_INVALID_FIELD,
    HTTP_METHOD_NOT_ALLOWED,
    HTTP_MISSING_FIELD,
    HTTP_NOT_FOUND,
    HTTP_ORDER_NOT_CANCELABLE,
    HTTP_ORDER_NOT_FOUND,
    HTTP_STALE_CL_ORD_ID,
    HTTP_UNAUTHORIZED,
    ORDER_SOURCES,
    ORDERS_PAGE_DEFAULT,
    ORDERS_PAGE_MAX,
    PREVIEW_OPTION_FEE_PER_CONTRACT,
    PREVIEW_SEC_FEE_RATE,
)
from engine.sim._requests import (
    FieldProblem,
    parse_cancel_request,
    parse_order_request,
    parse_replace_request,
)
from engine.sim._vocab import Side

log = structlog.get_logger(__name__)

_CENT = Decimal("0.01")


def _error(status: int, code: str, description: str, field: str = "") -> JSONResponse:
    problem = FieldProblem(code=code, field=field, description=description)
    return JSONResponse(msg.http_error(status, [problem]), status_code=status)


class _ForAccount(Protocol):
    """A parsed order request: it names the account it acts on."""

    @property
    def account_id(self) -> str: ...


_Parsed = TypeVar("_Parsed", bound=_ForAccount)


def _problems(problems: list[FieldProblem]) -> JSONResponse:
    return JSONResponse(msg.http_error(400, problems), status_code=400)


def _oauth_response(result: dict[str, Any] | OAuthError) -> JSONResponse:
    if isinstance(result, OAuthError):
        headers = {"WWW-Authenticate": "Basic"} if result.status == 401 else None
        return JSONResponse(result.body(), status_code=result.status, headers=headers)
    return JSONResponse(result, headers={"Cache-Control": "no-store"})


async def not_found(request: Request, exc: Exception) -> Response:
    """Unknown REST path: 404 with the §8.11 envelope."""
    return _error(404, HTTP_NOT_FOUND, f"no route {request.method} {request.url.path}")


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    """Known path, wrong method: 405 with the §8.11 envelope."""
    return _error(405, HTTP_METHOD_NOT_ALLOWED, f"{request.method} is not allowed here")


def _parse_time(text: str) -> datetime | None:
    """An RFC 3339 timestamp *with* a zone, else ``None``."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


class RestHandlers:
    """Every REST endpoint over one simulator core."""

    def __init__(self, core: SimCore) -> None:
        self._core = core
        self._opened_at = core.now()

    # -- plumbing ------------------------------------------------------------------------------

    def _traffic(self, event: str, **fields: Any) -> None:
        (log.info if self._core.config.log_traffic else log.debug)(event, **fields)

    def _user(self, request: Request) -> SimUser | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self._core.users.user_for_token(token.strip(), trio.current_time())

    def _authenticate(self, request: Request) -> SimUser | JSONResponse:
        user = self._user(request)
        if user is None:
            log.info(
                "sim.http.unauthorized",
                path=request.url.path,
                had_header=bool(request.headers.get("authorization")),
            )
            return _error(401, HTTP_UNAUTHORIZED, "missing, invalid or expired bearer token")
        return user

    def _forbidden(self, user: SimUser, account_id: str, field: str = "") -> JSONResponse | None:
        if self._core.users.owns(user, account_id) and self._core.ledger.owns(account_id):
            return None
        self._traffic("sim.http.forbidden", user_id=user.user_id, account_id=account_id)
        return _error(403, HTTP_FORBIDDEN, "account does not belong to the user", field)

    @staticmethod
    async def _body(request: Request) -> tuple[Any, JSONResponse | None]:
        raw = await request.body()
        try:
            return json.loads(raw), None
        except ValueError:
            return None, _error(400, HTTP_INVALID_FIELD, "body must be a JSON object")

    def _publish(self, updates: list[AccountUpdate] | tuple[AccountUpdate, ...]) -> None:
        self._core.hub.publish_account_updates(updates)

    def _later(self, complete: Callable[[], list[AccountUpdate]]) -> BackgroundTask | None:
        """Run ``complete`` after ``order_latency`` (None when there is no latency)."""
        latency = self._core.config.order_latency
        if latency <= 0:
            return None

        async def finish() -> None:
            await trio.sleep(latency)
            self._publish(complete())

        return BackgroundTask(finish)

    def _log_order(self, event: str, order: OrderView, **extra: Any) -> None:
        self._traffic(
            event,
            account_id=order.account_id,
            cl_ord_id=order.cl_ord_id,
            symbol=order.symbol,
            side=order.side.value,
            type=order.type.value,
            qty=str(order.qty),
            status=order.status.value,
            **extra,
        )

    # -- orders --------------------------------------------------------------------------------

    async def _order_request(
        self, request: Request, parse: Callable[[object], _Parsed | list[FieldProblem]]
    ) -> _Parsed | Response:
        """Authenticate, read the JSON body, parse it, and check the account is the user's.

        Returns the parsed request, or the error response to send instead.
        """
        user = self._authenticate(request)
        if isinstance(user, JSONResponse):
            return user
        body, bad = await self._body(request)
        if bad is not None:
            return bad
        parsed = parse(body)
        if isinstance(parsed, list):
            return _problems(parsed)
        denied = self._forbidden(user, parsed.account_id, "tradingAccountId")
        if denied is not None:
            return denied
        return parsed

    async def place_order(self, request: Request) -> Response:
        """``POST /v1/orders``: validate, check ownership, hand to the ledger, publish events."""
        parsed = await self._order_request(request, parse_order_request)
        if isinstance(parsed, Response):
            return parsed
        core = self._core
        now = core.now()
        defer = core.config.order_latency > 0
        result = core.ledger.place(parsed, now, defer=defer)
        core.hub.note_order_placed()
        self._publish(result.updates)
        order = result.order
        if result.accepted:
            self._log_order("sim.order.placed", order)
        else:
            log.info(
                "sim.order.rejected",
                account_id=order.account_id,
                cl_ord_id=order.cl_ord_id,
                symbol=order.symbol,
                reason=order.rej_reason,
            )
        background = None
        if result.accepted and defer:
            background = self._later(
                lambda: core.ledger.activate(order.account_id, order.cl_ord_id, core.now())
            )
        return JSONResponse(msg.order_ack(order, result.accepted, now), background=background)

    async def cancel_order(self, request: Request) -> Response:
        """``POST /v1/orders/cancel``: PENDING_CANCEL then CANCELED on the original order."""
        parsed = await self._order_request(request, parse_cancel_request)
        if isinstance(parsed, Response):
            return parsed
        core = self._core
        defer = core.config.order_latency > 0
        result = core.ledger.cancel(parsed, core.now(), defer=defer)
        failure = self._action_failure(result.outcome, result.order)
        if failure is not None:
            return failure
        assert result.order is not None
        assert result.cancel_cl_ord_id is not None
        self._publish(result.updates)
        self._log_order("sim.order.cancel", result.order)
        order = result.order
        background = None
        if defer:
            background = self._later(
                lambda: core.ledger.complete_cancel(order.account_id, order.cl_ord_id, core.now())
            )
        return JSONResponse(msg.cancel_ack(result.cancel_cl_ord_id, order), background=background)

    async def replace_order(self, request: Request) -> Response:
        """``POST /v1/orders/replace`` (§8.8): a new ``clOrdId``; the old one turns REPLACED."""
        parsed = await self._order_request(request, parse_replace_request)
        if isinstance(parsed, Response):
            return parsed
        core = self._core
        now = core.now()
        defer = core.config.order_latency > 0
        result = core.ledger.replace(parsed, now, defer=defer)
        if result.outcome is CancelOutcome.INVALID:
            return _error(400, HTTP_INVALID_FIELD, result.detail, result.field)
        if result.outcome is CancelOutcome.REJECTED:
            return _error(422, HTTP_INSUFFICIENT_BUYING_POWER, result.detail)
        failure = self._action_failure(result.outcome, result.order)
        if failure is not None:
            return failure
        assert result.order is not None
        assert result.new_cl_ord_id is not None
        self._publish(result.updates)
        old = result.order
        self._log_order("sim.order.replace", old, new_cl_ord_id=result.new_cl_ord_id)
        background = None
        if defer:
            background = self._later(
                lambda: core.ledger.complete_replace(old.account_id, old.cl_ord_id, core.now())
            )
        return JSONResponse(
            vmsg.replace_ack(result.new_cl_ord_id, old, result.replacement, now),
            background=background,
        )

    @staticmethod
    def _action_failure(outcome: CancelOutcome, order: OrderView | None) -> JSONResponse | None:
        if outcome is CancelOutcome.CANCELED:
            return None
        if outcome is CancelOutcome.NOT_FOUND:
            return _error(404, HTTP_ORDER_NOT_FOUND, "no such order in this account", "origClOrdId")
        if outcome is CancelOutcome.SYMBOL_MISMATCH:
            return _error(400, HTTP_INVALID_FIELD, "symbol does not match the order", "symbol")
        if outcome is CancelOutcome.SIDE_MISMATCH:
            return _error(400, HTTP_INVALID_FIELD, "side does not match the order", "side")
        if outcome is CancelOutcome.STALE:
            return _error(
                409,
                HTTP_STALE_CL_ORD_ID,
                "this clOrdId was replaced; use the replacement's clOrdId",
                "origClOrdId",
            )
        status = order.status.value if order is not None else "terminal"
        return _error(409, HTTP_ORDER_NOT_CANCELABLE, f"order is {status}", "origClOrdId")

    async def preview_order(self, request: Request) -> Response:
        """``POST /v1/orders/preview`` (§8.9): cost, margin, fees, buying-power impact."""
        parsed = await self._order_request(request, parse_order_request)
        if isinstance(parsed, Response):
            return parsed
        cost, margin, reason = self._core.ledger.preview(parsed)
        option = self._core.market.option_contract(parsed.symbol, self._core.now().date())
        fees = Decimal(0)
        option_fees: Decimal | None = None
        if option is not None:
            option_fees = PREVIEW_OPTION_FEE_PER_CONTRACT * parsed.qty
            fees += option_fees
        if not parsed.side.is_buy:
            fees += (cost * PREVIEW_SEC_FEE_RATE).quantize(_CENT, rounding=ROUND_UP)
        opening = parsed.side in (Side.BUY, Side.SELL_SHORT)
        impact = cost + fees if opening else fees
        return JSONResponse(
            vmsg.preview(
                cost,
                margin,
                Decimal(0),
                fees,
                impact,
                reason,
                option_fees=option_fees,
                option_premium=cost if option is not None else None,
            )
        )

    # -- account reads -------------------------------------------------------------------------

    def _account_read(self, request: Request) -> tuple[str, JSONResponse | None]:
        user = self._authenticate(request)
        account_id = str(request.path_params.get("account_id", ""))
        if isinstance(user, JSONResponse):
            return account_id, user
        return account_id, self._forbidden(user, account_id)

    async def balances(self, request: Request) -> Response:
        """``GET /v1/accounts/{id}/balances`` (§8.3, REST spelling)."""
        account_id, denied = self._account_read(request)
        if denied is not None:
            return denied
        balance = self._core.ledger.balance(account_id)
        return JSONResponse(vmsg.balances_rest(balance, self._opened_at))

    async def positions(self, request: Request) -> Response:
        """``GET /v1/accounts/{id}/positions`` (§8.4, union of variants A and B)."""
        account_id, denied = self._account_read(request)
        if denied is not None:
            return denied
        positions = [
            p
            for p in self._core.ledger.positions(account_id)
            if p.quantity != 0 or p.today_realized_pnl != 0
        ]
        return JSONResponse(vmsg.positions_rest(positions))

    @staticmethod
    def _paging(request: Request) -> tuple[int, int, JSONResponse | None]:
        query = request.query_params
        problems: list[FieldProblem] = []
        limit = ORDERS_PAGE_DEFAULT
        cursor = 0
        raw_limit = query.get("limit")
        if raw_limit not in (None, ""):
            try:
                limit = int(raw_limit)
            except ValueError:
                limit = -1
            if not 1 <= limit <= ORDERS_PAGE_MAX:
                problems.append(
                    FieldProblem(
                        code=HTTP_INVALID_FIELD,
                        field="limit",
                        description=f"limit must be an integer from 1 to {ORDERS_PAGE_MAX}",
                    )
                )
        raw_cursor = query.get("cursor")
        if raw_cursor not in (None, ""):
            try:
                cursor = int(raw_cursor)
            except ValueError:
                cursor = -1
            if cursor < 0:
                problems.append(
                    FieldProblem(
                        code=HTTP_INVALID_FIELD,
                        field="cursor",
                        description="cursor must be a nextCursor value",
                    )
                )
        source = query.get("source")
        if source not in (None, "") and source not in ORDER_SOURCES:
            problems.append(
                FieldProblem(
                    code=HTTP_INVALID_FIELD,
                    field="source",
                    description="source must be cache or db",
                )
            )
        return limit, cursor, _problems(problems) if problems else None

    @staticmethod
    def _page(orders: list[OrderView], limit: int, cursor: int) -> Response:
        page = orders[cursor : cursor + limit]
        next_cursor = cursor + limit if cursor + limit < len(orders) else 0
        return JSONResponse(vmsg.orders_page(page, next_cursor))

    async def orders_v2(self, request: Request) -> Response:
        """``GET /v2/accounts/{id}/orders``: open orders plus today's terminal ones, paged."""
        account_id, denied = self._account_read(request)
        if denied is not None:
            return denied
        limit, cursor, bad = self._paging(request)
        if bad is not None:
            return bad
        return self._page(list(self._core.ledger.orders(account_id)), limit, cursor)

    async def orders_history(self, request: Request) -> Response:
        """``GET /v2/accounts/{id}/orders/history``: ``from`` required, ≤ 90 days, ordered."""
        account_id, denied = self._account_read(request)
        if denied is not None:
            return denied
        limit, cursor, bad = self._paging(request)
        if bad is not None:
            return bad
        query = request.query_params
        raw_from = query.get("from")
        if not raw_from:
            return _error(400, HTTP_MISSING_FIELD, "from is required", "from")
        start = _parse_time(raw_from)
        if start is None:
            return _error(400, HTTP_INVALID_FIELD, "from must be RFC 3339 with a zone", "from")
        raw_to = query.get("to")
        if raw_to:
            end = _parse_time(raw_to)
            if end is None:
                return _error(400, HTTP_INVALID_FIELD, "to must be RFC 3339 with a zone", "to")
        else:
            end = self._core.now().replace(second=0, microsecond=0)
            end = max(end, start)
            end = min(end, start + timedelta(days=HISTORY_MAX_DAYS))
        if end < start:
            return _error(400, HTTP_INVALID_FIELD, "to must not be before from", "to")
        if end - start > timedelta(days=HISTORY_MAX_DAYS):
            return _error(
                400, HTTP_INVALID_FIELD, f"the window is at most {HISTORY_MAX_DAYS} days", "to"
            )
        order_by = query.get("order_by") or "desc"
        if order_by not in ("asc", "desc"):
            return _error(400, HTTP_INVALID_FIELD, "order_by must be asc or desc", "order_by")
        if not raw_to:
            end = end + timedelta(minutes=1)  # "now truncated to the minute" includes this minute
        orders = [o for o in self._core.ledger.orders(account_id) if start <= o.created_at <= end]
        orders.sort(key=lambda o: o.created_at, reverse=order_by == "desc")
        return self._page(orders, limit, cursor)

    async def user_accounts(self, request: Request) -> Response:
        """``GET /v1/users/me/accounts`` (§8.2, snake_case)."""
        user = self._authenticate(request)
        if isinstance(user, JSONResponse):
            return user
        users = self._core.users.users
        number = next(i for i, u in enumerate(users, start=1) if u.user_id == user.user_id)
        infos = [self._core.ledger.info(a.account_id) for a in user.accounts]
        return JSONResponse(vmsg.user_accounts(infos, number, self._opened_at, self._core.now()))

    # -- OAuth2 --------------------------------------------------------------------------------

    @staticmethod
    async def _oauth_params(request: Request) -> dict[str, Any] | None:
        """JSON (canonical, §7.4) or ``application/x-www-form-urlencoded`` (INFERRED courtesy)."""
        raw = await request.body()
        content_type = request.headers.get("content-type", "").lower()
        if "application/x-www-form-urlencoded" in content_type:
            return dict(parse_qsl(raw.decode("utf-8", errors="replace")))
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def _oauth(self, request: Request, handler: Callable[[dict[str, Any]], Any]) -> Response:
        params = await self._oauth_params(request)
        if params is None:
            return _oauth_response(
                OAuthError(status=400, error="invalid_request", description="malformed body")
            )
        return _oauth_response(handler(params))

    async def oauth_token(self, request: Request) -> Response:
        """``POST /v1/oauth2/token`` (§7.4)."""
        oauth = self._core.oauth
        response = await self._oauth(request, lambda p: oauth.token(p, trio.current_time()))
        self._traffic("sim.oauth.token", status=response.status_code)
        return response

    async def oauth_authorize(self, request: Request) -> Response:
        """``POST /v1/oauth2/authorize`` (§7.3 JSON step)."""
        return await self._oauth(request, self._core.oauth.authorize)

    async def oauth_confirm(self, request: Request) -> Response:
        """``POST /v1/oauth2/authorize/confirm`` (§7.3): the code."""
        oauth = self._core.oauth
        return await self._oauth(request, lambda p: oauth.confirm(p, trio.current_time()))
