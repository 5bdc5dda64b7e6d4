"""Every built-in risk plugin together: the documented engine.toml snippets load through the
engine's own loader, and the RiskGate combines their verdicts (first rejection wins)."""

from __future__ import annotations

import importlib
import textwrap
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from engine.config import parse_config
from engine.hooks import RiskGate
from engine.hooks.manager import load_plugins
from engine.model import AccountInfo, AccountView, OrderIntent, Side
from tests.plugins._risk import (
    ACCOUNT,
    NOW,
    SECOND,
    balance,
    intent,
    order,
    quote,
    quotes,
    view,
)

ROOT = Path(__file__).resolve().parents[2]
MODULES = (
    "plugins.buying_power",
    "plugins.margin",
    "plugins.limits",
    "plugins.order_rate",
    "plugins.price_band",
    "plugins.daily_loss",
    "plugins.account_rules",
    "plugins.pattern_day_trader",
)


def snippet(module: ModuleType) -> list[dict[str, Any]]:
    """The ``[[plugins]]`` entries of the engine.toml snippet in a module's docstring."""
    doc = module.__doc__ or ""
    _, marker, block = doc.partition("engine.toml``::\n")
    assert marker, f"{module.__name__} documents no engine.toml snippet"
    entries = tomllib.loads(textwrap.dedent(block))["plugins"]
    assert isinstance(entries, list)
    return entries


def all_plugins() -> list[dict[str, Any]]:
    return [entry for name in MODULES for entry in snippet(importlib.import_module(name))]


@pytest.mark.parametrize("name", MODULES)
def test_each_module_documents_a_snippet_that_loads(name: str) -> None:
    entries = snippet(importlib.import_module(name))
    config = parse_config({"accounts": [{"id": ACCOUNT}], "plugins": entries}, source="doc")
    _pm, loaded = load_plugins(config, entry_points=False)
    assert [p.name for p in loaded] == [e["name"] for e in entries]


def test_engine_toml_still_loads_the_buying_power_plugin_with_headroom() -> None:
    data = tomllib.loads((ROOT / "engine.toml").read_text(encoding="utf-8"))
    config = parse_config(data, source="engine.toml")
    _pm, loaded = load_plugins(config, entry_points=False)
    [bp] = [p for p in loaded if p.name == "buying-power"]
    assert type(bp.obj).__name__ == "BuyingPowerCheck"


def full_gate() -> RiskGate:
    config = parse_config({"accounts": [{"id": ACCOUNT}], "plugins": all_plugins()}, source="test")
    pm, loaded = load_plugins(config, entry_points=False)
    book = quotes(quote("AAPL", "99.95", "100.05"), quote("MSFT", "399.9", "400.1"))
    return RiskGate(pm, loaded, quotes=book, clock=lambda: NOW)


def healthy(**more: Any) -> AccountView:
    fields: dict[str, Any] = {
        "bal": balance(
            stock_buying_power="100000",
            option_buying_power="50000",
            total_equity="100000",
            maint_req="10000",
        ),
        "positions": {"AAPL": "100"},
        "info": AccountInfo(account_id=ACCOUNT, account_type="MARGIN", options_level="LEVEL_2"),
    }
    fields.update(more)
    return view(**fields)


def test_a_sane_order_passes_every_plugin() -> None:
    verdict = full_gate()(intent(qty="10", price="100"), healthy())
    assert verdict.approved, verdict


@pytest.mark.parametrize(
    ("order_intent", "account", "code", "plugin"),
    [
        (
            intent(qty="10", price="100"),
            healthy(as_of_ns=NOW - 70 * SECOND),
            "STALE_STATE",
            "pattern-day-trader",  # pluggy asks the plugin registered last first
        ),
        (
            intent(qty="20", price="100"),
            healthy(bal=balance(stock_buying_power="1999", total_equity="100000")),
            "INSUFFICIENT_BUYING_POWER",
            "buying-power",
        ),
        (intent(qty="10", price="120"), healthy(), "PRICE_BAND", "price-band"),
        (intent(qty="1001", price="100"), healthy(), "MAX_ORDER_QTY", "order-size"),
        (
            intent(qty="10", price="100"),
            healthy(open_orders=tuple(order(cl_ord_id=f"X-{n}", price="99") for n in range(50))),
            "MAX_OPEN_ORDERS",
            "open-orders",
        ),
        (
            intent(side=Side.SELL_SHORT, qty="10", price="100"),
            healthy(info=AccountInfo(account_id=ACCOUNT, account_type="CASH")),
            "SHORT_SALE_NOT_ALLOWED",
            "account-rules",
        ),
        (
            intent(qty="10", price="100"),
            healthy(bal=balance(stock_buying_power="1e6", realized_pl="-6000")),
            "DAILY_LOSS_LIMIT",
            "daily-loss",
        ),
    ],
)
def test_the_first_objection_decides_and_names_its_plugin(
    order_intent: OrderIntent, account: AccountView, code: str, plugin: str
) -> None:
    verdict = full_gate()(order_intent, account)
    assert (verdict.approved, verdict.code, verdict.plugin) == (False, code, plugin)
    assert verdict.reason
    assert verdict.details


def test_the_second_of_two_racing_orders_is_refused_by_the_gate() -> None:
    risk = full_gate()
    first = intent(qty="400", price="100", client_order_id="c-1")
    second = intent(qty="400", price="100", client_order_id="c-2")
    assert risk(
        first, healthy(bal=balance(stock_buying_power="60000", total_equity="1e6"))
    ).approved
    after = healthy(
        bal=balance(stock_buying_power="60000", total_equity="1e6"),
        in_flight=(first,),
        reserved="40000",
    )
    verdict = risk(second, after)
    assert (verdict.code, verdict.plugin) == ("INSUFFICIENT_BUYING_POWER", "buying-power")
    assert dict(verdict.details)["available"] == "20000"
