"""``JournalReader``: read a journal back, for replay and for crash recovery.

Synchronous (plain ``sqlite3``): use it before ``trio.run`` or through ``trio.to_thread``. It may
read while a ``JournalWriter`` writes (WAL). Opening a journal left by a killed process recovers
its WAL: only committed batches are visible, a consistent prefix of what was recorded.

Restoring an account after a crash: the exactly-once argument
--------------------------------------------------------------
Definitions. A fill is *published* when the account actor's ``OrderFilled`` is recorded in the
journal; the journal, not a strategy's memory (which a crash wipes), is the commit point. A fill
is identified by ``(cl_ord_id, cum_qty)``: the book publishes one ``OrderFilled`` per ``cum_qty``
increase of a ``cl_ord_id``, and ``cum_qty`` never goes backwards, so the key is unique.

``restore(account_id)`` returns:

* ``intents`` — the order intents risk approved (the book tracked exactly these, with their
  reservations) and ``held_intents``, recorded but never decided (they never reached the venue);
* ``reports`` — every recorded book input of the account (snapshots, order/position/balance/info
  reports, ``OrderPlaced``/``OrderPlaceFailed``) in recording order;
* ``delivered_fill_keys`` — the keys of the recorded ``OrderFilled``.

The restart procedure (wired by the account actor): build a fresh ``AccountBook``, track
``intents``, apply ``reports`` in order *without publishing*, and publish only
``restored.undelivered(outputs)`` — the replay's ``OrderFilled`` whose key is not delivered. Then
reconcile against the next snapshot as usual.

Why no fill is published twice: the book is a pure, deterministic function of its inputs, and
the journal recorded the inputs in the order the book applied them (the actor and the journal see
the bus in the same order). Replaying them rebuilds the same book, with the same ``cum_qty`` per
``cl_ord_id``. A fill already published is in ``delivered_fill_keys`` and filtered out of the
replay's output; the snapshot that follows yields only ``cum_qty`` increases beyond the replayed
state, i.e. fills not yet seen by the book.

Why none is missed: a fill the venue made is either (a) implied by a recorded report — then the
replay derives it, and it is published now unless its key was delivered; or (b) not in any
recorded report (it happened while the engine was down, or its report was still in the writer's
buffer at the crash) — then the venue's next snapshot (or REST reconciliation) reports a
``cum_qty`` above the replayed one and the book publishes the delta once. Because the journal is
a prefix (one transaction per batch, in recording order), an ``OrderFilled`` on disk implies the
report that caused it is on disk too, so (a) and (b) do not overlap.

Limits: what was published in the last ``flush_interval`` before a crash may not be on disk; it
is published again after the restart (once, from the new process' point of view). Retention must
outlive every order (see ``engine.journal.schema``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from engine.errors import EngineError
from engine.journal.codec import JournalCodec, JournalGap
from engine.journal.schema import connect
from engine.model.events import (
    AccountInfoReported,
    AccountSnapshotReceived,
    BalanceReported,
    Event,
    OrderFilled,
    OrderPlaced,
    OrderPlaceFailed,
    OrderReplaceAccepted,
    OrderReported,
    PositionReported,
    ReplaceFailed,
)
from engine.model.orders import CancelIntent, OrderIntent, RiskVerdict

__all__ = [
    "REPLAY_KINDS",
    "FillKey",
    "JournalFrame",
    "JournalReader",
    "JournalRequest",
    "JournalVerdict",
    "RestoredAccount",
]

# What a fresh AccountBook is fed on restore: the book's inputs (``BookInput``).
REPLAY_KINDS: tuple[type[Event], ...] = (
    AccountSnapshotReceived,
    OrderReported,
    PositionReported,
    BalanceReported,
    AccountInfoReported,
    OrderPlaced,
    OrderPlaceFailed,
    OrderReplaceAccepted,
)

# Also replayed, by the actor rather than the book: a replace the venue refused gives back what
# it had reserved.
_ACTOR_REPLAY_KINDS: tuple[type[Event], ...] = (ReplaceFailed,)

FillKey = tuple[str, Decimal]  # (cl_ord_id, cum_qty)


@attrs.frozen(kw_only=True)
class JournalFrame:
    """One recorded inbound frame."""

    seq: int
    ts_recv: int
    endpoint: str
    raw: str


@attrs.frozen(kw_only=True)
class JournalVerdict:
    """One recorded risk verdict."""

    seq: int
    ts_ns: int
    client_order_id: str
    verdict: RiskVerdict


@attrs.frozen(kw_only=True)
class JournalRequest:
    """One recorded REST exchange (``body``/``response`` decoded from JSON)."""

    seq: int
    ts_ns: int
    account_id: str | None
    method: str
    path: str
    body: Any
    status: int | None
    response: Any
    outcome: str


@attrs.frozen(kw_only=True)
class RestoredAccount:
    """What the journal knows of one account; see the module docstring for how to use it."""

    account_id: str
    reports: list[Event]
    intents: list[OrderIntent]
    held_intents: list[OrderIntent]
    delivered_fill_keys: frozenset[FillKey]
    timeline: list[OrderIntent | Event] = attrs.field(factory=list)
    """The approved intents (new orders and replaces), the book's inputs and the replace
    refusals, merged in recording order: what the actor replays. Intents are recorded as they
    are decided and events as the bus delivers them, so only the journal's ``seq`` orders the
    two (an order's ownership and reservation must exist before its first report)."""

    def undelivered(self, published: Iterable[Event]) -> list[OrderFilled]:
        """The ``OrderFilled`` among ``published`` (a replay's output) not yet delivered."""
        return [
            event
            for event in published
            if isinstance(event, OrderFilled)
            and (event.cl_ord_id, event.cum_qty) not in self.delivered_fill_keys
        ]


def _decode_json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _conditions(*pairs: tuple[str, Any]) -> tuple[list[str], list[Any]]:
    """SQL conditions and their arguments, for the pairs whose value is not ``None``."""
    used = [(sql, value) for sql, value in pairs if value is not None]
    return [sql for sql, _ in used], [value for _, value in used]


class JournalGapError(EngineError):
    """Raised by ``JournalReader.restore`` when the journal has gaps (records were dropped)."""


class JournalReader:
    """Read access to a journal file (it must exist).

    Iterators stream rows in recording order (``seq``) and skip, counting in ``skipped``, rows
    whose ``kind`` this engine cannot rebuild.

    Raises:
        sqlite3.Error: at construction, when the file is missing or not a journal.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn = connect(self.path, create=False)
        self._codec = JournalCodec()

    @property
    def skipped(self) -> dict[str, int]:
        """Rows skipped so far because their kind could not be decoded, by kind."""
        return dict(self._codec.skipped)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> JournalReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _query(self, sql: str, where: list[str], args: list[Any]) -> Iterator[tuple[Any, ...]]:
        if where:
            sql += " WHERE " + " AND ".join(where)
        yield from self._conn.execute(sql + " ORDER BY seq", args)

    # --- tables --------------------------------------------------------------------------------

    def events(
        self,
        since_ns: int | None = None,
        account_id: str | None = None,
        kinds: Iterable[type | str] | None = None,
    ) -> Iterator[Event]:
        """Recorded events in recording order.

        Args:
            since_ns: Only events with ``ts_recv`` ≥ this.
            account_id: Only this account's events.
            kinds: Only these classes (or class names); matched exactly, not by subclass.
        """
        for _, event in self._events(since_ns, account_id, kinds):
            yield event

    def _events(
        self,
        since_ns: int | None,
        account_id: str | None,
        kinds: Iterable[type | str] | None,
    ) -> Iterator[tuple[int, Event]]:
        where, args = _conditions(("ts_recv_ns >= ?", since_ns), ("account_id = ?", account_id))
        if kinds is not None:
            names = [k if isinstance(k, str) else k.__name__ for k in kinds]
            where.append(f"kind IN ({','.join('?' * len(names))})")
            args.extend(names)
        rows = self._query("SELECT seq, kind, payload FROM events", where, args)
        for seq, kind, payload in rows:
            event = self._codec.decode(kind, payload)
            if isinstance(event, Event):
                yield seq, event

    def frames(
        self, since_ns: int | None = None, endpoint: str | None = None
    ) -> Iterator[JournalFrame]:
        """Recorded raw frames in recording order."""
        where, args = _conditions(
            ("ts_recv_ns >= ?", since_ns),
            ("endpoint = ?", None if endpoint is None else str(endpoint)),
        )
        for seq, ts, ep, raw in self._query(
            "SELECT seq, ts_recv_ns, endpoint, raw FROM frames", where, args
        ):
            yield JournalFrame(seq=seq, ts_recv=ts, endpoint=ep, raw=raw)

    def intents(
        self, since_ns: int | None = None, account_id: str | None = None
    ) -> Iterator[OrderIntent | CancelIntent]:
        """Recorded intents in recording order."""
        for _, intent in self._intents(since_ns, account_id):
            yield intent

    def _intents(
        self, since_ns: int | None, account_id: str | None
    ) -> Iterator[tuple[int, OrderIntent | CancelIntent]]:
        where, args = _conditions(("ts_ns >= ?", since_ns), ("account_id = ?", account_id))
        for seq, kind, payload in self._query(
            "SELECT seq, kind, payload FROM intents", where, args
        ):
            intent = self._codec.decode(kind, payload)
            if isinstance(intent, OrderIntent | CancelIntent):
                yield seq, intent

    def verdicts(
        self, since_ns: int | None = None, client_order_id: str | None = None
    ) -> Iterator[JournalVerdict]:
        """Recorded risk verdicts in recording order."""
        where, args = _conditions(
            ("ts_ns >= ?", since_ns), ("client_order_id = ?", client_order_id)
        )
        sql = "SELECT seq, ts_ns, client_order_id, approved, code, reason, plugin FROM verdicts"
        for seq, ts, cid, approved, code, reason, plugin in self._query(sql, where, args):
            verdict = RiskVerdict(approved=bool(approved), code=code, reason=reason, plugin=plugin)
            yield JournalVerdict(seq=seq, ts_ns=ts, client_order_id=cid, verdict=verdict)

    def requests(
        self, since_ns: int | None = None, account_id: str | None = None
    ) -> Iterator[JournalRequest]:
        """Recorded REST exchanges in recording order."""
        where, args = _conditions(("ts_ns >= ?", since_ns), ("account_id = ?", account_id))
        sql = (
            "SELECT seq, ts_ns, account_id, method, path, body, status, response, outcome"
            " FROM requests"
        )
        for seq, ts, acct, method, path, body, status, response, outcome in self._query(
            sql, where, args
        ):
            yield JournalRequest(
                seq=seq,
                ts_ns=ts,
                account_id=acct,
                method=method,
                path=path,
                body=_decode_json(body),
                status=status,
                response=_decode_json(response),
                outcome=outcome,
            )

    # --- recovery helpers ----------------------------------------------------------------------

    def accounts(self) -> list[str]:
        """Every account id that has recorded events or intents, sorted."""
        rows = self._conn.execute(
            "SELECT account_id FROM events WHERE account_id IS NOT NULL"
            " UNION SELECT account_id FROM intents ORDER BY 1"
        )
        return [row[0] for row in rows]

    def last_events_by_account(self, kind: type | str) -> dict[str, Event]:
        """The last recorded event of ``kind`` (exact class) for each account."""
        name = kind if isinstance(kind, str) else kind.__name__
        rows = self._conn.execute(
            "SELECT kind, payload FROM events WHERE id IN"
            " (SELECT max(id) FROM events WHERE kind = ? AND account_id IS NOT NULL"
            " GROUP BY account_id)",
            (name,),
        )
        found: dict[str, Event] = {}
        for row_kind, payload in rows:
            event = self._codec.decode(row_kind, payload)
            if isinstance(event, Event):
                found[getattr(event, "account_id", "")] = event
        return found

    def restore(self, account_id: str) -> RestoredAccount:
        """What a fresh ``AccountBook`` of ``account_id`` needs after a crash (module docstring).

        Raises:
            JournalGapError: the writer dropped records, so the journal is not a prefix of what
                happened and cannot tell which fills were delivered.
        """
        gaps = [e for e in self.events(kinds=[JournalGap]) if isinstance(e, JournalGap)]
        if gaps:
            lost = sum(gap.dropped for gap in gaps)
            raise JournalGapError(
                f"journal {self.path} has {len(gaps)} gap(s) ({lost} records dropped under "
                "load), so it cannot tell which fills were delivered; move it aside to start "
                "afresh (the venue's snapshot rebuilds the books)"
            )
        # Each intent's verdict is the first one recorded for its id after it (a replace is a
        # second intent, with its own verdict, of the same client_order_id).
        verdicts: dict[str, list[tuple[int, bool]]] = {}
        for row in self.verdicts():
            verdicts.setdefault(row.client_order_id, []).append((row.seq, row.verdict.approved))
        approved: list[OrderIntent] = []
        held: list[OrderIntent] = []
        timeline: list[tuple[int, OrderIntent | Event]] = []
        for seq, intent in self._intents(None, account_id):
            if not isinstance(intent, OrderIntent):
                continue
            later = [ok for v_seq, ok in verdicts.get(intent.client_order_id, ()) if v_seq > seq]
            if not later:
                held.append(intent)
            elif later[0]:
                timeline.append((seq, intent))
                if not intent.is_replace:
                    approved.append(intent)
        reported = list(self._events(None, account_id, (*REPLAY_KINDS, *_ACTOR_REPLAY_KINDS)))
        timeline += reported
        timeline.sort(key=lambda entry: entry[0])
        reports = [event for _, event in reported if not isinstance(event, ReplaceFailed)]
        delivered = frozenset(
            (event.cl_ord_id, event.cum_qty)
            for event in self.events(account_id=account_id, kinds=(OrderFilled,))
            if isinstance(event, OrderFilled)
        )
        return RestoredAccount(
            account_id=account_id,
            reports=reports,
            intents=approved,
            held_intents=held,
            delivered_fill_keys=delivered,
            timeline=[item for _, item in timeline],
        )
