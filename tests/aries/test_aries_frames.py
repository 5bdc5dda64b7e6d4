"""``FrameDecoder``: NDJSON splitting, one log line and one count per bad line, never raising."""

from __future__ import annotations

import copy
import json
from typing import Any

import cattrs
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from engine.aries import FrameDecoder, Pong, QuoteUpdate, TradeUpdate, UnknownMessage
from engine.model import Endpoint

from .samples import (
    ACCOUNT_INFO,
    AUTH_SUCCESS,
    BALANCE,
    CHART_EVENT,
    DELETE,
    ERROR,
    GREEKS,
    LEVEL2,
    LEVEL2_FULL,
    MARKET_RESPONSE,
    MARKET_STATUS,
    NEWS,
    ORDER_MULTI_LEG,
    ORDER_STOCK,
    PNL_CANDLE,
    PNL_HISTORY,
    PONG,
    POSITION,
    QUOTE,
    REFRESH_AUTH,
    SUBSCRIBED_SNAPSHOT,
    TIME_AND_SALES,
    TRADE,
    TS_RECV,
    WATCHLIST_ADD,
    dumps,
    variant,
)


def test_ndjson_frame_with_a_bad_line_in_the_middle(market_decoder: FrameDecoder) -> None:
    bad = dumps(variant(QUOTE, payload__data__askPrice="NaN"))
    frame = "\n".join([dumps(QUOTE), bad, dumps(TRADE), ""])
    with capture_logs() as logs:
        messages = market_decoder.decode_frame(frame, ts_recv=TS_RECV)
    assert [type(m) for m in messages] == [QuoteUpdate, TradeUpdate]
    assert logs == [
        {
            "event": "protocol.decode_error",
            "log_level": "warning",
            "endpoint": "market",
            "message_type": "quote",
            "field": "payload.data.askPrice",
            "problem": "not a finite decimal: 'NaN'",
            "excerpt": bad[:120],
            "exc_info": False,
        }
    ]
    stats = market_decoder.statistics()
    assert (stats.frames, stats.messages, stats.errors) == (1, 2, 1)
    assert stats.errors_by_type == {"quote": 1}


def test_bytes_frames_crlf_and_blank_lines(market_decoder: FrameDecoder) -> None:
    frame = b"\r\n".join([b"", dumps(PONG).encode(), b"   ", dumps(TRADE).encode(), b""])
    messages = market_decoder.decode_frame(frame, ts_recv=TS_RECV)
    assert [type(m) for m in messages] == [Pong, TradeUpdate]
    assert market_decoder.statistics().errors == 0


def test_invalid_utf8_line_is_reported_alone(market_decoder: FrameDecoder) -> None:
    frame = dumps(PONG).encode() + b"\n\xff\xfe garbage\n" + dumps(PONG).encode()
    with capture_logs() as logs:
        messages = market_decoder.decode_frame(frame, ts_recv=TS_RECV)
    assert messages == [Pong(id="p-1"), Pong(id="p-1")]
    assert [(entry["message_type"], entry["problem"]) for entry in logs] == [("?", "invalid UTF-8")]


def test_single_message_frame_and_empty_frame(accounts_decoder: FrameDecoder) -> None:
    assert accounts_decoder.decode_frame(dumps(PONG), ts_recv=TS_RECV) == [Pong(id="p-1")]
    assert accounts_decoder.decode_frame("", ts_recv=TS_RECV) == []
    assert accounts_decoder.statistics().frames == 2


def test_pretty_printed_json_is_not_a_frame_format(accounts_decoder: FrameDecoder) -> None:
    """NDJSON: a message spanning lines is malformed (every line is reported on its own)."""
    with capture_logs() as logs:
        messages = accounts_decoder.decode_frame(json.dumps(PONG, indent=2), ts_recv=TS_RECV)
    assert messages == []
    assert len(logs) == accounts_decoder.statistics().errors == 5  # {, 3 members, }


def test_unknown_types_are_returned_and_counted(accounts_decoder: FrameDecoder) -> None:
    pnl = dumps(variant(PNL_CANDLE, payload__type="pnl.forecast"))
    level3 = dumps(variant(LEVEL2, payload__type="level3"))
    frame = "\n".join([pnl, pnl, level3, '{"type":"x"}'])
    with capture_logs() as logs:
        messages = accounts_decoder.decode_frame(frame, ts_recv=TS_RECV)
    assert all(isinstance(m, UnknownMessage) for m in messages)
    assert logs == []
    stats = accounts_decoder.statistics()
    assert stats.unknown_types == {"pnl.forecast": 2, "level3": 1, "x": 1}
    assert (stats.messages, stats.errors) == (4, 0)


def test_statistics_are_snapshots(market_decoder: FrameDecoder) -> None:
    market_decoder.decode_frame("nope", ts_recv=TS_RECV)
    before = market_decoder.statistics()
    market_decoder.decode_frame("nope", ts_recv=TS_RECV)
    assert before.errors_by_type == {"?": 1}
    assert market_decoder.statistics().errors_by_type == {"?": 2}


def test_repr_names_the_endpoint() -> None:
    assert repr(FrameDecoder(Endpoint.CHARTS)) == "FrameDecoder(endpoint='charts')"


# --- never raises -------------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.text())
def test_decode_frame_never_raises_on_text(text: str) -> None:
    decoder = FrameDecoder(Endpoint.MARKET)
    with capture_logs():
        messages = decoder.decode_frame(text, ts_recv=TS_RECV)
    stats = decoder.statistics()
    assert stats.messages == len(messages)


