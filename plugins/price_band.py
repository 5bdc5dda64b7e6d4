"""Risk plugin: a limit price must lie within a band around the latest quote (fat-finger guard).

The band is ``reference ± max(reference × max_deviation_pct / 100, min_band)``, where the
reference is the quote's mid (``reference = "mid"``) or the touch the order would trade against
(``"touch"``: the ask for buys, the bid for sells). Both sides of the band are enforced: a buy
far above the market overpays, a buy far below it is a misplaced decimal that rests in the book.
``min_band`` keeps a sensible width for low-priced symbols, where a percentage is under a tick.

Only ``LIMIT`` orders of equities and single options are checked (an option against its own
quote, by OSI symbol): market and stop orders carry no limit to check, a stop-limit's limit is set
against its stop rather than today's market, and a spread's net price has no quote.

No quote of the symbol (or none with the reference's side): ``no_quote = "reject"`` (the default,
fail closed) refuses the order with ``NO_QUOTE``; ``"allow"`` lets it through. A quote older than
``max_quote_age`` always refuses with ``STALE_QUOTE``. It reads no account state, so it never says
``STALE_STATE``.

Reason codes: ``PRICE_BAND`` (details ``price``, ``reference``, ``reference_kind``,
``deviation_pct``, ``max_deviation_pct``, ``band_low``, ``band_high``), ``NO_QUOTE``,
``STALE_QUOTE``.

Configure it in ``engine.toml``::

    [[plugins]]
    name = "price-band"
    path = "plugins.price_band:PriceBand"
    [plugins.config]
    max_deviation_pct = "5"
    min_band = "0.05"           # dollars
    reference = "mid"           # "mid" | "touch"
    no_quote = "reject"         # "reject" | "allow"
    max_quote_age = 5           # seconds
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

import attrs

from engine import ConfigValueError, hookimpl
from engine.model import OrderIntent, OrderType, Quote, RiskVerdict
from engine.validators import non_negative, positive
from plugins._risk_common import (
    BUY_SIDES,
    DEFAULT_MAX_QUOTE_AGE,
    HUNDRED,
    MULTI_LEG,
    instrument_symbol,
    seconds_to_ns,
    stale_quote,
)

PRICE_BAND = "PRICE_BAND"
NO_QUOTE = "NO_QUOTE"
_CENT = Decimal("0.01")
_LIMIT = OrderType.LIMIT


def _band_pct(_instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not Decimal(0) < value <= HUNDRED:
        raise ConfigValueError(attribute.name, "expected a percentage above 0, at most 100")


@attrs.frozen(kw_only=True)
class PriceBandConfig:
    """``[plugins.config]`` of a ``PriceBand``."""

    max_deviation_pct: Decimal = attrs.field(default=Decimal(5), validator=_band_pct)
    """Half-width of the band, in percent of the reference price."""
    min_band: Decimal = attrs.field(default=Decimal(0), validator=non_negative)
    """Half-width of the band in dollars at least (for low-priced symbols)."""
    reference: Literal["mid", "touch"] = "mid"
    """Centre of the band: the quote's mid, or the touch the order trades against."""
    no_quote: Literal["reject", "allow"] = "reject"
    """What to do without a quote (or without the reference's side): refuse or let through."""
    max_quote_age: float = attrs.field(default=DEFAULT_MAX_QUOTE_AGE, validator=positive)
    """Seconds: an older quote refuses the order with ``STALE_QUOTE``."""


class PriceBand:
    """Vetoes limit orders priced outside ``reference ± max_deviation_pct``."""

    Config = PriceBandConfig

    def __init__(self, config: PriceBandConfig) -> None:
        self.config = config
        self._max_quote_age_ns = seconds_to_ns(config.max_quote_age)
        self._bands: dict[tuple[str, bool], tuple[Quote, Decimal, Decimal, Decimal]] = {}
        """(symbol, buying) → (the quote, reference, band low, band high) last computed."""

    @hookimpl
    def aries_check_order(
        self, intent: OrderIntent, quotes: Mapping[str, Quote], now_ns: int
    ) -> RiskVerdict | None:
        """Reject a limit price outside the band around the latest quote."""
        price = intent.price
        if intent.type is not _LIMIT or price is None or intent.security_type is MULTI_LEG:
            return None
        symbol = instrument_symbol(intent)
        quote = quotes.get(symbol)
        if quote is not None:
            stale = stale_quote(quote, now_ns, self._max_quote_age_ns)
            if stale is not None:
                return stale
        touch = self.config.reference != "mid"
        buying = intent.side in BUY_SIDES
        key = (symbol, touch and buying)
        known = self._bands.get(key)
        if known is not None and known[0] is quote and known[2] <= price <= known[3]:
            return None
        if quote is None:
            reference = None
        elif touch:
            reference = quote.ask if buying else quote.bid
        else:
            reference = quote.mid
        if reference is None:
            if self.config.no_quote == "allow":
                return None
            what = "no quote" if quote is None else f"no {self.config.reference} in the quote"
            return RiskVerdict.reject(
                NO_QUOTE,
                f"cannot check the limit {price} of {symbol}: {what}",
                symbol=symbol,
                price=price,
            )
        pct = self.config.max_deviation_pct
        band = max(reference * pct / HUNDRED, self.config.min_band)
        low, high = reference - band, reference + band
        if quote is not None:
            self._bands[key] = (quote, reference, low, high)
        if low <= price <= high:
            return None
        deviation = (
            ((price - reference) / reference * HUNDRED).quantize(_CENT) if reference else None
        )
        return RiskVerdict.reject(
            PRICE_BAND,
            f"limit {price} of {intent.side} {symbol} is {deviation} % from the "
            f"{self.config.reference} {reference}, outside the band {low} - {high} "
            f"(±{pct} %)",
            price=price,
            reference=reference,
            reference_kind=self.config.reference,
            deviation_pct=deviation,
            max_deviation_pct=pct,
            band_low=low,
            band_high=high,
        )
