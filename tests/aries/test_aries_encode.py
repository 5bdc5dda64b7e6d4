"""Client messages: exactly the canonical shapes of ARIES.md §0.2."""

from __future__ import annotations

import json

import pytest

from engine.aries import (
    auth_request,
    ping,
    subscribe_account,
    subscribe_market,
    unsubscribe_account,
    unsubscribe_market,
)

from .samples import (
    AUTH_REQUEST,
    PING,
    SUBSCRIBE_ACCOUNT,
    SUBSCRIBE_MARKET,
    UNSUBSCRIBE_ACCOUNT,
    UNSUBSCRIBE_MARKET,
    variant,
)


def test_auth_request() -> None:
    assert json.loads(auth_request("auth-1", "<jwt>")) == AUTH_REQUEST


def test_ping() -> None:
    assert json.loads(ping("p-1")) == PING


def test_subscribe_and_unsubscribe_account() -> None:
    assert json.loads(subscribe_account("s-1", "ACC-001")) == SUBSCRIBE_ACCOUNT
    assert json.loads(unsubscribe_account("u-1", "ACC-001")) == UNSUBSCRIBE_ACCOUNT


def test_subscribe_and_unsubscribe_market() -> None:
    assert json.loads(subscribe_market("m-1", ["AAPL"])) == SUBSCRIBE_MARKET
    assert json.loads(unsubscribe_market("unsub-1", ("AAPL",))) == UNSUBSCRIBE_MARKET


def test_subscribe_market_several_symbols_once_each() -> None:
    message = json.loads(subscribe_market("m-2", ["AAPL", "MSFT", "AAPL"]))
    expected = variant(
        SUBSCRIBE_MARKET,
        id="m-2",
        payload=[
            {"symbol": "AAPL", "quoteFields": ["*"], "tradeFields": ["*"]},
            {"symbol": "MSFT", "quoteFields": ["*"], "tradeFields": ["*"]},
        ],
    )
    assert message == expected


def test_output_is_compact_single_line_json() -> None:
    text = subscribe_market("m-1", ["AAPL"])
    assert "\n" not in text
    assert ", " not in text
    assert ": " not in text


def test_special_characters_are_escaped() -> None:
    text = auth_request('id"1', "tok\nen\u2028")
    assert "\n" not in text
    assert json.loads(text)["payload"]["body"]["token"] == "tok\nen\u2028"


@pytest.mark.parametrize("symbols", [[], ()])
def test_empty_symbol_lists_are_refused(symbols: list[str]) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        subscribe_market("m-1", symbols)


def test_a_bare_string_is_not_a_symbol_list() -> None:
    with pytest.raises(TypeError):
        unsubscribe_market("m-1", "AAPL")


def test_empty_account_is_refused() -> None:
    with pytest.raises(ValueError, match="account_id"):
        subscribe_account("s-1", "")
