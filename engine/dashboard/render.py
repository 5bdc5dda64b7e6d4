"""``render(snapshot)``: one dashboard frame as a rich renderable. Pure: no clock, no engine.

Top to bottom: a header (time, venue, metrics URL, dispatcher and session health), the sockets,
one panel per account (balance figures, positions and working orders side by side), the last
fills and rejections side by side, and the last log lines. Lists are capped at ``MAX_ROWS``
rows (a last row says how many more) so a frame fits a normal terminal.

The frame is made of ``Block``s that lay themselves out as lines of ``Text``: tables are
``Sheet``s (one line per row, cells cut with an ellipsis, widths from the content), boxes are
``Boxed`` borders, not ``rich.table.Table``s in ``Panel``s. A frame of rich Tables and Panels
cost 15-30 ms of the event loop (measuring and wrapping every cell, again at each nesting level);
a frame of blocks costs a few ms, in slices the live loop can interleave with the engine.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Literal

import attrs
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.text import Text

from engine.dashboard.snapshot import (
    IN_FLIGHT,
    AccountRow,
    DashboardSnapshot,
    OrderRow,
    PositionRow,
    SocketRow,
)
from engine.model.enums import ConnectionState, TradingState

MAX_ROWS = 8
"""Positions or working orders listed per account before "… N more"."""
LOG_LINES = 5
"""Log lines shown at the bottom."""

SOCKET_STYLES = {
    ConnectionState.SUBSCRIBED: "bold green",
    ConnectionState.AUTHENTICATED: "cyan",
    ConnectionState.CONNECTED: "cyan",
    ConnectionState.REFRESH_WARNING: "yellow",
    ConnectionState.EXPIRED: "red",
    ConnectionState.DISCONNECTED: "bold red",
    ConnectionState.FAILED: "bold white on red",
}
TRADING_STYLES = {
    TradingState.ACTIVE: "bold green",
    TradingState.RECONCILING: "bold yellow",
    TradingState.REDUCING: "bold yellow",
    TradingState.HALTED: "bold white on red",
}


def render(snapshot: DashboardSnapshot) -> Frame:
    """The whole frame for ``snapshot``."""
    blocks: list[Block] = [_header(snapshot), _sockets(snapshot.sockets)]
    if snapshot.accounts:
        blocks.extend(_account(account) for account in snapshot.accounts)
    else:
        blocks.append(Paragraph([Text("no account picture yet", style="dim")]))
    # With one account, naming it on every fill and rejection is noise: the column goes.
    several = len({a.account_id for a in snapshot.accounts}) > 1
    blocks.append(SideBySide(_fills(snapshot, several), _rejections(snapshot, several)))
    blocks.append(_log(snapshot))
    return Frame(blocks)


# --- sections ----------------------------------------------------------------------------------


def _header(snapshot: DashboardSnapshot) -> Block:
    metrics = snapshot.metrics_url or "off"
    chunks = [
        Text.assemble(
            ("aries-engine", "bold"),
            "  ",
            (snapshot.taken_at.strftime("%Y-%m-%d %H:%M:%S UTC"), "bold cyan"),
        ),
        Text.assemble("venue: ", (snapshot.venue, "bold")),
        Text.assemble("metrics: ", (metrics, "underline" if snapshot.metrics_url else "dim")),
        None,  # a line break
        Text.assemble(
            "dispatch: queue ",
            _count(snapshot.dispatch_queued),
            ", 429s ",
            _count(snapshot.rate_limited),
            ", failures ",
            _count(snapshot.dispatch_failures),
        ),
        Text.assemble("token: ", _token(snapshot.token_expires_in)),
        Text.assemble(
            "plugins: ",
            (
                Text("faulted: " + ", ".join(snapshot.faulted_plugins), style="bold red")
                if snapshot.faulted_plugins
                else Text("ok", style="green")
            ),
        ),
    ]
    if snapshot.frame_ms is not None:
        cost = f"frame: {snapshot.frame_ms:.1f} ms"
        if snapshot.stall_ms is not None:
            cost += f" (longest stall {snapshot.stall_ms:.1f} ms)"
        chunks.append(Text(cost, style="dim"))
    return Paragraph(chunks)


def _sockets(sockets: Sequence[SocketRow]) -> Sheet:
    sheet = Sheet(
        "Sockets",
        [
            Column("Socket"),
            Column("State"),
            Column("For", "right"),
            Column("Reconnects", "right"),
            Column("Frames", "right"),
            Column("Last error", flexible=True),
        ],
        empty="no sockets",
    )
    for socket in sockets:
        sheet.add_row(
            socket.endpoint,
            Text(str(socket.state), style=SOCKET_STYLES.get(socket.state, "")),
            _duration(socket.seconds_in_state),
            _count(socket.reconnects),
            f"{socket.frames:,}",
            Text(socket.last_error, style="yellow") if socket.last_error else _NONE,
        )
    return sheet


def _account(account: AccountRow) -> Block:
    summary = Sheet(
        None,
        [
            Column("Equity", "right"),
            Column("Stock BP", "right"),
            Column("Available BP", "right"),
            Column("Reserved", "right"),
            Column("Realized P&L", "right"),
            Column("Unrealized P&L", "right"),
            Column("Working", "right"),
            Column("As of", "right"),
        ],
        rule=False,
        gap=3,
        fold=True,
    )
    summary.add_row(
        Text(_money(account.equity), style="bold"),
        _money(account.stock_buying_power),
        Text(_money(account.available_buying_power), style="bold"),
        _money(account.reserved),
        _signed(account.realized_pnl),
        _signed(account.unrealized_pnl),
        str(len(account.orders)),
        (
            Text("never", style="yellow")
            if account.seconds_since_venue is None
            else "now"
            if account.seconds_since_venue < 1
            else f"{_duration(account.seconds_since_venue)} ago"
        ),
    )
    state = Text(str(account.trading_state), style=TRADING_STYLES[account.trading_state])
    title = Text.assemble(("account ", "dim"), (account.account_id, "bold"), "  ", state)
    return Boxed(
        title,
        [summary, SideBySide(_positions(account.positions), _orders(account.orders))],
        border_style="red" if account.trading_state is TradingState.HALTED else "blue",
    )


def _positions(positions: Sequence[PositionRow]) -> Sheet:
    sheet = Sheet(
        f"Positions ({len(positions)})",
        [
            Column("Symbol"),
            Column("Qty", "right"),
            Column("Avg price", "right"),
            Column("Value", "right"),
            Column("Unreal.", "right"),
            Column("Real. today", "right"),
        ],
        empty="no positions",
    )
    for p in positions[:MAX_ROWS]:
        sheet.add_row(
            p.symbol,
            Text(_qty(p.quantity), style="green" if p.quantity > 0 else "red"),
            _price(p.avg_price),
            _money(p.market_value),
            _signed(p.unrealized_pnl),
            _signed(p.realized_today),
        )
    sheet.more(len(positions) - MAX_ROWS)
    return sheet


def _orders(orders: Sequence[OrderRow]) -> Sheet:
    sheet = Sheet(
        f"Working orders ({len(orders)})",
        [
            Column("Symbol"),
            Column("Side"),
            Column("Filled", "right"),
            Column("Price", "right"),
            Column("Status"),
            Column("Order id", flexible=True),
        ],
        empty="no working orders",
    )
    for order in orders[:MAX_ROWS]:
        sheet.add_row(
            order.symbol,
            _side(str(order.side), buy=order.side.is_buy),
            f"{_qty(order.filled)}/{_qty(order.qty)}",
            _order_price(order),
            Text(order.status, style="yellow" if order.status == IN_FLIGHT else ""),
            Text(order.order_id, style="dim"),
        )
    sheet.more(len(orders) - MAX_ROWS)
    return sheet


def _fills(snapshot: DashboardSnapshot, with_account: bool) -> Sheet:
    sheet = Sheet(
        f"Last fills ({snapshot.fills_total} this run)",
        [
            Column("UTC"),
            *([Column("Account")] if with_account else []),
            Column("Symbol"),
            Column("Side"),
            Column("Qty", "right"),
            Column("Price", "right"),
            Column("Strategy", flexible=True),
        ],
        empty="no fills yet",
    )
    for fill in snapshot.fills:
        sheet.add_row(
            _clock(fill.at),
            *([fill.account_id] if with_account else []),
            fill.symbol,
            _side(str(fill.side), buy=fill.side.is_buy),
            _qty(fill.qty),
            _price(fill.price),
            fill.strategy or _NONE,
        )
    if snapshot.feed_dropped:
        sheet.note = Text(
            f"{snapshot.feed_dropped} not shown (a burst); the journal has them all", style="dim"
        )
    return sheet


def _rejections(snapshot: DashboardSnapshot, with_account: bool) -> Sheet:
    sheet = Sheet(
        f"Last rejections ({snapshot.rejections_total} this run)",
        [
            Column("UTC"),
            *([Column("Account")] if with_account else []),
            Column("Symbol"),
            Column("By"),
            Column("Code"),
            Column("Reason", flexible=True),
        ],
        empty="no rejections",
    )
    for rejection in snapshot.rejections:
        sheet.add_row(
            _clock(rejection.at),
            *([rejection.account_id] if with_account else []),
            rejection.symbol,
            rejection.source,
            Text(rejection.code, style="yellow"),
            rejection.reason,
        )
    return sheet


def _log(snapshot: DashboardSnapshot) -> Block:
    lines = [_from_ansi(line) for line in snapshot.log_lines[-LOG_LINES:]]
    if not lines:
        lines = [Text("no log lines yet", style="dim")]
    title = f"Log · the full log: {snapshot.log_path}" if snapshot.log_path else "Log"
    return Boxed(Text(title), [Paragraph([line], separate=False) for line in lines])


# --- layout ------------------------------------------------------------------------------------
#
# Every part of a frame is a ``Block``: something that can lay itself out as lines of ``Text``
# of a given width. The frame is drawn by rendering those lines, once: no nested rich layout
# (a Panel of a Group of tables renders and re-splits its content at every level).


class Block:
    """A part of the frame, laid out as lines of ``Text`` no wider than ``width``."""

    def lines(self, width: int) -> list[Text]:
        """The block's lines for a frame ``width`` cells wide."""
        raise NotImplementedError

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        newline = Segment.line()
        for line in self.lines(options.max_width):
            yield from line.render(console)
            yield newline

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(options.max_width, options.max_width)


