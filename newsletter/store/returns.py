"""The mail that comes back: messages read from the bounce mailbox (each once) and bounce events."""

from __future__ import annotations

from typing import Any

from .rows import now_iso


class ReturnsMixin:
    """Methods of Store; `self.db` is the sqlite-utils Database, `self.transaction()` all-or-nothing."""

    db: Any

    def inbound_known(self, key: str) -> bool:
        """Was this message (by its key: the Message-ID, or a hash of the bytes) already recorded?"""
        return self.db.execute("select 1 from inbound_messages where key = ?", [key]).fetchone() is not None

    def record_inbound(self, row: dict[str, Any]) -> bool:
        """Record one message's decision; False (nothing written) when its key is already there.
        Call inside `transaction()` together with its events and suppressions: all or nothing."""
        with self.transaction():
            if self.inbound_known(row["key"]):
                return False
            self.db["inbound_messages"].insert({"at": now_iso(), **row}, pk="key")
        return True

    def add_bounce_event(self, email: str, kind: str, edition_id: int | None, status: str, diagnostic: str,
                         message_key: str) -> None:
        with self.transaction():
            self.db["bounce_events"].insert({
                "email": email.lower(), "kind": kind, "edition_id": edition_id, "status": status,
                "diagnostic": diagnostic, "message_key": message_key, "at": now_iso(),
            }, pk="id")

    def soft_bounce_count(self, email: str, since: str) -> int:
        """Soft bounces of the address since `since` (ISO time), one per edition (a delay warning and
        the final failure of one message count once); events without a known edition count each."""
        return self.db.execute(
            "select count(distinct coalesce('e' || edition_id, 'm' || message_key)) from bounce_events "
            "where email = ? and kind = 'soft_bounce' and at >= ?", [email.lower(), since]
        ).fetchone()[0]

    def bounce_rows(self, email: str, limit: int = 20) -> list[dict[str, Any]]:
        """The address's bounce and complaint events and mailto unsubscribes, newest first, with the
        edition's date and list when known."""
        return [dict(r) for r in self.db.query(
            "select b.at, b.kind, b.status, b.diagnostic, b.edition_id, e.date, e.profile from bounce_events b "
            "left join editions e on e.id = b.edition_id where b.email = ? order by b.at desc, b.id desc limit ?",
            [email.lower(), limit])]

    def edition_return_counts(self) -> dict[int, dict[str, int]]:
        """edition id -> {'hard_bounce': n, 'soft_bounce': n, 'complaint': n, ...}: distinct addresses."""
        out: dict[int, dict[str, int]] = {}
        for r in self.db.query("select edition_id, kind, count(distinct email) n from bounce_events "
                               "where edition_id is not null group by edition_id, kind"):
            out.setdefault(r["edition_id"], {})[r["kind"]] = r["n"]
        return out

    def inbound_summary(self) -> dict[str, Any]:
        """How many messages of each kind were read, and when the last one was."""
        kinds = {r["kind"]: r["n"] for r in self.db.query("select kind, count(*) n from inbound_messages group by kind")}
        last = self.db.execute("select max(at) from inbound_messages").fetchone()[0]
        return {"kinds": kinds, "last": last or ""}

    def delivery_by_message_id(self, message_id: str) -> tuple[int, str] | None:
        """(edition id, address) of the delivery whose message carried this Message-ID."""
        row = self.db.execute("select edition_id, email from deliveries where message_id = ?",
                              [message_id.strip()]).fetchone()
        return (row[0], row[1]) if row else None

    def delivery_addresses(self, edition_id: int) -> list[str]:
        return [r[0] for r in self.db.execute("select email from deliveries where edition_id = ?", [edition_id])]

    def known_address(self, email: str) -> bool:
        """Has anything ever been sent (or meant to be sent) to this address? Bounces and complaints
        about other addresses change nothing (a forged or misdirected report)."""
        return self.db.execute("select 1 from deliveries where email = ? collate nocase limit 1",
                               [email]).fetchone() is not None
