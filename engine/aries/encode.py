"""Client → server messages, as compact JSON text in the canonical shapes of ARIES.md §0.2.

Every function returns the text to send as one WebSocket text frame. The shapes come from the
tables of ``engine.aries.protocol`` (rows 1, 4, 7, 16 and 17 of the §0.2 catalogue).

The auth request necessarily contains the access token: never log its text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from engine.aries import protocol

__all__ = [
    "auth_request",
    "ping",
    "subscribe_account",
    "subscribe_market",
    "unsubscribe_account",
    "unsubscribe_market",
]

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


def _dumps(message: dict[str, Any]) -> str:
    return _encode(message)


def auth_request(request_id: str, token: str) -> str:
    """``POST /auth`` with the access token (§2.3); the body always has ``action`` and ``token``."""
    return _dumps(
        {
            "type": protocol.TYPE_REQUEST,
            "id": request_id,
            "payload": {
                "method": protocol.AUTH_METHOD,
                "path": protocol.AUTH_PATH,
                "body": {"action": protocol.AUTH_BODY_ACTION, "token": token},
            },
        }
    )


def ping(request_id: str) -> str:
    """A keep-alive ping (§2.5); the server echoes ``id`` on its pong."""
    return _dumps({"type": protocol.TYPE_PING, "id": request_id})


def _account_message(kind: str, request_id: str, account_id: str) -> str:
    if not account_id:
        raise ValueError("account_id must not be empty")
    return _dumps(
        {
            "type": kind,
            "id": request_id,
            "topic": protocol.TOPIC_ACCOUNT,
            "params": {protocol.ACCOUNT_ID_PARAM: account_id},
        }
    )


def subscribe_account(request_id: str, account_id: str) -> str:
    """Subscribe to the ``account`` topic of one account (§4.2); the reply carries a snapshot."""
    return _account_message(protocol.TYPE_SUBSCRIBE, request_id, account_id)


def unsubscribe_account(request_id: str, account_id: str) -> str:
    """Stop the ``account`` topic of one account (§4.2)."""
    return _account_message(protocol.TYPE_UNSUBSCRIBE, request_id, account_id)


def _symbols(symbols: Sequence[str]) -> list[str]:
    if isinstance(symbols, str):
        raise TypeError("symbols must be a sequence of strings, not one string")
    if not symbols:
        raise ValueError("symbols must not be empty")
    return list(dict.fromkeys(symbols))


def subscribe_market(request_id: str, symbols: Sequence[str]) -> str:
    """Subscribe to all quote and trade fields of ``symbols`` (§5.4); duplicates are dropped."""
    fields = {key: list(value) for key, value in protocol.MARKET_SUBSCRIBE_FIELDS.items()}
    return _dumps(
        {
            "type": protocol.TYPE_SUBSCRIBE,
            "id": request_id,
            "payload": [{"symbol": symbol, **fields} for symbol in _symbols(symbols)],
        }
    )


def unsubscribe_market(request_id: str, symbols: Sequence[str]) -> str:
    """Unsubscribe ``symbols`` (§5.4, INFERRED mirror of subscribe)."""
    return _dumps(
        {
            "type": protocol.TYPE_UNSUBSCRIBE,
            "id": request_id,
            "payload": [{"symbol": symbol} for symbol in _symbols(symbols)],
        }
    )
