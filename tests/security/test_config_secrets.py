"""The config file never holds a secret (docs/config.md, "Secrets"): a key that would hold one
is refused naming the key to use instead, a ``*_env`` key must name a variable, the refresh-token
store must be private, and no value is ever echoed back (by ``load_config``, ``check`` or
``run``)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import trio

from engine.config import load_config
from engine.errors import ConfigError
from engine.sim import SimConfig
from tests.integration.conftest import engine_config, running_engine
from tests.security._support import exception_text, leaves, oauth_section, write_live_config
from tests.security.conftest import CommandLine

LITERAL_SECRET_KEYS = [
    ("venue", key, "access_token_env")
    for key in ("access_token", "token", "api_key", "secret", "password")
] + [
    ("venue.oauth", "client_secret", "client_secret_env"),
    ("venue.oauth", "refresh_token", "refresh_token_env"),
    ("venue.oauth", "access_token", "refresh_token_env"),
    ("venue.oauth", "password", "client_secret_env"),
]
ENV_KEYS = [
    ("venue", "access_token_env"),
    ("venue.oauth", "client_secret_env"),
    ("venue.oauth", "refresh_token_env"),
]


@pytest.mark.parametrize(("table", "key", "instead"), LITERAL_SECRET_KEYS)
def test_a_secret_written_in_the_file_is_refused_without_echoing_it(
    table: str, key: str, instead: str, tmp_path: Path, cli: CommandLine
) -> None:
    value = f"literal-{secrets.token_urlsafe(16)}"
    keys: dict[str, object] = {key: value}
    path = write_live_config(
        tmp_path / "engine.toml",
        keys if table == "venue" else {},
        keys if table == "venue.oauth" else {},
    )
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    message = str(refused.value)
    assert f"{table}.{key}: secrets are not accepted in the config file" in message
    assert f"{table}.{instead}" in message  # which key names the variable instead
    check_status, check_output = cli("check", str(path))
    run_status, run_output = cli("run", str(path))
    assert (check_status, run_status) == (2, 2)
    for text in (message, check_output, run_output):
        assert value not in text
        assert value[8:20] not in text


@pytest.mark.parametrize(("table", "key"), ENV_KEYS)
@pytest.mark.parametrize(
    "value",
    ["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz", "sim-at-Zx9_Qw8-Er7",
     "abc/def+ghi=jkl", "0123456789abcdef0123"],
    ids=["jwt", "token with dashes", "base64", "hex starting with a digit"],
)  # fmt: skip
def test_a_secret_in_a_variable_name_key_is_refused_without_echoing_it(
    table: str, key: str, value: str, tmp_path: Path, cli: CommandLine
) -> None:
    keys: dict[str, object] = {key: value}
    path = write_live_config(
        tmp_path / "engine.toml",
        keys if table == "venue" else {},
        keys if table == "venue.oauth" else {},
    )
    with pytest.raises(ConfigError, match=rf"{table}\.{key}: expected the name of an environment"):
        load_config(path)
    status, output = cli("check", str(path))
    assert status == 2
    assert value not in output


@pytest.mark.parametrize(
    "value",
    ["a8Fq2LmZ7xKp4TnB9vRc3WdY6hJs1GeU", 738492017364529174],
    ids=["alphanumeric", "number"],
)
def test_a_secret_shaped_like_a_variable_name_is_never_echoed(
    value: str | int, tmp_path: Path, cli: CommandLine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(str(value), raising=False)
    path = write_live_config(tmp_path / "engine.toml", {"access_token_env": value}, {})
    texts = []
    try:
        config = load_config(path)
    except ConfigError as refused:  # refused outright: fine, if it is not echoed
        texts.append(str(refused))
    else:
        texts.append(config.credential_description())
        with pytest.raises(ConfigError) as missing:
            config.check_credentials()
        texts.append(str(missing.value))
    texts.append(cli("check", str(path))[1])
    assert [text for text in texts if str(value) in text] == []


@pytest.fixture
def unsafe_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A refresh-token store that group and others can read (0644), and the token in it; the
    client secret is set, the refresh-token variable is not (the store stands in for it)."""
    stored = f"rt-{secrets.token_urlsafe(24)}"
    store = tmp_path / "refresh-token"
    store.write_text(stored + "\n")
    store.chmod(0o644)
    monkeypatch.setenv("SEC_CLIENT_SECRET", f"cs-{secrets.token_urlsafe(24)}")
    monkeypatch.delenv("SEC_REFRESH_TOKEN", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # no journal outside tmp_path
    return store, stored


NOWHERE = {"rest_base": "http://127.0.0.1:9", "ws_base": "ws://127.0.0.1:9"}
"""A venue that is never reached: the store is refused before anything connects."""


async def test_a_refresh_token_store_others_can_read_is_refused_by_the_engine(
    unsafe_store: tuple[Path, str],
) -> None:
    store, stored = unsafe_store
    oauth = oauth_section(SimConfig(), refresh_token_store=str(store))
    config = engine_config(venue={"kind": "aries", **NOWHERE, "oauth": oauth})
    with (
        trio.fail_after(10),
        pytest.RaisesGroup(
            pytest.RaisesExc(
                ConfigError, match=r"accessible by group or others \(mode 0644\).*chmod 600"
            ),
            flatten_subgroups=True,
        ) as refused,
    ):
        async with running_engine(config):
            pass
    [error] = leaves(refused.value)
    assert str(store) in str(error)
    assert stored not in exception_text(refused.value)


def test_run_and_check_refuse_an_unsafe_store_alike(
    unsafe_store: tuple[Path, str], tmp_path: Path, cli: CommandLine
) -> None:
    store, stored = unsafe_store
    oauth = {k: v for k, v in oauth_section(SimConfig()).items() if k != "client_id"}
    path = write_live_config(
        tmp_path / "engine.toml", NOWHERE, {**oauth, "refresh_token_store": str(store)}
    )
    check_status, check_output = cli("check", str(path))
    run_status, run_output = cli("run", str(path))
    assert "chmod 600" in check_output
    assert "chmod 600" in run_output
    assert stored not in check_output + run_output
    assert (check_status, run_status) == (2, 2)