class Frame(Block):
    """The whole frame: its blocks one under the other."""

    def __init__(self, blocks: Sequence[Block]) -> None:
        self.blocks = tuple(blocks)

    def lines(self, width: int) -> list[Text]:
        return [line for block in self.blocks for line in block.lines(width)]


class Paragraph(Block):
    """Chunks of text packed onto lines, three spaces apart; ``None`` starts a new line. A
    chunk wider than the line is cut with an ellipsis, never wrapped."""

    def __init__(self, chunks: Sequence[Text | None], *, separate: bool = True) -> None:
        self.chunks = tuple(chunks)
        self.separator = "   " if separate else ""

    def lines(self, width: int) -> list[Text]:
        lines: list[Text] = []
        line: Text | None = None
        for chunk in self.chunks:
            if chunk is None:
                if line is not None:
                    lines.append(line)
                line = None
            elif line is None:
                line = chunk.copy()
            elif line.cell_len + len(self.separator) + chunk.cell_len <= width:
                line.append(self.separator)
                line.append_text(chunk)
            else:
                lines.append(line)
                line = chunk.copy()
        if line is not None:
            lines.append(line)
        return [_fit(line, width) for line in lines]


class Boxed(Block):
    """Blocks inside a rounded border, with a title in the top edge."""

    def __init__(self, title: Text, body: Sequence[Block], *, border_style: str = "dim") -> None:
        self.title = title
        self.body = tuple(body)
        self.border_style = border_style

    def lines(self, width: int) -> list[Text]:
        inner = max(1, width - 4)
        title = _fit(self.title.copy(), max(1, width - 6))
        top = Text("╭─ ", style=self.border_style)
        top.append_text(title)
        top.append(" " + "─" * max(0, width - 5 - title.cell_len) + "╮", style=self.border_style)
        lines = [_fit(top, width)]
        left = Text("│ ", style=self.border_style)
        right = Text(" │", style=self.border_style)
        lines.extend(
            Text.assemble(left, _pad(line, inner), right)
            for block in self.body
            for line in block.lines(inner)
        )
        lines.append(Text("╰" + "─" * max(0, width - 2) + "╯", style=self.border_style))
        return lines


