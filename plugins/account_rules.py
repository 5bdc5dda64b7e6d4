"""Risk plugin: what the account's type and options level allow.

Account type (``AccountInfo.account_type``, ARIES.md account enums):

* ``MARGIN`` may sell short and sell options uncovered (if its options level allows);
* ``CASH``, ``IRA``, ``ROTH_IRA``, ``RETIREMENT`` may not: a ``SELL_SHORT``, or a ``SELL`` of more
  than is held (after the other working sells of that symbol), is ``SHORT_SALE_NOT_ALLOWED``; a
  naked option sale is ``NAKED_OPTION_NOT_ALLOWED``.

Options level (``AccountInfo.options_level``), for orders that open an option position (closing
one is always allowed, at any level):

=========  ==================================================================
``LEVEL_0``  no options
``LEVEL_1``  covered calls, cash-secured puts
``LEVEL_2``  + long calls and puts (buying to open)
``LEVEL_3``  + spreads (``MULTI_LEG`` orders)
``LEVEL_4``  + naked selling (and spreads selling more contracts than they buy)
=========  ==================================================================

A call sale is *covered* when the underlying shares held, less the shares already promised
(working sells of the stock, calls held short, working call sales on that underlying), are at
least 100 per contract; a put sale is *cash-secured* when strike × 100 per contract is at most
``optionBuyingPower − reserved_buying_power``. A sale that is neither, or whose put/call or strike
cannot be told, is naked (fail closed). A spread opening more sold than bought contracts (by leg
ratio) is naked for its excess.

Unknown account type, or (for an option order) unknown options level: ``ACCOUNT_INFO_UNKNOWN``
(fail closed: the account's record has not arrived, or carries a value this plugin does not know).

Reason codes: ``SHORT_SALE_NOT_ALLOWED`` (details ``account_type``, ``position``,
``working_sells``, ``qty``), ``NAKED_OPTION_NOT_ALLOWED`` (``account_type``, ``qty``: the
uncovered contracts, ``strategy``),
``OPTIONS_LEVEL`` (``options_level``, ``required_level``, ``strategy``),
``ACCOUNT_INFO_UNKNOWN`` (``account_type``, ``options_level``), ``STALE_STATE``.

Configure it in ``engine.toml``::

    [[plugins]]
    name = "account-rules"
    path = "plugins.account_rules:AccountRules"
    [plugins.config]
    max_state_age = 65          # seconds
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from engine import hookimpl
from engine.model import AccountView, Order, OrderIntent, RiskVerdict, SecurityType, Side
from engine.validators import positive
from plugins._risk_common import (
    DEFAULT_MAX_STATE_AGE,
    EQUITY,
    MARGIN_ACCOUNT_TYPES,
    NON_MARGIN_ACCOUNT_TYPES,
    OPTION_MULTIPLIER,
    ZERO,
    closing_qty,
    leg_opens,
    only_reduces,
    open_qty,
    option_terms,
    parse_osi,
    seconds_to_ns,
    stale_state,
    working_orders,
)

SHORT_SALE_NOT_ALLOWED = "SHORT_SALE_NOT_ALLOWED"
NAKED_OPTION_NOT_ALLOWED = "NAKED_OPTION_NOT_ALLOWED"
OPTIONS_LEVEL = "OPTIONS_LEVEL"
ACCOUNT_INFO_UNKNOWN = "ACCOUNT_INFO_UNKNOWN"

OPTIONS_LEVELS = ("LEVEL_0", "LEVEL_1", "LEVEL_2", "LEVEL_3", "LEVEL_4")
KNOWN_ACCOUNT_TYPES = MARGIN_ACCOUNT_TYPES | NON_MARGIN_ACCOUNT_TYPES
COVERED, LONG, SPREADS, NAKED = 1, 2, 3, 4


@attrs.frozen(kw_only=True)
class AccountRulesConfig:
    """``[plugins.config]`` of an ``AccountRules``."""

    max_state_age: float = attrs.field(default=DEFAULT_MAX_STATE_AGE, validator=positive)
    """Seconds: an older account picture rejects with ``STALE_STATE``."""


@attrs.frozen
class _OptionNeed:
    """What an opening option order needs: a level, and whether it sells uncovered."""

    level: int
    strategy: str
    naked_qty: Decimal = ZERO


class AccountRules:
    """Vetoes short sales and naked options outside margin accounts, and option strategies
    above the account's options level."""

    Config = AccountRulesConfig

    def __init__(self, config: AccountRulesConfig) -> None:
        self.config = config
        self._max_state_age_ns = seconds_to_ns(config.max_state_age)

    @hookimpl
    def aries_check_order(
        self, intent: OrderIntent, account: AccountView, now_ns: int
    ) -> RiskVerdict | None:
        """Reject what the account type or options level does not allow."""
        stale = stale_state(account, now_ns, self._max_state_age_ns)
        if stale is not None:
            return stale
        info = account.info
        account_type = None if info is None else info.account_type
        options_level = None if info is None else info.options_level
        if account_type not in KNOWN_ACCOUNT_TYPES:
            return _unknown(account, "account type", account_type, options_level)
        margin = account_type in MARGIN_ACCOUNT_TYPES
        if intent.security_type is EQUITY:
            return None if margin else _short_sale(intent, account, account_type)
        if options_level not in OPTIONS_LEVELS:
            return _unknown(account, "options level", account_type, options_level)
        if only_reduces(account, intent):
            return None
        need = _option_need(intent, account)
        if need.naked_qty > 0 and not margin:
            return RiskVerdict.reject(
                NAKED_OPTION_NOT_ALLOWED,
                f"{intent.side} {intent.qty} {intent.symbol} is {need.strategy}: it would sell "
                f"{need.naked_qty} options uncovered, not allowed in a {account_type} account",
                account_type=account_type,
                qty=need.naked_qty,
                strategy=need.strategy,
            )
        level = OPTIONS_LEVELS.index(options_level)
        if level < need.level:
            required = OPTIONS_LEVELS[need.level]
            return RiskVerdict.reject(
                OPTIONS_LEVEL,
                f"{need.strategy} ({intent.side} {intent.qty} {intent.symbol}) needs options "
                f"level {required}; the account has {options_level}",
                options_level=options_level,
                required_level=required,
                strategy=need.strategy,
            )
        return None


