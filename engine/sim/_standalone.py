"""``aries-engine sim``: run the simulator in the foreground until Ctrl-C.

The users and accounts it serves come from ``SimConfig`` (one user, ``SIM-001``, by default) or
from a TOML file (``aries-engine sim --accounts FILE``, read by ``load_accounts_file``)::

    # The first user is the default one. Every key but user_id / account_id is optional.
    [oauth]                              # optional: the OAuth2 client the token endpoint accepts
    client_id = "sim-client"
    client_secret = "sim-secret"

    [[users]]
    user_id = "alice"
    access_token = "alice-token"         # default: "sim-token-<user_id>" (never expires)
    email = "alice@example.com"          # POST /v1/oauth2/authorize login
    password = "sim-password"

    [[users.accounts]]
    account_id = "ALICE-1"
    account_type = "MARGIN"              # CASH | MARGIN | IRA | ROTH_IRA | RETIREMENT
    cash = "100000"                      # decimal string (or integer)
    pattern_day_trader = false           # true: 4x day-trade buying power on margin
    options_level = "LEVEL_2"            # LEVEL_0 .. LEVEL_4

    [[users.accounts.positions]]
    symbol = "AAPL"                      # a traded symbol, or an OSI option symbol
    quantity = "100"                     # negative = short
    avg_price = "170.25"

Standalone runs log every connection and order at info (``SimConfig.log_traffic``).
"""

from __future__ import annotations

import signal
import sys
import tomllib
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import attrs
import trio

from engine.sim._config import SimAccount, SimConfig, SimPosition, SimUser
from engine.sim._profile import ACCOUNTS_WS_PATH, CHARTS_WS_PATH, MARKET_WS_PATH
from engine.sim._server import SimEndpoints, Simulator


class AccountsFileError(ValueError):
    """The ``--accounts`` file is missing, not TOML, or describes invalid users/accounts."""


_USER_KEYS = frozenset({"user_id", "access_token", "email", "password", "accounts"})
_ACCOUNT_KEYS = frozenset(
    {"account_id", "account_type", "cash", "pattern_day_trader", "options_level", "positions"}
)
_POSITION_KEYS = frozenset({"symbol", "quantity", "avg_price"})


