"""One Store (one SQLite connection) per thread, on one file: what a threaded server needs.

A sqlite3 connection must never serve two requests at once; a connection per worker thread needs
no lock of ours. The file is in WAL mode (Store.open), so readers never wait for the writer and
a write is one short `BEGIN IMMEDIATE` transaction that waits its turn (busy timeout) instead of
failing. The connections are opened on first use in each thread and closed together by `close`.
"""

from __future__ import annotations

import threading
from pathlib import Path

from . import Store


class ThreadStores:
    """`get()` is the calling thread's Store on `path`; `close()` closes every one opened."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path == ":memory:":
            raise ValueError("an in-memory database cannot be shared between threads; use a file")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._closed = False
        # opened (and migrated) here, once: the workers' connections then find the schema done and
        # never race to change it
        self._local.store = Store.open(self.path)
        self._opened: list[Store] = [self._local.store]

    def get(self) -> Store:
        store = getattr(self._local, "store", None)
        if store is None:
            store = Store.open(self.path)
            with self._lock:
                if self._closed:
                    store.close()
                    raise RuntimeError("the stores are closed")
                self._opened.append(store)
            self._local.store = store
        return store

    def __len__(self) -> int:
        with self._lock:
            return len(self._opened)

    def close(self) -> None:
        with self._lock:
            opened, self._opened, self._closed = self._opened, [], True
        for store in opened:
            store.close()
