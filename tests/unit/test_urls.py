"""Venue URLs: TLS unless loopback, with the host parsed rather than matched as text."""

from __future__ import annotations

import pytest

from engine.runtime.urls import url_problem


@pytest.mark.parametrize(
    "url",
    [
        "wss://api.aries.com",
        "wss://api.aries.com:443/v1",
        "ws://127.0.0.1:8080",
        "ws://127.5.6.7",
        "ws://[::1]:9000",
        "ws://localhost",
        "ws://LOCALHOST:1234",
    ],
)
def test_accepted_websocket_urls(url: str) -> None:
    assert url_problem(url, "ws") is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ws://api.aries.com", "ws:// is only allowed for loopback hosts"),
        ("ws://localhost.evil.com", "ws:// is only allowed for loopback hosts"),
        ("ws://127.0.0.1.nip.io", "ws:// is only allowed for loopback hosts"),
        ("ws://localhost:80@evil.example/", "credentials in the URL are not allowed"),
        ("wss://user:pw@api.aries.com", "credentials in the URL are not allowed"),
        ("https://api.aries.com", "expected a wss:// URL, got scheme 'https'"),
        ("api.aries.com", "expected a wss:// URL, got scheme '(none)'"),
        ("ws://", "the URL has no host"),
        ("wss://api.aries.com:99999", "not a valid URL"),
    ],
)
def test_refused_websocket_urls(url: str, problem: str) -> None:
    found = url_problem(url, "ws")
    assert found is not None
    assert found.startswith(problem)


def test_rest_urls_follow_the_same_rule() -> None:
    assert url_problem("https://api.aries.com", "http") is None
    assert url_problem("http://127.0.0.1:5000", "http") is None
    assert url_problem("http://api.aries.com", "http") == (
        "http:// is only allowed for loopback hosts; use https:// for 'api.aries.com'"
    )
