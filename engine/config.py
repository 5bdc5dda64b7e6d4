"""``engine.toml``: the configuration tree and its loader.

``load_config(path)`` parses the file with ``tomllib`` and structures it with a strict cattrs
converter (unknown keys are errors). Every problem becomes one line naming the key path and what
was expected, collected into one ``ConfigError``; the CLI prints it and exits with status 2.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import attrs
import cattrs
from cattrs.preconf.tomllib import make_converter

from engine.errors import ConfigError
from engine.runtime.urls import url_problem
from engine.secrets import Secret

LOG_LEVELS = ("debug", "info", "warning", "error")


class ConfigValueError(ValueError):
    """A validator's complaint about one field; carries the field name for the key path.

    Raise it from the attrs validators of a plugin's ``Config`` class too, so a bad value is
    reported as ``plugin 'name': config.<field>: <message>``.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


_FieldValueError = ConfigValueError


def _between(low: float, high: float) -> Callable[[Any, attrs.Attribute[Any], float], None]:
    def check(_instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
        if not low <= value <= high:
            raise _FieldValueError(attribute.name, f"expected a number from {low} to {high}")

    return check


def _positive(_instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise _FieldValueError(attribute.name, "expected a number greater than 0")


def _one_of(*choices: str) -> Callable[[Any, attrs.Attribute[Any], str], None]:
    def check(_instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
        if value not in choices:
            raise _FieldValueError(attribute.name, f"expected one of {', '.join(choices)}")

    return check


def _import_path(_instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    module, _, name = value.partition(":")
    if (
        not module
        or not all(part.isidentifier() for part in module.split("."))
        or (name and not name.isidentifier())
    ):
        raise _FieldValueError(
            attribute.name, "expected an import path like 'package.module:Class'"
        )


@attrs.frozen(kw_only=True)
class EngineSection:
    """``[engine]``: logging and run-time behaviour."""

    log_level: str = attrs.field(default="info", validator=_one_of(*LOG_LEVELS))
    log_format: Literal["console", "json"] = "console"
    timer_interval: float = attrs.field(default=1.0, validator=_positive)
    """Seconds between two ``aries_on_timer`` calls."""
    hook_time_budget: float = attrs.field(default=0.005, validator=_positive)
    """Seconds a hook call may take before it is counted as over budget in the statistics."""


def _venue_url(kind: Literal["http", "ws"]) -> Callable[[Any, attrs.Attribute[Any], str], None]:
    def check(_instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
        problem = url_problem(value, kind)
        if problem is not None:
            raise _FieldValueError(attribute.name, problem)

    return check


@attrs.frozen(kw_only=True)
class OAuthSection:
    """``[venue.oauth]``: keep the session alive with the OAuth2 refresh-token grant.

    Secrets are named by environment variable, never written in the file. With
    ``refresh_token_store``, each rotated refresh token is saved there (mode 0600) and read back
    at the next start, where it wins over ``refresh_token_env`` (which may have been rotated
    away already).
    """

    client_id: str
    client_secret_env: str = "ARIES_CLIENT_SECRET"
    refresh_token_env: str = "ARIES_REFRESH_TOKEN"
    refresh_token_store: str | None = None
    refresh_skew: float = attrs.field(default=60.0, validator=_positive)


@attrs.frozen(kw_only=True)
class VenueSection:
    """``[venue]``: which Aries to talk to.

    ``kind = "simulator"`` starts the built-in simulator in-process on a loopback port chosen by
    the OS, and uses its token. ``kind = "aries"`` connects to ``rest_base``/``ws_base``
    (``https``/``wss``; plain ``http``/``ws`` only to loopback) with either a fixed access token
    from the environment variable ``access_token_env``, or, with a ``[venue.oauth]`` table,
    tokens refreshed through the OAuth2 refresh-token grant. ``ca_file`` (PEM) adds a private
    certificate authority to the trusted ones; certificates are always verified.
    """

    kind: Literal["simulator", "aries"] = "simulator"
    rest_base: str = attrs.field(default="https://api.aries.com", validator=_venue_url("http"))
    ws_base: str = attrs.field(default="wss://api.aries.com", validator=_venue_url("ws"))
    access_token_env: str = "ARIES_ACCESS_TOKEN"
    ca_file: str | None = None
    oauth: OAuthSection | None = None


@attrs.frozen(kw_only=True)
class SimAccountSection:
    """One ``[[simulator.accounts]]`` entry: an account of the simulated user."""

    account_id: str
    cash: Decimal = Decimal("100000")
    account_type: Literal["MARGIN", "CASH"] = "MARGIN"


@attrs.frozen(kw_only=True)
class SimulatorSection:
    """``[simulator]``: the built-in simulator, used when ``venue.kind = "simulator"``."""

    seed: int = 7
    tick_interval: float = attrs.field(default=0.05, validator=_positive)
    symbols: tuple[str, ...] = ("AAPL", "MSFT", "TSLA")
    accounts: tuple[SimAccountSection, ...] = (SimAccountSection(account_id="SIM-001"),)


@attrs.frozen(kw_only=True)
class ConnectionSection:
    """``[connection]``: keep-alive, authentication window and reconnect backoff."""

    ping_interval: float = attrs.field(default=30.0, validator=_between(30, 60))
    auth_timeout: float = attrs.field(default=5.0, validator=_positive)
    backoff_initial: float = attrs.field(default=1.0, validator=_positive)
    backoff_cap: float = attrs.field(default=60.0, validator=_positive)
    backoff_jitter: float = attrs.field(default=0.2, validator=_between(0, 1))


@attrs.frozen(kw_only=True)
class MarketSection:
    """``[market]``: the market-data socket and the symbols it always subscribes."""

    enabled: bool = True
    symbols: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class ChartsSection:
    """``[charts]``: the TradingView-compatible charting socket (off by default)."""

    enabled: bool = False
    symbols: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class AccountSection:
    """One ``[[accounts]]`` entry: an account the engine subscribes to and trades.

    ``pnl_interval`` also subscribes the account's P&L candles (``15s``, ``1m``, ``5m``,
    ``15m``, ``1h``, ``1d`` or ``1mo``); plugins then get ``aries_on_pnl_candle`` per closed
    candle.
    """

    id: str
    pnl_interval: str | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(_one_of("15s", "1m", "5m", "15m", "1h", "1d", "1mo")),
    )


@attrs.frozen(kw_only=True)
class DispatchSection:
    """``[dispatch]``: how fast orders may go out.

    ``rate``/``burst`` bound all requests together; ``account_rate``/``account_burst`` bound each
    account's. A request waits for a token from both buckets.
    """

    rate: float = attrs.field(default=10.0, validator=_positive)
    burst: int = attrs.field(default=20, validator=_positive)
    account_rate: float = attrs.field(default=5.0, validator=_positive)
    account_burst: int = attrs.field(default=10, validator=_positive)
    request_timeout: float = attrs.field(default=10.0, validator=_positive)


@attrs.frozen(kw_only=True)
class JournalSection:
    """``[journal]``: the SQLite record of frames, events, intents, verdicts and requests.

    ``path`` defaults to ``$XDG_DATA_HOME/aries-engine/journal.sqlite`` (or
    ``~/.local/share/…``), never the working directory; rows older than ``retention_days`` go.
    """

    enabled: bool = True
    path: str | None = None
    retention_days: float = attrs.field(default=7.0, validator=_positive)


@attrs.frozen(kw_only=True)
class PluginSection:
    """One ``[[strategies]]`` or ``[[plugins]]`` entry.

    ``path`` is ``"package.module:Class"`` (a class instantiated with its validated ``config``) or
    ``"package.module"`` (a module of hook functions). ``account`` binds the instance to one
    account; without it, it sees every configured account.
    """

    name: str
    path: str = attrs.field(validator=_import_path)
    account: str | None = None
    config: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class EngineConfig:
    """The whole validated ``engine.toml``."""

    engine: EngineSection = EngineSection()
    venue: VenueSection = VenueSection()
    simulator: SimulatorSection = SimulatorSection()
    connection: ConnectionSection = ConnectionSection()
    market: MarketSection = MarketSection()
    charts: ChartsSection = ChartsSection()
    accounts: tuple[AccountSection, ...] = ()
    dispatch: DispatchSection = DispatchSection()
    journal: JournalSection = JournalSection()
    strategies: tuple[PluginSection, ...] = ()
    plugins: tuple[PluginSection, ...] = ()

    def access_token(self) -> Secret:
        """The live access token from the environment (``venue.access_token_env``).

        Raises:
            ConfigError: the variable is unset or empty.
        """
        return _secret_from_env(
            "venue.access_token_env", self.venue.access_token_env, "venue.kind = 'aries'"
        )

    def oauth_secrets(self) -> tuple[Secret, Secret | None]:
        """The OAuth client secret and the configured refresh token (``None`` if unset).

        The refresh token may be absent when ``refresh_token_store`` holds one.

        Raises:
            ConfigError: no ``[venue.oauth]`` table, the client secret is unset, or neither the
                refresh-token variable nor an existing store provides a refresh token.
        """
        oauth = self.venue.oauth
        if oauth is None:
            raise ConfigError("venue.oauth: not configured")
        client_secret = _secret_from_env(
            "venue.oauth.client_secret_env", oauth.client_secret_env, "[venue.oauth]"
        )
        refresh = os.environ.get(oauth.refresh_token_env, "")
        store = oauth.refresh_token_store
        if not refresh and not (store and Path(store).exists()):
            raise ConfigError(
                f"venue.oauth.refresh_token_env: environment variable {oauth.refresh_token_env} "
                "is not set and no refresh_token_store file exists: get a refresh token through "
                "the OAuth consent flow and export it"
            )
        return client_secret, Secret(refresh) if refresh else None

    def credential_description(self) -> str:
        """Which credential the engine authenticates with, for operators' error messages."""
        if self.venue.kind == "simulator":
            return "the built-in simulator's access token"
        oauth = self.venue.oauth
        if oauth is None:
            return f"the access token in ${self.venue.access_token_env}"
        store = f" or {oauth.refresh_token_store}" if oauth.refresh_token_store else ""
        return (
            f"the OAuth session of client {oauth.client_id!r} (refresh token from "
            f"${oauth.refresh_token_env}{store})"
        )

    def check_credentials(self) -> None:
        """Fail early (before anything connects) if a needed credential is missing.

        Raises:
            ConfigError: naming the variable to set; never showing a value.
        """
        if self.venue.kind != "aries":
            return
        if self.venue.oauth is None:
            self.access_token()
        else:
            self.oauth_secrets()


def _secret_from_env(key: str, variable: str, needed_for: str) -> Secret:
    value = os.environ.get(variable, "")
    if not value:
        raise ConfigError(
            f"{key}: environment variable {variable} is not set (needed for {needed_for})"
        )
    return Secret(value)


def _structure_decimal(value: Any, _type: type) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("expected a decimal number (a string like '100.50' or a number)")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"expected a decimal number, got {value!r}") from None
    if not result.is_finite():
        raise ValueError("expected a finite decimal number")
    return result


def _strict(expected: type, *accepted: type, label: str) -> Callable[[Any, type], Any]:
    """A structure hook that accepts only the TOML types given (no ``bool("yes")`` coercion)."""

    def structure(value: Any, _type: type) -> Any:
        if isinstance(value, bool) and expected is not bool:
            raise ValueError(f"expected {label}, got a boolean")
        if not isinstance(value, accepted):
            raise ValueError(f"expected {label}, got {type(value).__name__} {value!r}")
        return expected(value)

    return structure


def _make_config_converter() -> cattrs.Converter:
    converter = make_converter(forbid_extra_keys=True)
    converter.register_structure_hook(Decimal, _structure_decimal)
    converter.register_structure_hook(bool, _strict(bool, bool, label="true or false"))
    converter.register_structure_hook(int, _strict(int, int, label="an integer"))
    converter.register_structure_hook(float, _strict(float, int, float, label="a number"))
    converter.register_structure_hook(str, _strict(str, str, label="a string"))
    converter.register_structure_hook_func(
        lambda type_: type_ == Mapping[str, Any], lambda value, _t: _expect_table(value)
    )
    return converter


def _expect_table(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("expected a table")
    return value


_CONVERTER = _make_config_converter()


def plugin_converter() -> cattrs.Converter:
    """The strict converter, for plugins' own ``Config`` classes (same rules as engine.toml)."""
    return _CONVERTER


def _format_exception(exc: BaseException, type_: type | None) -> str:
    if isinstance(exc, _FieldValueError):
        return f"{exc.field}\x00{exc.message}"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        keys = ", ".join(sorted(exc.extra_fields))
        return f"unknown key(s): {keys}"
    if get_origin(type_) is Literal:
        return "expected one of " + ", ".join(repr(choice) for choice in get_args(type_))
    if isinstance(exc, ValueError) and str(exc) and not isinstance(exc, cattrs.BaseValidationError):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


def config_error_lines(exc: Exception) -> list[str]:
    """Turn a cattrs structuring error into ``key.path: problem`` lines."""
    lines = []
    for message in cattrs.transform_error(exc, path="$", format_exception=_format_exception):
        text, _, path = message.rpartition(" @ ")
        key = path.removeprefix("$").removeprefix(".")
        if "\x00" in text:
            field, text = text.split("\x00", 1)
            key = f"{key}.{field}" if key else field
        lines.append(f"{key or '(top level)'}: {text}")
    return lines


def parse_config(data: Mapping[str, Any], *, source: str = "engine.toml") -> EngineConfig:
    """Structure and validate an already-parsed TOML document.

    Raises:
        ConfigError: one line per problem, each prefixed with ``source``.
    """
    try:
        config = _CONVERTER.structure(data, EngineConfig)
    except Exception as exc:
        lines = config_error_lines(exc)
        raise ConfigError("\n".join(f"{source}: {line}" for line in lines)) from None
    problems = _cross_check(config)
    if problems:
        raise ConfigError("\n".join(f"{source}: {line}" for line in problems))
    return config


def _cross_check(config: EngineConfig) -> list[str]:
    problems = []
    account_ids = [a.id for a in config.accounts]
    if not account_ids:
        problems.append("accounts: expected at least one [[accounts]] entry with an id")
    if len(set(account_ids)) != len(account_ids):
        problems.append("accounts: account ids must be unique")
    names = [p.name for p in (*config.strategies, *config.plugins)]
    problems.extend(
        f"strategies/plugins: the name {name!r} is used twice"
        for name in sorted({n for n in names if names.count(n) > 1})
    )
    for kind, sections in (("strategies", config.strategies), ("plugins", config.plugins)):
        for index, section in enumerate(sections):
            if section.account is not None and section.account not in account_ids:
                problems.append(
                    f"{kind}[{index}].account: {section.account!r} is not one of the "
                    f"configured accounts ({', '.join(account_ids)})"
                )
    if config.venue.kind == "simulator":
        sim_ids = {a.account_id for a in config.simulator.accounts}
        for index, account in enumerate(config.accounts):
            if account.id not in sim_ids:
                problems.append(
                    f"accounts[{index}].id: {account.id!r} is not a simulator account "
                    f"(simulator.accounts has {', '.join(sorted(sim_ids))})"
                )
    return problems


def load_config(path: str | os.PathLike[str]) -> EngineConfig:
    """Read, parse and validate ``engine.toml``.

    Raises:
        ConfigError: the file is missing or unreadable, is not valid TOML, or fails validation.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    return parse_config(data, source=source)
