"""``SnapshotCollector``: the metrics the engine's parts already count, read at scrape time.

``collect()`` runs on each scrape. It reads the counters the parts keep anyway (``statistics()``
of the connections and their decoders, the session, the bus, the dispatcher and the plugin host;
the account views; the risk gate's fault count) and turns them into metric families. It only
reads: it awaits nothing and calls into no actor, so a scrape costs the engine one short
synchronous pass and can never block it. A part the engine has not built yet (``None``) exports
nothing; a value that is not known (no balance yet, a token without expiry) has no sample.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Protocol

import attrs
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from engine.aries.decode import DecoderStatistics
from engine.bus import SubscriptionStatistics
from engine.connection.session import SessionStatistics
from engine.connection.supervisor import ConnectionStatistics
from engine.dispatch.dispatcher import DispatcherStatistics
from engine.hooks.host import PluginStatistics
from engine.model._time import now_ns
from engine.model.account import AccountView
from engine.model.enums import ConnectionState, TradingState

__all__ = ["SnapshotCollector"]


class _Decoder(Protocol):
    def statistics(self) -> DecoderStatistics: ...


class ConnectionSource(Protocol):
    """What the collector reads of a ``ConnectionSupervisor``."""

    @property
    def decoder(self) -> _Decoder: ...

    @property
    def last_heard_ns(self) -> int | None: ...

    def statistics(self) -> ConnectionStatistics: ...


class SessionSource(Protocol):
    """What the collector reads of the ``SessionRefresher``."""

    def statistics(self) -> SessionStatistics: ...


class BusSource(Protocol):
    """What the collector reads of the ``EventBus``."""

    def statistics(self) -> tuple[SubscriptionStatistics, ...]: ...


class DispatcherSource(Protocol):
    """What the collector reads of the ``ThrottledDispatcher``."""

    def statistics(self) -> DispatcherStatistics: ...


class HostSource(Protocol):
    """What the collector reads of the ``PluginHost``."""

    def statistics(self) -> tuple[PluginStatistics, ...]: ...


class RiskSource(Protocol):
    """What the collector reads of the ``RiskGate``."""

    @property
    def faults(self) -> int: ...


@attrs.define(eq=False)
class SnapshotCollector:
    """A prometheus_client collector over the engine's own statistics (see the module docstring).

    ``app.py`` builds it with what exists at start-up and sets ``connections``, ``dispatcher``,
    ``host`` and ``risk`` once they are built.
    """

    views: Iterable[AccountView]
    bus: BusSource
    session: SessionSource | None = None
    connections: Sequence[ConnectionSource] = ()
    dispatcher: DispatcherSource | None = None
    host: HostSource | None = None
    risk: RiskSource | None = None

    def collect(self) -> Iterator[Metric]:
        """The metric families of one scrape."""
        yield from self._connections()
        yield from self._session()
        yield from self._bus()
        yield from self._dispatcher()
        yield from self._plugins()
        yield from self._accounts()

    def _connections(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "aries_connection_state",
            "1 for the socket's current connection state, 0 for the others.",
            labels=["socket", "state"],
        )
        in_state = GaugeMetricFamily(
            "aries_connection_state_seconds",
            "Seconds the socket has been in its current state.",
            labels=["socket"],
        )
        connects = _counter("aries_connection_connects", "Connections opened.", "socket")
        reconnects = _counter(
            "aries_connection_reconnects", "Connections opened after the first one.", "socket"
        )
        silence = GaugeMetricFamily(
            "aries_connection_last_frame_age_seconds",
            "Seconds since the socket's latest frame (absent before the first).",
            labels=["socket"],
        )
        frames_in = _counter("aries_frames_received", "Frames read from the socket.", "socket")
        frames_out = _counter("aries_frames_sent", "Frames sent on the socket.", "socket")
        dropped = _counter(
            "aries_frames_dropped",
            "Market-data frames dropped because consumers fell behind.",
            "socket",
        )
        messages = _counter(
            "aries_messages_received",
            "Messages decoded from the socket's frames (unknown types included).",
            "socket",
        )
        decode_errors = _counter(
            "aries_decode_errors", "Frames or messages that failed to decode.", "socket"
        )
        normalize_errors = _counter(
            "aries_normalize_errors",
            "Decoded messages that could not be turned into engine events.",
            "socket",
        )
        unknown = _counter(
            "aries_unknown_messages", "Messages of a type the engine does not know.", "socket"
        )
        now = now_ns()
        for connection in self.connections:
            stats = connection.statistics()
            decoder = connection.decoder.statistics()
            socket = stats.endpoint
            for candidate in ConnectionState:
                state.add_metric([socket, candidate.value], float(candidate is stats.state))
            in_state.add_metric([socket], stats.seconds_in_state)
            connects.add_metric([socket], stats.connects)
            reconnects.add_metric([socket], stats.reconnects)
            if connection.last_heard_ns is not None:
                silence.add_metric([socket], max(0.0, (now - connection.last_heard_ns) / 1e9))
            frames_in.add_metric([socket], stats.frames)
            frames_out.add_metric([socket], stats.frames_out)
            dropped.add_metric([socket], stats.frames_dropped)
            messages.add_metric([socket], decoder.messages)
            decode_errors.add_metric([socket], stats.decode_errors)
            normalize_errors.add_metric([socket], stats.normalize_errors)
            unknown.add_metric([socket], sum(decoder.unknown_types.values()))
        yield from (state, in_state, connects, reconnects, silence, frames_in, frames_out)
        yield from (dropped, messages, decode_errors, normalize_errors, unknown)

    def _session(self) -> Iterator[Metric]:
        if self.session is None:
            return
        stats = self.session.statistics()
        left = GaugeMetricFamily(
            "aries_session_seconds_left",
            "Seconds until the access token expires (absent when it has no known expiry).",
        )
        if stats.expires_in is not None:
            left.add_metric([], stats.expires_in)
        yield left
        yield CounterMetricFamily(
            "aries_session_refreshes", "Access tokens obtained after the first.", stats.refreshes
        )
        yield CounterMetricFamily(
            "aries_session_failures", "Failed token requests.", stats.failures
        )
        yield GaugeMetricFamily(
            "aries_session_failed",
            "1 once the credential was refused for good (an operator must renew it).",
            float(stats.failed),
        )

    def _bus(self) -> Iterator[Metric]:
        # Summed by name: two subscriptions may share one (a series must be unique).
        totals: dict[str, list[int]] = {}
        for stats in self.bus.statistics():
            row = totals.setdefault(stats.name, [0, 0, 0, 0])
            row[0] += stats.pending
            row[1] += stats.delivered
            row[2] += stats.conflated
            row[3] += stats.publisher_waits
        pending = GaugeMetricFamily(
            "aries_bus_pending_events",
            "Events waiting in the subscription's queue (its depth).",
            labels=["subscription"],
        )
        delivered = _counter(
            "aries_bus_delivered_events", "Events handed to the subscriber.", "subscription"
        )
        conflated = _counter(
            "aries_bus_conflated_events",
            "Market-data events replaced in the queue by a newer one for the same symbol.",
            "subscription",
        )
        waits = _counter(
            "aries_bus_publisher_waits",
            "Times a publisher had to wait because the subscription's queue was full.",
            "subscription",
        )
        for name, (n_pending, n_delivered, n_conflated, n_waits) in sorted(totals.items()):
            pending.add_metric([name], n_pending)
            delivered.add_metric([name], n_delivered)
            conflated.add_metric([name], n_conflated)
            waits.add_metric([name], n_waits)
        yield from (pending, delivered, conflated, waits)

    def _dispatcher(self) -> Iterator[Metric]:
        if self.dispatcher is None:
            return
        stats = self.dispatcher.statistics()
        yield GaugeMetricFamily(
            "aries_dispatch_queued_requests",
            "Order requests waiting for a rate-limit token.",
            stats.queued,
        )
        sent = _counter("aries_dispatch_requests_sent", "Order requests sent, by kind.", "kind")
        sent.add_metric(["place"], stats.places_sent)
        sent.add_metric(["cancel"], stats.cancels_sent)
        sent.add_metric(["replace"], stats.replaces_sent)
        yield sent
        yield CounterMetricFamily(
            "aries_dispatch_rate_limited",
            "Order requests the venue refused with 429/503 (retried after Retry-After).",
            stats.rate_limited,
        )
        yield CounterMetricFamily(
            "aries_dispatch_failures", "Order requests that failed.", stats.failures
        )
        yield CounterMetricFamily(
            "aries_dispatch_unknown_outcomes",
            "Order requests that may or may not have reached the venue.",
            stats.unknown_outcomes,
        )

    def _plugins(self) -> Iterator[Metric]:
        if self.risk is not None:
            yield CounterMetricFamily(
                "aries_risk_plugin_faults",
                "Risk checks that raised or answered nonsense (the order was rejected).",
                self.risk.faults,
            )
        if self.host is None:
            return
        calls = _counter("aries_plugin_calls", "Hook calls.", "plugin")
        over = _counter(
            "aries_plugin_over_budget_calls", "Hook calls slower than hook_time_budget.", "plugin"
        )
        slowest = GaugeMetricFamily(
            "aries_plugin_slowest_call_seconds", "The slowest hook call so far.", labels=["plugin"]
        )
        faulted = GaugeMetricFamily(
            "aries_plugin_faulted",
            "1 once a hook raised and the plugin was disabled.",
            labels=["plugin"],
        )
        for stats in self.host.statistics():
            calls.add_metric([stats.name], stats.calls)
            over.add_metric([stats.name], stats.over_budget)
            slowest.add_metric([stats.name], stats.slowest_call)
            faulted.add_metric([stats.name], float(stats.faulted))
        yield from (calls, over, slowest, faulted)

    def _accounts(self) -> Iterator[Metric]:
        equity = GaugeMetricFamily(
            "aries_account_equity",
            "Total equity as the venue reports it (absent before the first balance).",
            labels=["account"],
        )
        buying_power = GaugeMetricFamily(
            "aries_account_buying_power",
            "Stock buying power as the venue reports it.",
            labels=["account"],
        )
        available = GaugeMetricFamily(
            "aries_account_available_buying_power",
            "Stock buying power less what orders in flight have reserved.",
            labels=["account"],
        )
        open_orders = GaugeMetricFamily(
            "aries_account_open_orders", "Open orders on the account.", labels=["account"]
        )
        positions = GaugeMetricFamily(
            "aries_account_positions", "Positions held.", labels=["account"]
        )
        trading = GaugeMetricFamily(
            "aries_account_trading_state",
            "1 for the account's current trading state, 0 for the others.",
            labels=["account", "state"],
        )
        for view in self.views:
            account = view.account_id
            if view.balance is not None:
                equity.add_metric([account], _float(view.balance.total_equity))
                buying_power.add_metric([account], _float(view.balance.stock_buying_power))
                available.add_metric([account], _float(view.available_buying_power))
            open_orders.add_metric([account], len(view.open_orders))
            positions.add_metric([account], len(view.positions))
            for candidate in TradingState:
                trading.add_metric(
                    [account, candidate.value], float(candidate is view.trading_state)
                )
        yield from (equity, buying_power, available, open_orders, positions, trading)


def _counter(name: str, documentation: str, label: str) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, labels=[label])


def _float(value: Decimal) -> float:
    return float(value)
