"""docs/config.md documents every key of engine.toml; bad values are one precise line each.

The reference is checked against the attrs classes themselves (``attrs.fields`` of
``EngineConfig``, walked recursively, and the ``Config`` classes of the built-in plugins): a key
added to the code but not to the document, a key documented but gone, a wrong type or default,
or an example that no longer validates, fails here.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import tomllib
import typing
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, Literal, get_args, get_origin

import attrs
import pytest

import plugins
from engine.config import EngineConfig, load_config, parse_config
from engine.errors import ConfigError, PluginError
from engine.hooks.manager import load_plugins

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "config.md"
MINIMAL: dict[str, Any] = {"accounts": [{"id": "SIM-001"}]}


# --- reading docs/config.md ------------------------------------------------------------------


@attrs.frozen
class Row:
    """One documented key: its table row's cells."""

    type: str
    default: str
    allowed: str


@attrs.define
class DocSection:
    """What one heading of the reference documents."""

    rows: dict[str, Row] = attrs.field(factory=dict)
    example: str | None = None


def read_reference() -> tuple[dict[str, DocSection], dict[str, DocSection]]:
    """The documented tables of engine.toml (by key path) and of the built-in plugins (by
    import path)."""
    tables: dict[str, DocSection] = {}
    plugin_tables: dict[str, DocSection] = {}
    current: list[DocSection] = []
    in_example = False
    example: list[str] = []
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        if in_example:
            if line.startswith("```"):
                in_example = False
                for section in current:
                    if section.example is None:
                        section.example = "\n".join(example)
            else:
                example.append(line)
            continue
        heading = re.match(r"#{2,3} (.*)", line)
        if heading:
            text = heading.group(1)
            current = []
            for path in re.findall(r"`(plugins\.\w+:\w+)`", text):
                current.append(plugin_tables.setdefault(path, DocSection()))
            if not current:
                for path in re.findall(r"\[\[?([a-z_.]+)\]\]?", text):
                    current.append(tables.setdefault(path, DocSection()))
        elif line.startswith("```toml"):
            in_example, example = True, []
        elif line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            key = cells[0].strip("`")
            for section in current:
                section.rows[key] = Row(type=cells[1], default=cells[2], allowed=cells[3])
    return tables, plugin_tables


TABLES, PLUGIN_TABLES = read_reference()


# --- walking the attrs classes ---------------------------------------------------------------


def without_none(type_: Any) -> Any:
    """``X`` for ``X | None``."""
    if get_origin(type_) in (UnionType, typing.Union):
        args = [arg for arg in get_args(type_) if arg is not NoneType]
        if len(args) == 1:
            return args[0]
    return type_


def element_type(type_: Any) -> Any:
    """``X`` for ``tuple[X, ...]``, else ``None``."""
    args = get_args(type_)
    if get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def table_class(type_: Any) -> type | None:
    """The attrs class of a sub-table (``X``, ``X | None`` or ``tuple[X, ...]``), if any."""
    type_ = without_none(type_)
    inner = element_type(type_)
    for candidate in (type_, inner):
        if isinstance(candidate, type) and attrs.has(candidate):
            return candidate
    return None


@attrs.frozen
class Key:
    """A leaf key of engine.toml: the table it is in, its name, its type and default."""

    table: str
    name: str
    type: Any
    default: Any


def walk(cls: type, prefix: str = "") -> Iterator[Key]:
    """Every key of ``cls``'s table and its sub-tables (a sub-table key is a ``Key`` too, except
    at the top level, where each is a section of its own)."""
    hints = typing.get_type_hints(cls)
    for field in attrs.fields(cls):
        path = f"{prefix}.{field.name}" if prefix else field.name
        sub = table_class(hints[field.name])
        if sub is not None:
            if prefix:
                yield Key(prefix, field.name, hints[field.name], field.default)
            yield from walk(sub, path)
        else:
            yield Key(prefix, field.name, hints[field.name], field.default)


KEYS = list(walk(EngineConfig))
SECTIONS = sorted({key.table for key in KEYS})


def type_word(type_: Any) -> str:
    """How the reference names a type."""
    type_ = without_none(type_)
    inner = element_type(type_)
    if inner is not None:
        return "array of tables" if attrs.has(inner) else "array of strings"
    if get_origin(type_) is Literal:
        return "string"
    if get_origin(type_) in (Mapping, dict) or (isinstance(type_, type) and attrs.has(type_)):
        return "table"
    words = {bool: "boolean", int: "integer", float: "number", str: "string", Decimal: "decimal"}
    return words[type_]