def _unknown(
    account: AccountView, what: str, account_type: str | None, options_level: str | None
) -> RiskVerdict:
    value = account_type if what == "account type" else options_level
    known = "not known yet" if value is None else f"{value!r}, not one this plugin knows"
    return RiskVerdict.reject(
        ACCOUNT_INFO_UNKNOWN,
        f"the {what} of account {account.account_id} is {known} (account type "
        f"{account_type}, options level {options_level})",
        account_type=account_type,
        options_level=options_level,
    )


def _short_sale(intent: OrderIntent, account: AccountView, account_type: str) -> RiskVerdict | None:
    if intent.side.is_buy:
        return None
    qty = open_qty(intent)
    closing = closing_qty(account, intent)
    if intent.side is not Side.SELL_SHORT and closing >= qty:
        return None
    held = account.position_quantity(intent.symbol)
    working_sells = sum(
        (
            q
            for symbol, side, q, _type in working_orders(account, excluding=intent.replaces)
            if symbol == intent.symbol and not side.is_buy
        ),
        start=ZERO,
    )
    return RiskVerdict.reject(
        SHORT_SALE_NOT_ALLOWED,
        f"{intent.side} {qty} {intent.symbol} would sell {qty - closing} short (held {held}, "
        f"working sells {working_sells}); short sales are not allowed in a {account_type} "
        "account",
        account_type=account_type,
        position=held,
        working_sells=working_sells,
        qty=qty,
    )


def _option_need(intent: OrderIntent, account: AccountView) -> _OptionNeed:
    if intent.security_type is SecurityType.MULTI_LEG:
        bought = sum(
            (
                leg.ratio_qty
                for leg in intent.legs
                if leg_opens(leg.position_effect) and leg.side.is_buy
            ),
            start=ZERO,
        )
        sold = sum(
            (
                leg.ratio_qty
                for leg in intent.legs
                if leg_opens(leg.position_effect) and not leg.side.is_buy
            ),
            start=ZERO,
        )
        naked = max(sold - bought, ZERO) * intent.qty
        return _OptionNeed(NAKED if naked > 0 else SPREADS, "a spread", naked)
    opening = open_qty(intent) - closing_qty(account, intent)
    if intent.side.is_buy:
        return _OptionNeed(LONG, "buying options to open")
    terms = option_terms(intent)
    if terms is not None and terms.put_call == "CALL":
        free = _free_shares(account, terms.underlying, excluding=intent.replaces)
        if free >= opening * OPTION_MULTIPLIER:
            return _OptionNeed(COVERED, "a covered call")
        return _OptionNeed(NAKED, "a naked call", opening)
    if terms is not None and terms.put_call == "PUT" and terms.strike is not None:
        balance = account.balance
        cash = (
            ZERO if balance is None else balance.option_buying_power - account.reserved_buying_power
        )
        if terms.strike * OPTION_MULTIPLIER * opening <= cash:
            return _OptionNeed(COVERED, "a cash-secured put")
        return _OptionNeed(NAKED, "a naked put", opening)
    return _OptionNeed(NAKED, "an option sale (put/call or strike unknown)", opening)


def _free_shares(account: AccountView, underlying: str, *, excluding: Order | None) -> Decimal:
    """Shares of ``underlying`` held, less those promised: working sells of the stock, calls
    held short and working call sales on it (100 shares per contract). ``excluding``: the order
    a replace amends."""
    free = account.position_quantity(underlying)
    for position in account.positions.values():
        terms = parse_osi(position.symbol)
        if terms is not None and terms.underlying == underlying and terms.put_call == "CALL":
            free += min(position.quantity, ZERO) * OPTION_MULTIPLIER
    skip = None if excluding is None else excluding.cl_ord_id
    working: list[tuple[Order | OrderIntent, Decimal]] = [
        (o, o.leaves_qty) for o in account.open_orders.values() if o.cl_ord_id != skip
    ]
    working += [(i, i.qty) for i in account.in_flight.values()]
    for order, qty in working:
        if order.side.is_buy:
            continue
        if order.security_type is SecurityType.EQUITY and order.symbol == underlying:
            free -= qty
        terms = option_terms(order)
        if terms is not None and terms.underlying == underlying and terms.put_call == "CALL":
            free -= qty * OPTION_MULTIPLIER
    return free
