"""Prometheus metrics: a snapshot collector, an event recorder and a trio HTTP endpoint.

``start_metrics`` builds one private ``CollectorRegistry`` per engine run (never the process-wide
default, so several engines can run in one process, as the tests do) holding:

* ``SnapshotCollector``: read at scrape time from the parts' ``statistics()`` and the account
  views; it never awaits or calls into an actor;
* ``EventRecorder``: a bus subscriber counting what only events show (orders by outcome, risk
  rejections by code, event lag);

and serves it with ``MetricsServer`` at ``http://host:port/metrics`` (``[metrics]``).
"""

from __future__ import annotations

import attrs
import trio
from prometheus_client import CollectorRegistry

from engine.accounts.views import AccountViews
from engine.bus import EventBus
from engine.config import MetricsSection
from engine.metrics.collector import SessionSource, SnapshotCollector
from engine.metrics.recorder import EventRecorder
from engine.metrics.server import MetricsError, MetricsServer, metrics_url

__all__ = [
    "EngineMetrics",
    "EventRecorder",
    "MetricsError",
    "MetricsServer",
    "SnapshotCollector",
    "start_metrics",
]


@attrs.define(eq=False)
class EngineMetrics:
    """The metrics of one engine run, once served."""

    registry: CollectorRegistry
    collector: SnapshotCollector
    recorder: EventRecorder
    host: str
    port: int

    @property
    def url(self) -> str:
        """Where to scrape."""
        return metrics_url(self.host, self.port)


async def start_metrics(
    section: MetricsSection,
    nursery: trio.Nursery,
    *,
    bus: EventBus,
    views: AccountViews,
    session: SessionSource,
) -> EngineMetrics | None:
    """Start the recorder and the endpoint in ``nursery``; ``None`` when ``[metrics]`` is off.

    Start it before anything publishes, so every event is counted. The caller sets the
    collector's ``connections``, ``dispatcher``, ``host`` and ``risk`` once they exist.

    Raises:
        MetricsError: the endpoint cannot listen on ``host:port``.
    """
    if not section.enabled:
        return None
    registry = CollectorRegistry()
    collector = SnapshotCollector(views=views, bus=bus, session=session)
    registry.register(collector)
    recorder = EventRecorder(bus)
    registry.register(recorder)
    await nursery.start(recorder.run)
    server = MetricsServer(registry, host=section.host, port=section.port)
    port: int = await nursery.start(server.run)
    return EngineMetrics(
        registry=registry, collector=collector, recorder=recorder, host=section.host, port=port
    )
