"""The store's schema: ordered migrations, recorded in the database, applied when it is opened.

A gdlab database is an SQLite file whose ``application_id`` is ``APPLICATION_ID``
and whose ``user_version`` is the last migration applied; the table
``schema_migrations`` lists every migration with the time it ran. Migrations are
never edited once released: a change is a new migration at the end.

Sweeps (``sweeps``, and ``sweep_runs`` linking a sweep's positions to its member
runs, which are rows of ``runs`` of kind ``sweep``) record ``gd.sweep`` and
``gdlab compare``. A learning-rate finder is a run of kind ``lr_finder`` with
its curves (``lr_finder_curves``), its suggestions by rule and the validated
answer (``lr_finder_suggestions``) and its validation sweep (``lr_finder_validation``).
"""

from __future__ import annotations

import datetime
import os
import sqlite3
import time
from pathlib import Path
from typing import NamedTuple

APPLICATION_ID = 0x67646C62  # "gdlb"
BUSY_TIMEOUT_MS = 60_000
SQLITE_HEADER = b"SQLite format 3\x00"


class StoreError(ValueError):
    """A database that cannot be used as asked: not ours, from the future, corrupted, no such run."""


class Migration(NamedTuple):
    """One schema step: its version, what it does, and its statements (run in one transaction)."""

    version: int
    name: str
    statements: tuple[str, ...]


V1 = (
    """CREATE TABLE schema_migrations (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        applied_at TEXT NOT NULL
    )""",
    """CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL DEFAULT 'fit',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        config TEXT NOT NULL,
        model TEXT NOT NULL,
        dataset TEXT NOT NULL,
        dataset_fingerprint TEXT NOT NULL,
        seed INTEGER NOT NULL,
        epochs INTEGER NOT NULL,
        epochs_run INTEGER NOT NULL DEFAULT 0,
        steps_run INTEGER NOT NULL DEFAULT 0,
        checkpoint_every INTEGER NOT NULL,
        gdlab_version TEXT NOT NULL,
        jax_version TEXT NOT NULL,
        device TEXT NOT NULL,
        pid INTEGER,
        host TEXT,
        process_start TEXT
    )""",
    "CREATE INDEX runs_by_time ON runs (created_at)",
    # value has no type affinity: a REAL column would store -0.0 as 0; NaN is stored as NULL.
    # Rows keep their insertion order (rowid): metric names read back in the order fit gave them.
    """CREATE TABLE metrics (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL CHECK (epoch >= 1),
        name TEXT NOT NULL,
        value,
        PRIMARY KEY (run_id, epoch, name)
    )""",
    """CREATE TABLE checkpoints (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL CHECK (epoch >= 1),
        created_at TEXT NOT NULL,
        initial_loss,
        best_epoch INTEGER,
        structure TEXT NOT NULL,
        blob BLOB NOT NULL,
        sha256 TEXT NOT NULL,
        PRIMARY KEY (run_id, epoch)
    )""",
)

V2 = (
    "ALTER TABLE runs ADD COLUMN resumed INTEGER NOT NULL DEFAULT 0",
    """CREATE TABLE sweeps (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('sweep', 'compare')),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        config TEXT NOT NULL
    )""",
    """CREATE TABLE sweep_runs (
        sweep_id TEXT NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
        position INTEGER NOT NULL CHECK (position >= 0),
        run_id TEXT NOT NULL UNIQUE REFERENCES runs (id) ON DELETE CASCADE,
        PRIMARY KEY (sweep_id, position)
    )""",
)

V3 = (
    "ALTER TABLE runs ADD COLUMN initial_loss",  # the train loss before training; NULL: not known
    "ALTER TABLE sweeps ADD COLUMN results TEXT NOT NULL DEFAULT '{}'",  # JSON: seconds per batch size, ...
    "ALTER TABLE sweeps ADD COLUMN pid INTEGER",  # the recording process, as for runs
    "ALTER TABLE sweeps ADD COLUMN host TEXT",
    "ALTER TABLE sweeps ADD COLUMN process_start TEXT",
    """CREATE TABLE lr_finder_curves (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seed INTEGER NOT NULL,
        step INTEGER NOT NULL CHECK (step >= 0),
        learning_rate REAL NOT NULL,
        loss,
        raw_loss,
        PRIMARY KEY (run_id, seed, step)
    )""",
    # rule: one of the finder's rules, or 'validated' (low, high: its interval; else the spread over seeds)
    """CREATE TABLE lr_finder_suggestions (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        rule TEXT NOT NULL,
        value,
        low,
        high,
        per_seed TEXT NOT NULL,
        PRIMARY KEY (run_id, rule)
    )""",
    """CREATE TABLE lr_finder_validation (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        learning_rate REAL NOT NULL,
        mean,
        std,
        PRIMARY KEY (run_id, learning_rate)
    )""",
)

