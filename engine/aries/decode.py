"""Decoding what the Aries sockets send: frames → lines → typed messages.

``FrameDecoder.decode_frame`` is what a connection calls for every WebSocket frame: it splits the
frame into NDJSON lines (§2.2, on every socket), decodes each line on its own with
``decode_message`` and returns the good ones, so one bad line is reported alone (PERF-NOTES
"What this means" 4, FAULT-SCENARIOS 17 and 18a). It never raises for bad input.

``decode_message`` turns one line into one record of ``engine.aries.wire.AriesMessage``:

* control messages: ``AuthSuccess``, ``AuthFailed``, ``ErrorMessage``, ``Pong``, ``RefreshAuth``,
  ``AuthExpired``, ``Subscribed`` (with the account snapshot when it carries one),
  ``Unsubscribed``;
* account data, **already normalized** to the domain events of ``engine.model.events``:
  ``OrderReported``, ``PositionReported``, ``BalanceReported``, ``AccountInfoReported``, and
  ``AccountSnapshotReceived`` for a snapshot sent as its own event. ``ts_event`` is the message's
  timestamp, ``ts_recv`` the caller's;
* the other account-socket topics as domain events of ``engine.model.streams``:
  ``PnlCandleReceived`` (or ``PnlHistory``, a batch of them, for the history replay),
  ``WatchlistChanged``, ``NewsReceived``;
* market data: partial quotes and trades as wire records (``QuoteUpdate``, ``TradeUpdate``) for
  the connection's ``MarketNormalizer`` (option quotes included); ``MarketStatus`` carrying a
  ``MarketStatusChanged``; complete events ``BookUpdated`` (level 2), ``Trade`` (time & sales),
  ``GreeksUpdated``; ``Response`` for a socket request (§5.7);
* charting events as ``ChartUpdate`` (a ``ChartQuote`` and/or a ``ChartTrade``);
* ``UnknownMessage`` for a well-formed message of a type the client does not handle, to be logged
  and ignored.

Which variants are accepted, and where each is looked for, is decided by the tables of
``engine.aries.protocol``; this module only applies them.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import attrs
import cattrs
import structlog

from engine.aries import normalize, protocol
from engine.aries.converter import (
    WireError,
    default_converter,
    json_type,
    loads,
    resolve_aliases,
    structure,
    structure_datetime,
    structure_decimal,
    structure_int,
)
from engine.aries.wire import (
    AriesMessage,
    AuthExpired,
    AuthFailed,
    AuthSuccess,
    ChartUpdate,
    ErrorMessage,
    MarketStatus,
    PnlHistory,
    Pong,
    QuoteUpdate,
    RefreshAuth,
    Response,
    Subscribed,
    TradeUpdate,
    UnknownMessage,
    Unsubscribed,
    WireAccountInfo,
    WireBalance,
    WireChartQuote,
    WireChartTrade,
    WireGreeks,
    WireLevel2,
    WireNews,
    WireOrderV1,
    WireOrderV2,
    WirePnlCandle,
    WirePosition,
    WireQuote,
    WireTrade,
    WireWatchlistItem,
    wire_keys,
)
from engine.errors import ProtocolError
from engine.model.enums import Endpoint
from engine.model.events import (
    AccountInfoReported,
    AccountSnapshotReceived,
    BalanceReported,
    OrderReported,
    PositionReported,
)
from engine.model.market import Trade
from engine.model.orders import Order
from engine.model.streams import (
    BookLevel,
    BookUpdated,
    ChartQuote,
    ChartTrade,
    GreeksUpdated,
    MarketStatusChanged,
    NewsReceived,
    PnlCandleReceived,
    VenueQuote,
    WatchlistAction,
    WatchlistChanged,
)

__all__ = ["DecoderStatistics", "FrameDecoder", "decode_message", "order_from_json"]

log = structlog.get_logger(__name__)

Path = tuple[str, ...]


def _keys_with_aliases(cls: type, aliases: Mapping[str, tuple[str, ...]]) -> frozenset[str]:
    keys = set(wire_keys(cls).values()) | {alt for alts in aliases.values() for alt in alts}
    return frozenset(keys - set(protocol.ACCOUNT_ID_KEYS))


#: Keys whose presence means an object carries account info / balance fields (snapshot, §4.3).
_INFO_KEYS = _keys_with_aliases(WireAccountInfo, protocol.ACCOUNT_INFO_KEY_ALIASES) - {"updatedAt"}
_BALANCE_KEYS = _keys_with_aliases(WireBalance, protocol.BALANCE_KEY_ALIASES)


def _get(obj: Mapping[str, Any], path: Path) -> Any:
    current: Any = obj
    for key in path:
        if not isinstance(current, dict):
            return None
        current = current.get(key)
    return current


def _first(obj: Mapping[str, Any], locations: Iterable[Path]) -> tuple[Any, str]:
    """The first non-null value among ``locations`` and its dotted path (``None, ""`` if none)."""
    for location in locations:
        value = _get(obj, location)
        if value is not None:
            return value, ".".join(location)
    return None, ""


def _is_blank(value: object) -> bool:
    return value is None or value == ""


def _as_id(value: object, path: str) -> str:
    if type(value) is str:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise WireError(path, f"expected a string, got {json_type(value)}")


class _Envelope:
    """The parts of one parsed message that decide what it is."""

    __slots__ = ("action", "event_type", "label", "obj", "payload", "type", "type_ok")

    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = obj
        raw_type = obj.get("type")
        self.type_ok = raw_type is None or type(raw_type) is str
        self.type: str | None = raw_type if type(raw_type) is str else None
        payload = obj.get("payload")
        self.payload: dict[str, Any] | None = payload if isinstance(payload, dict) else None
        action: str | None = None
        for location in protocol.ACTION_LOCATIONS:
            value = _get(obj, location)
            if type(value) is str:
                action = value
                break
        self.action = action
        event_type = self.payload.get("type") if self.payload is not None else None
        self.event_type: str | None = event_type if type(event_type) is str else None
        self.label: str = (
            self.event_type or self.action or self.type or protocol.UNPARSED_MESSAGE_TYPE
        )

    def id(self) -> str | None:
        value, path = _first(self.obj, protocol.ID_LOCATIONS)
        return None if value is None else _as_id(value, path)

    def timestamp(self) -> datetime | None:
        value, path = _first(self.obj, protocol.TIMESTAMP_LOCATIONS)
        if value is None or value == "":
            return None
        try:
            return structure_datetime(value)
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise WireError(path, str(exc)) from None

    def topic(self) -> str | None:
        value, path = _first(self.obj, protocol.TOPIC_LOCATIONS)
        if value is None:
            return None
        if type(value) is not str:
            raise WireError(path, f"expected a string, got {json_type(value)}")
        return protocol.TOPIC_ALIASES.get(value, value)

    def object_at(self, key: str) -> dict[str, Any]:
        """``payload[key]``, which must be an object."""
        if self.payload is None:
            raise WireError(
                "payload", f"expected an object, got {json_type(self.obj.get('payload'))}"
            )
        value = self.payload.get(key)
        if not isinstance(value, dict):
            raise WireError(f"payload.{key}", f"expected an object, got {json_type(value)}")
        return value


# --- control messages -----------------------------------------------------------------------------


def _error(env: _Envelope) -> AuthFailed | ErrorMessage:
    code_value, code_path = _first(env.obj, protocol.ERROR_CODE_LOCATIONS)
    code = protocol.MISSING_ERROR_CODE if code_value is None else _as_id(code_value, code_path)
    message = ""
    for location in protocol.ERROR_TEXT_LOCATIONS:
        value = _get(env.obj, location)
        if type(value) is str:
            message = value
            break
    if code == protocol.MISSING_ERROR_CODE:
        code = protocol.AUTH_ERROR_TEXT_CODES.get(message.strip().lower(), code)
    if code in protocol.AUTH_ERROR_CODES:
        return AuthFailed(id=env.id(), code=code, message=message)
    return ErrorMessage(id=env.id(), code=code, message=message)


def _expiry(env: _Envelope, key: str) -> int | None:
    for location in protocol.AUTH_EXPIRY_CONTAINERS:
        container = _get(env.obj, location)
        if isinstance(container, dict) and container.get(key) is not None:
            try:
                return structure_int(container[key])
            except (ValueError, TypeError) as exc:
                raise WireError(".".join((*location, key)), str(exc)) from None
    return None


def _auth_required(env: _Envelope) -> AuthFailed:
    failed = _error(env)
    return AuthFailed(id=failed.id, code="AUTH_REQUIRED", message=failed.message)


def _subscribed(
    env: _Envelope, endpoint: Endpoint, ts_recv: int, converter: cattrs.Converter
) -> Subscribed:
    topic = env.topic()
    symbols: tuple[str, ...] = ()
    snapshot: AccountSnapshotReceived | None = None
    if env.payload is not None:
        raw_symbols = env.payload.get(protocol.MARKET_ACK_SYMBOLS_KEY)
        if raw_symbols is not None:
            path = f"payload.{protocol.MARKET_ACK_SYMBOLS_KEY}"
            if not isinstance(raw_symbols, list):
                raise WireError(path, f"expected an array, got {json_type(raw_symbols)}")
            symbols = tuple(_as_id(s, f"{path}.{i}") for i, s in enumerate(raw_symbols))
        wants_snapshot = topic == protocol.TOPIC_ACCOUNT or (
            topic is None and endpoint is Endpoint.ACCOUNTS
        )
        if wants_snapshot and _has_snapshot_content(_snapshot_container(env.payload)[0]):
            snapshot = _snapshot(env, ts_recv, converter)
    return Subscribed(id=env.id(), topic=topic, snapshot=snapshot, symbols=symbols)


# --- account data ---------------------------------------------------------------------------------


def _account_id_in(obj: Mapping[str, Any], path: str) -> tuple[str | None, str]:
    for key in protocol.ACCOUNT_ID_KEYS:
        value = obj.get(key)
        if not _is_blank(value):
            return _as_id(value, f"{path}.{key}" if path else key), f"{path}.{key}"
    return None, ""


def _resolve_account_id(
    candidates: Iterable[tuple[Mapping[str, Any] | None, str]], missing: str
) -> str:
    """The account id named by the first candidate object; every other one must agree."""
    found: str | None = None
    found_at = ""
    for obj, path in candidates:
        if obj is None:
            continue
        value, at = _account_id_in(obj, path)
        if value is None:
            continue
        if found is None:
            found, found_at = value, at
        elif value != found:
            raise WireError(at, f"account id {value!r} does not match {found_at} {found!r}")
    if found is None:
        raise WireError(missing, "required field missing")
    return found


def _check_account(wire_account: str | None, account_id: str, path: str) -> None:
    if wire_account is not None and wire_account != account_id:
        raise WireError(
            f"{path}.accountId", f"account id {wire_account!r} does not match {account_id!r}"
        )


def _is_v1_order(data: Mapping[str, Any]) -> bool:
    return (
        protocol.V2_ORDER_STATUS_KEY not in data
        and not protocol.V1_ORDER_MARKER_KEYS.isdisjoint(data)
    )


def order_from_json(data: object, path: str, account_id: str, converter: cattrs.Converter) -> Order:
    """One order object, v2 or legacy v1 (§8.5), as a domain ``Order`` of ``account_id``.

    Raises:
        WireError: naming the dotted path (under ``path``) of the first bad field.
    """
    return _order(data, path, account_id, converter)


def _order(data: object, path: str, account_id: str, converter: cattrs.Converter) -> Order:
    if not isinstance(data, dict):
        raise WireError(path, f"expected an object, got {json_type(data)}")
    if _is_v1_order(data):
        v1 = structure(converter, data, WireOrderV1, path=path)
        _check_account(v1.account_id, account_id, path)
        return normalize.order_from_v1(v1, account_id=account_id)
    v2 = structure(converter, data, WireOrderV2, path=path)
    _check_account(v2.account_id, account_id, path)
    return normalize.order_from_v2(v2, account_id=account_id)


def _account_event(
    env: _Envelope, ts_recv: int, converter: cattrs.Converter
) -> OrderReported | PositionReported | BalanceReported | AccountInfoReported:
    data = env.object_at(protocol.EVENT_DATA_KEY)
    path = f"payload.{protocol.EVENT_DATA_KEY}"
    account_id = _resolve_account_id(((env.payload, "payload"), (data, path)), f"{path}.accountId")
    ts_event = env.timestamp()
    event_type = env.event_type
    if event_type == protocol.EVENT_ORDER:
        order = _order(data, path, account_id, converter)
        return OrderReported(account_id=account_id, order=order, ts_event=ts_event, ts_recv=ts_recv)
    if event_type == protocol.EVENT_POSITION:
        position = structure(converter, data, WirePosition, path=path)
        return PositionReported(
            account_id=account_id,
            position=normalize.position_from_wire(position, account_id=account_id),
            ts_event=ts_event,
            ts_recv=ts_recv,
        )
    if event_type == protocol.EVENT_BALANCE:
        balance = structure(converter, data, WireBalance, path=path)
        return BalanceReported(
            account_id=account_id,
            balance=normalize.balance_from_wire(balance, account_id=account_id),
            ts_event=ts_event,
            ts_recv=ts_recv,
        )
    info = structure(converter, data, WireAccountInfo, path=path)
    return AccountInfoReported(
        account_id=account_id,
        info=normalize.account_info_from_wire(info, account_id=account_id),
        ts_event=ts_event,
        ts_recv=ts_recv,
    )


def _snapshot_container(payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    inner = payload.get(protocol.SNAPSHOT_CONTAINER_KEY)
    if isinstance(inner, dict):
        return inner, f"payload.{protocol.SNAPSHOT_CONTAINER_KEY}"
    return payload, "payload"


def _sub_object(
    container: dict[str, Any], path: str, key: str, default: tuple[dict[str, Any], str]
) -> tuple[dict[str, Any], str]:
    value = container.get(key)
    if value is None:
        return default
    if not isinstance(value, dict):
        raise WireError(f"{path}.{key}", f"expected an object, got {json_type(value)}")
    return value, f"{path}.{key}"


def _has_snapshot_content(container: Mapping[str, Any]) -> bool:
    return not (
        protocol.SNAPSHOT_MARKER_KEYS.isdisjoint(container)
        and _BALANCE_KEYS.isdisjoint(container)
        and _INFO_KEYS.isdisjoint(container)
    )


def _array(container: dict[str, Any], path: str, key: str) -> list[Any]:
    """``container[key]`` as a list; ``null`` is empty; absent is an error when required."""
    if key not in container and protocol.SNAPSHOT_REQUIRES_POSITIONS_AND_ORDERS:
        raise WireError(f"{path}.{key}", "required field missing")
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise WireError(f"{path}.{key}", f"expected an array, got {json_type(value)}")
    return value


def _snapshot(env: _Envelope, ts_recv: int, converter: cattrs.Converter) -> AccountSnapshotReceived:
    """The account state of a ``subscribed`` reply or a ``snapshot`` event (§4.3)."""
    if env.payload is None:
        raise WireError("payload", f"expected an object, got {json_type(env.obj.get('payload'))}")
    container, cpath = _snapshot_container(env.payload)
    account, apath = _sub_object(
        container, cpath, protocol.SNAPSHOT_ACCOUNT_KEY, (container, cpath)
    )
    balance, bpath = _sub_object(container, cpath, protocol.SNAPSHOT_BALANCE_KEY, (account, apath))
    params = env.obj.get(protocol.SNAPSHOT_PARAMS_KEY)
    candidates: list[tuple[Mapping[str, Any] | None, str]] = [
        (params if isinstance(params, dict) else None, protocol.SNAPSHOT_PARAMS_KEY),
        (account, apath),
    ]
    for obj, path in ((balance, bpath), (container, cpath), (env.payload, "payload")):
        if all(obj is not seen for seen, _ in candidates):
            candidates.append((obj, path))
    account_id = _resolve_account_id(candidates, f"{apath}.accountId")

    info = None
    if not _INFO_KEYS.isdisjoint(account):
        wire_info = structure(converter, account, WireAccountInfo, path=apath)
        info = normalize.account_info_from_wire(wire_info, account_id=account_id)
    balance_model = None
    if not _BALANCE_KEYS.isdisjoint(balance):
        wire_balance = structure(converter, balance, WireBalance, path=bpath)
        balance_model = normalize.balance_from_wire(wire_balance, account_id=account_id)

    positions = []
    ppath = f"{cpath}.{protocol.SNAPSHOT_POSITIONS_KEY}"
    for index, item in enumerate(_array(container, cpath, protocol.SNAPSHOT_POSITIONS_KEY)):
        item_path = f"{ppath}.{index}"
        wire_position = structure(converter, item, WirePosition, path=item_path)
        _check_account(wire_position.account_id, account_id, item_path)
        positions.append(normalize.position_from_wire(wire_position, account_id=account_id))

    # The first order key present wins (``ordersV2`` over legacy ``orders``), even if empty.
    order_key = next(
        (key for key in protocol.SNAPSHOT_ORDER_KEYS if key in container),
        protocol.SNAPSHOT_ORDER_KEYS[0],
    )
    orders = [
        _order(item, f"{cpath}.{order_key}.{index}", account_id, converter)
        for index, item in enumerate(_array(container, cpath, order_key))
    ]
    return AccountSnapshotReceived(
        account_id=account_id,
        info=info,
        balance=balance_model,
        positions=tuple(positions),
        orders=tuple(orders),
        ts_event=env.timestamp(),
        ts_recv=ts_recv,
    )


def _is_account_snapshot_event(env: _Envelope) -> bool:
    """A whole-account snapshot sent as its own event (§4.3), not e.g. a P&L history replay."""
    if env.action != protocol.SNAPSHOT_ACTION:
        return False
    if env.topic() not in (protocol.TOPIC_ACCOUNT, None):
        return False
    event_type = env.event_type
    return event_type is None or (
        event_type.startswith(protocol.TOPIC_ACCOUNT)
        and event_type not in protocol.ACCOUNT_EVENT_TYPES
    )


# --- market data ----------------------------------------------------------------------------------


def _optional_bool(data: Mapping[str, Any], key: str, path: str) -> bool | None:
    value = data.get(key)
    if value is None or type(value) is bool:
        return value
    raise WireError(f"{path}.{key}", f"expected a boolean, got {json_type(value)}")


def _market_status(env: _Envelope, ts_recv: int) -> MarketStatus:
    data = env.object_at(protocol.EVENT_DATA_KEY)
    path = f"payload.{protocol.EVENT_DATA_KEY}"
    market_key, after_key, early_key, time_key = protocol.MARKET_STATUS_KEYS
    market = data.get(market_key)
    if type(market) is not str:
        raise WireError(f"{path}.{market_key}", f"expected a string, got {json_type(market)}")
    server_time = None
    if not _is_blank(data.get(time_key)):
        try:
            server_time = structure_datetime(data[time_key])
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise WireError(f"{path}.{time_key}", str(exc)) from None
    ts_event = env.timestamp()
    status = MarketStatusChanged(
        market=market,
        after_hours=_optional_bool(data, after_key, path),
        early_hours=_optional_bool(data, early_key, path),
        server_time=server_time,
        ts_event=ts_event or server_time,
        ts_recv=ts_recv,
    )
    return MarketStatus(
        market=market, raw=types.MappingProxyType(data), ts_event=ts_event, status=status
    )


def _decimal_at(value: object, path: str) -> Decimal:
    try:
        return structure_decimal(value)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise WireError(path, str(exc)) from None


def _row(row: str, columns: tuple[str, ...], path: str) -> list[str]:
    parts = row.split(protocol.LEVEL2_SEPARATOR)
    if len(parts) != len(columns):
        raise WireError(
            path, f"expected {len(columns)} colon-separated fields ({':'.join(columns)})"
        )
    return parts


def _optional_decimal_at(value: str, path: str) -> Decimal | None:
    return None if value == "" else _decimal_at(value, path)


def _level2(env: _Envelope, ts_recv: int, converter: cattrs.Converter) -> BookUpdated:
    """Compact level-2 rows (§5.6): ``askSize:price:bidSize`` and
    ``exchange:askPrice:askSize:bidPrice:bidSize``."""
    data = env.object_at(protocol.EVENT_DATA_KEY)
    path = f"payload.{protocol.EVENT_DATA_KEY}"
    wire = structure(converter, data, WireLevel2, path=path)
    levels = []
    book_path = f"{path}.{protocol.LEVEL2_BOOK_KEY}"
    for index, row in enumerate(wire.order_book or ()):
        row_path = f"{book_path}.{index}"
        values = dict(
            zip(
                protocol.LEVEL2_BOOK_COLUMNS,
                _row(row, protocol.LEVEL2_BOOK_COLUMNS, row_path),
                strict=True,
            )
        )
        levels.append(
            BookLevel(
                price=_decimal_at(values["price"], row_path),
                bid_size=_decimal_at(values["bidSize"] or "0", row_path),
                ask_size=_decimal_at(values["askSize"] or "0", row_path),
            )
        )
    venues = []
    quotes_path = f"{path}.{protocol.LEVEL2_QUOTES_KEY}"
    for index, row in enumerate(wire.quotes or ()):
        row_path = f"{quotes_path}.{index}"
        values = dict(
            zip(
                protocol.LEVEL2_QUOTE_COLUMNS,
                _row(row, protocol.LEVEL2_QUOTE_COLUMNS, row_path),
                strict=True,
            )
        )
        if not values["exchange"]:
            raise WireError(row_path, "empty exchange")
        venues.append(
            VenueQuote(
                exchange=values["exchange"],
                bid=_optional_decimal_at(values["bidPrice"], row_path),
                bid_size=_optional_decimal_at(values["bidSize"], row_path),
                ask=_optional_decimal_at(values["askPrice"], row_path),
                ask_size=_optional_decimal_at(values["askSize"], row_path),
            )
        )
    return BookUpdated(
        symbol=wire.symbol,
        levels=tuple(levels),
        venues=tuple(venues),
        ts_event=env.timestamp(),
        ts_recv=ts_recv,
    )


def _time_and_sales(env: _Envelope, ts_recv: int, converter: cattrs.Converter) -> Trade:
    data = env.object_at(protocol.EVENT_DATA_KEY)
    path = f"payload.{protocol.EVENT_DATA_KEY}"
    wire = structure(converter, data, WireTrade, path=path)
    if wire.last_price is None:
        raise WireError(f"{path}.price", "required field missing")
    return Trade(
        symbol=wire.symbol,
        price=wire.last_price,
        size=wire.size,
        total_volume=wire.total_volume,
        exchange=wire.trade_exchange or None,
        sequence=wire.trade_seq,
        ts_event=wire.trade_timestamp or env.timestamp(),
        ts_recv=ts_recv,
    )


def _greeks(env: _Envelope, ts_recv: int, converter: cattrs.Converter) -> GreeksUpdated:
    data = env.object_at(protocol.EVENT_DATA_KEY)
    wire = structure(converter, data, WireGreeks, path=f"payload.{protocol.EVENT_DATA_KEY}")
    return GreeksUpdated(
        symbol=wire.symbol,
        delta=wire.delta,
        gamma=wire.gamma,
        theta=wire.theta,
        vega=wire.vega,
        rho=wire.rho,
        implied_volatility=wire.implied_volatility,
        ts_event=env.timestamp(),
        ts_recv=ts_recv,
    )


def _response(env: _Envelope) -> Response:
    status_value, status_path = _first(env.obj, protocol.RESPONSE_STATUS_LOCATIONS)
    status = None
    if status_value is not None:
        try:
            status = structure_int(status_value)
        except (ValueError, TypeError) as exc:
            raise WireError(status_path, str(exc)) from None
    data, _ = _first(env.obj, protocol.RESPONSE_DATA_LOCATIONS)
    return Response(id=env.id(), status=status, data=data)


# --- charting -------------------------------------------------------------------------------------


def _is_chart_event(env: _Envelope) -> bool:
    payload = env.payload
    return (
        payload is not None
        and env.event_type is None
        and protocol.CHART_SYMBOL_KEY in payload
        and (protocol.CHART_QUOTE_KEY in payload or protocol.CHART_TRADE_KEY in payload)
    )


def _chart(env: _Envelope, ts_recv: int, converter: cattrs.Converter) -> ChartUpdate:
    """A TradingView-style quote/trade event (§6)."""
    assert env.payload is not None
    symbol_value = env.payload.get(protocol.CHART_SYMBOL_KEY)
    symbol_path = f"payload.{protocol.CHART_SYMBOL_KEY}"
    if _is_blank(symbol_value):
        raise WireError(symbol_path, "required field missing")
    symbol = _as_id(symbol_value, symbol_path)
    ts_event = env.timestamp()
    quote = None
    if env.payload.get(protocol.CHART_QUOTE_KEY) is not None:
        q = structure(
            converter,
            env.object_at(protocol.CHART_QUOTE_KEY),
            WireChartQuote,
            path=f"payload.{protocol.CHART_QUOTE_KEY}",
        )
        quote = ChartQuote(
            symbol=symbol,
            last=q.lp,
            bid=q.bid,
            ask=q.ask,
            change=q.ch,
            change_pct=q.chp,
            open=q.open_price,
            high=q.high_price,
            low=q.low_price,
            prev_close=q.prev_close_price,
            volume=q.volume,
            ts_event=ts_event,
            ts_recv=ts_recv,
        )
    trade = None
    if env.payload.get(protocol.CHART_TRADE_KEY) is not None:
        t = structure(
            converter,
            env.object_at(protocol.CHART_TRADE_KEY),
            WireChartTrade,
            path=f"payload.{protocol.CHART_TRADE_KEY}",
        )
        trade = ChartTrade(
            symbol=symbol,
            price=t.price,
            size=t.size,
            time=t.time,
            ts_event=t.time or ts_event,
            ts_recv=ts_recv,
        )
    return ChartUpdate(symbol=symbol, quote=quote, trade=trade)


# --- accounts socket: pnl, watchlist, news --------------------------------------------------------


def _pnl_time(value: object, path: str) -> datetime:
    """``t``: Unix seconds (BRIEF); milliseconds or RFC 3339 tolerated (INFERRED)."""
    if _is_blank(value):
        raise WireError(path, "required field missing")
    try:
        if type(value) is str and not (value.isascii() and value.isdigit()):
            return structure_datetime(value)
        seconds = structure_int(value)
        if seconds < 0:
            raise ValueError(f"negative epoch seconds: {seconds}")
        millis = seconds if seconds >= protocol.PNL_EPOCH_MS_THRESHOLD else seconds * 1000
        return structure_datetime(millis)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise WireError(path, str(exc)) from None


def _pnl_candle(
    data: object,
    path: str,
    *,
    account_id: str,
    interval: str,
    ts_event: datetime | None,
    ts_recv: int,
    converter: cattrs.Converter,
) -> PnlCandleReceived:
    if not isinstance(data, dict):
        raise WireError(path, f"expected an object, got {json_type(data)}")
    resolved = resolve_aliases(data, protocol.PNL_CANDLE_KEY_ALIASES)
    wire = structure(converter, resolved, WirePnlCandle, path=path)
    time = _pnl_time(resolved.get("t"), f"{path}.t")
    return PnlCandleReceived(
        account_id=account_id,
        interval=interval,
        time=time,
        open=wire.o,
        high=wire.h,
        low=wire.l,
        close=wire.c,
        ts_event=ts_event or time,
        ts_recv=ts_recv,
    )


def _pnl(
    env: _Envelope, ts_recv: int, converter: cattrs.Converter
) -> PnlCandleReceived | PnlHistory:
    """A live P&L candle, or the history replay (array ``data``) of §4.8."""
    if env.payload is None:
        raise WireError("payload", f"expected an object, got {json_type(env.obj.get('payload'))}")
    data = env.payload.get(protocol.EVENT_DATA_KEY)
    path = f"payload.{protocol.EVENT_DATA_KEY}"
    params = env.obj.get(protocol.SNAPSHOT_PARAMS_KEY)
    candidates: list[tuple[Mapping[str, Any] | None, str]] = [
        (env.payload, "payload"),
        (params if isinstance(params, dict) else None, protocol.SNAPSHOT_PARAMS_KEY),
    ]
    if isinstance(data, dict):
        candidates.append((data, path))
    account_id = _resolve_account_id(candidates, "payload.accountId")
    interval_value, interval_path = _first(env.obj, protocol.PNL_INTERVAL_LOCATIONS)
    interval = (
        protocol.PNL_DEFAULT_INTERVAL
        if _is_blank(interval_value)
        else _as_id(interval_value, interval_path)
    )
    ts_event = env.timestamp()
    if isinstance(data, list):
        candles = tuple(
            _pnl_candle(
                item,
                f"{path}.{index}",
                account_id=account_id,
                interval=interval,
                ts_event=ts_event,
                ts_recv=ts_recv,
                converter=converter,
            )
            for index, item in enumerate(data)
        )
        return PnlHistory(
            account_id=account_id,
            interval=interval,
            candles=candles,
            snapshot=env.action == protocol.PNL_HISTORY_ACTION,
        )
    return _pnl_candle(
        data,
        path,
        account_id=account_id,
        interval=interval,
        ts_event=ts_event,
        ts_recv=ts_recv,
        converter=converter,
    )


def _watchlist(env: _Envelope, ts_recv: int, converter: cattrs.Converter) -> WatchlistChanged:
    assert env.event_type is not None
    data = env.object_at(protocol.EVENT_DATA_KEY)
    wire = structure(converter, data, WireWatchlistItem, path=f"payload.{protocol.EVENT_DATA_KEY}")
    return WatchlistChanged(
        action=WatchlistAction(protocol.WATCHLIST_EVENT_TYPES[env.event_type]),
        watchlist_id=wire.watchlist_id,
        name=wire.name or None,
        symbol=wire.symbol or None,
        position=wire.position,
        ts_event=wire.updated_at or env.timestamp(),
        ts_recv=ts_recv,
    )


def _news(env: _Envelope, ts_recv: int, converter: cattrs.Converter) -> NewsReceived:
    data = env.object_at(protocol.EVENT_DATA_KEY)
    wire = structure(converter, data, WireNews, path=f"payload.{protocol.EVENT_DATA_KEY}")
    return NewsReceived(
        id=wire.id,
        headline=wire.headline,
        summary=wire.summary or None,
        symbols=wire.symbols or (),
        topics=wire.topics or (),
        source=wire.source or None,
        url=wire.url or None,
        published_at=wire.published_at,
        ts_event=wire.published_at or env.timestamp(),
        ts_recv=ts_recv,
    )


# --- entry points ---------------------------------------------------------------------------------


def _decode(
    env: _Envelope, endpoint: Endpoint, ts_recv: int, converter: cattrs.Converter
) -> AriesMessage:
    if not env.type_ok:
        raise WireError("type", f"expected a string, got {json_type(env.obj.get('type'))}")
    envelope_type, action, event_type = env.type, env.action, env.event_type
    if (
        event_type is not None
        and action not in _CONTROL_ACTIONS
        and envelope_type not in _CONTROL_TYPES
    ):
        # The hot path (data events: quotes, orders...) skips the control-message checks.
        decode_event = _EVENT_DECODERS.get(event_type)
        if decode_event is not None:
            return decode_event(env, ts_recv, converter)
    if envelope_type == protocol.TYPE_ERROR or action == protocol.ERROR_ACTION:
        return _error(env)
    if envelope_type == protocol.TYPE_PONG:
        return Pong(id=env.id())
    if action is not None:
        if action in protocol.AUTH_SUCCESS_ACTIONS:
            return AuthSuccess(
                id=env.id(),
                expires_in_ms=_expiry(env, "expiresIn"),
                expires_at_ms=_expiry(env, "expiresAt"),
            )
        if action in protocol.AUTH_REQUIRED_ACTIONS:
            return _auth_required(env)
        if action in protocol.REFRESH_WARNING_ACTIONS:
            return RefreshAuth(
                expires_in_ms=_expiry(env, "expiresIn"), expires_at_ms=_expiry(env, "expiresAt")
            )
        if action in protocol.AUTH_EXPIRED_ACTIONS:
            return AuthExpired()
    if envelope_type == protocol.TYPE_SUBSCRIBED or action in protocol.SUBSCRIBE_ACK_ACTIONS:
        return _subscribed(env, endpoint, ts_recv, converter)
    if envelope_type == protocol.TYPE_UNSUBSCRIBED or action in protocol.UNSUBSCRIBE_ACK_ACTIONS:
        return Unsubscribed(id=env.id(), topic=env.topic())
    if _is_account_snapshot_event(env):
        return _snapshot(env, ts_recv, converter)
    if event_type is not None:
        decode_event = _EVENT_DECODERS.get(event_type)
        if decode_event is not None:
            return decode_event(env, ts_recv, converter)
    if _is_chart_event(env):
        return _chart(env, ts_recv, converter)
    if envelope_type == protocol.TYPE_RESPONSE and action is None:
        return _response(env)
    return UnknownMessage(type=envelope_type, action=action, event_type=event_type)


def _quote(env: _Envelope, ts_recv: int, converter: cattrs.Converter) -> QuoteUpdate:
    data = env.object_at(protocol.EVENT_DATA_KEY)
    quote = structure(converter, data, WireQuote, path="payload.data")
    return QuoteUpdate(data=quote, ts_event=env.timestamp(), ts_recv=ts_recv)


def _trade(env: _Envelope, ts_recv: int, converter: cattrs.Converter) -> TradeUpdate:
    data = env.object_at(protocol.EVENT_DATA_KEY)
    trade = structure(converter, data, WireTrade, path="payload.data")
    return TradeUpdate(data=trade, ts_event=env.timestamp(), ts_recv=ts_recv)


def _market_status_event(env: _Envelope, ts_recv: int, _: cattrs.Converter) -> MarketStatus:
    return _market_status(env, ts_recv)


_EventDecoder = Callable[[_Envelope, int, cattrs.Converter], AriesMessage]


def _event_decoders() -> dict[str, _EventDecoder]:
    """``payload.type`` → its decoder; where the protocol tables overlap, the earlier row wins."""
    table: list[tuple[Iterable[str], _EventDecoder]] = [
        (protocol.ACCOUNT_EVENT_TYPES, _account_event),
        (protocol.QUOTE_EVENT_TYPES, _quote),
        (protocol.TRADE_EVENT_TYPES, _trade),
        ((protocol.EVENT_MARKET_STATUS,), _market_status_event),
        (protocol.LEVEL2_EVENT_TYPES, _level2),
        (protocol.TIME_AND_SALES_EVENT_TYPES, _time_and_sales),
        (protocol.GREEKS_EVENT_TYPES, _greeks),
        (protocol.PNL_EVENT_TYPES, _pnl),
        (protocol.WATCHLIST_EVENT_TYPES, _watchlist),
        (protocol.NEWS_EVENT_TYPES, _news),
    ]
    decoders: dict[str, _EventDecoder] = {}
    for event_types, decoder in table:
        for event_type in event_types:
            decoders.setdefault(event_type, decoder)
    return decoders


_EVENT_DECODERS: Final = _event_decoders()
#: Actions and envelope types that make a message something other than a data event, whatever
#: its ``payload.type`` (they take the full dispatch in ``_decode``).
_CONTROL_ACTIONS: Final = frozenset(
    {
        protocol.ERROR_ACTION,
        protocol.SNAPSHOT_ACTION,
        *protocol.AUTH_SUCCESS_ACTIONS,
        *protocol.AUTH_REQUIRED_ACTIONS,
        *protocol.REFRESH_WARNING_ACTIONS,
        *protocol.AUTH_EXPIRED_ACTIONS,
        *protocol.SUBSCRIBE_ACK_ACTIONS,
        *protocol.UNSUBSCRIBE_ACK_ACTIONS,
    }
)
_CONTROL_TYPES: Final = frozenset(
    {
        protocol.TYPE_ERROR,
        protocol.TYPE_PONG,
        protocol.TYPE_SUBSCRIBED,
        protocol.TYPE_UNSUBSCRIBED,
    }
)


def _line_text(line: str | bytes) -> str:
    if isinstance(line, str):
        return line
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(
            protocol.UNPARSED_MESSAGE_TYPE,
            "",
            "invalid UTF-8",
            line[: protocol.EXCERPT_CHARS].decode("utf-8", "replace"),
        ) from None


def decode_message(
    line: str | bytes,
    endpoint: Endpoint,
    *,
    ts_recv: int,
    converter: cattrs.Converter | None = None,
) -> AriesMessage:
    """Decode one JSON message (one NDJSON line) received on ``endpoint``.

    Args:
        line: One JSON text (surrounding whitespace allowed).
        endpoint: The socket it came from.
        ts_recv: When its frame was received, epoch nanoseconds (copied into domain events).
        converter: The wire converter; the shared ``default_converter()`` when omitted.

    Returns:
        One record of ``AriesMessage`` (``UnknownMessage`` for types the client ignores).

    Raises:
        ProtocolError: invalid UTF-8 or JSON, a JSON value that is not an object (both with
            message type ``"?"``), or a missing/invalid field; ``field`` is its dotted path
            (``payload.data.cumQty``) and ``excerpt`` the line's first characters.
    """
    text = _line_text(line)
    try:
        obj = loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(
            protocol.UNPARSED_MESSAGE_TYPE,
            "",
            f"invalid JSON: {exc}"[:160],
            text[: protocol.EXCERPT_CHARS],
        ) from exc
    if type(obj) is not dict:
        raise ProtocolError(
            protocol.UNPARSED_MESSAGE_TYPE,
            "",
            f"expected a JSON object, got {json_type(obj)}",
            text[: protocol.EXCERPT_CHARS],
        )
    env = _Envelope(obj)
    try:
        return _decode(env, endpoint, ts_recv, converter or default_converter())
    except WireError as exc:
        raise ProtocolError(
            env.label, exc.field, exc.problem, text[: protocol.EXCERPT_CHARS]
        ) from None


@attrs.frozen(kw_only=True)
class DecoderStatistics:
    """Counters of one ``FrameDecoder``.

    ``messages`` counts decoded messages (unknown ones included); ``errors_by_type`` is keyed by
    the message type named in the error (``"?"`` for unparseable lines); ``unknown_types`` by
    ``payload.type``, else action, else envelope type.
    """

    frames: int
    messages: int
    errors: int
    errors_by_type: Mapping[str, int]
    unknown_types: Mapping[str, int]


class FrameDecoder:
    """Splits and decodes the frames of one connection, logging and counting bad lines.

    One per connection (or per endpoint); keeps counters only, so it is cheap to create.
    """

    def __init__(self, endpoint: Endpoint, *, converter: cattrs.Converter | None = None) -> None:
        self._endpoint = endpoint
        self._converter = converter or default_converter()
        self._split = endpoint in protocol.NDJSON_ENDPOINTS
        self._frames = 0
        self._messages = 0
        self._errors_by_type: dict[str, int] = {}
        self._unknown_types: dict[str, int] = {}
        #: The message types of the bad lines of the last frame decoded (usually none).
        self.frame_errors: list[str] = []

    def __repr__(self) -> str:
        return f"FrameDecoder(endpoint={self._endpoint.value!r})"

    def decode_frame(self, frame: str | bytes, *, ts_recv: int) -> list[AriesMessage]:
        """Decode every non-blank line of ``frame``; bad lines are logged once, counted, skipped.

        Never raises for bad input. Each bad line produces one ``protocol.decode_error`` log event
        with ``endpoint``, ``message_type``, ``field``, ``problem`` and ``excerpt``.
        """
        self._frames += 1
        if self.frame_errors:
            self.frame_errors = []
        lines: Sequence[str | bytes]
        if not self._split:
            lines = (frame,)
        elif isinstance(frame, str):
            lines = frame.split("\n")
        else:
            lines = frame.split(b"\n")
        messages: list[AriesMessage] = []
        for line in lines:
            if not line or line.isspace():
                continue
            try:
                message = decode_message(
                    line, self._endpoint, ts_recv=ts_recv, converter=self._converter
                )
            except ProtocolError as exc:
                self._record_error(exc)
                continue
            except Exception as exc:
                # Isolation boundary: a decoder bug must cost one line, not the connection.
                self._record_error(
                    ProtocolError(
                        protocol.UNPARSED_MESSAGE_TYPE,
                        "",
                        f"internal decoder error: {type(exc).__name__}",
                        _excerpt(line),
                    ),
                    exc_info=True,
                )
                continue
            if type(message) is UnknownMessage:
                label = (
                    message.event_type
                    or message.action
                    or message.type
                    or protocol.UNPARSED_MESSAGE_TYPE
                )
                _count(self._unknown_types, label)
            messages.append(message)
        self._messages += len(messages)
        return messages

    def statistics(self) -> DecoderStatistics:
        """A snapshot of the counters."""
        return DecoderStatistics(
            frames=self._frames,
            messages=self._messages,
            errors=sum(self._errors_by_type.values()),
            errors_by_type=types.MappingProxyType(dict(self._errors_by_type)),
            unknown_types=types.MappingProxyType(dict(self._unknown_types)),
        )

    def _record_error(self, exc: ProtocolError, *, exc_info: bool = False) -> None:
        self.frame_errors.append(exc.message_type)
        _count(self._errors_by_type, exc.message_type)
        log.warning(
            "protocol.decode_error",
            endpoint=self._endpoint.value,
            message_type=exc.message_type,
            field=exc.field,
            problem=exc.problem,
            excerpt=exc.excerpt,
            exc_info=exc_info,
        )


#: The decoder's counters are keyed by types the venue names: bounded in length and number,
#: so a feed of ever-new types cannot grow them.
_COUNTER_KEY_CHARS: Final = 64
_COUNTER_KEYS: Final = 256
_OTHER_TYPES: Final = "(other types)"


def _count(counters: dict[str, int], key: str) -> None:
    key = key[:_COUNTER_KEY_CHARS]
    if key not in counters and len(counters) >= _COUNTER_KEYS:
        key = _OTHER_TYPES
    counters[key] = counters.get(key, 0) + 1


def _excerpt(line: str | bytes) -> str:
    if isinstance(line, bytes):
        return line[: protocol.EXCERPT_CHARS].decode("utf-8", "replace")
    return line[: protocol.EXCERPT_CHARS]
