"""``ReportData`` as one self-contained HTML page: inline CSS and SVG, no script, no URL.

Every string that comes from the journal (symbols, reasons, codes, account and strategy names)
goes through ``html.escape`` (``_td`` and ``_e``), so a venue message such as ``<script>`` is
shown as text, never run. A Content-Security-Policy ``<meta>`` forbids scripts and every
network fetch as a second line of defence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import escape
from typing import TypeVar

from engine.report.data import (
    BALANCE,
    Curve,
    FillRow,
    Incident,
    RejectionRow,
    ReportData,
    SymbolPnl,
)
from engine.report.pnl import METHOD
from engine.report.svg import render_chart

__all__ = ["MAX_TABLE_ROWS", "render_html"]

MAX_TABLE_ROWS = 2000
"""Fills and rejections beyond this many show only the most recent (the counts stay whole)."""

_CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial,
  sans-serif; color: #1d2430; background: #f6f7f9; margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #d8dce3; }
h3 { font-size: 14px; margin: 18px 0 6px; }
.meta { color: #5b6472; margin: 0 0 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 16px 0 0; }
.card { background: #fff; border: 1px solid #d8dce3; border-radius: 6px; padding: 8px 14px;
  min-width: 110px; }
.card b { display: block; font-size: 18px; }
.card span { color: #5b6472; font-size: 12px; }
.warn { background: #fff4e5; border: 1px solid #f0b35a; border-radius: 6px; padding: 8px 12px; }
.note { color: #5b6472; }
.method { color: #5b6472; font-size: 12px; white-space: pre-wrap; }
.panel { background: #fff; border: 1px solid #d8dce3; border-radius: 6px; padding: 10px 12px;
  margin: 8px 0 16px; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #eceef2; text-align: left;
  vertical-align: top; }
th { background: #eef1f5; font-weight: 600; position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
td.reason { word-break: break-word; }
tr.total td { font-weight: 600; border-top: 2px solid #d8dce3; }
.pos { color: #137333; }
.neg { color: #b3261e; }
.side-BUY, .side-BUY_TO_COVER { color: #137333; }
.side-SELL, .side-SELL_SHORT { color: #b3261e; }
.stats { color: #5b6472; font-size: 12px; margin: 0 0 6px; }
svg.chart { display: block; width: 100%; height: auto; }
svg.chart .plot { fill: #fbfcfd; stroke: #c9ced6; }
svg.chart .grid { stroke: #e6e9ee; stroke-width: 1; }
svg.chart .grid.zero { stroke: #8a93a3; stroke-dasharray: 4 3; }
svg.chart .series { fill: none; stroke: #1f6feb; stroke-width: 2; stroke-linejoin: round; }
svg.chart .dot { fill: #1f6feb; }
svg.chart .range { stroke: #9cc0f5; stroke-width: 5; stroke-linecap: round; }
svg.chart text { font: 11px system-ui, sans-serif; fill: #5b6472; }
svg.chart .ytick { text-anchor: end; }
svg.chart .xtick, svg.chart .axis { text-anchor: middle; }
svg.chart .axis { fill: #1d2430; font-size: 12px; }
footer { margin-top: 36px; color: #8a93a3; font-size: 12px; }
"""