def toml_literal(value: Any) -> str | None:
    """A default as it is written in TOML, or ``None`` when the reference says it in words."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Decimal):
        return f'"{value}"'
    if isinstance(value, tuple) and all(isinstance(item, str) for item in value):
        return "[" + ", ".join(f'"{item}"' for item in value) + "]"
    if isinstance(value, Mapping) and not value:
        return "{}"
    return None


def default_problem(default_cell: str, default: Any) -> str | None:
    """Why the documented default does not match the attrs default (``None`` if it does)."""
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        default = default.factory()
    if default is attrs.NOTHING:
        return None if default_cell == "required" else "expected 'required'"
    if default is None:
        return None if default_cell.startswith("unset") else "expected 'unset …'"
    literal = toml_literal(default)
    if literal is not None and f"`{literal}`" not in default_cell:
        return f"expected `{literal}`"
    return None


# --- the reference covers every key, and only those ------------------------------------------


def test_every_section_has_a_heading() -> None:
    missing = [table for table in SECTIONS if table not in TABLES]
    assert not missing, f"docs/config.md has no heading for: {missing}"


def test_every_key_is_documented() -> None:
    missing = [
        f"{key.table}.{key.name}"
        for key in KEYS
        if key.name not in TABLES.get(key.table, DocSection()).rows
    ]
    assert not missing, f"keys in engine/config.py missing from docs/config.md: {missing}"


def test_no_documented_key_is_gone() -> None:
    real = {(key.table, key.name) for key in KEYS}
    stale = [
        f"{table}.{name}"
        for table, section in TABLES.items()
        for name in section.rows
        if (table, name) not in real
    ]
    assert not stale, f"docs/config.md documents keys that do not exist: {stale}"


@pytest.mark.parametrize("key", KEYS, ids=lambda key: f"{key.table}.{key.name}")
def test_documented_type_and_default_match_the_code(key: Key) -> None:
    row = TABLES[key.table].rows[key.name]
    assert row.type == type_word(key.type)
    problem = default_problem(row.default, key.default)
    assert problem is None, f"default of {key.table}.{key.name}: {problem}, got {row.default!r}"
    literal_type = without_none(key.type)
    if get_origin(literal_type) is Literal:
        for choice in get_args(literal_type):
            assert f"`{choice}`" in row.allowed


@pytest.mark.parametrize("table", SECTIONS)
def test_each_section_has_an_example_with_every_key_that_validates(table: str) -> None:
    example = TABLES[table].example
    assert example is not None, f"[{table}] has no ```toml example"
    document = tomllib.loads(example)
    node: Any = document
    for part in table.split("."):
        node = node[part]
        if isinstance(node, list):
            node = node[0]
    keys_here = {key.name for key in KEYS if key.table == table}
    # A sub-table key (e.g. venue.oauth) has its own example.
    keys_here -= {key.name for key in KEYS if f"{table}.{key.name}" in SECTIONS}
    assert keys_here <= set(node), f"[{table}] example lacks {sorted(keys_here - set(node))}"
    base: dict[str, Any] = {**MINIMAL, "venue": {"kind": "aries"}}
    parse_config({**base, **document}, source="docs/config.md")


def builtin_plugin_configs() -> dict[str, type]:
    """``"plugins.module:Class"`` → its attrs ``Config`` class, for every built-in plugin."""
    found: dict[str, type] = {}
    for module_info in pkgutil.iter_modules(plugins.__path__):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"plugins.{module_info.name}")
        for name, obj in vars(module).items():
            config = getattr(obj, "Config", None)
            if (
                isinstance(obj, type)
                and obj.__module__ == module.__name__
                and isinstance(config, type)
                and attrs.has(config)
            ):
                found[f"{module.__name__}:{name}"] = config
    return found


PLUGIN_CONFIGS = builtin_plugin_configs()


def test_the_plugin_discovery_finds_the_built_in_plugins() -> None:
    assert "plugins.buying_power:BuyingPowerCheck" in PLUGIN_CONFIGS
    assert len(PLUGIN_CONFIGS) >= 10


@pytest.mark.parametrize("path", sorted(PLUGIN_CONFIGS))
def test_every_built_in_plugin_config_key_is_documented(path: str) -> None:
    assert path in PLUGIN_TABLES, f"docs/config.md has no section for {path}"
    rows = PLUGIN_TABLES[path].rows
    config = PLUGIN_CONFIGS[path]
    hints = typing.get_type_hints(config)
    fields = {field.name: field for field in attrs.fields(config)}
    assert set(rows) == set(fields), f"{path}: documented {sorted(rows)}, real {sorted(fields)}"
    for name, field in fields.items():
        assert rows[name].type == type_word(hints[name]), f"{path} {name}"
        problem = default_problem(rows[name].default, field.default)
        assert problem is None, f"{path} {name}: {problem}, got {rows[name].default!r}"


def test_the_readme_links_the_reference() -> None:
    assert "(docs/config.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


# --- engine.live.toml ------------------------------------------------------------------------


def test_the_live_config_talks_to_the_real_aries_like_engine_toml_guards_it() -> None:
    live = load_config(ROOT / "engine.live.toml")
    assert live.venue.kind == "aries"
    assert (live.venue.rest_base, live.venue.ws_base) == (
        "https://api.aries.com",
        "wss://api.aries.com",
    )
    assert live.venue.oauth is not None
    paper = load_config(ROOT / "engine.toml")
    assert {p.path for p in paper.plugins} <= {p.path for p in live.plugins}
    load_plugins(live, entry_points=False)  # every plugin imports and its config validates


# --- one precise line per bad value ----------------------------------------------------------


def plugin(path: str, **config: Any) -> dict[str, Any]:
    """A document with one ``[[plugins]]`` entry named ``p``."""
    return {**MINIMAL, "plugins": [{"name": "p", "path": path, "config": config}]}


def problems(document: Mapping[str, Any]) -> list[str]:
    """The lines a document's errors print as (engine.toml and plugin config alike)."""
    try:
        load_plugins(parse_config(document), entry_points=False)
    except (ConfigError, PluginError) as exc:
        return str(exc).splitlines()
    return []


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {"engine": {"timer_interval": 0}},
            "engine.toml: engine.timer_interval: expected a number greater than 0",
        ),
        (
            {"engine": {"timer_interval": -1.5}},
            "engine.toml: engine.timer_interval: expected a number greater than 0",
        ),
        (
            {"engine": {"timer_interval": "1s"}},
            "engine.toml: engine.timer_interval: expected a number, got str '1s'",
        ),
        (
            {"engine": {"timer_interval": True}},
            "engine.toml: engine.timer_interval: expected a number, got a boolean",
        ),
        (
            {"engine": {"timer_interval": float("nan")}},
            "engine.toml: engine.timer_interval: expected a finite number, got nan",
        ),
        (
            {"dispatch": {"account_rate": 0}},
            "engine.toml: dispatch.account_rate: expected a number greater than 0",
        ),
        (
            {"dispatch": {"account_rate": "fast"}},
            "engine.toml: dispatch.account_rate: expected a number, got str 'fast'",
        ),
        (
            {"dispatch": {"account_rate": float("inf")}},
            "engine.toml: dispatch.account_rate: expected a finite number, got inf",
        ),
        (
            {"dispatch": {"account_burst": 2.5}},
            "engine.toml: dispatch.account_burst: expected an integer, got float 2.5",
        ),
        (
            {"connection": {"backoff_initial": 10, "backoff_cap": 5}},
            "engine.toml: connection.backoff_cap: expected a number >= "
            "connection.backoff_initial (10)",
        ),
        (
            {"connection": {"backoff_jitter": 1.5}},
            "engine.toml: connection.backoff_jitter: expected a number from 0 to 1",
        ),
        (
            {"market": {"symbols": "AAPL"}},
            "engine.toml: market.symbols: expected an array, got a string",
        ),
        ({"engine": ["info"]}, "engine.toml: engine: expected a table, got an array"),
        (
            {"plugins": {"name": "p", "path": "plugins.margin:MarginCheck"}},
            "engine.toml: plugins: expected an array of tables ([[...]] entries), got a table",
        ),
        (
            {"venue": {"oauth": "client"}},
            "engine.toml: venue.oauth: expected a table, got a string",
        ),
        (
            {"accounts": [{"id": "SIM-001", "pnl_interval": "2m"}]},
            "engine.toml: accounts[0].pnl_interval: expected one of 15s, 1m, 5m, 15m, 1h, 1d, 1mo",
        ),
        (
            {"simulator": {"accounts": [{"account_id": "SIM-001", "account_type": "IRA"}]}},
            "engine.toml: simulator.accounts[0].account_type: expected one of 'MARGIN', 'CASH'",
        ),
        (
            {"plugins": [{"name": "p", "path": "plugins.margin:MarginCheck", "config": [1]}]},
            "engine.toml: plugins[0].config: expected a table, got an array",
        ),
        (
            {"plugins": [{"name": "p", "path": "plugins.margin:MarginCheck", "colour": 1}]},
            "engine.toml: plugins[0]: unknown key(s): colour",
        ),
        (
            plugin("plugins.buying_power:BuyingPowerCheck", headroom="-5"),
            "plugin 'p': config.headroom: expected a number >= 0, got -5",
        ),
        (
            plugin("plugins.buying_power:BuyingPowerCheck", day_trading="yes"),
            "plugin 'p': config.day_trading: expected true or false, got str 'yes'",
        ),
        (
            plugin("plugins.order_rate:OrderRateLimit", max_orders=5, window=float("inf")),
            "plugin 'p': config.window: expected a finite number, got inf",
        ),
        (
            plugin("plugins.limits:PositionLimit", max_position="10", per_symbol={"TSLA": "0"}),
            "plugin 'p': config.per_symbol.TSLA: expected a number greater than 0, got 0",
        ),
        (
            plugin("plugins.limits:PositionLimit", max_position="10", per_symbol="TSLA"),
            "plugin 'p': config.per_symbol: expected a table, got a string",
        ),
        (
            plugin("plugins.price_band:PriceBand", reference="last"),
            "plugin 'p': config.reference: expected one of 'mid', 'touch'",
        ),
    ],
)
def test_each_bad_value_is_one_line_naming_the_key_and_what_is_expected(
    document: dict[str, Any], expected: str
) -> None:
    assert problems({**MINIMAL, **document}) == [expected]


