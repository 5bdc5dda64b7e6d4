"""Option contracts: OSI symbols, the seeded chain and plausible prices (pure, sync).

OSI symbols follow §4.5's compact form ``AAPL270115C00150000``: root, expiry ``YYMMDD``, ``C`` or
``P``, strike × 1000 on eight digits. The chain of an underlying lists ``OPTION_EXPIRIES``
monthly expiries (third Fridays strictly after the as-of date) and ``2 × OPTION_STRIKES_EACH_SIDE
+ 1`` strikes around the underlying's *start* price, so the chain never shifts during a run.
Prices are Black-Scholes (zero rates, flat ``OPTION_VOLATILITY``) from the underlying's mark; the
quote is that value ± a half spread on the cent grid; ``greeks`` come from the same model.
Every number is INFERRED (``_profile``).
"""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import attrs

from engine.sim._profile import (
    OPTION_EXPIRIES,
    OPTION_HALF_SPREAD_RATIO,
    OPTION_MIN_ASK,
    OPTION_QUOTE_SIZE,
    OPTION_STRIKE_STEP_RATIO,
    OPTION_STRIKE_STEPS,
    OPTION_STRIKES_EACH_SIDE,
    OPTION_VOLATILITY,
    TICK_SIZE,
)
from engine.sim._stream_profile import GREEK_KEYS

_OSI = re.compile(r"^([A-Z]{1,6})(\d{2})(\d{2})(\d{2})([CP])(\d{8})$")
_THOUSAND = Decimal(1000)


@attrs.frozen(kw_only=True)
class OptionContract:
    """One listed option."""

    symbol: str
    underlying: str
    expiry: date
    put_call: str  # "CALL" | "PUT"
    strike: Decimal


@attrs.frozen(kw_only=True)
class OptionQuote:
    """A priced option: theoretical value and the quote around it."""

    contract: OptionContract
    bid: Decimal
    ask: Decimal
    bid_size: int
    ask_size: int
    theoretical: Decimal

    @property
    def mid(self) -> Decimal:
        """Midpoint (the mark of an option position)."""
        return (self.bid + self.ask) / 2


def osi_symbol(underlying: str, expiry: date, put_call: str, strike: Decimal) -> str:
    """``("AAPL", 2027-01-15, "CALL", 150)`` → ``"AAPL270115C00150000"``."""
    millis = int((strike * _THOUSAND).to_integral_value())
    return f"{underlying}{expiry:%y%m%d}{put_call[0]}{millis:08d}"


def parse_osi(symbol: str) -> OptionContract | None:
    """The contract an OSI symbol names, or ``None`` if it is not one."""
    match = _OSI.match(symbol)
    if match is None:
        return None
    root, yy, mm, dd, pc, strike = match.groups()
    try:
        expiry = date(2000 + int(yy), int(mm), int(dd))
    except ValueError:
        return None
    return OptionContract(
        symbol=symbol,
        underlying=root,
        expiry=expiry,
        put_call="CALL" if pc == "C" else "PUT",
        strike=Decimal(int(strike)) / _THOUSAND,
    )


def underlying_of(symbol: str) -> str | None:
    """The underlying of an OSI symbol, else ``None``."""
    contract = parse_osi(symbol)
    return contract.underlying if contract is not None else None


def monthly_expiries(as_of: date, count: int = OPTION_EXPIRIES) -> tuple[date, ...]:
    """The next ``count`` third Fridays strictly after ``as_of``."""
    out: list[date] = []
    year, month = as_of.year, as_of.month
    while len(out) < count:
        first = date(year, month, 1)
        third_friday = first + timedelta(days=(4 - first.weekday()) % 7 + 14)
        if third_friday > as_of:
            out.append(third_friday)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(out)


def strike_step(start_price: Decimal) -> Decimal:
    """The listed strike spacing: the smallest standard step ≥ 2.5 % of the start price."""
    target = start_price * OPTION_STRIKE_STEP_RATIO
    for step in OPTION_STRIKE_STEPS:
        if step >= target:
            return step
    return OPTION_STRIKE_STEPS[-1]


def strikes(start_price: Decimal) -> tuple[Decimal, ...]:
    """Strikes around the at-the-money strike of ``start_price``."""
    step = strike_step(start_price)
    atm = (start_price / step).to_integral_value(rounding=ROUND_HALF_EVEN) * step
    return tuple(
        atm + step * k
        for k in range(-OPTION_STRIKES_EACH_SIDE, OPTION_STRIKES_EACH_SIDE + 1)
        if atm + step * k > 0
    )


