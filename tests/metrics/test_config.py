"""``[metrics]`` in engine.toml."""

from __future__ import annotations

from typing import Any

import pytest

from engine.config import MetricsSection, parse_config
from engine.errors import ConfigError

BASE: dict[str, Any] = {"accounts": [{"id": "SIM-001"}]}


def test_defaults_serve_on_loopback_on_a_port_the_os_picks() -> None:
    config = parse_config(BASE)
    assert config.metrics == MetricsSection(enabled=True, host="127.0.0.1", port=0)


def test_a_fixed_port_and_host_can_be_set_or_the_endpoint_turned_off() -> None:
    config = parse_config({**BASE, "metrics": {"host": "0.0.0.0", "port": 9464}})
    assert (config.metrics.host, config.metrics.port) == ("0.0.0.0", 9464)
    assert not parse_config({**BASE, "metrics": {"enabled": False}}).metrics.enabled


@pytest.mark.parametrize(
    ("metrics", "line"),
    [
        ({"port": 70000}, "metrics.port: expected a number from 0 to 65535"),
        ({"port": -1}, "metrics.port: expected a number from 0 to 65535"),
        ({"port": "9464"}, "metrics.port: expected an integer"),
        ({"host": " "}, "metrics.host: expected an address to listen on"),
        ({"enabled": "yes"}, "metrics.enabled: expected true or false"),
        ({"path": "/m"}, "metrics: unknown key(s): path"),
    ],
)
def test_bad_values_give_one_line_naming_the_key(metrics: dict[str, Any], line: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({**BASE, "metrics": metrics}, source="engine.toml")
    [message] = str(raised.value).splitlines()
    assert message.startswith(f"engine.toml: {line}")
