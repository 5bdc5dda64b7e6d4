"""Order dispatch: the token bucket and the throttled dispatcher actor."""

from engine.dispatch.dispatcher import DispatcherStatistics, OrderGateway, ThrottledDispatcher
from engine.dispatch.throttle import TokenBucket

__all__ = ["DispatcherStatistics", "OrderGateway", "ThrottledDispatcher", "TokenBucket"]
