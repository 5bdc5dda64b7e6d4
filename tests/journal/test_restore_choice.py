"""Which runs restore from the journal: never one against the built-in simulator."""

from __future__ import annotations

from pathlib import Path

import trio

from engine.app import _read_restore_set, journal_path
from engine.config import parse_config
from engine.journal import JournalWriter
from engine.model import RiskVerdict
from tests.conftest import make_intent
from tests.journal.conftest import wait_written


async def write_one_intent(path: Path) -> None:
    writer = JournalWriter(path)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        writer.record_intent(make_intent(client_order_id="c-1", account_id="SIM-001"))
        writer.record_verdict("c-1", RiskVerdict.approve())
        await wait_written(writer, 2)
        nursery.cancel_scope.cancel()


def config(kind: str, path: Path) -> object:
    venue = {"kind": kind}
    if kind == "aries":
        venue |= {"rest_base": "http://127.0.0.1:9", "ws_base": "ws://127.0.0.1:9"}
    return parse_config(
        {"accounts": [{"id": "SIM-001"}], "venue": venue, "journal": {"path": str(path)}},
        source="test",
    )


async def test_a_run_against_the_simulator_does_not_restore_an_earlier_runs_orders(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite"
    await write_one_intent(path)
    live = await _read_restore_set(config("aries", path), ["SIM-001"])  # type: ignore[arg-type]
    paper = await _read_restore_set(config("simulator", path), ["SIM-001"])  # type: ignore[arg-type]
    assert [i.client_order_id for i in live["SIM-001"].intents] == ["c-1"]
    assert paper == {}


def test_simulator_sessions_default_to_their_own_journal_file() -> None:
    sim = parse_config({"accounts": [{"id": "SIM-001"}]}, source="test")
    live = parse_config(
        {
            "accounts": [{"id": "A"}],
            "venue": {
                "kind": "aries",
                "rest_base": "https://a.example",
                "ws_base": "wss://a.example",
            },
        },
        source="test",
    )
    assert journal_path(sim).name == "simulator-journal.sqlite"
    assert journal_path(live).name == "journal.sqlite"
    assert journal_path(sim).parent == journal_path(live).parent
