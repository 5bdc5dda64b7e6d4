"""No false positives: valid messages decode without error, to the same result however framed.

Property 4 of issue 9 item 3. Every canonical message (``tests.aries.samples`` and the
simulator's builders) and random valid ones (the simulator's builders fed random sane values)
decode on their socket without a ``protocol.decode_error``; re-serialized with other spacing,
key order or escaping, padded with whitespace, sent as bytes, or batched in one NDJSON frame
with other messages and blank lines, they decode to equal messages. Order, position and balance
events keep their numbers exactly.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from engine.aries.decode import FrameDecoder
from engine.aries.wire import AriesMessage, UnknownMessage
from engine.model.enums import Endpoint
from engine.model.events import BalanceReported, OrderReported, PositionReported
from tests.fuzz.frames import CANONICAL, TS_RECV, Canonical, dumps, valid_messages
from tests.fuzz.harness import fuzz_settings

Json = dict[str, Any]

#: Client → server messages among the samples: well-formed, of a type the client ignores.
CLIENT_MESSAGES = frozenset(
    {
        "sample.AUTH_REQUEST",
        "sample.SUBSCRIBE_ACCOUNT",
        "sample.UNSUBSCRIBE_ACCOUNT",
        "sample.PING",
        "sample.SUBSCRIBE_MARKET",
        "sample.UNSUBSCRIBE_MARKET",
    }
)


def decode_clean(endpoint: Endpoint, frame: str | bytes) -> list[AriesMessage]:
    """Decode ``frame``; fail if any line was an error (or logged one)."""
    decoder = FrameDecoder(endpoint)
    with capture_logs() as logs:
        messages = decoder.decode_frame(frame, ts_recv=TS_RECV)
    assert [e for e in logs if e["event"] == "protocol.decode_error"] == []
    assert decoder.statistics().errors == 0
    return messages


def shuffled(value: object, rng: random.Random) -> object:
    """``value`` with the keys of every object in another order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: shuffled(item, rng) for key, item in items}
    if isinstance(value, list):
        return [shuffled(item, rng) for item in value]
    return value


def reframings(message: Json, seed: int) -> list[str | bytes]:
    """The same message as other valid texts of it."""
    rng = random.Random(seed)
    return [
        json.dumps(message),  # spaced separators
        json.dumps(message, ensure_ascii=False),  # raw non-ASCII
        dumps(shuffled(message, rng)),  # keys in another order
        " \t" + dumps(message) + " \r",  # whitespace around the line
        "\n\n" + dumps(message) + "\n",  # blank lines around it
        dumps(message).encode(),  # bytes
        json.dumps(message, ensure_ascii=False).encode(),  # UTF-8 bytes
    ]


def check_numbers(message: Json, decoded: AriesMessage) -> None:
    """Order, position and balance values come out exactly as the venue wrote them."""
    payload = message.get("payload")
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return
    if isinstance(decoded, OrderReported):
        order = decoded.order
        assert order.qty == Decimal(data["qty"])
        assert order.cum_qty == Decimal(data["cumQty"])
        assert order.leaves_qty == Decimal(data["leavesQty"])
        assert order.price == (Decimal(data["price"]) if data["price"] else None)
        assert order.cl_ord_id == data["clOrdId"]
        assert order.status.value == data["ordStatus"]
    elif isinstance(decoded, PositionReported):
        assert decoded.position.quantity == Decimal(data["quantity"])
        assert decoded.position.avg_price == Decimal(data["avgPrice"])
    elif isinstance(decoded, BalanceReported):
        assert decoded.balance.stock_buying_power == Decimal(data["stockBuyingPower"])
        assert decoded.balance.total_equity == Decimal(data["totalEquity"])
        assert decoded.balance.pending_orders_count == data["pendingOrdersCount"]


def check_round_trip(endpoint: Endpoint, message: Json, *, known: bool = True) -> None:
    [expected] = decode_clean(endpoint, dumps(message))
    assert (type(expected) is not UnknownMessage) == known, expected
    check_numbers(message, expected)
    for seed, text in enumerate(reframings(message, seed=len(dumps(message)))):
        assert decode_clean(endpoint, text) == [expected], (seed, text)


@pytest.mark.parametrize("canonical", CANONICAL, ids=lambda entry: entry.name)
def test_every_canonical_message_decodes_cleanly_however_framed(canonical: Canonical) -> None:
    check_round_trip(
        canonical.endpoint, canonical.message(), known=canonical.name not in CLIENT_MESSAGES
    )


@fuzz_settings(300)
@given(pair=valid_messages())
def test_random_valid_messages_decode_cleanly_however_framed(pair: tuple[Endpoint, Json]) -> None:
    endpoint, message = pair
    check_round_trip(endpoint, message)


@fuzz_settings(100)
@given(
    endpoint=st.sampled_from(list(Endpoint)),
    data=st.data(),
)
def test_a_batch_of_valid_messages_decodes_to_each_one(
    endpoint: Endpoint, data: st.DataObject
) -> None:
    messages = data.draw(st.lists(valid_messages(endpoint), min_size=1, max_size=6))
    alone = [decode_clean(endpoint, dumps(message)) for _, message in messages]
    separators = data.draw(st.lists(st.sampled_from(["\n", "\r\n", "\n\n", "\n \t\n"]), min_size=1))
    frame = ""
    for index, (_, message) in enumerate(messages):
        frame += dumps(message) + separators[index % len(separators)]
    assert decode_clean(endpoint, frame) == [m for [m] in alone]
