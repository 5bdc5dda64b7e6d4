"""``engine.toml``: the configuration tree and its loader.

``load_config(path)`` parses the file with ``tomllib`` and structures it with a strict cattrs
converter (unknown keys are errors). Every problem becomes one line naming the key path and what
was expected, collected into one ``ConfigError``; the CLI prints it and exits with status 2.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import attrs
import cattrs
import cattrs.cols
import cattrs.gen
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


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_NAME_MAX_LENGTH = 64
"""A ``*_env`` value longer than this is taken for a secret, not a variable's name."""
_ENV_NAME_TOKEN_LENGTH = 20
"""From this length on, a ``*_env`` value with a digit and either no ``_`` or both lower- and
upper-case letters is taken for a secret (names are conventionally ``UPPER_CASE_WORDS``)."""
_ENV_NAME_FIELD = "engine.config.env_name"
"""attrs metadata key marking a ``*_env`` field: its type errors never show the value."""


def _looks_like_a_secret(name: str) -> bool:
    """Whether a value that has the shape of a variable name is more likely a token.

    True when it is longer than ``_ENV_NAME_MAX_LENGTH`` characters, or has at least
    ``_ENV_NAME_TOKEN_LENGTH`` characters, a digit, and either no ``_`` or both lower- and
    upper-case letters (``a8Fq2LmZ7xKp4TnB9vRc…``, ``deadbeef0123…``). ``UPPER_CASE_WORDS``
    names such as ``ARIES_ACCESS_TOKEN_2`` never are (up to the maximum length).
    """
    if len(name) > _ENV_NAME_MAX_LENGTH:
        return True
    if len(name) < _ENV_NAME_TOKEN_LENGTH or not any(c.isdigit() for c in name):
        return False
    mixed_case = any(c.islower() for c in name) and any(c.isupper() for c in name)
    return "_" not in name or mixed_case