def test_an_unknown_key_in_a_plugin_config_names_the_plugin_and_the_key() -> None:
    [line] = problems(plugin("plugins.margin:MarginCheck", colour="red"))
    assert line.startswith("plugin 'p': config")
    assert line.endswith("unknown key(s): colour")


def test_several_problems_give_one_line_each() -> None:
    lines = problems(
        {
            **MINIMAL,
            "engine": {"timer_interval": -1, "colour": 1},
            "dispatch": {"account_rate": "fast", "burst": 0},
            "market": {"symbols": [1]},
        }
    )
    assert sorted(lines) == sorted(
        [
            "engine.toml: engine: unknown key(s): colour",
            "engine.toml: engine.timer_interval: expected a number greater than 0",
            "engine.toml: dispatch.account_rate: expected a number, got str 'fast'",
            "engine.toml: dispatch.burst: expected a number greater than 0",
            "engine.toml: market.symbols[0]: expected a string, got int 1",
        ]
    )


# --- secrets only by reference ---------------------------------------------------------------

SECRET = "s3cr3t-value-never-echoed"


@pytest.mark.parametrize(
    ("venue", "key", "reference"),
    [
        ({"access_token": SECRET}, "venue.access_token", "venue.access_token_env"),
        ({"token": SECRET}, "venue.token", "venue.access_token_env"),
        (
            {"oauth": {"client_id": "c", "client_secret": SECRET}},
            "venue.oauth.client_secret",
            "venue.oauth.client_secret_env",
        ),
        (
            {"oauth": {"client_id": "c", "refresh_token": SECRET}},
            "venue.oauth.refresh_token",
            "venue.oauth.refresh_token_env",
        ),
    ],
)
def test_a_literal_secret_is_refused_naming_the_key_that_references_it(
    venue: dict[str, Any], key: str, reference: str
) -> None:
    lines = problems({**MINIMAL, "venue": {"kind": "aries", **venue}})
    assert len(lines) == 1
    assert lines[0].startswith(f"engine.toml: {key}: secrets are not accepted in the config file")
    assert reference in lines[0]
    assert SECRET not in lines[0]


@pytest.mark.parametrize(
    "venue",
    [
        {"access_token_env": "eyJhbGciOi.J9" + SECRET},
        {"oauth": {"client_id": "c", "client_secret_env": SECRET}},
        {"oauth": {"client_id": "c", "refresh_token_env": "Bearer " + SECRET}},
    ],
)
def test_an_env_key_holding_a_secret_instead_of_a_name_is_refused_without_echoing_it(
    venue: dict[str, Any],
) -> None:
    [line] = problems({**MINIMAL, "venue": {"kind": "aries", **venue}})
    assert "expected the name of an environment variable" in line
    assert SECRET not in line


def test_no_key_of_engine_toml_takes_a_secret_itself() -> None:
    """Any key whose name says token, secret or password only names a variable (``*_env``)."""
    suspicious = [
        f"{key.table}.{key.name}"
        for key in KEYS
        if re.search(r"token|secret|password|api_key", key.name)
        and not key.name.endswith(("_env", "_store"))
    ]
    assert suspicious == []
