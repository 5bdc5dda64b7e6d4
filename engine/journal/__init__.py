"""The journal: a SQLite (WAL) record of frames, events, intents, verdicts and REST exchanges.

``JournalWriter`` is the actor that records (cheaply, from the trio thread) and writes (in
batches, in a worker thread); ``JournalReader`` reads it back for ``replay`` and crash recovery
(``restore``). The schema and its retention rule are documented in ``engine.journal.schema``.
"""

from engine.journal.codec import JournalCodec as JournalCodec
from engine.journal.codec import JournalGap as JournalGap
from engine.journal.codec import make_journal_converter as make_journal_converter
from engine.journal.reader import REPLAY_KINDS as REPLAY_KINDS
from engine.journal.reader import JournalFrame as JournalFrame
from engine.journal.reader import JournalGapError as JournalGapError
from engine.journal.reader import JournalReader as JournalReader
from engine.journal.reader import JournalRequest as JournalRequest
from engine.journal.reader import JournalVerdict as JournalVerdict
from engine.journal.reader import RestoredAccount as RestoredAccount
from engine.journal.schema import SCHEMA_VERSION as SCHEMA_VERSION
from engine.journal.schema import default_journal_path as default_journal_path
from engine.journal.writer import JournalError as JournalError
from engine.journal.writer import JournalStatistics as JournalStatistics
from engine.journal.writer import JournalWriter as JournalWriter

__all__ = [
    "REPLAY_KINDS",
    "SCHEMA_VERSION",
    "JournalCodec",
    "JournalError",
    "JournalFrame",
    "JournalGap",
    "JournalGapError",
    "JournalReader",
    "JournalRequest",
    "JournalStatistics",
    "JournalVerdict",
    "JournalWriter",
    "RestoredAccount",
    "default_journal_path",
    "make_journal_converter",
]