def _env_name(_instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    """The name of an environment variable, never a secret itself (the value is not echoed)."""
    expected = "expected the name of an environment variable"
    if not _ENV_NAME.fullmatch(value):
        raise _FieldValueError(
            attribute.name,
            f"{expected} (letters, digits and _, not starting with a digit), e.g. "
            "'ARIES_ACCESS_TOKEN'; the secret itself goes in that variable, never in the file",
        )
    if _looks_like_a_secret(value):
        raise _FieldValueError(
            attribute.name,
            f"{expected}, e.g. 'ARIES_ACCESS_TOKEN'; the value looks like a secret, not a name "
            f"(over {_ENV_NAME_MAX_LENGTH} characters, or {_ENV_NAME_TOKEN_LENGTH} or more with a "
            "digit and either no _ or mixed case), so it is not used or shown: put the secret in "
            "an environment variable and give that variable's name here",
        )


def _env_name_field(default: str) -> Any:
    """An attrs field holding the name of an environment variable (see ``_env_name``)."""
    return attrs.field(default=default, validator=_env_name, metadata={_ENV_NAME_FIELD: True})


@attrs.frozen(kw_only=True)
class EngineSection:
    """``[engine]``: logging and run-time behaviour."""

    log_level: str = attrs.field(default="info", validator=_one_of(*LOG_LEVELS))
    log_format: Literal["console", "json"] = "console"
    timer_interval: float = attrs.field(default=1.0, validator=_positive)
    """Seconds between two ``aries_on_timer`` calls."""
    hook_time_budget: float = attrs.field(default=0.005, validator=_positive)
    """Seconds a hook call may take before it is counted as over budget in the statistics."""
    on_shutdown: Literal["cancel", "leave"] = "leave"
    """At a stop (signal, ``--duration``): ``"cancel"`` the open orders this engine placed, or
    ``"leave"`` them working at the venue (the default: a resting order is never pulled unless
    asked). Orders placed elsewhere are always left alone."""
    shutdown_grace: float = attrs.field(default=10.0, validator=_positive)
    """Seconds a stop may wait for requests in flight (and, with ``"cancel"``, for the venue to
    confirm the cancels) before the engine closes anyway."""
    done_order_retention: float = attrs.field(default=300.0, validator=_positive)
    """Seconds a done order (filled, canceled, rejected...) stays whole in its account's book,
    at least: then only its id and filled quantity are kept, for a day, so that the venue
    restating it is recognised. Keeps the book from growing with every order of a run."""


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
    client_secret_env: str = _env_name_field("ARIES_CLIENT_SECRET")
    refresh_token_env: str = _env_name_field("ARIES_REFRESH_TOKEN")
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
    access_token_env: str = _env_name_field("ARIES_ACCESS_TOKEN")
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


def _option_symbols(
    _instance: Any, attribute: attrs.Attribute[Any], value: tuple[str, ...]
) -> None:
    """Greeks exist for options only: every symbol must be an OSI option symbol."""
    from engine.aries.protocol import OSI_SYMBOL_PATTERN  # what the encoder sends as an option

    bad = [symbol for symbol in value if not re.fullmatch(OSI_SYMBOL_PATTERN, symbol)]
    if bad:
        raise _FieldValueError(
            attribute.name,
            f"expected OSI option symbols (greeks exist for options only), e.g. "
            f"'AAPL250117C00150000'; got {', '.join(map(repr, bad))}",
        )


@attrs.frozen(kw_only=True)
class MarketSection:
    """``[market]``: the market-data socket and the symbols it always subscribes.

    ``level2`` symbols also stream their level-2 book (``aries_on_book``); ``greeks`` are OSI
    option symbols that also stream their greeks (``aries_on_greeks``). Both are subscribed
    whether or not they are in ``symbols``. The market status is always streamed.
    """

    enabled: bool = True
    symbols: tuple[str, ...] = ()
    level2: tuple[str, ...] = ()
    greeks: tuple[str, ...] = attrs.field(default=(), validator=_option_symbols)


@attrs.frozen(kw_only=True)
class ChartsSection:
    """``[charts]``: the TradingView-compatible charting socket (off by default)."""

    enabled: bool = False
    symbols: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class NewsSection:
    """``[news]``: the user's ``news`` topic of the accounts socket (``aries_on_news``; off by
    default). ``symbols`` and ``topics`` filter it at the venue; empty means all news."""

    enabled: bool = False
    symbols: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class WatchlistSection:
    """``[watchlist]``: the user's watchlist changes, from the accounts socket
    (``aries_on_watchlist``; off by default)."""

    enabled: bool = False


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


def _listen_host(_instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value.strip():
        raise _FieldValueError(attribute.name, "expected an address to listen on, e.g. '127.0.0.1'")


@attrs.frozen(kw_only=True)
class MetricsSection:
    """``[metrics]``: the Prometheus endpoint, ``GET http://host:port/metrics``.

    On by default, on loopback, on a port the OS picks (``port = 0``; the URL is logged as
    ``metrics.serving``), so it never clashes with another engine or exporter. Give Prometheus a
    fixed ``port`` to scrape (9464 is the usual exporter port). It shows account equity: widen
    ``host`` (``"0.0.0.0"``) only on a private network.
    """

    enabled: bool = True
    host: str = attrs.field(default="127.0.0.1", validator=_listen_host)
    port: int = attrs.field(default=0, validator=_between(0, 65535))


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
    news: NewsSection = NewsSection()
    watchlist: WatchlistSection = WatchlistSection()
    accounts: tuple[AccountSection, ...] = ()
    dispatch: DispatchSection = DispatchSection()
    journal: JournalSection = JournalSection()
    metrics: MetricsSection = MetricsSection()
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
            ConfigError: no ``[venue.oauth]`` table, the client secret is unset, neither the
                refresh-token variable nor an existing store provides a refresh token, or the
                existing store is unusable (open to group or others, empty, unreadable).
        """
        oauth = self.venue.oauth
        if oauth is None:
            raise ConfigError("venue.oauth: not configured")
        client_secret = _secret_from_env(
            "venue.oauth.client_secret_env", oauth.client_secret_env, "[venue.oauth]"
        )
        refresh = os.environ.get(oauth.refresh_token_env, "")
        store = oauth.refresh_token_store
        stored = Path(store) if store and Path(store).exists() else None
        if not refresh and stored is None:
            raise ConfigError(
                f"venue.oauth.refresh_token_env: environment variable {oauth.refresh_token_env} "
                "is not set and no refresh_token_store file exists: get a refresh token through "
                "the OAuth consent flow and export it"
            )
        if stored is not None:
            _check_refresh_token_store(stored)
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
        """Fail early (before anything connects) if a needed credential is missing, or the
        existing ``refresh_token_store`` is one the engine would refuse.

        Raises:
            ConfigError: naming the variable to set or the file to fix; never showing a value.
        """
        if self.venue.kind != "aries":
            return
        if self.venue.oauth is None:
            self.access_token()
        else:
            self.oauth_secrets()


def _check_refresh_token_store(store: Path) -> None:
    """Refuse an existing ``refresh_token_store`` the engine would refuse once started (open to
    group or others, empty, unreadable), with the same message as ``aries-engine check``.

    Raises:
        ConfigError: ``venue.oauth.refresh_token_store: …``; the stored token is never shown.
    """
    # Imported here, as `aries-engine check` does: the config layer stays importable without
    # engine.connection and the transports it loads.
    from engine.connection.tokens import RefreshTokenStore

    try:
        RefreshTokenStore(store).load()  # the same rules as at start-up; the value is dropped
    except ConfigError as exc:
        raise ConfigError(f"venue.oauth.refresh_token_store: {exc}") from None


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


def _structure_float(value: Any, type_: type) -> float:
    result: float = _STRICT_FLOAT(value, type_)
    if not math.isfinite(result):
        raise ValueError(f"expected a finite number, got {value}")
    return result


_STRICT_FLOAT = _strict(float, int, float, label="a number")


def _toml_kind(value: Any) -> str:
    """What a TOML value is, in the file's words (for "expected X, got Y")."""
    kinds: tuple[tuple[type | tuple[type, ...], str], ...] = (
        (dict, "a table"),
        (list, "an array"),
        (str, "a string"),
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a number"),
    )
    return next((name for kind, name in kinds if isinstance(value, kind)), "a date or time")


def _is_array_type(type_: Any) -> bool:
    args = get_args(type_)
    return get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis


def _array_hook(type_: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """``tuple[X, ...]`` from a TOML array only (a string is not an array of characters)."""
    inner = cattrs.cols.homogenous_tuple_structure_factory(type_, converter)
    expected = (
        "an array of tables ([[...]] entries)" if attrs.has(get_args(type_)[0]) else "an array"
    )

    def structure(value: Any, target: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError(f"expected {expected}, got {_toml_kind(value)}")
        return inner(value, target)

    return structure


def _is_mapping_type(type_: Any) -> bool:
    return get_origin(type_) in (Mapping, dict)


def _mapping_hook(type_: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """A ``Mapping[str, X]`` (e.g. ``per_symbol = { TSLA = "500" }``) from a TOML table only."""
    inner = cattrs.cols.mapping_structure_factory(type_, converter)

    def structure(value: Any, target: Any) -> Any:
        return inner(_expect_table(value), target)

    return structure


def _structure_env_name(value: Any, _type: type) -> str:
    """A ``*_env`` key's value: a string; a type error names the type only, never the value
    (a number there may well be the secret itself)."""
    if not isinstance(value, str):
        raise ValueError(
            f"expected the name of an environment variable (a string), got {_toml_kind(value)}"
        )
    return value


def _table_hook(type_: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """An attrs class from a TOML table only (with its unknown keys refused)."""
    # Values typed Any: mypy would check them against the function's own keyword arguments.
    env_names: dict[str, Any] = {
        field.name: cattrs.gen.override(struct_hook=_structure_env_name)
        for field in attrs.fields(type_)
        if field.metadata.get(_ENV_NAME_FIELD)
    }
    inner = cattrs.gen.make_dict_structure_fn(type_, converter, **env_names)

    def structure(value: Any, target: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError(f"expected a table, got {_toml_kind(value)}")
        try:
            return inner(value, target)
        except cattrs.ClassValidationError as exc:
            # Its validators did not run, or stopped at the first complaint: add theirs about
            # every other key that structures, so that one pass lists every problem.
            reported = {e.field for e in exc.exceptions if isinstance(e, ConfigValueError)}
            more = [
                error
                for error in _validator_errors(type_, value, converter)
                if error.field not in reported
            ]
            if not more:
                raise
            raise cattrs.ClassValidationError(
                exc.message, [*exc.exceptions, *more], type_
            ) from None

    return structure


def _validator_errors(
    type_: Any, value: Mapping[str, Any], converter: cattrs.Converter
) -> list[ConfigValueError]:
    """The ``ConfigValueError``s of the validators of the keys of ``value`` that structure."""
    try:
        hints = get_type_hints(type_)
    except (NameError, TypeError):  # an annotation that cannot be resolved: no extra detail
        return []
    errors: list[ConfigValueError] = []
    for field in attrs.fields(type_):
        if field.validator is None or field.name not in value or field.name not in hints:
            continue
        try:
            structured = converter.structure(value[field.name], hints[field.name])
        except (cattrs.BaseValidationError, ValueError, TypeError):
            continue  # a type problem: cattrs reports it with the key
        try:
            field.validator(None, field, structured)
        except ConfigValueError as error:
            errors.append(error)
        except (AttributeError, TypeError):
            # A validator that reads the instance (None here) runs, and reports, when the
            # section is built.
            continue
    return errors


def _make_config_converter() -> cattrs.Converter:
    converter = make_converter(forbid_extra_keys=True)
    converter.register_structure_hook(Decimal, _structure_decimal)
    converter.register_structure_hook(bool, _strict(bool, bool, label="true or false"))
    converter.register_structure_hook(int, _strict(int, int, label="an integer"))
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(str, _strict(str, str, label="a string"))
    converter.register_structure_hook_factory(_is_array_type, _array_hook)
    converter.register_structure_hook_factory(attrs.has, _table_hook)
    converter.register_structure_hook_factory(_is_mapping_type, _mapping_hook)
    converter.register_structure_hook_func(
        lambda type_: type_ == Mapping[str, Any], lambda value, _t: _expect_table(value)
    )
    return converter


def _expect_table(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a table, got {_toml_kind(value)}")
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


def config_error_lines(exc: Exception, *, prefix: str = "") -> list[str]:
    """Turn a cattrs structuring error into ``key.path: problem`` lines.

    ``prefix`` is the key path of the table that was structured (e.g. ``"config"`` for a
    plugin's ``[plugins.config]``): a problem with the table itself is then reported under it
    (``config: unknown key(s): x``) instead of ``(top level)``.
    """
    lines = []
    for message in cattrs.transform_error(exc, path="$", format_exception=_format_exception):
        text, _, path = message.rpartition(" @ ")
        key = path.removeprefix("$").removeprefix(".")
        if "\x00" in text:
            field, text = text.split("\x00", 1)
            key = f"{key}.{field}" if key else field
        if prefix:
            key = f"{prefix}.{key}" if key else prefix
        lines.append(f"{key or '(top level)'}: {text}")
    return lines


# Keys a user might be tempted to write a secret under, and the key that names its variable.
_LITERAL_SECRETS: dict[str, dict[str, tuple[str, str]]] = {
    "venue": {
        name: ("access_token_env", "ARIES_ACCESS_TOKEN")
        for name in ("access_token", "token", "api_key", "secret", "password")
    },
    "venue.oauth": {
        "client_secret": ("client_secret_env", "ARIES_CLIENT_SECRET"),
        "refresh_token": ("refresh_token_env", "ARIES_REFRESH_TOKEN"),
        "access_token": ("refresh_token_env", "ARIES_REFRESH_TOKEN"),
        "password": ("client_secret_env", "ARIES_CLIENT_SECRET"),
    },
}


def _refuse_literal_secrets(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Take out keys that would hold a secret in the file, with one line each (no value shown).

    Returns the document without them (so they are not also reported as unknown keys) and the
    lines.
    """
    document = dict(data)
    lines: list[str] = []
    venue = document.get("venue")
    if not isinstance(venue, dict):
        return document, lines
    venue = document["venue"] = dict(venue)
    tables: list[tuple[str, dict[str, Any]]] = [("venue", venue)]
    oauth = venue.get("oauth")
    if isinstance(oauth, dict):
        oauth = venue["oauth"] = dict(oauth)
        tables.append(("venue.oauth", oauth))
    for path, table in tables:
        for key, (reference, example) in _LITERAL_SECRETS[path].items():
            if key in table:
                del table[key]
                store = (
                    ", or keep it in refresh_token_store (a file of mode 0600)"
                    if reference == "refresh_token_env"
                    else ""
                )
                lines.append(
                    f"{path}.{key}: secrets are not accepted in the config file; put it in an "
                    f"environment variable and name that variable with {path}.{reference} "
                    f'(e.g. {reference} = "{example}"){store}'
                )
    return document, lines


def parse_config(data: Mapping[str, Any], *, source: str = "engine.toml") -> EngineConfig:
    """Structure and validate an already-parsed TOML document.

    Raises:
        ConfigError: one line per problem, each prefixed with ``source``.
    """
    document, secret_lines = _refuse_literal_secrets(data)
    try:
        config = _CONVERTER.structure(document, EngineConfig)
    except Exception as exc:
        lines = [*secret_lines, *config_error_lines(exc)]
        raise ConfigError("\n".join(f"{source}: {line}" for line in lines)) from None
    problems = [*secret_lines, *_cross_check(config)]
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
    connection = config.connection
    if connection.backoff_cap < connection.backoff_initial:
        problems.append(
            "connection.backoff_cap: expected a number >= connection.backoff_initial "
            f"({connection.backoff_initial:g})"
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
