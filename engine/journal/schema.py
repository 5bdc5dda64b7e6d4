"""The journal's SQLite schema, its migrations, and where the file lives by default.

This docstring is the schema's documentation: keep it in step with ``MIGRATIONS``.

The file
--------
One SQLite database per engine installation (``default_journal_path()``: under
``$XDG_DATA_HOME/aries-engine/``, else ``~/.local/share/aries-engine/journal.sqlite``; never
inside the repository). It holds every frame, order and fill of the accounts, so only its owner
may read it: ``connect`` creates a missing directory 0700 and the file 0600 (SQLite gives the
``-wal`` and ``-shm`` files the database file's mode), and tightens an existing file that group or
others may access to owner-only, with a warning (``journal.permissions_tightened``).

It is opened in WAL mode with ``synchronous=NORMAL``: a committed batch survives a crash of the
process (``kill -9``); a power loss may lose the last batches, never corrupt the file.
``auto_vacuum=INCREMENTAL`` lets retention give pages back to the file system. Foreign keys are
not used: rows are facts recorded as they happened, never updated.

Only the ``JournalWriter`` writes (one connection, batched transactions in a worker thread);
readers (``JournalReader``, ``aries-engine replay``) may read at the same time (WAL).

Conventions for every table
---------------------------
* ``id``: SQLite rowid, per table.
* ``seq``: the recording order across *all* tables, strictly increasing for the life of the file
  (also across restarts). Merging tables by ``seq`` gives the order in which the engine recorded
  the rows, which for bus events is the order in which they were published.
* Timestamps: ``*_ns`` columns are integer nanoseconds since the Unix epoch (UTC); datetimes
  inside JSON payloads are RFC 3339 strings with their offset
  (``2024-05-01T14:30:00.123456+00:00``).
* Money and quantities inside JSON payloads are decimal strings (``"101.25"``), never floats, so
  they read back as the exact ``Decimal``.
* ``payload`` columns hold one object as JSON, unstructured by ``engine.journal.codec`` (attrs
  field names, enums as their values, tuples as arrays); ``kind`` is the object's class name, the
  tag the reader uses to rebuild the exact frozen object. Unknown kinds are skipped on read.

Tables
------
``frames`` — every raw inbound WebSocket frame, recorded by the connection supervisors on
receipt, before decoding (so a frame that failed to decode is still here).

    ``id``, ``seq``; ``ts_recv_ns`` INTEGER (when the frame was received, the ``ts_recv`` of the
    events decoded from it); ``endpoint`` TEXT (``accounts``, ``market`` or ``charts``); ``raw``
    TEXT (the frame as received; several newline-separated messages stay one row).

``events`` — every normalized event published on the bus (venue reports, dispatcher outcomes,
commands, facts for plugins, connection and trading states, market data if subscribed).

    ``id``, ``seq``; ``ts_recv_ns`` INTEGER (the event's ``ts_recv``); ``ts_event`` TEXT NULL
    (the venue's time, RFC 3339, or NULL when the venue sent none); ``kind`` TEXT (class name,
    e.g. ``OrderReported``, ``OrderFilled``); ``account_id`` TEXT NULL (for account events,
    NULL otherwise); ``payload`` TEXT (JSON of the whole event, including ``ts_event`` and
    ``ts_recv``).

``intents`` — every intent a strategy emitted (``OrderIntent``, ``CancelIntent``), recorded
when the strategy context accepts it, before risk.

    ``id``, ``seq``; ``ts_ns`` INTEGER (when recorded); ``kind`` TEXT; ``account_id`` TEXT;
    ``client_order_id`` TEXT; ``strategy`` TEXT; ``payload`` TEXT (JSON of the intent).

``verdicts`` — the risk gate's verdict on each order intent, recorded when it is decided.

    ``id``, ``seq``; ``ts_ns`` INTEGER; ``client_order_id`` TEXT; ``approved`` INTEGER (0/1);
    ``code`` TEXT; ``reason`` TEXT; ``plugin`` TEXT (who decided; empty for the default).

``requests`` — every outbound REST request and its response, recorded by the dispatcher when the
outcome is known (answered, refused, timed out, or unknown).

    ``id``, ``seq``; ``ts_ns`` INTEGER (when the request was sent); ``account_id`` TEXT NULL;
    ``method`` TEXT; ``path`` TEXT; ``body`` TEXT NULL (JSON sent); ``status`` INTEGER NULL
    (HTTP status, NULL when no response arrived); ``response`` TEXT NULL (JSON received, or the
    text of a non-JSON body); ``outcome`` TEXT (``ok``, ``rejected``, ``rate_limited``,
    ``timeout``, ``unknown``, ``error``: the dispatcher's reading of the exchange).

Indexes: ``(account_id, seq)`` and ``(kind)`` on ``events``; ``(account_id, seq)`` and
``(client_order_id)`` on ``intents``; ``(client_order_id)`` on ``verdicts``; and the time column
of every table, for retention.

Retention
---------
``JournalWriter(retention=timedelta(days=7))`` deletes, at start and then once an hour, every row
of every table whose time column (``ts_recv_ns`` / ``ts_ns``) is older than ``now - retention``,
then runs ``PRAGMA incremental_vacuum``. ``retention=None`` keeps everything. Crash recovery reads
what survives, so retention must be longer than any order lives (GTC orders included) — a fill of
an order whose history was pruned is still found by reconciliation, but its strategy is unknown.

Migrations
----------
``PRAGMA user_version`` is the schema version; ``MIGRATIONS[n]`` takes version ``n`` to ``n + 1``.
``migrate()`` applies the missing ones in one transaction each; a file newer than this code is
refused rather than guessed at.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import structlog

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TIME_COLUMNS",
    "SchemaTooNewError",
    "connect",
    "default_journal_path",
    "migrate",
]

log = structlog.get_logger(__name__)

_OWNER_ONLY = 0o600
_PRIVATE_DIRECTORY = 0o700

_V1 = """
CREATE TABLE frames (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    ts_recv_ns INTEGER NOT NULL,
    endpoint TEXT NOT NULL,
    raw TEXT NOT NULL
);
CREATE INDEX frames_ts ON frames (ts_recv_ns);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    ts_recv_ns INTEGER NOT NULL,
    ts_event TEXT,
    kind TEXT NOT NULL,
    account_id TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX events_ts ON events (ts_recv_ns);
