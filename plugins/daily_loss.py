"""Risk plugin: a daily loss limit with a kill switch.

P&L is the venue's ``realizedPL + unRealizedPL`` from the account's balance (``Balance.realized_pl
+ Balance.unrealized_pl``): today's realized P&L plus the open P&L of the positions held (which,
for positions carried from earlier days, is measured from their average price, not from
yesterday's close). The limit is reached when ``P&L <= -max_loss``.

* ``aries_on_balance_changed``: the first balance that reaches the limit trips the switch for
  that account and, with ``halt = true``, asks the engine once to put the account in ``HALTED``
  (``ctx.set_trading_state``: no new orders until an operator sets it ``ACTIVE`` again). Later
  balances never ask again.
* ``aries_check_order``: while tripped, new orders are refused with ``DAILY_LOSS_LIMIT``; orders
  that only reduce a position still pass unless ``allow_reducing = false`` (so a strategy can
  flatten). The switch latches: once tripped, it stays tripped for the rest of the engine's run
  even if the P&L recovers (restart the engine, a deliberate act, to reset it). An order check
  that sees the loss first trips it too (the halt is then asked at the next balance event).

Reason codes: ``DAILY_LOSS_LIMIT`` (details ``pnl``, ``realized_pl``, ``unrealized_pl``,
``max_loss``, ``tripped_at``: the P&L that tripped it), ``NO_BALANCE`` (P&L unknown: fail
closed), ``STALE_STATE``.

Configure it in ``engine.toml``::

    [[plugins]]
    name = "daily-loss"
    path = "plugins.daily_loss:DailyLossLimit"
    [plugins.config]
    max_loss = "5000"           # dollars
    allow_reducing = true       # reducing orders pass while tripped
    halt = true                 # also HALT the account when the limit is reached
    max_state_age = 65          # seconds
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from engine import StrategyContext, hookimpl
from engine.model import (
    AccountView,
    Balance,
    BalanceChanged,
    OrderIntent,
    RiskVerdict,
    TradingState,
)
from engine.validators import positive
from plugins._risk_common import (
    DEFAULT_MAX_STATE_AGE,
    NO_BALANCE,
    only_reduces,
    seconds_to_ns,
    stale_state,
)

DAILY_LOSS_LIMIT = "DAILY_LOSS_LIMIT"


@attrs.frozen(kw_only=True)
class DailyLossConfig:
    """``[plugins.config]`` of a ``DailyLossLimit``."""

    max_loss: Decimal = attrs.field(validator=positive)
    """Dollars of loss (realized + unrealized) at which the switch trips."""
    allow_reducing: bool = True
    """While tripped, still let through orders that only reduce a position."""
    halt: bool = True
    """When the switch trips, ask the engine to put the account in ``HALTED``."""
    max_state_age: float = attrs.field(default=DEFAULT_MAX_STATE_AGE, validator=positive)
    """Seconds: an older account picture rejects with ``STALE_STATE``."""


def pnl_of(balance: Balance) -> Decimal:
    """The P&L the limit applies to: ``realized_pl + unrealized_pl``."""
    return balance.realized_pl + balance.unrealized_pl


class DailyLossLimit:
    """Trips (and halts the account) when the day's P&L reaches ``-max_loss``; then refuses new
    orders."""

    Config = DailyLossConfig

    def __init__(self, config: DailyLossConfig) -> None:
        self.config = config
        self._max_state_age_ns = seconds_to_ns(config.max_state_age)
        self._floor = -config.max_loss
        """The P&L at which the switch trips."""
        self.tripped: dict[str, Decimal] = {}
        """Accounts whose switch tripped, with the P&L that tripped it."""
        self._halt_requested: set[str] = set()

    def _reached(self, balance: Balance) -> bool:
        return pnl_of(balance) <= self._floor

    def _reason(self, balance: Balance) -> str:
        return (
            f"P&L {pnl_of(balance)} (realized {balance.realized_pl} + unrealized "
            f"{balance.unrealized_pl}) has reached the daily loss limit of "
            f"-{self.config.max_loss}"
        )

    @hookimpl
    def aries_on_balance_changed(self, event: BalanceChanged, ctx: StrategyContext) -> None:
        """Trip the switch, and ask once for ``HALTED``, when the balance reaches the limit."""
        balance = event.balance
        account_id = event.account_id
        if not self._reached(balance):
            return
        self.tripped.setdefault(account_id, pnl_of(balance))
        if self.config.halt and account_id not in self._halt_requested:
            self._halt_requested.add(account_id)
            ctx.set_trading_state(TradingState.HALTED, self._reason(balance), account=account_id)

    @hookimpl
    def aries_check_order(
        self, intent: OrderIntent, account: AccountView, now_ns: int
    ) -> RiskVerdict | None:
        """Refuse new orders while tripped (reducing ones pass if ``allow_reducing``)."""
        stale = stale_state(account, now_ns, self._max_state_age_ns)
        if stale is not None:
            return stale
        balance = account.balance
        if balance is None:
            return RiskVerdict.reject(
                NO_BALANCE,
                f"the P&L of account {account.account_id} is unknown (no balance yet)",
            )
        if self._reached(balance):
            self.tripped.setdefault(account.account_id, pnl_of(balance))
        elif account.account_id not in self.tripped:
            return None
        if self.config.allow_reducing and only_reduces(account, intent):
            return None
        tripped_at = self.tripped[account.account_id]
        if self._reached(balance):
            reason = f"{self._reason(balance)} (tripped at {tripped_at})"
        else:
            reason = (
                f"the daily loss limit of -{self.config.max_loss} tripped at P&L {tripped_at} "
                f"and stays tripped (P&L now {pnl_of(balance)}: realized {balance.realized_pl} "
                f"+ unrealized {balance.unrealized_pl})"
            )
        return RiskVerdict.reject(
            DAILY_LOSS_LIMIT,
            f"{reason}: no new {intent.side} {intent.symbol} orders",
            pnl=pnl_of(balance),
            realized_pl=balance.realized_pl,
            unrealized_pl=balance.unrealized_pl,
            max_loss=self.config.max_loss,
            tripped_at=tripped_at,
        )