@attrs.frozen
class Column:
    """A sheet column. A ``flexible`` one gives up its width first when space is short."""

    header: str
    justify: Literal["left", "right"] = "left"
    flexible: bool = attrs.field(default=False, kw_only=True)


class Sheet(Block):
    """A compact table: an optional bold title, a header, a rule, one line per row.

    A ``fold`` sheet (a one-row summary) that is too wide is shown as several sheets of the
    columns that fit, one under the other, instead of cutting its cells.

    Column widths come from the content. The first flexible column takes any room to spare;
    when the content does not fit, flexible columns shrink first, then the others from the
    right, and cells are cut with an ellipsis (no wrapping, so a row is always one line).
    """

    def __init__(
        self,
        title: str | None,
        columns: Sequence[Column],
        *,
        empty: str = "",
        rule: bool = True,
        gap: int = 2,
        fold: bool = False,
    ) -> None:
        self.title = title
        self.fold = fold
        self.columns = tuple(columns)
        self.empty = empty
        self.rule = rule
        self.gap = gap
        self.rows: list[tuple[Text, ...]] = []
        self.note: Text | None = None
        """A dim last line (e.g. "… 3 more")."""

    def add_row(self, *cells: Text | str) -> None:
        """Append a row: one cell per column."""
        if len(cells) != len(self.columns):
            raise ValueError(f"expected {len(self.columns)} cells, got {len(cells)}")
        self.rows.append(tuple(cell if isinstance(cell, Text) else Text(cell) for cell in cells))

    def more(self, hidden: int) -> None:
        """Note that ``hidden`` more rows were left out (nothing if none)."""
        if hidden > 0:
            self.note = Text(f"… {hidden} more", style="dim")

    def widths(self, available: int) -> list[int]:
        """Each column's width when the sheet is ``available`` cells wide."""
        widths = self._natural_widths()
        excess = sum(widths) + self.gap * (len(widths) - 1) - available
        flexible = [i for i, c in enumerate(self.columns) if c.flexible]
        if excess < 0 and flexible:  # room to spare: the first flexible column takes it
            widths[flexible[0]] -= excess
            return widths
        order = flexible + [i for i in reversed(range(len(widths))) if i not in flexible]
        for index in order:
            if excess <= 0:
                break
            floor = min(widths[index], 3)
            cut = min(excess, widths[index] - floor)
            widths[index] -= cut
            excess -= cut
        return widths

    def _natural_widths(self) -> list[int]:
        return [
            max([len(column.header), *(row[i].cell_len for row in self.rows)])
            for i, column in enumerate(self.columns)
        ]

    def lines(self, width: int) -> list[Text]:
        """The sheet as lines of at most ``width`` cells."""
        return list(self._lines(width))

    def _lines(self, available: int) -> Iterable[Text]:
        if self.fold and self.natural_width() > available and len(self.columns) > 1:
            yield from self._folded(available)
            return
        if self.title is not None:
            yield _fit(Text(self.title, style="bold"), available)
        widths = self.widths(available)
        headers = tuple(Text(c.header, style="bold dim") for c in self.columns)
        yield self._line(headers, widths, available)
        if self.rule:
            yield Text("─" * available, style="dim")
        for row in self.rows:
            yield self._line(row, widths, available)
        if not self.rows and self.empty:
            yield _fit(Text(self.empty, style="dim"), available)
        if self.note is not None:
            yield _fit(self.note.copy(), available)

    def _folded(self, available: int) -> Iterable[Text]:
        natural = self._natural_widths()
        group: list[int] = []
        used = 0
        groups: list[list[int]] = []
        for index, width in enumerate(natural):
            needed = width if not group else used + self.gap + width
            if group and needed > available:
                groups.append(group)
                group, needed = [], width
            group.append(index)
            used = needed
        groups.append(group)
        for number, indexes in enumerate(groups):
            part = Sheet(
                self.title if number == 0 else None,
                [self.columns[i] for i in indexes],
                rule=self.rule,
                gap=self.gap,
            )
            for row in self.rows:
                part.add_row(*(row[i] for i in indexes))
            yield from part.lines(available)

    def _line(self, cells: Sequence[Text], widths: Sequence[int], available: int) -> Text:
        line = Text(no_wrap=True)
        for index, (cell, column, width) in enumerate(
            zip(cells, self.columns, widths, strict=True)
        ):
            if index:
                line.append(" " * self.gap)
            piece = cell.copy()
            piece.truncate(width, overflow="ellipsis")
            piece.align(column.justify, width)
            line.append_text(piece)
        return _fit(line, available)

    def natural_width(self) -> int:
        """The width at which nothing is cut (title and empty-state line included)."""
        widths = self._natural_widths()
        lines = [sum(widths) + self.gap * (len(widths) - 1), len(self.title or "")]
        if not self.rows:
            lines.append(len(self.empty))
        if self.note is not None:
            lines.append(self.note.cell_len)
        return max(lines)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(min(self.natural_width(), options.max_width), options.max_width)


