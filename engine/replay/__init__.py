"""``aries-engine replay``: re-run the configured plugins over a recorded journal.

Replay answers one question: *what would the strategies have asked for, given what they saw?*
It is deterministic (same journal, same config, same code: byte-identical output) and sends
nothing anywhere. It is **not** a backtest: no order is simulated or filled.

What is replayed
----------------
* **Inputs.** The journal is read in recording order (its ``seq``). Market data (``Quote``,
  ``Trade``, level 2, greeks, chart quotes and trades) comes from the recorded raw frames of the
  market and charts sockets, decoded and normalized by the engine's own decoder (the live engine
  journals market data only as frames); a journal whose events table holds market data (one
  written directly with ``JournalWriter``) is read from there instead. Every other event a plugin
  can hear (``OrderUpdated``, ``OrderFilled``, ``OrderRejected``, ``PositionChanged``,
  ``BalanceChanged``, ``AccountSynced``, ``TradingStateChanged``, ``ConnectionStateChanged``,
  P&L candles, news, …) comes from the events table, as the live bus published it.
* **Plugins.** The ``[[strategies]]`` (or those named with ``--strategy``) and every
  ``[[plugins]]`` entry of the config, freshly loaded, run under a real ``PluginHost``: its
  routing (a strategy hears only its own orders' events), its fault isolation, its contexts.
  They start, as live, once every configured account present in the journal has had its first
  ``AccountSynced`` (events before that are delivered right after ``aries_engine_started``,
  market data conflated per symbol as the live bus does), and are stopped at the end.
* **Time.** The run is under trio's ``MockClock``; virtual time follows the recorded
  ``ts_recv`` of what is replayed (never going backwards). ``aries_on_timer`` ticks every
  ``engine.timer_interval`` from the start on that timeline, with ``now`` the recorded time; risk
  plugins get it as ``now_ns``; staleness checks compare it with the recorded ``as_of_ns``.
* **Client order ids.** The plugins' contexts use a fixed run tag: by default the live run's,
  read from the journal's recorded orders (a deterministic strategy then gets back its live ids
  and recognises the recorded reports of its orders as its own), else ``replay``; ``--run-tag``
  sets it. Nothing else random or wall-clock enters the output.
* **Commands.** Every ``SubmitOrder``, ``CancelOrder``, ``ReplaceOrder`` and
  ``TradingStateRequested`` a plugin emits is listed, stamped with the virtual time. Orders and
  replaces go through the account gate and the ``RiskGate`` as the account actor would send
  them (``engine.replay.accounts``): against the account view the live engine had at that point
  of the journal (an ``AccountBook`` fed the recorded reports and the intents the live risk
  gate approved), its trading state and the latest replayed quotes.

Limits (by design)
------------------
* The recorded fills, order updates and rejections belong to the recorded orders, not to the
  replayed intents. The strategies hear exactly what the live strategies heard: a replayed order
  the live run never placed gets no update, no fill, no rejection; one it did place (same id,
  thanks to the run tag) gets the live one's. Positions and balances are the recorded ones.
* The replay's own decisions never change the account view; an approved replayed order counts
  against it (in flight, reserved) only until the journal's own record of it, or, if the live
  run never asked for it, until the end of the hook round that asked.
* Market data is recorded at receipt and account facts as they were published, so where a quote
  and an account fact arrived within a millisecond the replay may order them differently from
  what the live strategy heard; market data the live host conflated while busy is delivered
  one by one.
* A journal that holds several runs of the engine is replayed as one session (the plugins start
  once); give each session its own ``[journal] path`` to replay it alone.

The summary (``ReplayResult.summary``) lists the events delivered by type, per plugin its
commands (counts by symbol and side, the first ones as lines, a comparison with the commands
the live run recorded), the verdicts by code and a digest (SHA-256 of the canonical command
list that ``--out FILE.jsonl`` writes) to compare two replays.
"""

from engine.replay.accounts import Outcome as Outcome
from engine.replay.accounts import ReplayAccount as ReplayAccount
from engine.replay.result import CommandRecord as CommandRecord
from engine.replay.result import Comparison as Comparison
from engine.replay.result import ReplayResult as ReplayResult
from engine.replay.runner import DEFAULT_RUN_TAG as DEFAULT_RUN_TAG
from engine.replay.runner import replay_journal as replay_journal
from engine.replay.runner import select_strategies as select_strategies
from engine.replay.timeline import JournalTimeline as JournalTimeline
from engine.replay.timeline import ReplayError as ReplayError

__all__ = [
    "DEFAULT_RUN_TAG",
    "CommandRecord",
    "Comparison",
    "JournalTimeline",
    "Outcome",
    "ReplayAccount",
    "ReplayError",
    "ReplayResult",
    "replay_journal",
    "select_strategies",
]