CREATE INDEX events_account_seq ON events (account_id, seq);
CREATE INDEX events_kind ON events (kind);

CREATE TABLE intents (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    account_id TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    strategy TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX intents_ts ON intents (ts_ns);
CREATE INDEX intents_account_seq ON intents (account_id, seq);
CREATE INDEX intents_client ON intents (client_order_id);

CREATE TABLE verdicts (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    client_order_id TEXT NOT NULL,
    approved INTEGER NOT NULL,
    code TEXT NOT NULL,
    reason TEXT NOT NULL,
    plugin TEXT NOT NULL
);
CREATE INDEX verdicts_ts ON verdicts (ts_ns);
CREATE INDEX verdicts_client ON verdicts (client_order_id);

CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    account_id TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT,
    status INTEGER,
    response TEXT,
    outcome TEXT NOT NULL
);
CREATE INDEX requests_ts ON requests (ts_ns);
"""

# MIGRATIONS[n] takes the file from user_version n to n + 1. Append, never edit.
MIGRATIONS: tuple[str, ...] = (_V1,)
SCHEMA_VERSION = len(MIGRATIONS)

# The column retention compares with ``now - retention``, per table.
TIME_COLUMNS: dict[str, str] = {
    "frames": "ts_recv_ns",
    "events": "ts_recv_ns",
    "intents": "ts_ns",
    "verdicts": "ts_ns",
    "requests": "ts_ns",
}


class SchemaTooNewError(sqlite3.DatabaseError):
    """Raised by ``migrate`` when the file's ``user_version`` is newer than this code knows."""


def default_journal_path(name: str = "journal.sqlite") -> Path:
    """``$XDG_DATA_HOME/aries-engine/<name>``, else ``~/.local/share/aries-engine/<name>``."""
    base = os.environ.get("XDG_DATA_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "aries-engine" / name


def connect(path: Path, *, create: bool = True) -> sqlite3.Connection:
    """Open the journal at ``path`` in WAL mode, migrated to ``SCHEMA_VERSION``.

    The connection is in autocommit mode (``isolation_level=None``): callers open transactions
    with explicit ``BEGIN``. It may be used from any one thread at a time
    (``check_same_thread=False``), which is how ``trio.to_thread`` workers use it.

    Args:
        path: The database file. When ``create`` is true, a missing directory is created (0700),
            a missing file too (0600), and an existing file that group or others may access is
            tightened to owner-only (see the module docstring).
        create: If false, a missing file is an error instead of a new empty journal.

    Raises:
        sqlite3.Error: The file cannot be opened or is not a journal.
        SchemaTooNewError: The file was written by a newer engine.
        OSError: The directory or the file cannot be created, or made owner-only.
    """
    if create:
        _create_private(path)
        uri = f"file:{path}?mode=rwc"
    else:
        uri = f"file:{path}?mode=rw"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
            # Must precede the first table to take effect.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"{path}: cannot switch to WAL (journal_mode={mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _create_private(path: Path) -> None:
    """Make sure the journal file exists and only its owner can read or write it.

    Created 0600 before SQLite opens it, whatever the umask: SQLite then creates the ``-wal`` and
    ``-shm`` files with the same mode. The file and any ``-wal``/``-shm`` left over from an
    earlier run are tightened to owner-only if group or others have access.
    """
    path.parent.mkdir(mode=_PRIVATE_DIRECTORY, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, _OWNER_ONLY))
    for file in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            file.chmod(mode & stat.S_IRWXU)
            log.warning(
                "journal.permissions_tightened",
                path=str(file),
                was=f"{mode:04o}",
                now=f"{mode & stat.S_IRWXU:04o}",
            )


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the missing ``MIGRATIONS``, each in its own transaction; return the new version."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"journal schema version {version} is newer than this engine's {SCHEMA_VERSION}"
        )
    while version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            version += 1
            conn.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return version
