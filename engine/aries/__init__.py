"""The Aries wire layer: wire models, the converter, decoding, encoding, normalizing, REST.

Everything that knows the Aries wire format lives in this package; above it, the engine sees only
``engine.model`` types and ``engine.errors`` exceptions. Every inferred protocol choice is a named
constant or table in ``engine.aries.protocol``.
"""

from engine.aries.converter import make_converter
from engine.aries.decode import DecoderStatistics, FrameDecoder, decode_message
from engine.aries.encode import (
    auth_request,
    ping,
    subscribe_account,
    subscribe_market,
    unsubscribe_account,
    unsubscribe_market,
)
from engine.aries.normalize import MarketNormalizer
from engine.aries.rest import AriesRestClient, CancelAck, PlaceAck
from engine.aries.wire import (
    AccountReport,
    AriesMessage,
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
    WireAccountInfo,
    WireBalance,
    WireCancelResponse,
    WireLeg,
    WireOrderV1,
    WireOrderV2,
    WirePlaceResponse,
    WirePosition,
    WireQuote,
    WireTrade,
)

__all__ = [
    "AccountReport",
    "AriesMessage",
    "AriesRestClient",
    "AuthExpired",
    "AuthFailed",
    "AuthSuccess",
    "CancelAck",
    "DecoderStatistics",
    "ErrorMessage",
    "FrameDecoder",
    "MarketNormalizer",
    "MarketStatus",
    "PlaceAck",
    "Pong",
    "QuoteUpdate",
    "RefreshAuth",
    "Subscribed",
    "TradeUpdate",
    "UnknownMessage",
    "Unsubscribed",
    "WireAccountInfo",
    "WireBalance",
    "WireCancelResponse",
    "WireLeg",
    "WireOrderV1",
    "WireOrderV2",
    "WirePlaceResponse",
    "WirePosition",
    "WireQuote",
    "WireTrade",
    "auth_request",
    "decode_message",
    "make_converter",
    "ping",
    "subscribe_account",
    "subscribe_market",
    "unsubscribe_account",
    "unsubscribe_market",
]
