"""Clock helpers: every domain timestamp is timezone-aware UTC."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ns() -> int:
    """Wall-clock nanoseconds since the Unix epoch (UTC by definition)."""
    return time.time_ns()


def ns_to_datetime(ns: int) -> datetime:
    """Turn epoch nanoseconds into an aware UTC datetime."""
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)
