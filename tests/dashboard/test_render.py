"""``render``: a snapshot drawn as a person reads it (rich's recording console, plain text)."""

from __future__ import annotations

import io
from decimal import Decimal

import attrs
from rich.console import Console

from engine.dashboard import DashboardSnapshot, PositionRow, render
from engine.dashboard.render import MAX_ROWS, Column, Sheet
from tests.dashboard.samples import two_accounts


def draw(snapshot: DashboardSnapshot, *, width: int = 120) -> list[str]:
    """The frame as plain text lines, as a ``width``-column terminal would show it."""
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(render(snapshot))
    return console.export_text().splitlines()


def line_with(lines: list[str], *needles: str) -> str:
    """The one line that holds every needle (a row of a table, read left to right)."""
    found = [line for line in lines if all(needle in line for needle in needles)]
    assert len(found) == 1, (needles, found)
    return found[0]


def test_two_accounts_with_their_numbers_states_positions_and_orders() -> None:
    lines = draw(two_accounts())
    text = "\n".join(lines)

    # Each account: its trading state in the panel title, then equity and buying power.
    line_with(lines, "account ALPHA-1", "ACTIVE")
    line_with(lines, "account BETA-2", "HALTED")
    headers = [line for line in lines if "Equity" in line]
    assert len(headers) == 2
    assert all(
        line.index("Equity") < line.index("Stock BP") < line.index("Available BP")
        for line in headers
    )
    line_with(lines, "123,456.78", "246,913.56", "245,013.56", "1,900.00", "+42.50", "-7.25")
    line_with(lines, "9,876.54", "5,000.00", "never")
    assert "2s ago" in text

    # Positions (a short one negative, an odd tick size kept) and working orders.
    line_with(lines, "AAPL", "30", "189.95", "5,700.30", "+1.80")
    line_with(lines, "TSLA", "-5", "251.1234")
    line_with(lines, "MSFT", "BUY", "5/15", "409.50", "PARTIALLY_FILLED", "SIM-17")
    line_with(lines, "AAPL", "SELL", "0/10", "191.00", "IN FLIGHT", "quoter-0001")
    line_with(lines, "IBM", "7", "150.00")


def test_sockets_fills_rejections_and_the_header() -> None:
    lines = draw(two_accounts())

    line_with(lines, "market", "SUBSCRIBED", "2m 05s", "4,321")
    line_with(lines, "accounts", "DISCONNECTED", "3s", "2", "87", "connection closed: 1006")

    line_with(lines, "Last fills (2 this run)", "Last rejections (1 this run)")
    # Fills newest first; the rejection beside the first fill (side by side), each with its
    # account (there are two); at 120 columns the reason may lose its last letters.
    fill_lines = [line for line in lines if "15:09:26  ALPHA-1" in line]
    assert "409.50" in fill_lines[0]
    assert "189.95" in fill_lines[1]
    line_with(
        lines, "MSFT", "BUY", "409.50", "BETA-2", "IBM", "risk", "TRADING_STATE", "account is"
    )

    line_with(lines, "2025-03-14 15:09:26 UTC", "built-in simulator", "http://127.0.0.1:9464")
    line_with(lines, "429s 3", "faulted: flaky", "frame: 2.5 ms")
    # The log panel: the last lines (ANSI colours interpreted, not printed) and the file.
    line_with(lines, "warning connection.retrying delay=0.5")
    line_with(lines, "/var/tmp/aries-engine/engine.log")


def test_every_line_fits_the_width_and_a_narrow_terminal_stacks_instead_of_cutting() -> None:
    for width in (80, 120, 160):
        lines = draw(two_accounts(), width=width)
        assert all(len(line) <= width for line in lines), width
        # Rows never wrap: a position, an order, a rejection are each one whole line.
        line_with(lines, "IBM", "7", "150.00")
        line_with(lines, "MSFT", "BUY", "5/15", "409.50", "PARTIALLY_FILLED", "SIM-17")
    narrow = draw(two_accounts(), width=80)
    line_with(narrow, "IBM", "risk", "TRADING_STATE", "account is HALTED")
    line_with(narrow, "123,456.78", "246,913.56", "245,013.56", "1,900.00")
    line_with(narrow, "-7.25", "2s ago")  # the summary folds onto a second row


def test_with_one_account_fills_and_rejections_leave_out_the_account_column() -> None:
    snapshot = two_accounts()
    lines = draw(attrs.evolve(snapshot, accounts=snapshot.accounts[:1]))
    line_with(lines, "15:09:26  MSFT", "BUY", "409.50", "quoter")
    line_with(lines, "15:09:26  IBM", "risk", "TRADING_STATE", "account is HALTED")


def test_long_lists_are_capped_with_a_count_of_the_rest() -> None:
    snapshot = two_accounts()
    positions = tuple(
        PositionRow(symbol=f"SYM{i:02d}", quantity=Decimal(i + 1), avg_price=Decimal(10))
        for i in range(MAX_ROWS + 3)
    )
    alpha = attrs.evolve(snapshot.accounts[0], positions=positions)
    lines = draw(attrs.evolve(snapshot, accounts=(alpha,)))
    text = "\n".join(lines)
    assert f"Positions ({MAX_ROWS + 3})" in text
    assert f"SYM{MAX_ROWS - 1:02d}" in text
    assert f"SYM{MAX_ROWS:02d}" not in text
    assert "… 3 more" in text


def test_an_engine_with_nothing_yet_renders_its_empty_states() -> None:
    empty = DashboardSnapshot(taken_at=two_accounts().taken_at, venue="Aries")
    text = "\n".join(draw(empty))
    for words in ("no sockets", "no account picture yet", "no fills yet", "no rejections"):
        assert words in text
    assert "metrics: off" in text


def test_a_sheet_shrinks_its_flexible_column_first_then_cuts_with_an_ellipsis() -> None:
    sheet = Sheet("t", [Column("Name", flexible=True), Column("Qty", "right")])
    sheet.add_row("a-rather-long-name", "12345")
    assert sheet.widths(40) == [40 - 2 - 5, 5]  # room to spare goes to the flexible column
    assert sheet.widths(14) == [7, 5]
    rows = [line.plain for line in sheet.lines(14)]
    assert rows[-1] == "a-rath…  12345"
