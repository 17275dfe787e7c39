"""The delivery ledger (one row per edition and address) and the suppression list."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from ..models import Delivery
from .rows import now_iso


class DeliveriesMixin:
    """Methods of Store; `self.db` is the sqlite-utils Database, `self.transaction()` all-or-nothing."""

    db: Any

    def create_deliveries(self, edition_id: int, recipients: list[tuple[str, str, str]]) -> int:
        """(email, name, message_id) rows as `pending`, before anything is sent; existing rows stay."""
        with self.transaction():
            before = self.db.execute(
                "select count(*) from deliveries where edition_id = ?", [edition_id]
            ).fetchone()[0]
            self.db["deliveries"].insert_all(
                [
                    {
                        "edition_id": edition_id, "email": email, "name": name, "status": "pending",
                        "attempts": 0, "message_id": mid, "last_error": "", "next_attempt": "",
                        "updated": now_iso(),
                    }
                    for email, name, mid in recipients
                ],
                pk=("edition_id", "email"),
                ignore=True,
            )
            after = self.db.execute(
                "select count(*) from deliveries where edition_id = ?", [edition_id]
            ).fetchone()[0]
        return after - before

    def deliveries(self, edition_id: int, statuses: Iterable[str] | None = None) -> list[Delivery]:
        where, args = "edition_id = ?", [edition_id]
        if statuses is not None:
            st = list(statuses)
            where += f" and status in ({','.join('?' * len(st))})"
            args += st
        return [
            Delivery(
                edition_id=r["edition_id"], email=r["email"], status=r["status"], message_id=r["message_id"],
                attempts=r["attempts"], last_error=r["last_error"] or "", name=r["name"] or "",
            )
            for r in self.db["deliveries"].rows_where(where, args, order_by="email")
        ]

    def set_delivery(self, edition_id: int, email: str, status: str, error: str = "", attempt: bool = False) -> None:
        sets = "status = ?, last_error = ?, updated = ?" + (", attempts = attempts + 1" if attempt else "")
        with self.transaction():
            self.db.execute(
                f"update deliveries set {sets} where edition_id = ? and email = ?",
                [status, error, now_iso(), edition_id, email],
            )

    def delivery_counts(self, edition_id: int | None = None) -> dict[str, int]:
        where, args = ("where edition_id = ?", [edition_id]) if edition_id is not None else ("", [])
        rows = self.db.execute(f"select status, count(*) from deliveries {where} group by status", args).fetchall()
        return {s: n for s, n in rows}

    def suppress(self, email: str, reason: str, detail: str = "", list_name: str = "") -> None:
        """Stop mail to the address for one list, or for every list with list_name "" (bounces, complaints)."""
        with self.transaction():
            self.db["suppressions"].upsert(
                {"email": email.lower(), "list": list_name, "reason": reason, "detail": detail, "at": now_iso()},
                pk=("email", "list"),
            )

    def unsubscribe_once(self, email: str, list_name: str, detail: str = "one-click") -> bool:
        """Suppress the address for one list unless it already is (for that list or every list):
        True when this call recorded it. One short write (BEGIN IMMEDIATE), so however many requests
        post the same token at once, exactly one records it."""
        with self.transaction():
            if self.is_suppressed(email, list_name):
                return False
            self.db.execute(
                "insert into suppressions (email, list, reason, detail, at) values (?, ?, 'unsubscribed', ?, ?)",
                [email.lower(), list_name, detail, now_iso()],
            )
        return True

    def is_suppressed(self, email: str, list_name: str) -> bool:
        """The address must not get `list_name` (suppressed for it, or for every list): one indexed lookup."""
        q = "select 1 from suppressions where email = ? and list in ('', ?) limit 1"
        return self.db.execute(q, [email.lower(), list_name]).fetchone() is not None

    def unsuppress(self, email: str, list_name: str | None = None) -> bool:
        """Lift the address's suppressions: every one (None), or only that list's ("" = the every-list one)."""
        where, args = "email = ?", [email.lower()]
        if list_name is not None:
            where += " and list = ?"
            args.append(list_name)
        with self.transaction():
            cur = self.db.execute(f"delete from suppressions where {where}", args)
        return cur.rowcount > 0

    def suppressed(self, list_name: str | None = None) -> dict[str, str]:
        """address -> reason of the addresses that must not get `list_name` (suppressed for it or for
        every list; the every-list reason wins); with None, every address suppressed for any list."""
        if list_name is None:
            rows = self.db.query("select email, reason from suppressions order by email, list desc")
        else:
            rows = self.db.query(
                "select email, reason from suppressions where list in ('', ?) order by email, list desc", [list_name]
            )
        return {r["email"]: r["reason"] for r in rows}  # the last row per address is list "": it wins

    def suppressions(self, email: str | None = None) -> list[dict[str, str]]:
        """Every suppression row (email, list, reason, detail, at), for listing; "" list = every list."""
        where, args = ("where email = ?", [email.lower()]) if email is not None else ("", [])
        return [dict(r) for r in self.db.query(
            f"select email, list, reason, detail, at from suppressions {where} order by email, list", args)]

    def day_unsent(self, day: date) -> int:
        """Deliveries of this date's editions still waiting to go out (pending or half-sent)."""
        return self.db.execute(
            "select count(*) from deliveries d join editions e on e.id = d.edition_id "
            "where e.date = ? and d.status in ('pending', 'sending')", [day.isoformat()]
        ).fetchone()[0]

    def delivery_issues(self, statuses: Iterable[str] = ("deferred", "failed"), limit: int = 20) -> list[dict[str, Any]]:
        """Deliveries that need attention, newest first, with their edition's date and profile."""
        st = list(statuses)
        return [
            dict(r)
            for r in self.db.query(
                "select e.date, e.profile, d.email, d.status, d.attempts, d.last_error, d.updated "
                "from deliveries d join editions e on e.id = d.edition_id "
                f"where d.status in ({','.join('?' * len(st))}) order by d.updated desc, d.email limit ?",
                [*st, limit],
            )
        ]
