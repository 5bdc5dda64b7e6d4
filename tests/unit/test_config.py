"""engine.toml loading: the shipped file is valid, and every bad input is one precise line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from engine.config import load_config, parse_config
from engine.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = {"accounts": [{"id": "SIM-001"}]}


def test_shipped_engine_toml_is_valid() -> None:
    config = load_config(ROOT / "engine.toml")
    assert config.venue.kind == "simulator"
    assert [a.id for a in config.accounts] == ["SIM-001"]
    assert config.strategies[0].path == "strategies.touch_quoter:TouchQuoter"
    assert config.simulator.accounts[0].cash == Decimal("100000")


def test_defaults_follow_the_brief() -> None:
    config = parse_config(MINIMAL)
    assert config.connection.ping_interval == 30
    assert config.connection.auth_timeout == 5.0
    assert (config.connection.backoff_initial, config.connection.backoff_cap) == (1.0, 60.0)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"engine": {"colour": "red"}}, "engine: unknown key(s): colour"),
        (
            {"connection": {"ping_interval": 10}},
            "connection.ping_interval: expected a number from 30 to 60",
        ),
        (
            {"connection": {"ping_interval": "30"}},
            "connection.ping_interval: expected a number, got str '30'",
        ),
        ({"market": {"enabled": "yes"}}, "market.enabled: expected true or false, got str 'yes'"),
        ({"venue": {"kind": "live"}}, "venue.kind: expected one of 'simulator', 'aries'"),
        (
            {"engine": {"log_level": "loud"}},
            "engine.log_level: expected one of debug, info, warning, error",
        ),
        ({"market": {"symbols": ["AAPL", 3]}}, "market.symbols[1]: expected a string, got int 3"),
        (
            {"simulator": {"accounts": [{"account_id": "SIM-001", "cash": "NaN"}]}},
            "simulator.accounts[0].cash: expected a finite decimal number",
        ),
        (
            {"strategies": [{"name": "s", "path": "not a path"}]},
            "strategies[0].path: expected an import path like 'package.module:Class'",
        ),
        (
            {"strategies": [{"name": "s", "path": "a.b:C", "account": "NOPE"}]},
            "strategies[0].account: 'NOPE' is not one of the configured accounts (SIM-001)",
        ),
    ],
)
def test_bad_values_name_the_key(document: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({**MINIMAL, **document})
    assert str(caught.value) == f"engine.toml: {expected}"


def test_missing_accounts_is_an_error() -> None:
    with pytest.raises(ConfigError, match="accounts: expected at least one"):
        parse_config({})


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="file not found"):
        load_config(missing)


def test_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[engine\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_live_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config({**MINIMAL, "venue": {"kind": "aries", "access_token_env": "T_ENV"}})
    monkeypatch.delenv("T_ENV", raising=False)
    with pytest.raises(ConfigError, match="T_ENV is not set"):
        config.access_token()
    monkeypatch.setenv("T_ENV", "very-secret-token")
    token = config.access_token()
    assert token.reveal() == "very-secret-token"
    assert "very-secret-token" not in repr(token)
    assert "very-secret-token" not in str(token)


def test_plain_websocket_to_a_remote_host_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({**MINIMAL, "venue": {"ws_base": "ws://localhost.evil.com"}})
    assert str(caught.value) == (
        "engine.toml: venue.ws_base: ws:// is only allowed for loopback hosts; "
        "use wss:// for 'localhost.evil.com'"
    )


def test_oauth_needs_its_client_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config({**MINIMAL, "venue": {"kind": "aries", "oauth": {"client_id": "cid"}}})
    monkeypatch.delenv("ARIES_CLIENT_SECRET", raising=False)
    with pytest.raises(ConfigError, match="ARIES_CLIENT_SECRET is not set"):
        config.check_credentials()
    monkeypatch.setenv("ARIES_CLIENT_SECRET", "shh-client-secret")
    monkeypatch.delenv("ARIES_REFRESH_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="ARIES_REFRESH_TOKEN is not set"):
        config.check_credentials()
    monkeypatch.setenv("ARIES_REFRESH_TOKEN", "rt-secret")
    config.check_credentials()
    client_secret, refresh = config.oauth_secrets()
    assert client_secret.reveal() == "shh-client-secret"
    assert refresh is not None
    assert refresh.reveal() == "rt-secret"


def test_an_existing_refresh_token_store_stands_in_for_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = tmp_path / "refresh-token"
    store.write_text("rotated")
    config = parse_config(
        {
            **MINIMAL,
            "venue": {
                "kind": "aries",
                "oauth": {"client_id": "cid", "refresh_token_store": str(store)},
            },
        }
    )
    monkeypatch.setenv("ARIES_CLIENT_SECRET", "s")
    monkeypatch.delenv("ARIES_REFRESH_TOKEN", raising=False)
    assert config.oauth_secrets()[1] is None  # the store provides it


def test_the_log_processor_blanks_secret_keys() -> None:
    from engine.logging import redact_secrets

    event = {"event": "x", "token": "abc", "client_secret": "def", "symbol": "AAPL"}
    assert redact_secrets(None, "info", dict(event)) == {
        "event": "x",
        "token": "***",
        "client_secret": "***",
        "symbol": "AAPL",
    }
