"""The wire converter: scalar rules, round trips of the wire models, precise error paths."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import cattrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from engine.aries import (
    WireAccountInfo,
    WireBalance,
    WireLeg,
    WireOrderV1,
    WireOrderV2,
    WirePosition,
    WireQuote,
    WireTrade,
    make_converter,
)
from engine.aries.converter import (
    WireError,
    default_converter,
    loads,
    structure,
    structure_datetime,
    structure_decimal,
)
from engine.aries.wire import wire_keys
from engine.model import OrderStatus, SecurityType, Side

from .samples import (
    ACCOUNT_INFO,
    BALANCE_DATA,
    ORDER_MULTI_LEG_DATA,
    ORDER_STOCK_DATA,
    ORDER_V1,
    POSITION,
    QUOTE,
    SNAPSHOT_POSITION,
    TRADE,
    Json,
)

ROUND_TRIP_CASES: list[tuple[type, Json]] = [
    (WireOrderV2, ORDER_STOCK_DATA),
    (WireOrderV2, ORDER_MULTI_LEG_DATA),
    (WireOrderV1, ORDER_V1),
    (WirePosition, POSITION["payload"]["data"]),
    (WirePosition, SNAPSHOT_POSITION),
    (WireBalance, BALANCE_DATA),
    (WireAccountInfo, ACCOUNT_INFO["payload"]["data"]),
    (WireQuote, QUOTE["payload"]["data"]),
    (WireTrade, TRADE["payload"]["data"]),
    (WireLeg, ORDER_MULTI_LEG_DATA["legs"][0]),
]


ROUND_TRIP_IDS = [f"{cls.__name__}-{index}" for index, (cls, _) in enumerate(ROUND_TRIP_CASES)]


@pytest.mark.parametrize(("cls", "data"), ROUND_TRIP_CASES, ids=ROUND_TRIP_IDS)
def test_wire_model_round_trip(converter: cattrs.Converter, cls: type[Any], data: Json) -> None:
    """wire JSON → model → unstructure → JSON text → model: nothing is lost or changed."""
    model: Any = structure(converter, data, cls, path="")
    unstructured = converter.unstructure(model)
    assert structure(converter, loads(json.dumps(unstructured)), cls, path="") == model


def test_unstructure_writes_wire_keys_and_omits_unset(converter: cattrs.Converter) -> None:
    model = structure(converter, BALANCE_DATA, WireBalance, path="")
    unstructured = converter.unstructure(model)
    assert unstructured == BALANCE_DATA
    order = converter.unstructure(structure(converter, ORDER_STOCK_DATA, WireOrderV2, path=""))
    assert "stopPrice" not in order  # "" on the wire is "unset"
    assert order["ordStatus"] == "PARTIALLY_FILLED"
    assert order["createdAt"] == "2026-01-15T14:30:00+00:00"


def test_wire_keys_of_irregular_fields() -> None:
    assert wire_keys(WireBalance)["sma"] == "SMA"
    assert wire_keys(WireBalance)["unrealized_pl"] == "unRealizedPL"
    assert wire_keys(WireBalance)["day_trade_overnight_reg_t_buying_power"] == (
        "dayTradeOvernightRegTBuyingPower"
    )
    assert wire_keys(WirePosition)["today_realized_pnl"] == "todayRealizedPnL"
    assert wire_keys(WireOrderV2)["cl_ord_id"] == "clOrdId"


def test_converters_are_private_instances() -> None:
    first, second = make_converter(), make_converter()
    assert first is not second
    assert default_converter() is default_converter()
    assert first is not cattrs.global_converter


def test_error_path_names_wire_keys_and_counts_the_rest(converter: cattrs.Converter) -> None:
    data = dict(BALANCE_DATA, unRealizedPL="x", SMA="NaN")
    with pytest.raises(WireError) as info:
        structure(converter, data, WireBalance, path="payload.data")
    assert info.value.field == "payload.data.unRealizedPL"
    assert info.value.problem == "not a decimal: 'x' (and 1 more)"


def test_error_path_inside_lists(converter: cattrs.Converter) -> None:
    legs = [dict(ORDER_MULTI_LEG_DATA["legs"][0]), {"side": "BUY", "ratioQty": "?"}]
    data = dict(ORDER_MULTI_LEG_DATA, legs=legs)
    with pytest.raises(WireError) as info:
        structure(converter, data, WireOrderV2, path="payload.data")
    assert info.value.field == "payload.data.legs.1.ratioQty"


@pytest.mark.parametrize("data", [[], "x", None, 5])
def test_non_object_is_rejected(converter: cattrs.Converter, data: object) -> None:
    with pytest.raises(WireError) as info:
        structure(converter, data, WirePosition, path="payload.data")
    assert info.value.field == "payload.data"
    assert "expected an object" in info.value.problem


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("symbol", None),
        ("symbol", 1.5),
        ("symbol", ["AAPL"]),
        ("quantity", {"value": 1}),
        ("quantity", False),
        ("securityType", "FUTURE"),
        ("securityType", 3),
    ],
)
def test_strict_scalars(converter: cattrs.Converter, field: str, value: object) -> None:
    """No silent ``str(None)``/``str(1.5)``, booleans are not numbers, enums are closed."""
    data = dict(SNAPSHOT_POSITION, **{field: value})
    data.pop("instrument")
    with pytest.raises(WireError) as info:
        structure(converter, data, WirePosition, path="")
    assert info.value.field == field


def test_integer_ids_are_accepted_as_strings(converter: cattrs.Converter) -> None:
    order = structure(converter, dict(ORDER_STOCK_DATA, ordId=1234), WireOrderV2, path="")
    assert order.ord_id == "1234"


def test_enum_matching_is_case_insensitive(converter: cattrs.Converter) -> None:
    order = structure(
        converter, dict(ORDER_STOCK_DATA, side="buy", ordStatus="filled"), WireOrderV2, path=""
    )
    assert (order.side, order.ord_status) == (Side.BUY, OrderStatus.FILLED)


def test_blank_optional_enum_is_none(converter: cattrs.Converter) -> None:
    order = structure(converter, dict(ORDER_STOCK_DATA, securityType=""), WireOrderV2, path="")
    assert order.security_type is None
    leg = structure(converter, {"side": "B", "securityType": "OPT"}, WireLeg, path="")
    assert (leg.side, leg.security_type) == (Side.BUY, SecurityType.OPTION)


# --- scalars --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-15T14:30:00Z", datetime(2026, 1, 15, 14, 30, tzinfo=UTC)),
        ("2026-01-15T09:45:01.123-05:00", datetime(2026, 1, 15, 14, 45, 1, 123000, tzinfo=UTC)),
        ("2026-01-15 14:30:00+00:00", datetime(2026, 1, 15, 14, 30, tzinfo=UTC)),
        (1768487100000, datetime(2026, 1, 15, 14, 25, tzinfo=UTC)),
        (1768487100123, datetime(2026, 1, 15, 14, 25, 0, 123000, tzinfo=UTC)),
        (Decimal("1768487100123.5"), datetime(2026, 1, 15, 14, 25, 0, 123500, tzinfo=UTC)),
        ("1768487100000", datetime(2026, 1, 15, 14, 25, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=timezone(timedelta(hours=1))),
         datetime(2026, 1, 14, 23, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_timestamps_parse_to_aware_utc(value: object, expected: datetime) -> None:
    parsed = structure_datetime(value)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-15T14:30:00",
        "2026-01-15",
        datetime(2026, 1, 15),
        "not a time",
        "2" * 100,
        float("nan"),
        float("inf"),
        -1,
        10**20,
        None,
        [],
    ],
)
def test_bad_timestamps(value: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        structure_datetime(value)


def test_dates(converter: cattrs.Converter) -> None:
    leg = structure(converter, {"side": "BUY", "maturity": "2027-01-15"}, WireLeg, path="")
    assert leg.maturity == date(2027, 1, 15)
    blank = structure(converter, {"side": "BUY", "maturity": ""}, WireLeg, path="")
    assert blank.maturity is None


@pytest.mark.parametrize(
    "value",
    ["NaN", "-nan", "Infinity", "inf", "sNaN", "1e400", "1e16", "1e-19", "1" * 41, "", " 1",
     "1.2.3", "0x1F", float("nan"), float("inf"), 10**16, True, None, [1], {"v": 1}],
)  # fmt: skip
def test_bad_decimals(value: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        structure_decimal(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.1, "0.1"),
        (1e-05, "0.00001"),
        ("9999999999999999", "9999999999999999"),
        ("0E-50", "0E-50"),
        (Decimal("175.50"), "175.50"),
        (-3, "-3"),
    ],
)
def test_good_decimals(value: Any, expected: str) -> None:
    assert structure_decimal(value) == Decimal(expected)


@given(
    st.decimals(
        min_value=Decimal("-1e15"),
        max_value=Decimal("1e15"),
        allow_nan=False,
        allow_infinity=False,
        places=8,
    )
)
def test_decimal_strings_are_exact(value: Decimal) -> None:
    text = format(value, "f")
    parsed = structure_decimal(text)
    assert parsed == value
    assert str(parsed) == str(Decimal(text))


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15))
def test_json_numbers_keep_their_written_digits(value: float) -> None:
    assume(value == 0 or abs(value) >= 1e-18)
    written = repr(value)
    parsed = structure_decimal(loads(written))
    assert parsed == Decimal(written)
    assert structure_decimal(value) == Decimal(written)  # a Python float goes through str()


def test_parsed_strings_are_cached_and_bad_ones_never_are() -> None:
    first = structure_decimal("175.50")
    assert structure_decimal("175.50") is first  # the feed's repeated prices cost a lookup
    assert str(structure_decimal("175.5")) == "175.5"  # a different spelling keeps its digits
    stamp = structure_datetime("2026-01-15T14:30:00.123+00:00")
    assert structure_datetime("2026-01-15T14:30:00.123+00:00") is stamp
    assert structure_datetime(1_768_487_400_000) is structure_datetime(1_768_487_400_000)
    for _ in range(2):  # a refused value is refused every time, not remembered as valid
        with pytest.raises(ValueError, match="finite"):
            structure_decimal("NaN")
        with pytest.raises(ValueError, match="without UTC offset"):
            structure_datetime("2026-01-15T14:30:00")
    with pytest.raises(TypeError):
        structure_datetime(True)  # not confused with the cached epoch-ms integer 1
    structure_datetime(1)
    with pytest.raises(TypeError):
        structure_datetime(True)
