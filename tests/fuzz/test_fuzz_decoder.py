"""Fuzzing the decoder: any frame, however broken, costs one log line and one count per bad line.

Properties 1, 2, 3 and 5 of ``tests.fuzz.harness`` over arbitrary text and bytes and over the
mutated frames of ``tests.fuzz.frames``, several frames in a row through one pipeline (the
market normalizer and the account books keep state between them). Known engine bugs are
tolerated here and reproduced in ``test_fuzz_regressions``; anything else fails.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.model.enums import Endpoint
from tests.fuzz.frames import ENDPOINTS, fuzz_frames
from tests.fuzz.harness import fuzz_settings, run_all


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.value)
@fuzz_settings(150)
@given(frames=st.lists(st.text(), min_size=1, max_size=4))
def test_any_text_frame_is_decoded_or_reported(endpoint: Endpoint, frames: list[str]) -> None:
    results = run_all(endpoint, frames)
    assert [r.decode_errors + len(r.messages) for r in results] == [r.lines for r in results]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.value)
@fuzz_settings(100)
@given(frames=st.lists(st.binary(), min_size=1, max_size=4))
def test_any_bytes_frame_is_decoded_or_reported(endpoint: Endpoint, frames: list[bytes]) -> None:
    results = run_all(endpoint, frames)
    assert [r.decode_errors + len(r.messages) for r in results] == [r.lines for r in results]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.value)
@fuzz_settings(200)
@given(data=st.data())
def test_fuzzed_frames_keep_every_property(endpoint: Endpoint, data: st.DataObject) -> None:
    frames = data.draw(st.lists(fuzz_frames(endpoint), min_size=1, max_size=2), label="frames")
    results = run_all(endpoint, frames)
    assert sum(r.lines for r in results) == sum(r.decode_errors + len(r.messages) for r in results)


@pytest.mark.slow
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.value)
@fuzz_settings(2000)
@given(data=st.data())
def test_fuzzed_frames_keep_every_property_at_length(
    endpoint: Endpoint, data: st.DataObject
) -> None:
    frames = data.draw(st.lists(fuzz_frames(endpoint, big=1_000_000), max_size=6), label="frames")
    results = run_all(endpoint, frames)
    assert sum(r.lines for r in results) == sum(r.decode_errors + len(r.messages) for r in results)


def test_every_kind_of_damage_is_counted_and_logged_once_per_line() -> None:
    """A fixed frame with one line of each kind of damage: each is one error and one log line
    naming the endpoint, the type, the field and an excerpt; the good lines still decode."""
    good = '{"type":"pong","id":"p-1"}'
    bad = [
        '{"type":"event","payload":{"action":"update","type":"quote","data":{"symbol":"A",'
        '"bidPrice":"NaN"}}}',  # NaN string
        '{"type":"event","payload":{"action":"update","type":"quote","data":{"symbol":"A",'
        '"bidPrice":Infinity}}}',  # bare Infinity token
        '{"type":"event","payload":{"action":"update","type":"trade","data":{"symbol":"A",'
        '"lastPrice":"1e400"}}}',  # huge number
        '{"type":"event","payload":{"action":"update","type":"trade","data":{"symbol":7.5}}}',
        '{"type":"event","payload":{"action":"update","type":"greeks","data":{}}}',  # missing
        "[" * 100_000 + "]" * 100_000,  # deep nesting
        '{"type": "event", "payload": ',  # truncated
        "\ufeff" + good,  # BOM
    ]
    frame = "\n".join([good, *bad, good]).encode() + b"\n\xff\xfe\n"  # and invalid UTF-8
    [result] = run_all(Endpoint.MARKET, [frame])
    assert len(result.messages) == 2
    assert result.decode_errors == len(bad) + 1 == result.lines - 2