_Row = TypeVar("_Row")

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _time(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _plain(value: Decimal) -> str:
    """A quantity without trailing zeros or exponent (``10.500`` → ``10.5``, ``1E+2`` → ``100``)."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _tone(value: Decimal | None) -> str:
    if value is None or value == 0:
        return ""
    return "pos" if value > 0 else "neg"


def _sign(value: Decimal | None) -> str:
    return f"num {_tone(value)}".strip()


def _duration(delta: timedelta | None) -> str:
    if delta is None:
        return "not recovered"
    seconds = delta.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _td(text: object, css: str = "") -> str:
    attr = f' class="{_e(css)}"' if css else ""
    return f"<td{attr}>{_e(text)}</td>"


def _table(headers: Sequence[str], rows: Iterable[str], numeric: frozenset[int]) -> str:
    head = "".join(
        f'<th class="num">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(f"<tr>{row}</tr>" for row in rows)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="panel">{table}</div>'


def _capped(rows: Sequence[_Row], what: str) -> tuple[Sequence[_Row], str]:
    if len(rows) <= MAX_TABLE_ROWS:
        return rows, ""
    note = f'<p class="note">Showing the last {MAX_TABLE_ROWS} of {len(rows)} {_e(what)}.</p>'
    return rows[-MAX_TABLE_ROWS:], note


# --- sections -------------------------------------------------------------------------------


def _header(data: ReportData, title: str, generated: datetime) -> str:
    span = f"{_time(data.first_time)} → {_time(data.last_time)} UTC"
    if data.first_time is None:
        span = "the journal has no events this report reads"
    cards = [
        (len(data.fills), "fills"),
        (len(data.rejections), "rejections"),
        (len(data.symbols), "symbols"),
        (len(data.incidents), "connection incidents"),
        (sum(len(c.points) for c in data.curves), "chart points"),
    ]
    realized = sum((s.realized for s in data.symbols), Decimal(0))
    parts = [
        f"<header><h1>{_e(title)}</h1>",
        f'<p class="meta">Journal <code>{_e(data.journal)}</code> · {_e(span)} · generated '
        f"{_e(_time(generated))} UTC</p>",
        '<div class="cards">',
        *(f"<div class=card><b>{n}</b><span>{_e(label)}</span></div>" for n, label in cards),
        f'<div class=card><b class="{_tone(realized)}">{_e(_money(realized))}</b>'
        "<span>realized from fills</span></div>",
        "</div></header>",
    ]
    warnings = []
    if data.dropped_records:
        warnings.append(
            f"The journal lost {data.dropped_records} records under load (journal gaps): "
            "figures below may be incomplete."
        )
    if data.skipped_rows:
        warnings.append(
            f"{data.skipped_rows} journal rows could not be decoded by this engine and were "
            "skipped."
        )
    parts.extend(f'<p class="warn">{_e(w)}</p>' for w in warnings)
    return "".join(parts)


def _curve_section(curves: Sequence[Curve]) -> str:
    parts = ["<section id=equity><h2>Equity curve</h2>"]
    if not curves:
        parts.append(
            '<p class="note">No P&amp;L data in this journal: no P&amp;L candles (set '
            "<code>pnl_interval</code> on the account in <code>[[accounts]]</code>) and no "
            "balance updates.</p></section>"
        )
        return "".join(parts)
    for curve in curves:
        values = [p.value for p in curve.points]
        change = values[-1] - values[0]
        stats = (
            f"{len(values)} points · first {_money(values[0])} · last {_money(values[-1])} · "
            f"min {_money(min(values))} · max {_money(max(values))} · change "
            f"{_money(change)}"
        )
        source = (
            "total equity from BalanceChanged events (this account has no P&L candles)"
            if curve.source == BALANCE
            else "the close of each P&L candle (PnlCandleClosed; the last, still open bucket "
            "from PnlCandleReceived), plotted at the candle's start time; the pale bars are "
            "each candle's low-high range"
        )
        parts.append(f"<h3>{_e(curve.label)}</h3>")
        parts.append(f'<p class="stats">{_e(stats)} · {_e(source)}</p>')
        parts.append(f'<div class="panel">{render_chart(curve)}</div>')
    parts.append("</section>")
    return "".join(parts)


def _symbol_row(row: SymbolPnl) -> str:
    return "".join(
        [
            _td(row.account_id),
            _td(row.symbol),
            _td(row.fills, "num"),
            _td(_plain(row.opening), "num"),
            _td(_plain(row.bought), "num"),
            _td(_plain(row.sold), "num"),
            _td(_plain(row.position), "num"),
            _td(f"{row.average:,.4f}" if row.position else "—", "num"),
            _td(_money(row.realized), _sign(row.realized)),
            _td("—" if row.venue_quantity is None else _plain(row.venue_quantity), "num"),
            _td(_money(row.unrealized), _sign(row.unrealized)),
            _td(_money(row.total), _sign(row.total)),
            _td(_money(row.venue_realized), _sign(row.venue_realized)),
        ]
    )


def _symbols_section(symbols: Sequence[SymbolPnl]) -> str:
    parts = ["<section id=pnl><h2>P&amp;L by symbol</h2>"]
    if not symbols:
        parts.append('<p class="note">No fills and no positions in this journal.</p></section>')
        return "".join(parts)
    headers = (
        "Account",
        "Symbol",
        "Fills",
        "Start qty",
        "Bought",
        "Sold",
        "End qty",
        "Avg cost",
        "Realized",
        "Venue qty",
        "Unrealized",
        "Total",
        "Venue day realized",
    )
    realized = sum((s.realized for s in symbols), Decimal(0))
    unrealized = sum((s.unrealized for s in symbols if s.unrealized is not None), Decimal(0))
    total = (
        f"{_td('Total')}{_td('')}{_td(sum(s.fills for s in symbols), 'num')}"
        + _td("", "num") * 5
        + _td(_money(realized), _sign(realized))
        + _td("", "num")
        + _td(_money(unrealized), _sign(unrealized))
        + _td(_money(realized + unrealized), _sign(realized + unrealized))
        + _td("", "num")
    )
    rows = [_symbol_row(s) for s in symbols]
    table = _table(headers, rows, frozenset(range(2, 13)))
    table = table.replace("</tbody>", f'<tr class="total">{total}</tr></tbody>')
    parts.append(table)
    parts.append(
        '<p class="method">Realized: computed here from the journal\'s fills, by average cost '
        "(Start qty: the account's first snapshot, when it came before any fill). Unrealized, "
        "Venue qty and Venue day realized: the last position the venue reported "
        "(PositionChanged); — when none was. Total = Realized + Unrealized.\n"
        f"{_e(METHOD)}</p></section>"
    )
    return "".join(parts)


def _fills_section(fills: Sequence[FillRow]) -> str:
    parts = ["<section id=fills><h2>Fills</h2>"]
    if not fills:
        parts.append('<p class="note">No fills.</p></section>')
        return "".join(parts)
    shown, note = _capped(fills, "fills")
    rows = [
        "".join(
            [
                _td(_time(f.time), "time"),
                _td(f.account_id),
                _td(f.symbol),
                _td(f.side, f"side-{f.side}"),
                _td(_plain(f.qty), "num"),
                _td(f"{f.price:f}", "num"),
                _td(f.strategy or "—"),
            ]
        )
        for f in shown
    ]
    headers = ("Time (UTC)", "Account", "Symbol", "Side", "Qty", "Price", "Strategy")
    parts += [note, _table(headers, rows, frozenset({4, 5})), "</section>"]
    return "".join(parts)


def _rejections_section(rejections: Sequence[RejectionRow]) -> str:
    parts = ["<section id=rejections><h2>Rejections</h2>"]
    if not rejections:
        parts.append('<p class="note">No rejections.</p></section>')
        return "".join(parts)
    shown, note = _capped(rejections, "rejections")
    rows = [
        "".join(
            [
                _td(_time(r.time), "time"),
                _td(r.account_id),
                _td(r.symbol),
                _td(r.code),
                _td(r.source),
                _td(r.reason, "reason"),
                _td(r.strategy or "—"),
            ]
        )
        for r in shown
    ]
    headers = ("Time (UTC)", "Account", "Symbol", "Code", "Source", "Reason", "Strategy")
    parts += [note, _table(headers, rows, frozenset()), "</section>"]
    return "".join(parts)


def _incidents_section(incidents: Sequence[Incident]) -> str:
    parts = ["<section id=incidents><h2>Connection incidents</h2>"]
    if not incidents:
        parts.append(
            '<p class="note">No socket went DISCONNECTED or FAILED in this journal.</p></section>'
        )
        return "".join(parts)
    rows = [
        "".join(
            [
                _td(i.endpoint),
                _td(_time(i.started), "time"),
                _td(i.state),
                _td(i.disconnects, "num"),
                _td("; ".join(i.reasons) or "—", "reason"),
                _td(_time(i.recovered_at), "time"),
                _td(_duration(i.duration), "num"),
            ]
        )
        for i in incidents
    ]
    headers = ("Socket", "Down at (UTC)", "State", "Disconnects", "Reasons", "Back at", "Down for")
    recovered = [i.duration for i in incidents if i.duration is not None]
    summary = f"{len(incidents)} incident(s), {len(recovered)} recovered"
    if recovered:
        summary += f"; longest outage {_duration(max(recovered))}"
    parts += [
        f'<p class="stats">{_e(summary)}. An incident lasts from the first DISCONNECTED or '
        "FAILED state until the socket is SUBSCRIBED again; failed reconnect attempts in "
        "between count as further disconnects.</p>",
        _table(headers, rows, frozenset({3, 6})),
        "</section>",
    ]
    return "".join(parts)


def render_html(data: ReportData, *, title: str, generated: datetime) -> str:
    """The whole report page for ``data``."""
    body = "".join(
        [
            _header(data, title, generated),
            _curve_section(data.curves),
            _symbols_section(data.symbols),
            _fills_section(data.fills),
            _rejections_section(data.rejections),
            _incidents_section(data.incidents),
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}"
        "<footer>Written by <code>aries-engine report</code> from the engine's journal. "
        "Money as recorded (Decimal), times in UTC. Self-contained: no scripts, no external "
        "resources.</footer></main></body></html>\n"
    )
