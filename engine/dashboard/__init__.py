"""``aries-engine run --dashboard``: a live terminal view of a running engine (rich).

* ``DashboardSnapshot`` / ``take_snapshot``: what one frame shows, read from an ``EngineHandle``
  without calling into any actor (snapshot.py);
* ``render``: a pure function from a snapshot to a rich renderable (render.py);
* ``ActivityFeed``: the last fills and rejections, from a display-only bus subscription that
  never makes a publisher wait (feed.py);
* ``run_dashboard`` / ``run_with_dashboard``: the trio task that refreshes a ``rich.live.Live``
  view, and the wrapper the CLI runs the engine in (live.py);
* ``DashboardLog``: where log lines go while the view is on screen — a file, the view's log
  panel, and stderr when that cannot scribble over the view (logs.py).
"""

from engine.dashboard.feed import FEED_SLOTS, ActivityFeed
from engine.dashboard.live import run_dashboard, run_with_dashboard
from engine.dashboard.logs import DashboardLog, default_log_path
from engine.dashboard.render import render
from engine.dashboard.snapshot import (
    AccountRow,
    DashboardSnapshot,
    FillRow,
    OrderRow,
    PositionRow,
    RejectionRow,
    SocketRow,
    take_snapshot,
)

__all__ = [
    "FEED_SLOTS",
    "AccountRow",
    "ActivityFeed",
    "DashboardLog",
    "DashboardSnapshot",
    "FillRow",
    "OrderRow",
    "PositionRow",
    "RejectionRow",
    "SocketRow",
    "default_log_path",
    "render",
    "run_dashboard",
    "run_with_dashboard",
    "take_snapshot",
]