def chain(underlying: str, start_price: Decimal, as_of: date) -> tuple[OptionContract, ...]:
    """Every listed contract of ``underlying``: expiries × strikes × (call, put)."""
    return tuple(
        OptionContract(
            symbol=osi_symbol(underlying, expiry, pc, strike),
            underlying=underlying,
            expiry=expiry,
            put_call=pc,
            strike=strike,
        )
        for expiry in monthly_expiries(as_of)
        for strike in strikes(start_price)
        for pc in ("CALL", "PUT")
    )


def _norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _norm_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


@attrs.frozen(kw_only=True)
class _Inputs:
    """Black-Scholes inputs of one contract at one spot (zero rates, flat volatility)."""

    s: float
    k: float
    t: float  # years to expiry; 0 at or after expiry
    d1: float
    d2: float

    @classmethod
    def of(cls, contract: OptionContract, spot: Decimal, as_of: date) -> _Inputs:
        s, k = float(spot), float(contract.strike)
        days = (contract.expiry - as_of).days
        if days <= 0 or s <= 0:
            return cls(s=s, k=k, t=0.0, d1=0.0, d2=0.0)
        t = days / 365.0
        vol_t = OPTION_VOLATILITY * math.sqrt(t)
        d1 = (math.log(s / k) + 0.5 * OPTION_VOLATILITY**2 * t) / vol_t
        return cls(s=s, k=k, t=t, d1=d1, d2=d1 - vol_t)


def theoretical_value(contract: OptionContract, spot: Decimal, as_of: date) -> Decimal:
    """Black-Scholes value (zero rates, flat volatility), on the cent grid."""
    x = _Inputs.of(contract, spot, as_of)
    intrinsic = max(0.0, x.s - x.k) if contract.put_call == "CALL" else max(0.0, x.k - x.s)
    if x.t == 0:
        value = intrinsic
    else:
        call = x.s * _norm_cdf(x.d1) - x.k * _norm_cdf(x.d2)
        value = call if contract.put_call == "CALL" else call - x.s + x.k
        value = max(value, intrinsic)
    return Decimal(repr(round(value, 2))).quantize(TICK_SIZE)


def greeks(contract: OptionContract, spot: Decimal, as_of: date) -> dict[str, str]:
    """``GREEK_KEYS`` of the same model: delta, gamma, theta (per day), vega and rho (per 1 %),
    implied volatility; four-decimal strings. At or after expiry: delta 1/0/-1, the rest 0."""
    x = _Inputs.of(contract, spot, as_of)
    call = contract.put_call == "CALL"
    vol = OPTION_VOLATILITY
    if x.t == 0:
        itm = x.s > x.k if call else x.s < x.k
        delta = (1.0 if call else -1.0) if itm else 0.0
        values = (delta, 0.0, 0.0, 0.0, 0.0, vol)
    else:
        sq = math.sqrt(x.t)
        pdf = _norm_pdf(x.d1)
        gamma = pdf / (x.s * vol * sq)
        vega = x.s * pdf * sq / 100
        theta = -x.s * pdf * vol / (2 * sq) / 365
        if call:
            delta = _norm_cdf(x.d1)
            rho = x.k * x.t * _norm_cdf(x.d2) / 100
        else:
            delta = _norm_cdf(x.d1) - 1
            rho = -x.k * x.t * _norm_cdf(-x.d2) / 100
        values = (delta, gamma, theta, vega, rho, vol)
    return {key: f"{value:.4f}" for key, value in zip(GREEK_KEYS, values, strict=True)}


def quote(contract: OptionContract, spot: Decimal, as_of: date) -> OptionQuote:
    """The option's quote: theoretical ± max(1 tick, 2 %), ask at least ``OPTION_MIN_ASK``."""
    theo = theoretical_value(contract, spot, as_of)
    half = max(TICK_SIZE, (theo * OPTION_HALF_SPREAD_RATIO).quantize(TICK_SIZE))
    bid = max(Decimal(0), theo - half)
    ask = max(OPTION_MIN_ASK, theo + half)
    return OptionQuote(
        contract=contract,
        bid=bid,
        ask=ask,
        bid_size=OPTION_QUOTE_SIZE,
        ask_size=OPTION_QUOTE_SIZE,
        theoretical=theo,
    )