class SideBySide(Block):
    """Two sheets next to each other, or one above the other when the width is too short.

    Equal halves when both fit in them (a layout that stays put as rows come and go); else the
    wider side gets its natural width if both fit; else each gets a share in proportion to its
    natural width, unless a side would lose more than ``MAX_SQUEEZE`` of it: then they are
    stacked (a narrow terminal). Each side is rendered once, at a fixed width: a ``Table.grid``
    would measure both first, which doubles the cost.
    """

    GAP = 3
    MAX_SQUEEZE = 0.2

    def __init__(self, left: Sheet, right: Sheet) -> None:
        self.left = left
        self.right = right

    def split(self, available: int) -> tuple[int, int] | None:
        """The widths of the two sides, or ``None``: stack them."""
        room = available - self.GAP
        left, right = self.left.natural_width(), self.right.natural_width()
        half = room // 2
        if left <= half and right <= room - half:  # the usual case: a layout that stays put
            return half, room - half
        if left + right <= room:
            return (left, room - left) if left > half else (room - right, right)
        left_share = room * left // (left + right)
        right_share = room - left_share
        if min(left_share / left, right_share / right) < 1 - self.MAX_SQUEEZE:
            return None
        return left_share, right_share

    def lines(self, width: int) -> list[Text]:
        widths = self.split(width)
        if widths is None:
            return self.left.lines(width) + self.right.lines(width)
        left_width, right_width = widths
        left, right = self.left.lines(left_width), self.right.lines(right_width)
        height = max(len(left), len(right))
        left += [Text()] * (height - len(left))
        right += [Text()] * (height - len(right))
        gap = " " * self.GAP
        return [
            Text.assemble(_pad(a, left_width), gap, b) for a, b in zip(left, right, strict=True)
        ]


