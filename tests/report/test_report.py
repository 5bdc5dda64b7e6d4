"""write_report: a journal recorded by the real writer in, one self-contained HTML page out."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from engine.journal import JournalGap, JournalReader
from engine.model import ConnectionState, Side
from engine.report import ReportError, ReportSummary, write_report
from engine.report.data import extract
from tests.report.conftest import IMG, SCRIPT, at, session_events, write_journal

POLYLINE = re.compile(r'<polyline class="series" points="([^"]*)"')
# An element with a src/href attribute, or a CSS url(...): anything that could fetch.
RESOURCE = re.compile(r"<[^>]*\s(?:src|href|xlink:href|action)\s*=|url\(|@import", re.I)


def section(page: str, anchor: str) -> str:
    """The HTML of ``<section id=anchor>``."""
    start = page.index(f"<section id={anchor}>")
    return page[start : page.index("</section>", start)]


def rows(page: str, anchor: str) -> list[list[str]]:
    """The body rows of the section's table, as cell texts (tags stripped, unescaped)."""
    body = section(page, anchor).split("<tbody>", 1)[1]
    found = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        found.append([html.unescape(re.sub(r"<[^>]+>", "", c)) for c in cells])
    return found


@pytest.fixture
async def journal(tmp_path: Path) -> Path:
    return await write_journal(tmp_path / "journal.sqlite", session_events())


@pytest.fixture
async def page(journal: Path, tmp_path: Path) -> str:
    out = tmp_path / "out" / "report.html"
    write_report(journal, out)
    return out.read_text(encoding="utf-8")


