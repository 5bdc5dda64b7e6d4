"""Fixtures of the wire-layer tests."""

from __future__ import annotations

import cattrs
import pytest

from engine.aries import FrameDecoder, make_converter
from engine.model import Endpoint


@pytest.fixture
def converter() -> cattrs.Converter:
    """A fresh wire converter (tests must not depend on the shared default one)."""
    return make_converter()


@pytest.fixture
def market_decoder() -> FrameDecoder:
    """A frame decoder for the market socket."""
    return FrameDecoder(Endpoint.MARKET)


@pytest.fixture
def accounts_decoder() -> FrameDecoder:
    """A frame decoder for the accounts socket."""
    return FrameDecoder(Endpoint.ACCOUNTS)
