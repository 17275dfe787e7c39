"""Papers (keyed by arXiv id without version) and the record of each day's fetch."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from ..models import Paper
from .rows import now_iso, paper_from_row, paper_row


class PapersMixin:
    """Methods of Store; `self.db` is the sqlite-utils Database, `self.transaction()` all-or-nothing."""

    db: Any

    def upsert_papers(self, papers: Iterable[Paper]) -> int:
        """Insert new papers, refresh known ones; returns how many were new."""
        papers = list(papers)
        known = self.known_paper_ids([p.id for p in papers])
        rows = []
        for p in papers:
            row = paper_row(p)
            if p.id not in known:
                row["first_seen"] = now_iso()
            rows.append(row)
        with self.transaction():
            for row in rows:
                self.db["papers"].upsert(row, pk="id")
        return sum(1 for p in papers if p.id not in known)

    def known_paper_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = f"select id from papers where id in ({','.join('?' * len(chunk))})"
            found.update(r[0] for r in self.db.execute(q, chunk).fetchall())
        return found

    def get_papers(self, ids: list[str]) -> list[Paper]:
        """Papers in the order of `ids`."""
        rows: dict[str, Paper] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for r in self.db.query(f"select * from papers where id in ({','.join('?' * len(chunk))})", chunk):
                rows[r["id"]] = paper_from_row(r)
        return [rows[i] for i in ids if i in rows]

    def record_fetch(
        self, day: date, since: datetime, until: datetime, categories: list[str], paper_ids: list[str],
        new: int, status: str,
    ) -> None:
        with self.transaction():
            self.db["fetches"].upsert(
                {
                    "date": day.isoformat(), "since": since.isoformat(), "until": until.isoformat(),
                    "categories": json.dumps(categories), "count": len(paper_ids), "new": new,
                    "status": status, "at": now_iso(),
                },
                pk="date",
            )
            self.db.execute("delete from fetch_papers where date = ?", [day.isoformat()])
            self.db["fetch_papers"].insert_all(
                [{"date": day.isoformat(), "paper_id": pid} for pid in paper_ids], pk=("date", "paper_id")
            )

    def get_fetch(self, day: date) -> dict[str, Any] | None:
        rows = list(self.db["fetches"].rows_where("date = ?", [day.isoformat()]))
        return rows[0] if rows else None

    def last_fetch_before(self, day: date) -> dict[str, Any] | None:
        rows = list(
            self.db["fetches"].rows_where(
                "date < ? and status = 'ok'", [day.isoformat()], order_by="date desc", limit=1
            )
        )
        return rows[0] if rows else None

    def fetched_papers(self, day: date) -> list[Paper]:
        ids = [r[0] for r in self.db.execute(
            "select paper_id from fetch_papers where date = ? order by paper_id desc", [day.isoformat()]
        ).fetchall()]
        return self.get_papers(ids)
