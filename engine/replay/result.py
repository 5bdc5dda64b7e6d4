"""What a replay produced: the commands, their outcomes, the counters, and the printed summary.

``ReplayResult.jsonl()`` is the canonical list of commands, one JSON object per line (keys
sorted, compact, UTF-8; money as decimal strings; times as epoch nanoseconds of the replay's
virtual clock and as RFC 3339), the content of ``--out``; ``digest`` is the SHA-256 of those
bytes. Nothing in either depends on the wall clock, so two replays of one journal with one
configuration give equal digests.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

from engine.journal.codec import JournalCodec
from engine.model.events import (
    CancelOrder,
    Event,
    ReplaceOrder,
    SubmitOrder,
    TradingStateRequested,
)
from engine.replay.accounts import Outcome

__all__ = ["CommandRecord", "Comparison", "ReplayResult", "command_terms", "utc"]

COMMAND_NAMES: dict[type[Event], str] = {
    SubmitOrder: "submit",
    CancelOrder: "cancel",
    ReplaceOrder: "replace",
    TradingStateRequested: "trading state",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DROPPED_FIELDS = ("ts_event", "ts_recv", "account_id")


def utc(ns: int) -> datetime:
    """Epoch nanoseconds as an aware UTC datetime, exact to the microsecond (no float)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _short_time(ns: int) -> str:
    return utc(ns).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def command_terms(codec: JournalCodec, command: Event) -> dict[str, Any]:
    """A command's own fields as JSON-ready values (its timestamps and account left out)."""
    data = codec.unstructure(command)
    for name in _DROPPED_FIELDS:
        data.pop(name, None)
    return data