@settings(max_examples=300)
@given(st.binary())
def test_decode_frame_never_raises_on_bytes(data: bytes) -> None:
    with capture_logs():
        FrameDecoder(Endpoint.ACCOUNTS).decode_frame(data, ts_recv=TS_RECV)


_KEYS = st.sampled_from(
    ["type", "id", "payload", "action", "data", "topic", "params", "timestamp", "accountId",
     "code", "error", "message", "account", "balance", "positions", "orders", "ordersV2",
     "symbols", "expiresIn", "clOrdId", "qty", "ordStatus", "symbol", "legs", "side", "market",
     "t", "o", "h", "l", "c", "interval", "watchlistId", "headline", "orderBook", "quotes",
     "price", "delta", "trade", "lp", "status"]
)  # fmt: skip
_VALUES = st.sampled_from(
    ["event", "error", "pong", "subscribed", "response", "authSuccess", "refreshAuth", "snapshot",
     "account.order", "account.position", "account.balance", "account.info", "quote", "trade",
     "marketStatus", "account", "BUY", "NEW", "", "1", "NaN", "2026-01-15T14:30:00Z",
     "pnl.candle", "watchlist.add", "watchlist.remove", "news", "level2", "timeAndSales",
     "greeks", "pnl", "200:1:0", "A:1:2:3:4", "quote"]
)  # fmt: skip
_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | _VALUES,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_KEYS, children, max_size=4),
    max_leaves=8,
)
_DATA = st.dictionaries(_KEYS, _JSON, max_size=6)
_ENVELOPE = st.fixed_dictionaries(
    {},
    optional={
        "type": _VALUES | _JSON,
        "id": _JSON,
        "topic": _VALUES,
        "params": _DATA,
        "timestamp": _VALUES | _JSON,
        "payload": st.fixed_dictionaries(
            {},
            optional={
                "action": _VALUES,
                "type": _VALUES,
                "accountId": _VALUES,
                "data": _DATA | _JSON | st.lists(_DATA, max_size=2),
                "symbol": _VALUES | _JSON,
                "quote": _DATA | _JSON,
                "trade": _DATA | _JSON,
                "interval": _VALUES | _JSON,
                "status": _JSON,
                "account": _DATA,
                "positions": st.lists(_DATA, max_size=2),
                "ordersV2": st.lists(_DATA, max_size=2),
                "timestamp": _VALUES | _JSON,
            },
        )
        | _JSON,
    },
)


@settings(max_examples=300)
@given(st.lists(_ENVELOPE, min_size=1, max_size=3), st.sampled_from(list(Endpoint)))
def test_decode_frame_never_raises_on_envelope_like_json(
    messages: list[dict[str, Any]], endpoint: Endpoint
) -> None:
    frame = "\n".join(json.dumps(m) for m in messages)
    decoder = FrameDecoder(endpoint)
    with capture_logs() as logs:
        decoded = decoder.decode_frame(frame, ts_recv=TS_RECV)
    stats = decoder.statistics()
    assert len(decoded) + stats.errors == len(messages)
    assert len(logs) == stats.errors
    assert not any(entry.get("exc_info") for entry in logs)  # no internal decoder error


_SAMPLES = [
    ACCOUNT_INFO, AUTH_SUCCESS, BALANCE, ERROR, MARKET_STATUS, ORDER_MULTI_LEG, ORDER_STOCK,
    PONG, POSITION, QUOTE, REFRESH_AUTH, SUBSCRIBED_SNAPSHOT, TRADE, PNL_CANDLE, PNL_HISTORY,
    WATCHLIST_ADD, NEWS, LEVEL2_FULL, TIME_AND_SALES, GREEKS, MARKET_RESPONSE, CHART_EVENT,
]  # fmt: skip


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


_MUTATIONS = [(sample, path) for sample in _SAMPLES for path in _paths(sample)]


@settings(max_examples=800)
@given(st.sampled_from(_MUTATIONS), _JSON | st.just(DELETE))
def test_mutated_canonical_messages_decode_or_fail_precisely(
    mutation: tuple[dict[str, Any], tuple[Any, ...]], value: Any
) -> None:
    """Any one field of a canonical message replaced (or deleted): a message or one clean error."""
    sample, path = mutation
    message = copy.deepcopy(sample)
    node = message
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    decoder = FrameDecoder(Endpoint.ACCOUNTS)
    with capture_logs() as logs:
        decoded = decoder.decode_frame(dumps(message), ts_recv=TS_RECV)
    assert len(decoded) + len(logs) == 1
    for entry in logs:
        assert entry["field"]  # the error names the field at fault
        assert not entry["exc_info"]


class _BrokenConverter(cattrs.Converter):
    def structure(self, obj: Any, cl: Any) -> Any:
        raise RuntimeError("bug")


def test_an_internal_decoder_bug_costs_one_line_only() -> None:
    decoder = FrameDecoder(Endpoint.MARKET, converter=_BrokenConverter())
    with capture_logs() as logs:
        messages = decoder.decode_frame(f"{dumps(QUOTE)}\n{dumps(PONG)}", ts_recv=TS_RECV)
    assert messages == [Pong(id="p-1")]
    assert len(logs) == 1
    assert logs[0]["problem"] == "internal decoder error: RuntimeError"
    assert logs[0]["exc_info"] is True
    assert decoder.statistics().errors == 1
