"""Short writes from many threads, committed together: group commit for a burst of one-click POSTs.

Every commit of a durable SQLite file waits for the disk (a few milliseconds here), so one
transaction per unsubscribe caps a burst at a few hundred per second, each waiting its turn.
`WriteQueue(path)` runs the writes handed to it (`queue.run(fn)`: `fn(store)` on the queue's own
connection) on one thread, taking whatever has queued up meanwhile as one transaction, each write in
a savepoint of its own: one fsync for many writes, every caller answered only after its write is
on disk, a write that fails rolled back alone (its caller gets the exception), a commit that fails
failing every caller of that batch and nobody else.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from . import Store

MAX_BATCH = 256


class WriteQueue:
    def __init__(self, path: str | Path, max_batch: int = MAX_BATCH):
        self.store = Store.open(path)
        self.max_batch = max_batch
        self.commits = 0  # how many transactions carried the writes (tests and the bench read it)
        self._pending: deque[tuple[Callable[[Store], Any], Future]] = deque()
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def run(self, fn: Callable[[Store], Any]) -> Any:
        """`fn(store)` inside a transaction shared with the other writes queued with it; returns its
        result once committed, or raises what it (or the commit) raised."""
        done: Future = Future()
        with self._cv:
            if self._closed:
                raise RuntimeError("the write queue is closed")
            self._pending.append((fn, done))
            self._cv.notify()
        return done.result()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._closed:
                    self._cv.wait()
                if not self._pending:
                    return
                batch = [self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))]
            self._commit(batch)

    def _commit(self, batch: list[tuple[Callable[[Store], Any], Future]]) -> None:
        conn = self.store.db.conn
        outcomes: list[tuple[Future, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, done in batch:
                conn.execute("SAVEPOINT one_write")
                try:
                    result = fn(self.store)
                except Exception as e:  # noqa: BLE001 - handed to the caller of that write
                    conn.execute("ROLLBACK TO one_write")
                    outcomes.append((done, None, e))
                else:
                    outcomes.append((done, result, None))
                conn.execute("RELEASE one_write")
            conn.execute("COMMIT")
            self.commits += 1
        except Exception as e:  # noqa: BLE001 - the transaction failed: every write of it did
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for _, done in batch:
                done.set_exception(e)
            return
        for done, result, error in outcomes:
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(result)

    def close(self) -> None:
        """Commit what is queued, then stop and close the connection."""
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(10)
        self.store.close()
