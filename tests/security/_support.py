"""Shared by the security tests: the OAuth set-up against the simulator, and the search for
secrets in what a run produced.

A secret counts as leaked when any ``FRAGMENT``-character slice of it, or the base64 or
URL-encoded form of the whole of it, appears in any text the run produced (log lines,
exception texts, reprs, journal rows, the metrics page, files). The simulator's OAuth server is
wrapped by ``TokenRecorder`` so that every access and refresh token it issues during the run is
known to the test.
"""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
import traceback
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from engine.sim import SimConfig, Simulator
from engine.sim._profile import OAUTH_SCOPE, REFRESH_TOKEN_TTL

CLIENT_ID = "security-suite-client"
USER = SimConfig().default_user_id
"""The simulator's default user, who owns its default accounts."""


def new_client_secret() -> str:
    """A client secret with characters that URL-encoding and base64 would change."""
    return f"cs-{secrets.token_urlsafe(18)}+/={secrets.token_urlsafe(6)}"


def oauth_section(sim_config: SimConfig, **extra: str) -> dict[str, str]:
    """``[venue.oauth]`` for the simulator's client; the secrets are named by variable
    (``SEC_CLIENT_SECRET``, ``SEC_REFRESH_TOKEN``)."""
    return {
        "client_id": sim_config.oauth_client_id,
        "client_secret_env": "SEC_CLIENT_SECRET",
        "refresh_token_env": "SEC_REFRESH_TOKEN",
        **extra,
    }


def write_live_config(
    path: Path, venue: Mapping[str, object], oauth: Mapping[str, object] | None = None
) -> Path:
    """An ``engine.toml`` for a live venue; ``[venue.oauth]`` only if ``oauth`` has keys."""

    def table(name: str, keys: Mapping[str, object]) -> list[str]:
        return [f"[{name}]", *(f"{key} = {json.dumps(value)}" for key, value in keys.items())]

    lines = table("venue", {"kind": "aries", **venue})
    if oauth:
        lines += table("venue.oauth", {"client_id": "the-client", **oauth})
    path.write_text("\n".join([*lines, "", "[[accounts]]", 'id = "ACC-1"', ""]))
    return path


def leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside ``error``'s (nested) groups."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


def exception_text(exc: BaseException) -> str:
    """``str``, ``repr`` and the whole traceback (causes and contexts included)."""
    return f"{exc}\n{exc!r}\n" + "".join(traceback.format_exception(exc))


FRAGMENT = 12
"""Characters of a secret that, found together anywhere, count as a leak."""


def needles(secret: str) -> set[str]:
    """What to look for: every ``FRAGMENT``-character slice of ``secret``, and the whole of it
    base64-encoded (standard and URL-safe, at each of the three byte alignments, so it is found
    inside a longer encoded string such as a Basic ``client_id:secret`` header) or URL-encoded.
    """
    found = {secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)}
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret.encode()).decode()
        core = encoded[4:-4]  # drop the groups that hold the padding bytes or the '='
        found |= {core, core.replace("+", "-").replace("/", "_")}
    found |= {quote(secret, safe=""), quote_plus(secret)}
    return {needle for needle in found if len(needle) >= FRAGMENT}


def find_leaks(secret_values: Mapping[str, str], texts: Mapping[str, str]) -> list[str]:
    """One line per (secret, place) where a needle of the secret shows, naming both.

    The line says where, never what: ``access token 3 in journal table events at 1234``.
    """
    leaks = []
    for label, secret in secret_values.items():
        assert len(secret) >= 2 * FRAGMENT, f"{label} is too short to search for"
        secret_needles = needles(secret)
        for where, text in texts.items():
            hits = [text.find(needle) for needle in secret_needles]
            positions = sorted(i for i in hits if i >= 0)
            if positions:
                leaks.append(f"{label} in {where} at {positions[0]}")
    return leaks


class TokenRecorder:
    """Records every access and refresh token a running simulator issues (its ``users``
    registry's issue methods are wrapped for the length of the test)."""

    def __init__(self, sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
        self.access: list[str] = []
        self.refresh: list[str] = []
        users = sim.users
        issue_access = users.issue_access_token
        issue_refresh = users.issue_refresh_token

        def access(*args: Any, **kwargs: Any) -> Any:
            issued = issue_access(*args, **kwargs)
            self.access.append(issued.token)
            return issued

        def refresh(*args: Any, **kwargs: Any) -> Any:
            grant = issue_refresh(*args, **kwargs)
            self.refresh.append(grant.token)
            return grant

        monkeypatch.setattr(users, "issue_access_token", access)
        monkeypatch.setattr(users, "issue_refresh_token", refresh)
        self._sim = sim

    def seed_refresh_token(self, now: float) -> str:
        """A refresh token of the default user for the simulator's client, as the consent flow
        would have given it to the operator (``now``: trio's clock)."""
        client_id = self._sim.config.oauth_client_id
        grant = self._sim.users.issue_refresh_token(
            USER, client_id, OAUTH_SCOPE, now, REFRESH_TOKEN_TTL
        )
        return grant.token

    def secrets(self) -> dict[str, str]:
        """Every token issued so far, labelled ``access token N`` / ``refresh token N``."""
        labelled = {f"access token {n}": t for n, t in enumerate(self.access, 1)}
        labelled |= {f"refresh token {n}": t for n, t in enumerate(self.refresh, 1)}
        return labelled


def journal_rows(path: Path) -> Iterator[tuple[str, str]]:
    """``(table, repr of the row)`` for every row of every table of the SQLite file at ``path``."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        tables = [
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                yield table, repr(row)


def file_texts(directory: Path, *, skip: Iterable[Path] = ()) -> dict[str, str]:
    """The bytes of every file under ``directory`` (but ``skip``), as text, keyed by name."""
    skipped = {p.resolve() for p in skip}
    return {
        f"file {path.relative_to(directory)}": path.read_bytes().decode("latin-1")
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.resolve() not in skipped
    }
