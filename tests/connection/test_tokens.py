"""Token sources and the refresh-token store: rotation, atomic 0600 persistence, refusals."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import trio

from engine.aries.rest import TokenGrantError
from engine.connection.tokens import (
    RefreshTokenStore,
    StaticTokenProvider,
    StaticTokenSource,
)
from engine.errors import AuthError, ConfigError
from engine.secrets import Secret
from tests.connection.helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    SEED_REFRESH,
    TokenEndpoint,
    error,
    issue,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_static_provider_and_source() -> None:
    provider = StaticTokenProvider(Secret("static-tok"))
    assert not provider.can_refresh
    assert (await provider.get_token()).reveal() == "static-tok"
    assert (await provider.refresh("refreshAuth")).reveal() == "static-tok"
    source = StaticTokenSource(Secret("static-tok"))
    assert not source.can_refresh
    issued = await source.fetch()
    assert (issued.access_token.reveal(), issued.expires_at) == ("static-tok", None)
    assert "static-tok" not in repr(provider) + repr(source) + repr(issued)


def test_store_saves_0600_and_loads(tmp_path: Path) -> None:
    store = RefreshTokenStore(tmp_path / "refresh")
    assert store.load() is None
    store.save(Secret("r-1"))
    assert (tmp_path / "refresh").read_text() == "r-1\n"
    assert _mode(tmp_path / "refresh") == 0o600
    store.save(Secret("r-2"))
    loaded = store.load()
    assert loaded is not None
    assert loaded.reveal() == "r-2"
    assert _mode(tmp_path / "refresh") == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["refresh"]  # no temp file left


def test_store_refuses_a_file_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "refresh"
    path.write_text("r-1")
    path.chmod(0o644)
    store = RefreshTokenStore(path)
    with pytest.raises(ConfigError, match=r"mode 0644.*chmod 600") as caught:
        store.load()
    assert str(path) in str(caught.value)
    assert "r-1" not in str(caught.value)
    path.chmod(0o640)
    with pytest.raises(ConfigError, match="group or others"):
        store.load()


def test_store_write_failure_leaves_the_old_file_and_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RefreshTokenStore(tmp_path / "refresh")
    store.save(Secret("r-old"))

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        store.save(Secret("r-new"))
    monkeypatch.undo()
    assert (tmp_path / "refresh").read_text() == "r-old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["refresh"]

    def broken_replace(src: str, dst: Path) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="I/O error"):
        store.save(Secret("r-new"))
    assert (tmp_path / "refresh").read_text() == "r-old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["refresh"]


async def test_oauth_source_sends_the_refresh_grant_and_rotates_into_the_store(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    endpoint = TokenEndpoint()
    store = RefreshTokenStore(tmp_path / "refresh")
    source = endpoint.source(store)
    assert source.can_refresh
    first = await source.fetch()
    assert first.access_token.reveal() == "access-1-SECRETACCESS"
    assert first.expires_at == trio.current_time() + 3600
    assert endpoint.bodies[0] == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": SEED_REFRESH,
    }
    assert source.refresh_token.reveal() == "refresh-1-SECRETREFRESH"
    assert (tmp_path / "refresh").read_text() == "refresh-1-SECRETREFRESH\n"
    assert _mode(tmp_path / "refresh") == 0o600
    await source.fetch()
    assert endpoint.bodies[1]["refresh_token"] == "refresh-1-SECRETREFRESH"
    assert (tmp_path / "refresh").read_text() == "refresh-2-SECRETREFRESH\n"
    for secret in ("SECRETACCESS", "SECRETREFRESH", CLIENT_SECRET, SEED_REFRESH):
        assert secret not in repr(source)
        assert secret not in repr(first)


async def test_oauth_source_keeps_the_refresh_token_when_not_rotated(tmp_path: Path) -> None:
    endpoint = TokenEndpoint([lambda n: issue(n, rotate=False)])
    store = RefreshTokenStore(tmp_path / "refresh")
    source = endpoint.source(store)
    await source.fetch()
    await source.fetch()
    assert [b["refresh_token"] for b in endpoint.bodies] == [SEED_REFRESH, SEED_REFRESH]
    assert not (tmp_path / "refresh").exists()


async def test_the_stored_refresh_token_wins_over_the_configured_one(tmp_path: Path) -> None:
    store = RefreshTokenStore(tmp_path / "refresh")
    store.save(Secret("refresh-from-store"))
    endpoint = TokenEndpoint()
    source = endpoint.source(store)
    await source.fetch()
    assert endpoint.bodies[0]["refresh_token"] == "refresh-from-store"


async def test_oauth_source_keeps_going_when_the_store_cannot_be_written(
    tmp_path: Path,
) -> None:
    endpoint = TokenEndpoint()
    source = endpoint.source(RefreshTokenStore(tmp_path / "missing-dir" / "refresh"))
    issued = await source.fetch()
    assert issued.access_token.reveal() == "access-1-SECRETACCESS"
    assert source.refresh_token.reveal() == "refresh-1-SECRETREFRESH"  # kept in memory


async def test_oauth_source_errors_are_actionable(tmp_path: Path) -> None:
    dead = TokenEndpoint(
        [error(400, {"error": "invalid_grant", "error_description": "used " + SEED_REFRESH})]
    )
    source = dead.source(RefreshTokenStore(tmp_path / "refresh"))
    with pytest.raises(TokenGrantError) as grant:
        await source.fetch()
    message = str(grant.value)
    assert "ARIES_REFRESH_TOKEN" in message
    assert "Re-run the OAuth consent" in message
    assert str(tmp_path / "refresh") in message
    assert SEED_REFRESH not in message
    bad_client = TokenEndpoint([error(401, {"error": "invalid_client"})])
    with pytest.raises(AuthError, match="client_id 'client-abc'") as client:
        await bad_client.source().fetch()
    assert CLIENT_SECRET not in str(client.value)
