"""Configuration records of the simulator: accounts, positions, server and protocol timing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from engine.sim._profile import ACCOUNT_TYPES


def _positive(_instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _not_negative(_instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _non_empty_str(_instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attribute.name} must be a non-empty string")


@attrs.frozen
class SimPosition:
    """A position an account holds when the simulator starts.

    ``quantity`` is signed (negative = short); ``avg_price`` is the average cost per share.
    """

    symbol: str = attrs.field(validator=_non_empty_str)
    quantity: Decimal = attrs.field(validator=attrs.validators.instance_of(Decimal))
    avg_price: Decimal = attrs.field(validator=attrs.validators.instance_of(Decimal))


@attrs.frozen(kw_only=True)
class SimAccount:
    """One simulated trading account, owned by the simulator's one user.

    ``account_type`` is one of the brief's account types; ``MARGIN`` accounts get a
    ``creditMultiplier`` of 2, every other type 1.
    """

    account_id: str = attrs.field(validator=_non_empty_str)
    cash: Decimal = attrs.field(
        default=Decimal("100000"), validator=attrs.validators.instance_of(Decimal)
    )
    account_type: str = attrs.field(
        default="MARGIN", validator=attrs.validators.in_(sorted(ACCOUNT_TYPES))
    )
    positions: tuple[SimPosition, ...] = attrs.field(default=())

    @positions.validator
    def _check_positions(
        self, _attribute: attrs.Attribute[Any], value: tuple[SimPosition, ...]
    ) -> None:
        symbols = [p.symbol for p in value]
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"account {self.account_id}: duplicate position symbols {symbols}")


DEFAULT_ACCOUNTS = (SimAccount(account_id="SIM-001"),)


@attrs.frozen(kw_only=True)
class SimConfig:
    """Everything that shapes one simulator run.

    Durations are seconds on trio's clock. ``token`` is the one valid access token; it belongs to
    the one simulated user, who owns every account in ``accounts``. ``symbols`` is the tradable
    universe (start prices from ``engine.sim._profile.START_PRICES``).
    """

    host: str = "127.0.0.1"
    port: int = attrs.field(
        default=0,
        validator=attrs.validators.and_(attrs.validators.ge(0), attrs.validators.le(65535)),
    )
    seed: int = 7
    symbols: tuple[str, ...] = attrs.field(default=("AAPL", "MSFT", "TSLA"))
    tick_interval: float = attrs.field(default=0.05, validator=_positive)
    token: str = attrs.field(default="sim-access-token", validator=_non_empty_str)
    accounts: tuple[SimAccount, ...] = attrs.field(default=DEFAULT_ACCOUNTS)
    auth_timeout: float = attrs.field(default=5.0, validator=_positive)
    session_length: float = attrs.field(default=3900.0, validator=_positive)
    refresh_warning_lead: float = attrs.field(default=300.0, validator=_not_negative)
    idle_timeout: float = attrs.field(default=90.0, validator=_positive)
    max_batch: int = attrs.field(default=5, validator=attrs.validators.ge(1))

    @symbols.validator
    def _check_symbols(self, _attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
        if not value:
            raise ValueError("symbols must not be empty")
        if len(set(value)) != len(value):
            raise ValueError(f"symbols must be unique, got {value}")
        if not all(isinstance(s, str) and s for s in value):
            raise ValueError("symbols must be non-empty strings")

    @accounts.validator
    def _check_accounts(
        self, _attribute: attrs.Attribute[Any], value: tuple[SimAccount, ...]
    ) -> None:
        if not value:
            raise ValueError("accounts must not be empty")
        ids = [a.account_id for a in value]
        if len(set(ids)) != len(ids):
            raise ValueError(f"account ids must be unique, got {ids}")
        for account in value:
            unknown = [p.symbol for p in account.positions if p.symbol not in self.symbols]
            if unknown:
                raise ValueError(
                    f"account {account.account_id}: position symbols {unknown} are not in symbols"
                )