async def test_summary_counts(journal: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    summary = write_report(journal, out, title="Tuesday")
    assert summary == ReportSummary(
        out=out,
        fills=6,
        rejections=2,
        symbols=3,
        incidents=2,
        chart_points=4 + 3,
        equity_source="pnl_candles",
        bytes_written=out.stat().st_size,
    )
    assert "6 fills, 2 rejections" in summary.describe()
    assert "<title>Tuesday</title>" in out.read_text(encoding="utf-8")


async def test_equity_curve_has_one_point_per_candle_and_balance_fallback(page: str) -> None:
    curves = section(page, "equity")
    lines = POLYLINE.findall(curves)
    assert len(lines) == 2
    candles, balances = (line.split() for line in lines)
    assert len(candles) == 4  # buckets 0-2 closed, bucket 3 still open
    assert len(balances) == 3  # ACC-2 has no candles: its total equity
    assert "ACC-1 — P&amp;L, 1m candles" in curves
    assert "ACC-2 — total equity (from balance updates)" in curves
    # x increases with time; the highest close (250) is drawn highest (smallest y).
    xs = [float(p.split(",")[0]) for p in candles]
    ys = [float(p.split(",")[1]) for p in candles]
    assert xs == sorted(xs)
    assert min(ys) == ys[2]
    # The open bucket's latest received close, and a closed bucket's range, in the tooltips.
    assert "14:33:00 UTC: 238.50" in curves
    assert "14:30:00 UTC: -2.00 (low -3.10, high 0.40)" in curves
    assert "first -2.00 · last 238.50" in curves
    # Axes computed here: round y ticks and minute x ticks.
    assert '<text class="ytick"' in curves
    assert ">14:31:00<" in curves
    assert ">time (UTC)<" in curves


async def test_fills_table(page: str) -> None:
    fills = rows(page, "fills")
    assert fills[0] == ["2024-05-01 14:30:10.000", "ACC-1", "AAPL", "BUY", "10", "100", "quoter"]
    assert [row[3] for row in fills] == ["BUY", "BUY", "SELL", "SELL", "SELL", "BUY_TO_COVER"]
    assert fills[4][2:6] == ["MSFT", "SELL", "5", "410"]


async def test_rejections_table_escapes_what_the_journal_says(page: str) -> None:
    rejections = rows(page, "rejections")
    assert rejections[0] == [
        "2024-05-01 14:31:20.000",
        "ACC-1",
        "AAPL",
        "PRICE_BAND",
        "risk",
        f"limit too far from the mid {SCRIPT}",
        "quoter",
    ]
    assert rejections[1][2:6] == ["<b>TSLA</b>", IMG, "venue", "venue said & <no>"]
    # Shown as text, never as markup.
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "<b>TSLA" not in page
    assert "&lt;b&gt;TSLA&lt;/b&gt;" in page


async def test_pnl_by_symbol_average_cost(page: str) -> None:
    table = {(row[0], row[1]): row for row in rows(page, "pnl")}
    headers = ["Fills", "Start", "Bought", "Sold", "End", "Avg", "Realized", "Venue qty"]
    headers += ["Unrealized", "Total", "Venue day"]
    aapl = dict(zip(headers, table[("ACC-1", "AAPL")][2:], strict=True))
    # 10@100 + 10@110 (avg 105); sell 15@120: +225; sell 10@100: -25 on 5, 5 short @100;
    # cover 5@90: +50.
    assert aapl == {
        "Fills": "5",
        "Start": "0",
        "Bought": "25",
        "Sold": "25",
        "End": "0",
        "Avg": "—",
        "Realized": "250.00",
        "Venue qty": "0",
        "Unrealized": "0.00",
        "Total": "250.00",
        "Venue day": "12.00",
    }
    msft = table[("ACC-1", "MSFT")]  # opened before the journal: 5 @ 400 from the snapshot
    assert msft[2:5] == ["1", "5", "0"]
    assert msft[8] == "50.00"
    assert msft[9:12] == ["—", "—", "50.00"]
    tsla = table[("ACC-1", "TSLA")]  # no fills, a position the venue reported
    assert tsla[2] == "0"
    assert tsla[8:12] == ["0.00", "3", "-7.25", "-7.25"]
    total = table[("Total", "")]
    assert total[8] == "300.00"
    assert total[10:12] == ["-7.25", "292.75"]
    assert "Average cost" in section(page, "pnl")


async def test_connection_incidents(page: str) -> None:
    incidents = rows(page, "incidents")
    assert incidents == [
        [
            "accounts",
            "2024-05-01 14:31:40.000",
            "DISCONNECTED",
            "2",
            "connection lost: <code 1006>; auth timed out",
            "2024-05-01 14:31:45.500",
            "5.5 s",
        ],
        [
            "market",
            "2024-05-01 14:33:20.000",
            "FAILED",
            "1",
            "INVALID_TOKEN: token revoked",
            "—",
            "not recovered",
        ],
    ]
    assert "&lt;code 1006&gt;" in page


async def test_page_is_self_contained(page: str) -> None:
    assert "http://" not in page
    assert "https://" not in page
    assert RESOURCE.search(page) is None
    assert "<svg" in page
    assert "<style>" in page
    assert "Content-Security-Policy" in page


async def test_extract_uses_aware_utc_and_decimal(journal: Path) -> None:
    with JournalReader(journal) as reader:
        data = extract(reader)
    moments = [f.time for f in data.fills] + [p.time for c in data.curves for p in c.points]
    moments += [i.started for i in data.incidents]
    assert all(m.utcoffset() == timedelta(0) for m in moments)
    assert data.fills[0].time == at(10)
    assert data.fills[-1].side is Side.BUY_TO_COVER
    assert all(isinstance(s.realized, Decimal) for s in data.symbols)
    assert data.incidents[0].duration == timedelta(seconds=5.5)
    assert data.incidents[1].state is ConnectionState.FAILED
    assert data.first_time == at(0)
    assert data.dropped_records == 0


async def test_no_pnl_data_says_so(tmp_path: Path) -> None:
    events = [e for e in session_events() if type(e).__name__.startswith("Order")]
    journal = await write_journal(tmp_path / "j.sqlite", events)
    out = tmp_path / "r.html"
    summary = write_report(journal, out)
    page = out.read_text(encoding="utf-8")
    assert summary.equity_source == "none"
    assert summary.chart_points == 0
    assert summary.fills == 6
    assert "No P&amp;L data in this journal" in page
    assert "<svg" not in page
    assert "No socket went DISCONNECTED or FAILED" in page


async def test_empty_journal(tmp_path: Path) -> None:
    journal = await write_journal(tmp_path / "j.sqlite", [])
    summary = write_report(journal, tmp_path / "r.html")
    assert (summary.fills, summary.rejections, summary.symbols) == (0, 0, 0)
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    for note in ("No fills.", "No rejections.", "No fills and no positions"):
        assert note in page


def test_missing_or_foreign_journal_is_a_report_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="does not exist"):
        write_report(tmp_path / "nope.sqlite", tmp_path / "r.html")
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a database, just some text that is long enough " * 20)
    with pytest.raises(ReportError, match="cannot be read"):
        write_report(foreign, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


async def test_journal_gaps_are_flagged(tmp_path: Path) -> None:
    journal = await write_journal(
        tmp_path / "j.sqlite", [*session_events(), JournalGap(dropped=12)]
    )
    write_report(journal, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert '<p class="warn">The journal lost 12 records under load' in page
