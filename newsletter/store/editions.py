"""Editions (one per date and profile), their ranked papers, and the history searches over them."""

from __future__ import annotations

import base64
import json
import re
from datetime import date
from typing import Any

from ..models import Attachment, Edition, EditionEntry
from .rows import now_iso


class EditionsMixin:
    """Methods of Store; `self.db` is the sqlite-utils Database, `self.transaction()` all-or-nothing."""

    db: Any

    def featured_before(self, profile: str, ids: list[str], day: date) -> set[str]:
        """Paper ids already featured for this profile in an edition of another date."""
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = (
                "select ep.paper_id from edition_papers ep join editions e on e.id = ep.edition_id "
                f"where ep.profile = ? and e.date != ? and ep.paper_id in ({','.join('?' * len(chunk))})"
            )
            found.update(r[0] for r in self.db.execute(q, [profile, day.isoformat(), *chunk]).fetchall())
        return found

    def save_selection(self, edition: Edition, ranked_ids: list[str]) -> int:
        """Create (or replace the selection of) the edition for (date, profile); returns its id."""
        with self.transaction():
            existing = self._edition_row(edition.date, edition.profile, edition.cadence)
            row = {
                "date": edition.date.isoformat(), "profile": edition.profile, "language": edition.language,
                "title": edition.title, "status": edition.status, "updated": now_iso(), "cadence": edition.cadence,
            }
            if existing:
                eid = existing["id"]
                self.db["editions"].update(eid, row)
                self.db.execute("delete from edition_papers where edition_id = ?", [eid])
                self.db.execute("delete from reader_papers where edition_id = ?", [eid])
            else:
                row.update({"summary": "", "markdown": "", "html": "", "text": "", "created": now_iso()})
                eid = self.db["editions"].insert(row).last_pk
            self.db["edition_papers"].insert_all(
                [
                    {"edition_id": eid, "paper_id": pid, "rank": rank, "profile": edition.profile}
                    for rank, pid in enumerate(ranked_ids, start=1)
                ]
            )
        edition.id = eid
        return eid

    def save_render(self, edition_id: int, markdown: str, html: str, text: str,
                    attachments: list[Attachment], parts: str = "") -> None:
        """What render produced, kept so preview and send never render again."""
        files = [{"filename": a.filename, "mimetype": a.mimetype, "data": base64.b64encode(a.data).decode("ascii")}
                 for a in attachments]
        self.update_edition(edition_id, markdown=markdown, html=html, text=text, status="rendered",
                            attachments=json.dumps(files), parts=parts, rendered=now_iso())

    def update_edition(self, edition_id: int, **fields: Any) -> None:
        with self.transaction():
            self.db["editions"].update(edition_id, {**fields, "updated": now_iso()})

    def _edition_row(self, day: date, profile: str, cadence: str = "daily") -> dict[str, Any] | None:
        rows = list(self.db["editions"].rows_where("date = ? and profile = ? and cadence = ?",
                                                   [day.isoformat(), profile, cadence]))
        return rows[0] if rows else None

    def get_edition(self, day: date, profile: str, with_papers: bool = True, cadence: str = "daily") -> Edition | None:
        row = self._edition_row(day, profile, cadence)
        return self._edition(row, with_papers) if row else None

    def get_edition_by_id(self, edition_id: int, with_papers: bool = True) -> Edition | None:
        rows = list(self.db["editions"].rows_where("id = ?", [edition_id]))
        return self._edition(rows[0], with_papers) if rows else None

    def _edition(self, row: dict[str, Any], with_papers: bool) -> Edition:
        ed = Edition(
            id=row["id"], date=date.fromisoformat(row["date"]), profile=row["profile"],
            language=row["language"], title=row["title"], summary=row["summary"] or "",
            markdown=row["markdown"] or "", html=row["html"] or "", text=row["text"] or "",
            status=row["status"], cadence=row.get("cadence") or "daily", parts=row.get("parts") or "",
            attachments=[Attachment(f["filename"], f["mimetype"], base64.b64decode(f["data"]))
                         for f in json.loads(row.get("attachments") or "[]")],
        )
        if with_papers:
            ranked = self.db.execute(
                "select paper_id, rank from edition_papers where edition_id = ? order by rank", [ed.id]
            ).fetchall()
            papers = {p.id: p for p in self.get_papers([r[0] for r in ranked])}
            for pid, rank in ranked:
                if pid in papers:
                    ed.entries.append(
                        EditionEntry(paper=papers[pid], rank=rank, analysis=self.get_analysis(pid, ed.language))
                    )
        return ed

    def site_version(self) -> int:
        """A number that moves whenever an edition, its papers or their analyses change (triggers keep
        it, migration m006): pages built from them stay good while it stays the same."""
        row = self.db.execute("select n from site_version where id = 1").fetchone()
        return row[0] if row else 0

    def list_editions(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Newest first, with the number of papers: what the archive index shows (and when each
        was created and last rendered: the published feeds' timestamps)."""
        return [
            dict(r)
            for r in self.db.query(
                "select e.id, e.date, e.profile, e.cadence, e.language, e.title, e.status, e.created, e.rendered, "
                "(select count(*) from edition_papers ep where ep.edition_id = e.id) as papers "
                "from editions e order by e.date desc, e.profile limit ?",
                [limit],
            )
        ]

    def edition_paper_list(self, edition_id: int) -> list[dict[str, Any]]:
        """(rank, id, version, title) of an edition's papers, in rank order."""
        return [
            dict(r)
            for r in self.db.query(
                "select ep.rank, p.id, p.version, p.title from edition_papers ep join papers p on p.id = ep.paper_id "
                "where ep.edition_id = ? order by ep.rank",
                [edition_id],
            )
        ]

    def search_editions(self, query: str = "", profile: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Editions (newest first) featuring a paper whose id, title or abstract matches `query`
        (an id, with or without version, or words that must all appear); all editions without one.
        Each row carries `papers` (its featured papers) and `matches` (ids that matched)."""
        q = query.strip()
        where, args = [], []
        if profile:
            where.append("e.profile = ?")
            args.append(profile)
        match_sql, match_args = "", []
        if q:
            m = re.fullmatch(r"(?:arxiv:)?(\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?", q, re.I)
            if m:
                match_sql, match_args = "p.id = ?", [m.group(1)]
            else:
                words = q.split()
                match_sql = " and ".join("(p.title like ? or p.abstract like ? or p.id like ?)" for _ in words)
                for w in words:
                    match_args += [f"%{w}%"] * 3
            where.append(
                "e.id in (select ep.edition_id from edition_papers ep join papers p on p.id = ep.paper_id "
                f"where {match_sql})"
            )
            args += match_args
        sql = (
            "select e.id, e.date, e.profile, e.cadence, e.title, e.status, "
            "(select count(*) from deliveries d where d.edition_id = e.id and d.status = 'sent') as sent "
            "from editions e" + (" where " + " and ".join(where) if where else "") +
            " order by e.date desc, e.profile limit ?"
        )
        out = [dict(r) for r in self.db.query(sql, [*args, limit])]
        for row in out:
            row["papers"] = self.edition_paper_list(row["id"])
            row["matches"] = []
            if q:
                row["matches"] = [
                    r[0] for r in self.db.execute(
                        "select p.id from edition_papers ep join papers p on p.id = ep.paper_id "
                        f"where ep.edition_id = ? and ({match_sql})", [row["id"], *match_args]
                    ).fetchall()
                ]
        return out
