"""The delivery ledger's bookkeeping: which readers still need this edition, and every state change.

Exactly-once across crashes comes from the `deliveries` table: every recipient's row (with its
Message-ID) exists before anything is sent; a row is marked `sending` (committed) before the
message goes out and `sent` after the server's 250, committed together with the next ledger
write (one commit per message). A killed run leaves a few `sending` rows (about one per
connection); the next run sends `pending`, `deferred` and `sending` rows, the last with the same
Message-ID. So duplicates can only be the messages in flight at a crash.
"""

from __future__ import annotations

import threading

from ..models import Edition, Subscriber
from ..store import Store
from .message import new_message_id
from .pacing import Job, RetryPolicy


class Ledger:
    """One send's writes: one SQLite connection shared by the pool, so one writer at a time."""

    def __init__(self, store: Store, edition_id: int):
        self.store, self.edition_id = store, edition_id
        self.lock = threading.Lock()
        self._sent: list[str] = []

    def set(self, email: str, status: str, error: str = "", attempt: bool = False) -> None:
        with self.lock, self.store.transaction():
            self._flush_sent()
            self.store.set_delivery(self.edition_id, email, status, error, attempt=attempt)

    def mark_sent(self, email: str) -> None:
        """`sent` rides along with the next ledger write (one commit per message, not two).

        Until then the row still says `sending`: if the process dies in between, the message
        is sent again with its Message-ID, which is the in-flight case the guarantee allows.
        """
        with self.lock:
            self._sent.append(email)

    def bounce(self, email: str, reply: str) -> None:
        """A hard bounce: this delivery failed, and the address is suppressed for every list."""
        with self.lock, self.store.transaction():
            self._flush_sent()
            self.store.set_delivery(self.edition_id, email, "failed", reply)
            self.store.suppress(email, "hard_bounce", reply)

    def flush(self) -> None:
        with self.lock, self.store.transaction():
            self._flush_sent()

    def _flush_sent(self) -> None:
        for email in self._sent:
            self.store.set_delivery(self.edition_id, email, "sent")
        self._sent.clear()


def prepare_ledger(store: Store, edition: Edition, subscribers: list[Subscriber], domain: str) -> int:
    """A `pending` row with its own Message-ID for every new subscriber; existing rows keep theirs."""
    assert edition.id is not None
    known = {d.email.lower() for d in store.deliveries(edition.id)}
    new, seen = [], set(known)
    for s in subscribers:
        key = s.email.lower()
        if key not in seen:
            seen.add(key)
            new.append((s.email, s.name, new_message_id(domain)))
    return store.create_deliveries(edition.id, new) if new else 0


def jobs_to_send(
    store: Store, edition_id: int, subscribers: list[Subscriber], policy: RetryPolicy, list_name: str,
) -> list[Job]:
    """The ledger rows still to send, as jobs; rows of suppressed, removed or given-up readers are settled.

    `list_name` is the edition's profile: a reader who left this list (or every list) is settled as
    suppressed, while one who left only another list still gets this one.
    """
    by_email = {s.email.lower(): s for s in subscribers}
    suppressed = store.suppressed(list_name)
    jobs: list[Job] = []
    for d in store.deliveries(edition_id, ["pending", "deferred", "sending"]):
        key = d.email.lower()
        if key in suppressed:
            store.set_delivery(edition_id, d.email, "suppressed", suppressed[key])
        elif key not in by_email:
            store.set_delivery(edition_id, d.email, "suppressed", "no longer in the subscriber files")
        elif d.attempts >= policy.max_attempts:
            store.set_delivery(edition_id, d.email, "failed", f"gave up after {d.attempts} attempts: {d.last_error}")
        else:
            jobs.append(Job(d.email, by_email[key].name or d.name, d.message_id, d.attempts))
    return jobs
