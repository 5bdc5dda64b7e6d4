"""Order dispatch: the token bucket and the throttled dispatcher actor."""

from engine.dispatch.dispatcher import (
    DispatcherStatistics,
    DispatchRequest,
    OrderGateway,
    ReplaceResult,
    ReplaceTerms,
    ThrottledDispatcher,
)
from engine.dispatch.throttle import TokenBucket

__all__ = [
    "DispatchRequest",
    "DispatcherStatistics",
    "OrderGateway",
    "ReplaceResult",
    "ReplaceTerms",
    "ThrottledDispatcher",
    "TokenBucket",
]
