"""The SQLite history: the only code that speaks SQL.

Every stage reads and writes through here, which is what makes a re-run cheap and safe:
papers are keyed by id without version, LLM answers by a hash of the request, editions by
(date, profile), deliveries by (edition, address).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import sqlite_utils

from ..errors import StoreError
from .analyses import AnalysesMixin
from .deliveries import DeliveriesMixin
from .editions import EditionsMixin
from .llm_cache import LLMCacheMixin
from .migrations import MIGRATIONS
from .papers import PapersMixin
from .readers import ReadersMixin
from .returns import ReturnsMixin
from .rows import now_iso
from .runs import RunsMixin
from .vectors import VectorsMixin

__all__ = ["Store", "StoreError", "now_iso"]


class Store(PapersMixin, LLMCacheMixin, AnalysesMixin, EditionsMixin, DeliveriesMixin, RunsMixin, VectorsMixin,
            ReadersMixin, ReturnsMixin):
    """One SQLite file; open it with `Store.open(path)` (or `":memory:"` in tests).

    The SQL of each concept lives in its own module (papers, llm_cache, analyses, editions,
    deliveries, runs); this class adds opening, migrations and transactions."""

    def __init__(self, db: sqlite_utils.Database, path: str):
        self.db = db
        self.path = path
        # set by ThreadStores: the connections of one process take turns to write on this lock, in
        # order, instead of SQLite's busy handler (which sleeps up to 100 ms at a time when it loses)
        self.write_lock: threading.Lock | None = None

    @classmethod
    def open(cls, path: str | Path) -> Store:
        path = str(path)
        if path != ":memory:":
            p = Path(path)
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(
                    f"{path}: cannot create the folder {p.parent} ({e.strerror}); "
                    "set [store] path in config.toml to a writable place"
                ) from None
            if p.exists() and not p.is_file():
                raise StoreError(f"{path}: is not a file; set [store] path in config.toml to a file path")
        try:
            conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            db = sqlite_utils.Database(conn)
            db.execute("PRAGMA journal_mode=WAL").fetchall()
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA busy_timeout=30000")
            store = cls(db, path)
            store.migrate()
        except sqlite3.DatabaseError as e:
            raise StoreError(
                f"{path}: not a usable SQLite database ({e}); move the file away "
                "(it will be created anew) or set [store] path in config.toml"
            ) from None
        except OSError as e:
            raise StoreError(f"{path}: cannot open the database ({e.strerror}); check the folder's permissions") from None
        return store

    def close(self) -> None:
        self.db.conn.close()

    def migrate(self) -> list[str]:
        """Apply the migrations not yet recorded; returns the names applied."""
        if not self.db["_migrations"].exists():
            self.db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
        done = {r["name"] for r in self.db["_migrations"].rows}
        applied = []
        for name, fn in MIGRATIONS:
            if name in done:
                continue
            with self.transaction():
                fn(self.db)
                self.db["_migrations"].insert({"name": name, "applied_at": now_iso()})
            applied.append(name)
        return applied

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing: a crash inside leaves the database as it was."""
        conn = self.db.conn
        if conn.in_transaction:
            yield
            return
        with self.write_lock or nullcontext():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def check_writable(self) -> None:
        """Fail early (before any network work) when the file is read-only."""
        try:
            with self.transaction():
                self.db.execute("CREATE TABLE IF NOT EXISTS _probe (x)")
                self.db.execute("DROP TABLE _probe")
        except sqlite3.OperationalError as e:
            raise StoreError(f"{self.path}: the database is not writable ({e}); check the file's permissions") from None