def _decimal(value: object, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise AccountsFileError(f"{where}: expected a decimal string, got {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise AccountsFileError(f"{where}: expected a decimal string, got {value!r}") from None
    if not number.is_finite():
        raise AccountsFileError(f"{where}: expected a finite decimal, got {value!r}")
    return number


def _table(value: object, where: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise AccountsFileError(f"{where}: expected a table")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise AccountsFileError(f"{where}: unknown key(s): {', '.join(unknown)}")
    return value


def _position(raw: object, where: str) -> SimPosition:
    table = _table(raw, where, _POSITION_KEYS)
    try:
        return SimPosition(
            symbol=table["symbol"],
            quantity=_decimal(table.get("quantity"), f"{where}.quantity"),
            avg_price=_decimal(table.get("avg_price"), f"{where}.avg_price"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, AccountsFileError):
            raise
        raise AccountsFileError(f"{where}: {exc}") from None


def _account(raw: object, where: str) -> SimAccount:
    table = _table(raw, where, _ACCOUNT_KEYS)
    kwargs: dict[str, Any] = {}
    for key in ("account_id", "account_type", "options_level", "pattern_day_trader"):
        if key in table:
            kwargs[key] = table[key]
    if "cash" in table:
        kwargs["cash"] = _decimal(table["cash"], f"{where}.cash")
    positions = table.get("positions", [])
    if not isinstance(positions, list):
        raise AccountsFileError(f"{where}.positions: expected an array of tables")
    kwargs["positions"] = tuple(
        _position(p, f"{where}.positions[{i}]") for i, p in enumerate(positions)
    )
    try:
        return SimAccount(**kwargs)
    except (TypeError, ValueError) as exc:
        raise AccountsFileError(f"{where}: {exc}") from None


def _user(raw: object, where: str) -> SimUser:
    table = _table(raw, where, _USER_KEYS)
    user_id = table.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        raise AccountsFileError(f"{where}.user_id: expected a non-empty string")
    accounts = table.get("accounts", [])
    if not isinstance(accounts, list) or not accounts:
        raise AccountsFileError(f"{where}.accounts: expected at least one [[users.accounts]]")
    token = table.get("access_token") or f"sim-token-{user_id}"
    try:
        return SimUser(
            user_id=user_id,
            access_token=str(token),
            accounts=tuple(_account(a, f"{where}.accounts[{i}]") for i, a in enumerate(accounts)),
            email=str(table.get("email", "")),
            password=str(table.get("password", "sim-password")),
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, AccountsFileError):
            raise
        raise AccountsFileError(f"{where}: {exc}") from None


def load_accounts_file(path: str | Path, base: SimConfig | None = None) -> SimConfig:
    """``base`` (default ``SimConfig()``) with the users and accounts of a TOML file.

    The first ``[[users]]`` entry becomes the default user (``SimConfig.token`` /
    ``accounts``); the rest go to ``SimConfig.users``. Raises ``AccountsFileError``.
    """
    base = base if base is not None else SimConfig()
    file = Path(path)
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AccountsFileError(f"{file}: file not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise AccountsFileError(f"{file}: {exc}") from None
    unknown = sorted(set(document) - {"users", "oauth"})
    if unknown:
        raise AccountsFileError(f"{file}: unknown key(s): {', '.join(unknown)}")
    raw_users = document.get("users")
    if not isinstance(raw_users, list) or not raw_users:
        raise AccountsFileError(f"{file}: expected at least one [[users]] table")
    users = [_user(u, f"{file}: users[{i}]") for i, u in enumerate(raw_users)]
    changes: dict[str, Any] = {}
    oauth = document.get("oauth")
    if oauth is not None:
        table = _table(oauth, f"{file}: oauth", frozenset({"client_id", "client_secret"}))
        if "client_id" in table:
            changes["oauth_client_id"] = str(table["client_id"])
        if "client_secret" in table:
            changes["oauth_client_secret"] = str(table["client_secret"])
    first = users[0]
    assert first.access_token is not None
    try:
        return attrs.evolve(
            base,
            default_user_id=first.user_id,
            token=first.access_token,
            accounts=first.accounts,
            users=tuple(users[1:]),
            **changes,
        )
    except (TypeError, ValueError) as exc:
        raise AccountsFileError(f"{file}: {exc}") from None


def _banner(endpoints: SimEndpoints, config: SimConfig) -> str:
    lines = [
        "Aries simulator listening:",
        f"  REST      {endpoints.rest_base}",
        f"  WS base   {endpoints.ws_base}",
        f"  Accounts  {endpoints.ws_base}{ACCOUNTS_WS_PATH}",
        f"  Market    {endpoints.ws_base}{MARKET_WS_PATH}",
        f"  Charts    {endpoints.ws_base}{CHARTS_WS_PATH}",
        f"  OAuth2    {endpoints.rest_base}/v1/oauth2/token "
        f"(client_id {config.oauth_client_id}, client_secret {config.oauth_client_secret})",
    ]
    for user in config.all_users:
        accounts = ", ".join(a.account_id for a in user.accounts)
        lines.append(f"  User      {user.user_id} ({user.email}, password {user.password})")
        if user.access_token:
            lines.append(f"  Token     {user.access_token}")
        lines.append(f"  Account   {accounts}")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


async def _serve_until_signal(config: SimConfig) -> None:
    simulator = Simulator(config)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            endpoints = await nursery.start(simulator.run)
            print(_banner(endpoints, config), flush=True)
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()


def run_standalone(config: SimConfig) -> int:
    """Run the simulator until Ctrl-C (or SIGTERM); print its URLs, users and tokens once
    listening. Connections and orders are logged at info (``log_traffic`` forced on).

    Returns the process exit status (0 on a clean stop).
    """
    config = attrs.evolve(config, log_traffic=True)
    interrupted = False
    try:
        trio.run(_serve_until_signal, config)
    except* KeyboardInterrupt:  # a second Ctrl-C during shutdown
        interrupted = True
    if interrupted:
        print("Aries simulator interrupted.", file=sys.stderr, flush=True)
    else:
        print("Aries simulator stopped.", flush=True)
    return 0