V5 = (
    # early_stopping(restore_best=True): the epoch whose params the run returned (0: the initial params); NULL: none
    "ALTER TABLE runs ADD COLUMN best_epoch INTEGER",
)

MIGRATIONS = (
    Migration(1, "runs, per-epoch metrics and checkpoints", V1),
    Migration(2, "runs.resumed; sweeps and their member runs (sweep_runs)", V2),
    Migration(3, "runs.initial_loss, sweeps.results; learning-rate finder curves and suggestions", V3),
    # no table changes: new checkpoints are raw arrays (store/checkpoints.py), which an older gdlab cannot read
    Migration(4, "checkpoint blobs as raw arrays, each array's dtype and shape in the structure", ()),
    Migration(5, "runs.best_epoch", V5),
)
CURRENT_VERSION = MIGRATIONS[-1].version


def connect(path: Path, *, create: bool = True, read_only: bool = False) -> sqlite3.Connection:
    """Open (or create) the gdlab database at path and bring its schema up to date.

    Nothing is written to a file that is not a gdlab database or whose schema
    is newer than this gdlab's. read_only opens an existing database to read
    only (a file this user cannot write): it must be of this gdlab's schema version.
    """
    _check_path(path, create and not read_only, writable=not read_only)
    try:
        conn = _open_read_only(path) if read_only else sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except sqlite3.Error as err:
        raise StoreError(f"db {str(path)!r} cannot be opened ({err}).") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _check_ours(conn, path, create=create and not read_only)
        if read_only:
            _check_current(conn, path)
        else:
            _use_wal(conn)
            conn.execute("PRAGMA synchronous = FULL")  # a committed epoch survives power loss
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, path)
    except sqlite3.DatabaseError as err:
        conn.close()
        if disk_full(err):  # a new database's tables did not fit: the file is fine, the disk is not
            raise
        raise StoreError(f"db {str(path)!r} is not a usable gdlab database ({err}).") from None
    except BaseException:
        conn.close()
        raise
    return conn


def disk_full(err: BaseException) -> bool:
    """SQLite's SQLITE_FULL: a write found no room ('database or disk is full')."""
    if not isinstance(err, sqlite3.Error):
        return False
    return getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "database or disk is full" in str(err)


def _open_read_only(path: Path) -> sqlite3.Connection:
    """A connection that only reads the database at path.

    A WAL database needs its -shm file, which SQLite cannot make in a folder this user cannot write (an
    archive, another user's): with no -wal file beside it no process has it open and the file holds every
    commit, so it is read as immutable (no -shm, no locks).
    """
    uri, in_use = f"{path.resolve().as_uri()}?mode=ro", Path(f"{path}-wal").exists()
    conn = sqlite3.connect(uri, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, uri=True)
    try:
        conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.OperationalError as err:
        conn.close()
        if err.sqlite_errorcode != sqlite3.SQLITE_CANTOPEN or in_use:
            raise
        conn = sqlite3.connect(f"{uri}&immutable=1", isolation_level=None, uri=True)
    return conn


def _check_current(conn: sqlite3.Connection, path: Path) -> None:
    """A database opened to read only must not need migrating (which writes)."""
    version = _version(conn)
    if version < CURRENT_VERSION:
        raise StoreError(f"db {str(path)!r} has schema version {version}; this gdlab reads version "
                         f"{CURRENT_VERSION} after migrating it, which needs the file writable once.")


def migrate(conn: sqlite3.Connection, path: Path, up_to: int = CURRENT_VERSION) -> int:
    """Apply the migrations after the database's version, up to ``up_to``, in one transaction."""
    if _version(conn) >= up_to:
        return _version(conn)
    conn.execute("BEGIN IMMEDIATE")  # another process may be migrating: wait, then look again
    try:
        version = _version(conn)
        _refuse_future(version, path)
        for migration in MIGRATIONS[version:up_to]:
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, now()),
            )
        conn.execute(f"PRAGMA user_version = {max(version, up_to)}")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return _version(conn)


