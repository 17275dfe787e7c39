"""The SQLite history: the only module that speaks SQL.

Every stage reads and writes through here, which is what makes a re-run cheap and safe:
papers are keyed by id without version, LLM answers by a hash of the request, editions by
(date, profile), deliveries by (edition, address).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from .models import Analysis, Delivery, Edition, EditionEntry, Paper, Score


class StoreError(Exception):
    """The database cannot be opened or written; the message says which file and what to do."""


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = []


def migration(fn: Callable[[sqlite_utils.Database], None]) -> Callable[[sqlite_utils.Database], None]:
    """Register a schema change; each runs once, in order, and is recorded in `_migrations`."""
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_initial(db: sqlite_utils.Database) -> None:
    db["papers"].create(
        {
            "id": str, "version": int, "title": str, "authors": str, "abstract": str,
            "categories": str, "primary_category": str, "published": str, "updated": str,
            "pdf_url": str, "comment": str, "first_seen": str,
        },
        pk="id",
    )
    db["fetches"].create(
        {
            "date": str, "since": str, "until": str, "categories": str, "count": int,
            "new": int, "status": str, "at": str,
        },
        pk="date",
    )
    db["fetch_papers"].create({"date": str, "paper_id": str}, pk=("date", "paper_id"))
    db["llm_calls"].create(
        {
            "key": str, "model": str, "messages": str, "params": str, "response": str,
            "finish_reason": str, "prompt_tokens": int, "completion_tokens": int, "cost": float,
            "duration_ms": int, "run_id": int, "at": str,
        },
        pk="key",
    )
    db["scores"].create(
        {
            "paper_id": str, "profile": str, "relevance": int, "significance": int, "reason": str,
            "model": str, "prompt_hash": str, "at": str,
        },
        pk=("paper_id", "profile", "model"),
    )
    db["analyses"].create(
        {
            "paper_id": str, "version": int, "language": str, "kind": str, "model": str,
            "text": str, "key_findings": str, "checks": str, "at": str,
        },
        pk=("paper_id", "language"),
    )
    db["editions"].create(
        {
            "id": int, "date": str, "profile": str, "language": str, "title": str, "summary": str,
            "markdown": str, "html": str, "text": str, "status": str, "created": str, "updated": str,
        },
        pk="id",
    )
    db["editions"].create_index(["date", "profile"], unique=True)
    db["edition_papers"].create(
        {"edition_id": int, "paper_id": str, "rank": int, "profile": str},
        pk=("edition_id", "paper_id"),
        foreign_keys=[("edition_id", "editions", "id")],
    )
    db["edition_papers"].create_index(["profile", "paper_id"])
    db["deliveries"].create(
        {
            "edition_id": int, "email": str, "name": str, "status": str, "attempts": int,
            "message_id": str, "last_error": str, "next_attempt": str, "updated": str,
        },
        pk=("edition_id", "email"),
        foreign_keys=[("edition_id", "editions", "id")],
    )
    db["deliveries"].create_index(["status"])
    db["suppressions"].create({"email": str, "reason": str, "detail": str, "at": str}, pk="email")
    db["runs"].create(
        {
            "id": int, "date": str, "command": str, "started": str, "finished": str, "stage": str,
            "status": str, "counts": str, "cost": float, "error": str,
        },
        pk="id",
    )


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _paper_row(p: Paper) -> dict[str, Any]:
    return {
        "id": p.id, "version": p.version, "title": p.title, "authors": json.dumps(p.authors),
        "abstract": p.abstract, "categories": json.dumps(p.categories),
        "primary_category": p.primary_category, "published": p.published.isoformat(),
        "updated": p.updated.isoformat(), "pdf_url": p.pdf_url, "comment": p.comment or "",
    }


def _paper(row: dict[str, Any]) -> Paper:
    return Paper(
        id=row["id"], version=row["version"], title=row["title"],
        authors=json.loads(row["authors"]), abstract=row["abstract"],
        categories=json.loads(row["categories"]), primary_category=row["primary_category"],
        published=datetime.fromisoformat(row["published"]),
        updated=datetime.fromisoformat(row["updated"]), pdf_url=row["pdf_url"],
        comment=row["comment"] or "",
    )


def _analysis(row: dict[str, Any]) -> Analysis:
    return Analysis(
        paper_id=row["paper_id"], language=row["language"], kind=row["kind"], text=row["text"],
        key_findings=json.loads(row["key_findings"] or "[]"), model=row["model"] or "",
        version=row["version"] or 1, checks=json.loads(row["checks"] or "{}"),
    )


class Store:
    """One SQLite file; open it with `Store.open(path)` (or `":memory:"` in tests)."""

    def __init__(self, db: sqlite_utils.Database, path: str):
        self.db = db
        self.path = path

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

    # -- schema -------------------------------------------------------------------------

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

    # -- papers and fetches ---------------------------------------------------------------

    def upsert_papers(self, papers: Iterable[Paper]) -> int:
        """Insert new papers, refresh known ones; returns how many were new."""
        papers = list(papers)
        known = self.known_paper_ids([p.id for p in papers])
        rows = []
        for p in papers:
            row = _paper_row(p)
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
            for r in self.db["papers"].rows_where(f"id in ({','.join('?' * len(chunk))})", chunk):
                rows[r["id"]] = _paper(r)
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

    # -- LLM cache ---------------------------------------------------------------------------

    def get_llm_call(self, key: str) -> dict[str, Any] | None:
        rows = list(self.db["llm_calls"].rows_where("key = ?", [key]))
        return rows[0] if rows else None

    def put_llm_call(self, row: dict[str, Any]) -> None:
        row = {**row, "at": row.get("at") or now_iso()}
        with self.transaction():
            self.db["llm_calls"].upsert(row, pk="key")

    def llm_totals(self, run_id: int) -> dict[str, float]:
        r = self.db.execute(
            "select count(*), coalesce(sum(cost),0), coalesce(sum(prompt_tokens),0), "
            "coalesce(sum(completion_tokens),0) from llm_calls where run_id = ?", [run_id]
        ).fetchone()
        return {"calls": r[0], "cost": r[1], "prompt_tokens": r[2], "completion_tokens": r[3]}

    # -- scores and analyses ---------------------------------------------------------------------

    def put_scores(self, scores: Iterable[Score]) -> None:
        with self.transaction():
            for s in scores:
                self.db["scores"].upsert(
                    {
                        "paper_id": s.paper_id, "profile": s.profile, "relevance": s.relevance,
                        "significance": s.significance, "reason": s.reason, "model": s.model,
                        "prompt_hash": s.prompt_hash, "at": now_iso(),
                    },
                    pk=("paper_id", "profile", "model"),
                )

    def get_scores(self, profile: str, ids: list[str], model: str) -> dict[str, Score]:
        out: dict[str, Score] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            where = f"profile = ? and model = ? and paper_id in ({','.join('?' * len(chunk))})"
            for r in self.db["scores"].rows_where(where, [profile, model, *chunk]):
                out[r["paper_id"]] = Score(
                    paper_id=r["paper_id"], profile=r["profile"], relevance=r["relevance"],
                    significance=r["significance"], reason=r["reason"] or "", model=r["model"],
                    prompt_hash=r["prompt_hash"] or "",
                )
        return out

    def put_analysis(self, a: Analysis) -> None:
        with self.transaction():
            self.db["analyses"].upsert(
                {
                    "paper_id": a.paper_id, "version": a.version, "language": a.language, "kind": a.kind,
                    "model": a.model, "text": a.text, "key_findings": json.dumps(a.key_findings, ensure_ascii=False),
                    "checks": json.dumps(a.checks, ensure_ascii=False), "at": now_iso(),
                },
                pk=("paper_id", "language"),
            )

    def get_analysis(self, paper_id: str, language: str) -> Analysis | None:
        rows = list(self.db["analyses"].rows_where("paper_id = ? and language = ?", [paper_id, language]))
        return _analysis(rows[0]) if rows else None

    # -- editions ---------------------------------------------------------------------------

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
            existing = self._edition_row(edition.date, edition.profile)
            row = {
                "date": edition.date.isoformat(), "profile": edition.profile, "language": edition.language,
                "title": edition.title, "status": edition.status, "updated": now_iso(),
            }
            if existing:
                eid = existing["id"]
                self.db["editions"].update(eid, row)
                self.db.execute("delete from edition_papers where edition_id = ?", [eid])
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

    def update_edition(self, edition_id: int, **fields: Any) -> None:
        with self.transaction():
            self.db["editions"].update(edition_id, {**fields, "updated": now_iso()})

    def _edition_row(self, day: date, profile: str) -> dict[str, Any] | None:
        rows = list(self.db["editions"].rows_where("date = ? and profile = ?", [day.isoformat(), profile]))
        return rows[0] if rows else None

    def get_edition(self, day: date, profile: str, with_papers: bool = True) -> Edition | None:
        row = self._edition_row(day, profile)
        return self._edition(row, with_papers) if row else None

    def get_edition_by_id(self, edition_id: int, with_papers: bool = True) -> Edition | None:
        rows = list(self.db["editions"].rows_where("id = ?", [edition_id]))
        return self._edition(rows[0], with_papers) if rows else None

    def _edition(self, row: dict[str, Any], with_papers: bool) -> Edition:
        ed = Edition(
            id=row["id"], date=date.fromisoformat(row["date"]), profile=row["profile"],
            language=row["language"], title=row["title"], summary=row["summary"] or "",
            markdown=row["markdown"] or "", html=row["html"] or "", text=row["text"] or "",
            status=row["status"],
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

    def list_editions(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Newest first, with the number of papers: what the archive index shows."""
        return [
            dict(r)
            for r in self.db.query(
                "select e.id, e.date, e.profile, e.language, e.title, e.status, "
                "(select count(*) from edition_papers ep where ep.edition_id = e.id) as papers "
                "from editions e order by e.date desc, e.profile limit ?",
                [limit],
            )
        ]

    # -- deliveries and suppressions ------------------------------------------------------------

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

    def suppress(self, email: str, reason: str, detail: str = "") -> None:
        with self.transaction():
            self.db["suppressions"].upsert(
                {"email": email.lower(), "reason": reason, "detail": detail, "at": now_iso()}, pk="email"
            )

    def unsuppress(self, email: str) -> bool:
        with self.transaction():
            cur = self.db.execute("delete from suppressions where email = ?", [email.lower()])
        return cur.rowcount > 0

    def suppressed(self) -> dict[str, str]:
        return {r["email"]: r["reason"] for r in self.db["suppressions"].rows}

    # -- runs ---------------------------------------------------------------------------------------

    def start_run(self, command: str, day: date | None) -> int:
        with self.transaction():
            return self.db["runs"].insert(
                {
                    "date": day.isoformat() if day else None, "command": command, "started": now_iso(),
                    "finished": None, "stage": "start", "status": "running", "counts": "{}", "cost": 0.0,
                    "error": "",
                }
            ).last_pk

    def update_run(self, run_id: int, **fields: Any) -> None:
        if "counts" in fields and not isinstance(fields["counts"], str):
            fields["counts"] = json.dumps(fields["counts"])
        with self.transaction():
            self.db["runs"].update(run_id, fields)

    def recent_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        rows = [dict(r) for r in self.db["runs"].rows_where(order_by="id desc", limit=limit)]
        for r in rows:
            r["counts"] = json.loads(r["counts"] or "{}")
        return rows

    def table_counts(self) -> dict[str, int]:
        return {t: self.db[t].count for t in self.db.table_names() if not t.startswith("_")}

    # -- operations: schedule, status, history (issue 7) ------------------------------------------

    def day_run_ok(self, day: date) -> bool:
        """A run for this issue date went through every stage up to delivery without failing."""
        return self.db.execute(
            "select count(*) from runs where date = ? and status = 'ok' and stage = 'deliver'", [day.isoformat()]
        ).fetchone()[0] > 0

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
            import re

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
            "select e.id, e.date, e.profile, e.title, e.status, "
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
