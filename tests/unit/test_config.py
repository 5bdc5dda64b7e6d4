"""engine.toml loading: the shipped file is valid, and every bad input is one precise line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from engine.config import EngineConfig, load_config, parse_config
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
    store.chmod(0o600)
    config = _store_config(store)
    monkeypatch.setenv("ARIES_CLIENT_SECRET", "s")
    monkeypatch.delenv("ARIES_REFRESH_TOKEN", raising=False)
    assert config.oauth_secrets()[1] is None  # the store provides it
    config.check_credentials()


@pytest.mark.parametrize(
    ("content", "mode", "problem"),
    [
        ("rt-stored-SECRETSTORED", 0o640, r"accessible by group or others \(mode 0640\)"),
        ("rt-stored-SECRETSTORED", 0o604, r"accessible by group or others \(mode 0604\)"),
        ("\n", 0o600, r"is empty"),
    ],
    ids=["group", "others", "empty"],
)
@pytest.mark.parametrize("refresh_token_set", [False, True], ids=["store only", "variable too"])
def test_an_existing_store_the_engine_would_refuse_fails_the_credential_check(
    content: str,
    mode: int,
    problem: str,
    refresh_token_set: bool,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    store = tmp_path / "refresh-token"
    store.write_text(content)
    store.chmod(mode)
    monkeypatch.setenv("ARIES_CLIENT_SECRET", "s")
    if refresh_token_set:  # the store would still win over the variable: refused all the same
        monkeypatch.setenv("ARIES_REFRESH_TOKEN", "rt-from-the-environment")
    else:
        monkeypatch.delenv("ARIES_REFRESH_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=rf"^venue\.oauth\.refresh_token_store: .*{problem}") as e:
        _store_config(store).check_credentials()
    assert str(store) in str(e.value)
    assert "SECRETSTORED" not in str(e.value)


def _store_config(store: Path) -> EngineConfig:
    return parse_config(
        {
            **MINIMAL,
            "venue": {
                "kind": "aries",
                "oauth": {"client_id": "cid", "refresh_token_store": str(store)},
            },
        }
    )


@pytest.mark.parametrize(
    "name",
    ["ARIES_ACCESS_TOKEN", "ARIES_ACCESS_TOKEN_2", "aries_token", "MY_APP_2024_ARIES_PROD_TOKEN",
     "AriesToken", "ACCOUNT_7_REFRESH_TOKEN_V2_PRODUCTION_ENVIRONMENT_SECONDARY", "_PRIVATE"],
)  # fmt: skip
def test_variable_names_stay_accepted(name: str) -> None:
    config = parse_config({**MINIMAL, "venue": {"kind": "aries", "access_token_env": name}})
    assert config.venue.access_token_env == name


@pytest.mark.parametrize(
    "value",
    [
        "a8Fq2LmZ7xKp4TnB9vRc3WdY6hJs1GeU",  # base62
        "deadbeef0123456789abcdef01234567",  # hex starting with a letter
        "JBSWY3DPEHPK3PXPJBSWY3DP",  # base32
        "Zx9_Qw8Er7Ty6Ui5Op4As3Df",  # base64url that happens to have no '-'
        "A" * 65,  # longer than any variable name
    ],
    ids=["base62", "hex", "base32", "base64url", "very long"],
)
@pytest.mark.parametrize(
    ("table", "key"),
    [("venue", "access_token_env"), ("oauth", "client_secret_env"), ("oauth", "refresh_token_env")],
)
def test_a_secret_shaped_env_value_is_refused_without_echoing_it(
    value: str, table: str, key: str
) -> None:
    venue: dict[str, object] = {"kind": "aries"}
    if table == "venue":
        venue[key] = value
        path = f"venue.{key}"
    else:
        venue["oauth"] = {"client_id": "cid", key: value}
        path = f"venue.oauth.{key}"
    with pytest.raises(ConfigError) as refused:
        parse_config({**MINIMAL, "venue": venue})
    message = str(refused.value)
    assert f"{path}: expected the name of an environment variable" in message
    assert "looks like a secret" in message
    assert value not in message
    assert value[:12] not in message


@pytest.mark.parametrize("value", [738492017364529174, 2.5, True, ["X"]])
def test_a_non_string_env_value_is_not_echoed(value: object) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({**MINIMAL, "venue": {"kind": "aries", "access_token_env": value}})
    message = str(refused.value)
    assert "venue.access_token_env: expected the name of an environment variable (a string)" in (
        message
    )
    assert str(value) not in message


def test_the_log_processor_bounds_long_values() -> None:
    from engine.logging import MAX_VALUE_CHARS, bound_values

    huge = "A" * 1_000_000
    event = bound_values(None, "warning", {"event": "x", "account": huge, "count": 3})
    assert len(event["account"]) < MAX_VALUE_CHARS + 30
    assert event["account"].endswith("(1,000,000 chars)")
    assert event["count"] == 3
    assert bound_values(None, "info", {"event": "x", "s": "short"})["s"] == "short"


def test_the_log_processor_blanks_secret_keys() -> None:
    from engine.logging import redact_secrets

    event = {"event": "x", "token": "abc", "client_secret": "def", "symbol": "AAPL"}
    assert redact_secrets(None, "info", dict(event)) == {
        "event": "x",
        "token": "***",
        "client_secret": "***",
        "symbol": "AAPL",
    }