def now() -> str:
    """The current UTC time as ISO 8601 with milliseconds (sorts as text)."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _refuse_future(version: int, path: Path) -> None:
    if version > CURRENT_VERSION:
        raise StoreError(
            f"db {str(path)!r} has schema version {version}, newer than this gdlab reads "
            f"(up to {CURRENT_VERSION}); upgrade gdlab to use it. Nothing was changed."
        )


def _check_ours(conn: sqlite3.Connection, path: Path, create: bool = True) -> None:
    """Refuse, before writing anything, an SQLite file that is not a gdlab database (create False: nor an
    empty one, which only a command that records may make a gdlab database).

    Both reads are one snapshot: read apart, another process's migration could
    commit between them (tables, but application_id still 0: "another database").
    """
    app_id, tables = _identity(conn, "BEGIN")
    if not create and app_id == 0 and not tables:  # another process may be making it: wait for its write lock
        try:
            app_id, tables = _identity(conn, "BEGIN IMMEDIATE")  # a lock, no write: the file stays as it is
        except sqlite3.OperationalError:  # a read-only connection, or still busy: as it was
            pass
    if app_id == APPLICATION_ID:
        _refuse_future(_version(conn), path)
    elif app_id != 0 or tables:
        what = f"tables {', '.join(sorted(tables)[:5])}" if tables else f"application_id {app_id}"
        raise StoreError(
            f"db must be a gdlab database; {str(path)!r} is another SQLite database ({what}). "
            "Nothing was changed."
        )
    elif not create:
        what = "an empty file" if path.stat().st_size == 0 else "an SQLite database without tables"
        raise StoreError(f"db must be an existing gdlab database; {str(path)!r} is {what}, with no runs. "
                         "Nothing was changed.")


def _identity(conn: sqlite3.Connection, begin: str) -> tuple[int, list[str]]:
    """The application_id and the tables, read in one transaction begun with `begin` and rolled back (a
    committed BEGIN IMMEDIATE writes an empty file's first page)."""
    conn.execute(begin)
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        return app_id, [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    finally:
        conn.execute("ROLLBACK")


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the database in WAL mode (it stays so), waiting out other processes doing the same.

    SQLite answers "database is locked" to a journal-mode change at once, without its
    busy handler, while another connection reads or changes it: retry up to the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
        if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            return
        time.sleep(pause)
        pause = min(2 * pause, 0.05)


def _check_path(path: Path, create: bool, writable: bool = True) -> None:
    """A usable place for a database: a writable SQLite file, or a new file in a writable folder (writable
    False: an existing SQLite file, to read)."""
    shown = repr(str(path))
    if path.is_dir():
        raise StoreError(f"db must be a database file path; got {shown}, a directory.")
    folder = path.parent
    if path.exists():
        if not path.is_file():
            raise StoreError(f"db must be a database file path; got {shown}, not a regular file.")
        with path.open("rb") as f:
            head = f.read(len(SQLITE_HEADER))
        if head and head != SQLITE_HEADER:
            raise StoreError(
                f"db must be a gdlab database; {shown} is not an SQLite file. Nothing was changed."
            )
        if not writable:
            return
        if not os.access(path, os.W_OK):
            raise StoreError(f"db must be a writable file; {shown} is not writable.")
    elif not create or not writable:
        raise StoreError(f"db must be an existing gdlab database; {shown} does not exist.")
    if not folder.is_dir():
        raise StoreError(f"db must be in an existing folder; got {shown} ({str(folder)!r} is not a folder).")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(f"db must be in a writable folder; {str(folder)!r} is not writable.")


COMPACT_WAIT_MS = 1000
"""How long a compaction waits for another connection's write (a recorder's epoch) before it gives up."""


COMPACT_FREE = 0.5
"""The share of the file's pages a delete, or a sweep's end, must leave free for the file to shrink: a 1.2M-config
sweep deleted left a 2 GB file of free pages, and a finished gdlab compare of 160 configs that checkpointed every
epoch a 10 MB file 95% free (its members' checkpoints, dropped as each ended)."""


CLOSE_COMPACT_BYTES = 64 * 2**20
"""The most live data a sweep's close copies to compact the file: VACUUM holds the write lock while it copies, and a
run recording in another process waits at most its busy timeout (a delete, asked for, compacts whatever the size)."""


def compact_if_free(conn: sqlite3.Connection, share: float, max_live: int | None = None) -> bool:
    """VACUUM (copy what is left into a file of its size) when more than share of the pages are free (and what is
    left is at most max_live bytes, where given); whether it did. It holds the write lock while it copies (a
    recorder in another process waits, as for any write: it lasts as long as copying the live part), and gives up
    after COMPACT_WAIT_MS when another connection is writing, or when the disk has no room for the copy: the file
    keeps its size, and nothing else changes."""
    free, pages, size = (int(conn.execute(f"PRAGMA {name}").fetchone()[0])
                         for name in ("freelist_count", "page_count", "page_size"))
    if free <= share * pages or (max_live is not None and (pages - free) * size > max_live):
        return False
    wait = int(conn.execute("PRAGMA busy_timeout").fetchone()[0])
    conn.execute(f"PRAGMA busy_timeout = {COMPACT_WAIT_MS}")
    try:
        conn.execute("VACUUM")
    except sqlite3.OperationalError:  # busy, or no room for the copy (SQLITE_FULL): left as it is
        return False
    finally:
        conn.execute(f"PRAGMA busy_timeout = {wait}")
    return True
