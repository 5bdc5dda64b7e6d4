"""Configuration records of the simulator: accounts, positions, server and protocol timing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from engine.sim._profile import (
    ACCOUNT_TYPES,
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET,
    OPTIONS_LEVELS,
)


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
    """One simulated trading account.

    ``account_type`` is one of the brief's account types; ``MARGIN`` accounts get a
    ``creditMultiplier`` of 2, every other type 1. ``pattern_day_trader`` gives a margin account
    4× day-trade buying power; ``options_level`` (``LEVEL_0`` … ``LEVEL_4``) gates option orders.
    """

    account_id: str = attrs.field(validator=_non_empty_str)
    cash: Decimal = attrs.field(
        default=Decimal("100000"), validator=attrs.validators.instance_of(Decimal)
    )
    account_type: str = attrs.field(
        default="MARGIN", validator=attrs.validators.in_(sorted(ACCOUNT_TYPES))
    )
    positions: tuple[SimPosition, ...] = attrs.field(default=())
    pattern_day_trader: bool = False
    options_level: str = attrs.field(
        default="LEVEL_2", validator=attrs.validators.in_(OPTIONS_LEVELS)
    )

    @positions.validator
    def _check_positions(
        self, _attribute: attrs.Attribute[Any], value: tuple[SimPosition, ...]
    ) -> None:
        symbols = [p.symbol for p in value]
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"account {self.account_id}: duplicate position symbols {symbols}")


DEFAULT_ACCOUNTS = (SimAccount(account_id="SIM-001"),)


@attrs.frozen(kw_only=True)
class SimUser:
    """A simulated user: its id, an optional ready-made access token, and the accounts it owns.

    A user without ``access_token`` gets tokens only through the OAuth2 endpoints.
    ``email``/``password`` are what ``POST /v1/oauth2/authorize`` checks (§7.3).
    """

    user_id: str = attrs.field(validator=_non_empty_str)
    access_token: str | None = None
    accounts: tuple[SimAccount, ...] = attrs.field(default=())
    email: str = ""
    password: str = "sim-password"

    def __attrs_post_init__(self) -> None:
        if not self.email:
            object.__setattr__(self, "email", f"{self.user_id}@sim.invalid")


@attrs.frozen(kw_only=True)
class SimConfig:
    """Everything that shapes one simulator run.

    Durations are seconds on trio's clock. ``token`` and ``accounts`` are the default (first)
    user, ``user_id`` ``default_user_id``; ``users`` adds more users, each with its own accounts
    (account ids unique across users). ``symbols`` is the tradable universe (start prices from
    ``engine.sim._profile.START_PRICES``). ``order_latency`` > 0 makes the venue report
    PENDING_NEW / PENDING_CANCEL / PENDING_REPLACE and complete the transition that much later.
    ``access_token_ttl`` is the lifetime of tokens issued by ``POST /v1/oauth2/token`` (the
    configured ready-made tokens never expire). ``log_traffic`` logs connections and orders at
    info (standalone) instead of debug.
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
    default_user_id: str = attrs.field(default="sim-user", validator=_non_empty_str)
    users: tuple[SimUser, ...] = attrs.field(default=())
    order_latency: float = attrs.field(default=0.0, validator=_not_negative)
    access_token_ttl: float = attrs.field(default=3600.0, validator=_positive)
    oauth_client_id: str = attrs.field(default=OAUTH_CLIENT_ID, validator=_non_empty_str)
    oauth_client_secret: str = attrs.field(default=OAUTH_CLIENT_SECRET, validator=_non_empty_str)
    log_traffic: bool = False

    @property
    def all_users(self) -> tuple[SimUser, ...]:
        """The default user (``token``/``accounts``) followed by ``users``."""
        first = SimUser(
            user_id=self.default_user_id, access_token=self.token, accounts=self.accounts
        )
        return (first, *self.users)

    @property
    def all_accounts(self) -> tuple[SimAccount, ...]:
        """Every account of every user."""
        return tuple(a for user in self.all_users for a in user.accounts)

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
        self._check_positions_symbols(value)

    @users.validator
    def _check_users(self, _attribute: attrs.Attribute[Any], value: tuple[SimUser, ...]) -> None:
        user_ids = [self.default_user_id, *(u.user_id for u in value)]
        if len(set(user_ids)) != len(user_ids):
            raise ValueError(f"user ids must be unique, got {user_ids}")
        tokens = [self.token, *(u.access_token for u in value if u.access_token is not None)]
        if len(set(tokens)) != len(tokens):
            raise ValueError("access tokens must be unique across users")
        ids = [a.account_id for a in self.accounts] + [
            a.account_id for u in value for a in u.accounts
        ]
        if len(set(ids)) != len(ids):
            raise ValueError(f"account ids must be unique across users, got {ids}")
        for user in value:
            self._check_positions_symbols(user.accounts)

    def _check_positions_symbols(self, accounts: tuple[SimAccount, ...]) -> None:
        from engine.sim._options import underlying_of  # local: _options imports nothing of ours

        for account in accounts:
            unknown = [
                p.symbol
                for p in account.positions
                if p.symbol not in self.symbols and underlying_of(p.symbol) not in self.symbols
            ]
            if unknown:
                raise ValueError(
                    f"account {account.account_id}: position symbols {unknown} are not in symbols"
                )
