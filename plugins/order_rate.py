"""Risk plugin: at most ``max_orders`` orders per sliding window of ``window`` seconds, per account.

The window slides with ``now_ns``: an order is refused when ``max_orders`` orders were approved
by this plugin in the last ``window`` seconds (an order approved exactly ``window`` seconds ago
has left the window). Replaces count as orders unless ``count_replaces = false``.

What is counted: the orders *this plugin* let through. A plugin asked later may still reject
one of them, and this plugin never hears of it, so the count can only over-state what was sent
(the safe direction). To keep that rare, the hook is registered ``trylast``: pluggy asks it after
every plugin that is not itself ``trylast``. The engine's dispatcher throttle (``[dispatch]``)
paces what reaches the venue; this limit refuses what a runaway strategy asks for.

Reason code: ``ORDER_RATE`` (details ``orders_in_window``, ``max_orders``, ``window``,
``retry_after``: seconds until the oldest counted order leaves the window). It reads no account
state, so it never says ``STALE_STATE``.

Configure it in ``engine.toml``::

    [[plugins]]
    name = "order-rate"
    path = "plugins.order_rate:OrderRateLimit"
    [plugins.config]
    max_orders = 20
    window = 1.0                # seconds
    count_replaces = true
"""

from __future__ import annotations

from collections import deque

import attrs

from engine import hookimpl
from engine.model import OrderIntent, RiskVerdict
from engine.validators import positive
from plugins._risk_common import (
    ns_to_seconds,
    seconds_to_ns,
)

ORDER_RATE = "ORDER_RATE"


@attrs.frozen(kw_only=True)
class OrderRateConfig:
    """``[plugins.config]`` of an ``OrderRateLimit``."""

    max_orders: int = attrs.field(validator=positive)
    """Most orders approved per window, per account."""
    window: float = attrs.field(validator=positive)
    """Length of the sliding window, in seconds."""
    count_replaces: bool = True
    """Count replaces (new terms of an open order) like new orders."""


class OrderRateLimit:
    """Vetoes orders beyond ``max_orders`` per ``window`` seconds, per account."""

    Config = OrderRateConfig

    def __init__(self, config: OrderRateConfig) -> None:
        self.config = config
        self._window_ns = seconds_to_ns(config.window)
        self._approved: dict[str, deque[int]] = {}

    @hookimpl(trylast=True)
    def aries_check_order(self, intent: OrderIntent, now_ns: int) -> RiskVerdict | None:
        """Reject when the window is full; otherwise count this order and have no objection."""
        if intent.replaces is not None and not self.config.count_replaces:
            return None
        times = self._approved.get(intent.account_id)
        if times is None:
            times = self._approved[intent.account_id] = deque()
        horizon = now_ns - self._window_ns
        while times and times[0] <= horizon:
            times.popleft()
        if len(times) >= self.config.max_orders:
            retry_after = ns_to_seconds(times[0] - horizon)
            return RiskVerdict.reject(
                ORDER_RATE,
                f"{len(times)} orders approved in the last {self.config.window} s; at most "
                f"{self.config.max_orders} allowed (retry in {retry_after} s)",
                orders_in_window=len(times),
                max_orders=self.config.max_orders,
                window=self.config.window,
                retry_after=retry_after,
            )
        times.append(now_ns)
        return None
