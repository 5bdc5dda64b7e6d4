"""Replaying the journal of a real session: the engine against its simulator, touch quoter on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from engine.config import EngineConfig
from engine.journal import JournalReader
from engine.model import OrderIntent, Side, SubmitOrder
from engine.replay import CommandRecord, ReplayError, replay_journal, select_strategies
from tests.replay.conftest import TOUCH_QUOTER, replay_config

Session = tuple[Path, EngineConfig]


def _submitted(records: Sequence[CommandRecord]) -> list[OrderIntent]:
    return [r.command.intent for r in records if isinstance(r.command, SubmitOrder)]


def test_two_replays_of_one_journal_print_and_write_the_same(recorded_session: Session) -> None:
    journal, config = recorded_session
    first = replay_journal(journal, config, entry_points=False)
    second = replay_journal(journal, config, entry_points=False)
    assert first.summary() == second.summary()
    assert first.jsonl() == second.jsonl()
    assert first.digest == second.digest
    assert len(first.commands) == 4
    assert first.digest in first.summary()


def test_the_replayed_orders_are_those_the_live_strategy_sent(recorded_session: Session) -> None:
    journal, config = recorded_session
    result = replay_journal(journal, config, entry_points=False)
    with JournalReader(journal) as reader:
        live = [
            intent
            for intent in reader.intents()
            if isinstance(intent, OrderIntent) and intent.strategy == "touch-quoter"
        ]
    replayed = _submitted(result.commands)

    def terms(i: OrderIntent) -> tuple[object, ...]:
        return (i.client_order_id, i.symbol, i.side, i.qty, i.price, i.reference_price)

    # The live run tag is reused, so even the ids are the live ones; the strategy joins the bid,
    # and sells back what the recorded fills of its own orders gave it.
    assert [terms(i) for i in replayed] == [terms(i) for i in live]
    assert [i.side for i in replayed[:2]] == [Side.BUY, Side.SELL]
    assert result.comparisons["touch-quoter"].first_difference is None
    assert all(r.outcome is not None and r.outcome.approved for r in result.commands)
    assert result.market_source == "frames"
    assert result.delivered["Quote"] > 0
    assert result.delivered["OrderFilled"] >= 3
    assert result.decode_errors == 0


def test_with_another_run_tag_the_strategy_does_not_know_its_live_orders(
    recorded_session: Session,
) -> None:
    journal, config = recorded_session
    result = replay_journal(journal, config, entry_points=False, run_tag="other")
    [intent] = _submitted(result.commands)  # it waits for its first order's end, forever
    assert "-other-1" in intent.client_order_id
    comparison = result.comparisons["touch-quoter"]
    assert (comparison.first_difference, comparison.recorded_count) == (2, 4)
    assert "differs from the live run at #2" in result.summary()


def test_strategies_can_be_picked_by_name() -> None:
    config = replay_config([TOUCH_QUOTER, {**TOUCH_QUOTER, "name": "other"}])
    assert [s.name for s in select_strategies(config, ["other"]).strategies] == ["other"]
    assert select_strategies(config, None) is config
    with pytest.raises(ReplayError, match="--strategy nope: not in the config's"):
        select_strategies(config, ["nope"])