# --- formatting --------------------------------------------------------------------------------

_NONE = Text("—", style="dim")


def _fit(line: Text, width: int) -> Text:
    line.no_wrap = True
    line.truncate(width, overflow="ellipsis")
    return line


def _pad(line: Text, width: int) -> Text:
    """``line`` cut or padded with spaces to exactly ``width`` cells."""
    line = line.copy()
    line.truncate(width, overflow="ellipsis", pad=True)
    return line


def _side(side: str, *, buy: bool) -> Text:
    return Text(side, style="green" if buy else "red")


def _count(value: int) -> Text:
    return Text(f"{value:,}", style="bold yellow" if value else "")


def _token(expires_in: float | None) -> Text:
    if expires_in is None:
        return Text("no expiry", style="dim")
    if expires_in <= 0:
        return Text("expired", style="bold red")
    return Text(f"{_duration(expires_in)} left", style="yellow" if expires_in < 300 else "")


def _money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _signed(value: Decimal | None) -> Text:
    if value is None:
        return Text("—", style="dim")
    style = "green" if value > 0 else "red" if value < 0 else ""
    return Text(f"{value:+,.2f}", style=style)


def _qty(value: Decimal) -> str:
    return f"{value.normalize():,f}"


def _price(value: Decimal) -> str:
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        return f"{value.normalize():,f}"
    return f"{value:,.2f}"


def _order_price(order: OrderRow) -> str:
    """The price as the order type reads: ``MKT``, ``409.50``, ``stop 180.00``,
    ``stop 180.00 lmt 179.50`` (``type`` in lower case when it has neither price)."""
    if order.type == "MARKET":
        return "MKT"
    if order.stop_price is not None and order.price is not None:
        return f"stop {_price(order.stop_price)} lmt {_price(order.price)}"
    if order.stop_price is not None:
        return f"stop {_price(order.stop_price)}"
    if order.price is not None:
        return _price(order.price)
    return order.type.lower()


@functools.lru_cache(maxsize=4 * LOG_LINES)
def _from_ansi(line: str) -> Text:
    """A log line with its colours (parsed once: the same lines show in many frames; the
    ``Text`` is shared, so it is only ever copied, never changed)."""
    return Text.from_ansi(line, no_wrap=True)


def _duration(seconds: float) -> str:
    whole = int(max(0.0, seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _clock(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S")
