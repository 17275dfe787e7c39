"""Each reader's own issue: their picks per edition, their one-click votes, their cached vectors.

`reader_papers` is the per-reader history: a paper chosen for a reader in one edition is never
chosen for them again. Emails are kept lower-case here, so every lookup is case-insensitive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .rows import now_iso

if TYPE_CHECKING:
    import numpy as np


class ReadersMixin:
    """Methods of Store; `self.db` is the sqlite-utils Database, `self.transaction()` all-or-nothing."""

    db: Any

    def save_picks(self, edition_id: int, picks: dict[str, list[str]], replace: bool = True) -> None:
        """Each reader's ranked paper ids for an edition; `replace` drops the edition's old picks
        first, else readers who already have picks keep them (a late subscriber is only added)."""
        with self.transaction():
            if replace:
                self.db.execute("delete from reader_papers where edition_id = ?", [edition_id])
                have: set[str] = set()
            else:
                have = {r[0] for r in self.db.execute(
                    "select distinct email from reader_papers where edition_id = ?", [edition_id]).fetchall()}
            rows = [
                {"edition_id": edition_id, "email": email.lower(), "paper_id": pid, "rank": rank}
                for email, ids in picks.items() if email.lower() not in have
                for rank, pid in enumerate(ids, start=1)
            ]
            if rows:
                self.db["reader_papers"].insert_all(rows, batch_size=5000)

    def get_picks(self, edition_id: int) -> dict[str, list[str]]:
        """email (lower-case) -> paper ids in the reader's order."""
        out: dict[str, list[str]] = {}
        q = "select email, paper_id from reader_papers where edition_id = ? order by email, rank"
        for email, pid in self.db.execute(q, [edition_id]).fetchall():
            out.setdefault(email, []).append(pid)
        return out

    def seen_papers(self, emails: list[str], ids: list[str], exclude_edition: int | None = None) -> dict[str, set[str]]:
        """Among `ids`, the papers already chosen for each reader in another edition (email lower-case)."""
        wanted = {e.lower() for e in emails}
        out: dict[str, set[str]] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = (f"select email, paper_id from reader_papers where paper_id in ({','.join('?' * len(chunk))}) "
                 "and edition_id != ?")
            for email, pid in self.db.execute(q, [*chunk, exclude_edition or -1]).fetchall():
                if email in wanted:
                    out.setdefault(email, set()).add(pid)
        return out

    def put_vote(self, email: str, profile: str, paper_id: str, vote: int) -> None:
        """A reader's latest word on a paper (+1 more like this, -1 less like this) replaces any earlier one."""
        with self.transaction():
            self.db["votes"].upsert(
                {"email": email.lower(), "paper_id": paper_id, "profile": profile, "vote": 1 if vote > 0 else -1,
                 "at": now_iso()}, pk=("email", "paper_id"),
            )

    def record_vote(self, email: str, profile: str, paper_id: str, vote: int) -> bool:
        """Like put_vote, but writes only when the reader's word on the paper changes: True when it did
        (posting the same link again records nothing, the opposite link replaces the vote)."""
        sign = 1 if vote > 0 else -1
        with self.transaction():
            row = self.db.execute("select vote from votes where email = ? and paper_id = ?",
                                  [email.lower(), paper_id]).fetchone()
            if row is not None and row[0] == sign:
                return False
            self.db.execute(
                "insert into votes (email, paper_id, profile, vote, at) values (?, ?, ?, ?, ?) "
                "on conflict (email, paper_id) do update set profile = excluded.profile, vote = excluded.vote, "
                "at = excluded.at", [email.lower(), paper_id, profile, sign, now_iso()])
        return True

    def get_votes(self, emails: list[str] | None = None) -> dict[str, dict[str, int]]:
        """email (lower-case) -> {paper id: +1 | -1}; every reader's when `emails` is None."""
        out: dict[str, dict[str, int]] = {}
        rows = self.db.execute("select email, paper_id, vote from votes").fetchall()
        wanted = {e.lower() for e in emails} if emails is not None else None
        for email, pid, vote in rows:
            if wanted is None or email in wanted:
                out.setdefault(email, {})[pid] = vote
        return out

    def vote_rows(self, email: str) -> list[dict[str, Any]]:
        """A reader's votes with the paper titles, newest first (what `subscribers show` prints)."""
        return [dict(r) for r in self.db.query(
            "select v.paper_id, v.vote, v.profile, v.at, coalesce(p.title, '') as title from votes v "
            "left join papers p on p.id = v.paper_id where v.email = ? order by v.at desc", [email.lower()])]

    def was_picked(self, email: str, paper_id: str) -> bool:
        """The paper was chosen for this reader in some edition (a feedback token is only good then)."""
        q = "select 1 from reader_papers where email = ? and paper_id = ? limit 1"
        return self.db.execute(q, [email.lower(), paper_id]).fetchone() is not None

    def reader_issues(self, email: str, limit: int = 10) -> list[dict[str, Any]]:
        """A reader's last issues, newest first: date, profile, cadence, delivery status, paper count."""
        return [dict(r) for r in self.db.query(
            "select e.id, e.date, e.profile, e.cadence, e.title, coalesce(d.status, 'not sent') as status, "
            "count(rp.paper_id) as papers from reader_papers rp join editions e on e.id = rp.edition_id "
            "left join deliveries d on d.edition_id = rp.edition_id and lower(d.email) = rp.email "
            "where rp.email = ? group by e.id order by e.date desc, e.id desc limit ?", [email.lower(), limit])]

    def get_reader_vectors(self, model_id: str, hashes: dict[str, str]) -> dict[str, np.ndarray]:
        """The cached vector of each reader whose words still hash to `hashes[email]`."""
        import numpy as np

        out: dict[str, np.ndarray] = {}
        rows = self.db.execute("select email, text_hash, dim, vector from reader_vectors where model = ?",
                               [model_id]).fetchall()
        for email, h, dim, blob in rows:
            if hashes.get(email) == h:
                v = np.frombuffer(blob, dtype="<f4").astype(np.float32)
                if v.size == dim:
                    out[email] = v
        return out

    def put_reader_vectors(self, model_id: str, vectors: dict[str, tuple[str, np.ndarray]]) -> None:
        """email -> (hash of the words it was embedded from, vector)."""
        import numpy as np

        at = now_iso()
        rows = []
        for email, (h, v) in vectors.items():
            arr = np.ascontiguousarray(v, dtype="<f4").reshape(-1)
            rows.append({"email": email.lower(), "model": model_id, "text_hash": h, "dim": int(arr.size),
                         "vector": arr.tobytes(), "at": at})
        with self.transaction():
            self.db["reader_vectors"].upsert_all(rows, pk=("email", "model"), batch_size=2000)

    def reader_vectors_by_hash(self, model_id: str, hashes: list[str]) -> dict[str, np.ndarray]:
        """A cached vector per text hash, whichever reader it was embedded for: readers with the same
        words (or none, ranked from the profile's keywords) share one embedding."""
        import numpy as np

        out: dict[str, np.ndarray] = {}
        for i in range(0, len(hashes), 500):
            chunk = hashes[i : i + 500]
            q = (f"select text_hash, dim, vector from reader_vectors where model = ? "
                 f"and text_hash in ({','.join('?' * len(chunk))})")
            for h, dim, blob in self.db.execute(q, [model_id, *chunk]).fetchall():
                v = np.frombuffer(blob, dtype="<f4").astype(np.float32)
                if v.size == dim:
                    out[h] = v
        return out

    def reader_vector_times(self, model_id: str) -> dict[str, str]:
        """When each reader's vector was written (email -> ISO time): shows a vector was not redone."""
        rows = self.db.execute("select email, at from reader_vectors where model = ?", [model_id]).fetchall()
        return {r[0]: r[1] for r in rows}