@attrs.define(eq=False)
class CommandRecord:
    """One command a plugin emitted during the replay, and (for orders) its outcome.

    ``number`` counts from 1 in emission order; ``ts_ns`` is the replay's virtual time when the
    plugin emitted it, ``decided_ns`` when the gate decided it (later only for an order held
    while its account was ``RECONCILING``).
    """

    number: int
    ts_ns: int
    plugin: str
    command: Event
    terms: dict[str, Any]
    outcome: Outcome | None = None
    decided_ns: int | None = None

    @property
    def kind(self) -> str:
        """``submit``, ``cancel``, ``replace`` or ``trading state``."""
        return COMMAND_NAMES[type(self.command)]

    @property
    def account_id(self) -> str:
        """The account the command is for."""
        return str(getattr(self.command, "account_id", ""))

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON object of this record (one line of ``--out``)."""
        outcome: dict[str, Any] | None = None
        if self.outcome is not None:
            o = self.outcome
            outcome = {
                "approved": o.approved,
                "code": o.code,
                "reason": o.reason,
                "plugin": o.plugin,
                "source": o.source,
                "details": dict(o.details),
                "decided_ns": self.decided_ns,
            }
        return {
            "n": self.number,
            "ts_ns": self.ts_ns,
            "time": utc(self.ts_ns).isoformat(),
            "plugin": self.plugin,
            "command": type(self.command).__name__,
            "account_id": self.account_id,
            "terms": self.terms,
            "outcome": outcome,
        }

    def describe(self) -> str:
        """One line for the summary: what was asked, and what the gate said."""
        what = describe_command(self.command)
        if self.outcome is None:
            return what
        o = self.outcome
        if o.approved is None:
            return f"{what}  held, never decided"
        if o.approved:
            return f"{what}  approved"
        by = f" by {o.plugin}" if o.plugin else f" by the {o.source}" if o.source else ""
        return f"{what}  REJECTED {o.code}{by}: {o.reason}"


def describe_command(command: Event) -> str:
    """A command in a few words: ``submit BUY 10 AAPL LIMIT 190.12 DAY  <client order id>``."""
    if isinstance(command, SubmitOrder):
        i = command.intent
        terms = f"{i.side} {i.qty} {i.symbol} {i.type}"
        if i.price is not None:
            terms += f" {i.price}"
        if i.stop_price is not None:
            terms += f" stop {i.stop_price}"
        return f"submit {terms} {i.time_in_force}  {i.client_order_id}"
    if isinstance(command, CancelOrder):
        return f"cancel {command.client_order_id}"
    if isinstance(command, ReplaceOrder):
        changes = [
            f"{name} {value}"
            for name, value in (
                ("qty", command.qty),
                ("price", command.price),
                ("stop", command.stop_price),
                ("tif", command.time_in_force),
            )
            if value is not None
        ]
        return f"replace {command.client_order_id} → {', '.join(changes)}"
    if isinstance(command, TradingStateRequested):
        return f"trading state {command.account_id} → {command.state}: {command.reason}"
    return type(command).__name__


@attrs.frozen(kw_only=True)
class Comparison:
    """One plugin's replayed commands against those the live run recorded.

    ``first_difference`` is the 1-based position of the first command that differs (by its
    terms, client order ids compared without their run tag), or ``None`` when both lists are
    equal. ``replayed`` / ``recorded`` describe the commands at that position (``""`` when one
    list is shorter).
    """

    replayed_count: int
    recorded_count: int
    first_difference: int | None
    replayed: str = ""
    recorded: str = ""

    def describe(self) -> str:
        """One line for the summary."""
        if self.first_difference is None:
            if not self.recorded_count:
                return "the live run recorded no command of it either"
            return f"the live run recorded the same {self.recorded_count} command(s)"
        counts = f"replay {self.replayed_count}, live {self.recorded_count}"
        return (
            f"differs from the live run at #{self.first_difference} ({counts}): "
            f"replay {self.replayed or 'nothing'} | live {self.recorded or 'nothing'}"
        )


@attrs.frozen(kw_only=True)
class ReplayResult:
    """Everything a replay found; ``summary()`` prints it, ``jsonl()`` is ``--out``."""

    journal: str
    config: str
    rows: Mapping[str, int]
    first_ns: int | None
    last_ns: int | None
    run_tag: str
    run_tag_origin: str
    strategies: tuple[str, ...]
    plugins: tuple[str, ...]
    accounts: tuple[str, ...]
    missing_accounts: tuple[str, ...]
    started_ns: int | None
    market_source: str
    delivered: Mapping[str, int]
    conflated: int
    ticks: int
    decode_errors: int
    skipped: Mapping[str, int]
    dropped_live: int
    commands: tuple[CommandRecord, ...]
    comparisons: Mapping[str, Comparison]
    market_requests: Mapping[str, int]
    faults: tuple[tuple[str, str, str], ...]

    def jsonl(self) -> str:
        """The canonical commands, one JSON object per line (see the module docstring)."""
        return "".join(
            json.dumps(record.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            + "\n"
            for record in self.commands
        )

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of ``jsonl()``: equal digests, equal commands and outcomes."""
        return "sha256:" + hashlib.sha256(self.jsonl().encode()).hexdigest()

    def write_jsonl(self, path: Path) -> None:
        """Write ``jsonl()`` to ``path``.

        Raises:
            OSError: it cannot be written.
        """
        Path(path).write_text(self.jsonl(), encoding="utf-8")

    def outcome_counts(self) -> Counter[str]:
        """Orders and replaces by outcome: ``approved``, ``held`` or the rejection code."""
        counts: Counter[str] = Counter()
        for record in self.commands:
            o = record.outcome
            if o is None:
                continue
            counts["approved" if o.approved else "held" if o.approved is None else o.code] += 1
        return counts

    def summary(self, show: int = 10) -> str:
        """The printed summary, with the first ``show`` commands of each plugin as lines."""
        return "\n".join(self._lines(show)) + "\n"

    def _lines(self, show: int) -> list[str]:
        lines = [f"replay of {self.journal} with {self.config}"]
        rows = ", ".join(f"{count} {table}" for table, count in self.rows.items())
        span = "empty"
        if self.first_ns is not None and self.last_ns is not None:
            seconds = (self.last_ns - self.first_ns) / 1e9
            span = (
                f"{_short_time(self.first_ns)} → {_short_time(self.last_ns)} UTC ({seconds:.1f} s)"
            )
        lines.append(f"  journal     {rows}; {span}")
        lines.append(f"  market data from the recorded {self.market_source}")
        lines.append(f"  run tag     {self.run_tag} ({self.run_tag_origin})")
        lines.append(f"  strategies  {', '.join(self.strategies) or 'none'}")
        lines.append(f"  plugins     {', '.join(self.plugins) or 'none'}")
        lines.append(f"  accounts    {', '.join(self.accounts) or 'none'}")
        if self.started_ns is None:
            lines.append("  started     never (the journal is empty)")
        else:
            lines.append(f"  started     {_short_time(self.started_ns)} UTC")
        lines.extend(
            f"note: account {account} is configured but has no event in the journal"
            for account in self.missing_accounts
        )
        if self.dropped_live:
            lines.append(
                f"note: the live journal dropped {self.dropped_live} records under load; "
                "the replay cannot see them"
            )
        if self.decode_errors:
            lines.append(
                f"note: {self.decode_errors} recorded market messages could not be decoded"
            )
        for kind, count in sorted(self.skipped.items()):
            lines.append(f"note: {count} journal rows of unknown kind {kind} were skipped")

        total = sum(self.delivered.values())
        lines.append("")
        lines.append(
            f"events delivered to the plugins: {total} ({self.conflated} market-data updates "
            f"conflated, as the live bus does), timer ticks: {self.ticks}"
        )
        width = max((len(name) for name in self.delivered), default=0)
        for name, count in sorted(self.delivered.items()):
            lines.append(f"  {name:<{width}}  {count}")

        lines.append("")
        lines.append(f"commands: {len(self.commands)}")
        by_plugin: dict[str, list[CommandRecord]] = {}
        for record in self.commands:
            by_plugin.setdefault(record.plugin, []).append(record)
        names = [*self.strategies, *self.plugins]
        names += sorted(set(by_plugin) - set(names))
        for name in names:
            records = by_plugin.get(name, [])
            comparison = self.comparisons.get(name)
            requests = self.market_requests.get(name, 0)
            if not records and name not in self.strategies:
                continue
            lines.append(f"  {name}: {_counts_line(records)}")
            if requests:
                lines.append(f"    market data requests: {requests}")
            lines.extend(
                f"    #{record.number:<4} {_short_time(record.ts_ns)}  {record.describe()}"
                for record in records[:show]
            )
            if len(records) > show:
                lines.append(f"    … {len(records) - show} more (--show N, or --out FILE.jsonl)")
            if comparison is not None:
                lines.append(f"    {comparison.describe()}")

        lines.append("")
        outcomes = self.outcome_counts()
        approved, held = outcomes.pop("approved", 0), outcomes.pop("held", 0)
        rejected = sum(outcomes.values())
        lines.append(f"verdicts: {approved} approved, {rejected} rejected, {held} held")
        for code, count in sorted(outcomes.items()):
            lines.append(f"  {code:<24} {count}")
        for plugin, hook, error in self.faults:
            lines.append(f"fault: {plugin} raised in {hook}: {error} (the plugin was disabled)")
        lines.append("")
        lines.append(f"digest {self.digest} ({len(self.commands)} commands)")
        return lines


def _counts_line(records: Sequence[CommandRecord]) -> str:
    kinds: Counter[str] = Counter(record.kind for record in records)
    orders: Counter[str] = Counter()
    for record in records:
        if isinstance(record.command, SubmitOrder):
            intent = record.command.intent
            orders[f"{intent.symbol} {intent.side}"] += 1
    parts = [f"{kinds['submit']} submits"]
    if orders:
        parts[0] += " (" + ", ".join(f"{key} {n}" for key, n in sorted(orders.items())) + ")"
    parts += [
        f"{kinds['cancel']} cancels",
        f"{kinds['replace']} replaces",
        f"{kinds['trading state']} trading-state requests",
    ]
    return ", ".join(parts)
