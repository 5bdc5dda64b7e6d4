"""Fixtures of the soak: virtual time, the rig's access token, and quiet logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog
import trio.testing

from tests.faults.rig import TOKEN_ENV


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Virtual time that jumps only after 10 ms of real idleness, so a frame in flight on
    loopback is never overtaken by a timer (the fault scenarios' clock)."""
    return trio.testing.MockClock(autojump_threshold=0.01)


@pytest.fixture
def fault_token(monkeypatch: pytest.MonkeyPatch) -> str:
    """The simulator's default access token, where the rig's engine config reads it."""
    from engine.sim import SimConfig

    token = SimConfig().token
    monkeypatch.setenv(TOKEN_ENV, token)
    return token


@pytest.fixture(autouse=True)
def quiet_logs() -> Iterator[None]:
    """Warnings and errors only: hours of debug lines would cost more than the soak itself.
    The previous structlog configuration is restored afterwards."""
    saved = structlog.get_config()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.configure(**saved)
