"""``write_report``: journal in, one self-contained HTML file out."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import attrs

from engine.errors import EngineError
from engine.journal.reader import JournalReader
from engine.report.data import ReportData, extract
from engine.report.render import render_html

__all__ = ["ReportError", "ReportSummary", "write_report"]


class ReportError(EngineError):
    """The journal is missing, is not a journal, or was written by a newer engine."""


@attrs.frozen(kw_only=True)
class ReportSummary:
    """What ``write_report`` wrote, for the CLI to print.

    ``equity_source`` is ``"pnl_candles"``, ``"balance"`` (no candles: total equity from
    balance updates) or ``"none"`` (the page says there is no P&L data).
    """

    out: Path
    fills: int
    rejections: int
    symbols: int
    incidents: int
    chart_points: int
    equity_source: str
    bytes_written: int

    @classmethod
    def of(cls, data: ReportData, out: Path, size: int) -> ReportSummary:
        """The summary of ``data`` rendered to ``out`` (``size`` bytes)."""
        return cls(
            out=out,
            fills=len(data.fills),
            rejections=len(data.rejections),
            symbols=len(data.symbols),
            incidents=len(data.incidents),
            chart_points=sum(len(curve.points) for curve in data.curves),
            equity_source=data.equity_source,
            bytes_written=size,
        )

    def describe(self) -> str:
        """One line for a terminal."""
        return (
            f"wrote {self.out} ({self.bytes_written} bytes): {self.fills} fills, "
            f"{self.rejections} rejections, {self.symbols} symbols, {self.incidents} "
            f"connection incidents, {self.chart_points} chart points ({self.equity_source})"
        )


def write_report(journal: Path, out: Path, *, title: str | None = None) -> ReportSummary:
    """Write the P&L report of ``journal`` to ``out``: one self-contained HTML file.

    The page needs no network and runs no script (inline CSS and SVG only). It shows:

    * the equity curve of each account: the close of each P&L candle (``PnlCandleClosed``,
      the still-open bucket from ``PnlCandleReceived``), or, for an account without candles,
      the total equity of its balance updates; a note when the journal has neither;
    * P&L per account and symbol: realized from the fills by average cost (the method is
      printed on the page), with the last unrealized P&L the venue reported;
    * every fill and every rejection (the most recent ``MAX_TABLE_ROWS`` of each when more);
    * connection incidents: each socket's outages, their reasons and how long they lasted.

    Synchronous; reads with ``JournalReader``, so it may run while an engine is writing the same
    journal (the report covers what was committed). The whole journal is reported: with the
    default retention that is every session of the last seven days. ``out`` is replaced
    atomically; its directory is created if needed.

    For the CLI (``aries-engine report JOURNAL --out FILE.html``)::

        try:
            summary = write_report(Path(args.journal), Path(args.out))
        except ReportError as exc:  # missing / not a journal / newer schema: exit 2
            print(f"aries-engine report: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except OSError as exc:  # cannot write ``out``: exit 1
            print(f"aries-engine report: cannot write {args.out}: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        print(summary.describe())

    Args:
        journal: The journal's SQLite file (``[journal] path``, or the default under
            ``$XDG_DATA_HOME/aries-engine/``).
        out: The HTML file to write.
        title: The page's title; default ``"Session report — <journal file name>"``.

    Returns:
        Counts of what the page shows (``ReportSummary.describe()`` is one printable line).

    Raises:
        ReportError: ``journal`` does not exist, is not a journal, or is newer than this engine.
        OSError: ``out`` cannot be written.
    """
    journal = Path(journal)
    out = Path(out)
    if not journal.is_file():
        raise ReportError(f"journal {journal} does not exist (or is not a file)")
    try:
        with JournalReader(journal) as reader:
            data = extract(reader)
    except sqlite3.DatabaseError as exc:
        raise ReportError(f"journal {journal} cannot be read: {exc}") from exc
    page = render_html(
        data,
        title=title or f"Session report — {journal.name}",
        generated=datetime.now(UTC),
    ).encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    try:
        partial.write_bytes(page)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return ReportSummary.of(data, out, len(page))
