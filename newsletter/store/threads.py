"""One Store (one SQLite connection) per thread, on one file: what a threaded server needs.

A sqlite3 connection must never serve two requests at once; a connection per worker thread needs
no lock of ours. The file is in WAL mode (Store.open), so readers never wait for the writer and
a write is one short `BEGIN IMMEDIATE` transaction. The connections share one write lock, so
writers of this process queue in order on it rather than in SQLite's busy handler, which sleeps
(up to 100 ms a time) when it loses the race: that is what made a burst of POSTs slow. Writes from
the web go further, through `write(fn)`: one writer thread commits them in groups (writer.py).
The connections are opened on first use in each thread and closed together by `close`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import Store
from .writer import WriteQueue


class ThreadStores:
    """`get()` is the calling thread's Store on `path` (reads); `write(fn)` runs a short write through
    the shared write queue (group commit); `close()` closes every connection opened."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path == ":memory:":
            raise ValueError("an in-memory database cannot be shared between threads; use a file")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._closed = False
        self._writer: WriteQueue | None = None
        # opened (and migrated) here, once: the workers' connections then find the schema done and
        # never race to change it
        self.write_lock = threading.Lock()  # one writer at a time, in turn (see Store.write_lock)
        self._local.store = Store.open(self.path)
        self._local.store.write_lock = self.write_lock
        self._opened: list[Store] = [self._local.store]

    def get(self) -> Store:
        store = getattr(self._local, "store", None)
        if store is None:
            store = Store.open(self.path)
            store.write_lock = self.write_lock
            with self._lock:
                if self._closed:
                    store.close()
                    raise RuntimeError("the stores are closed")
                self._opened.append(store)
            self._local.store = store
        return store

    def write(self, fn: Callable[[Store], Any]) -> Any:
        """`fn(store)` committed with the other writes of the moment (writer.py: group commit)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the stores are closed")
            if self._writer is None:
                self._writer = WriteQueue(self.path)
            writer = self._writer
        return writer.run(fn)

    def __len__(self) -> int:
        with self._lock:
            return len(self._opened)

    def close(self) -> None:
        with self._lock:
            opened, self._opened, self._closed = self._opened, [], True
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        for store in opened:
            store.close()
