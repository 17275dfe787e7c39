"""Scores per (paper, profile, model) and analyses per (paper, language), shared across profiles."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..models import Analysis, Score
from .rows import analysis_from_row, now_iso


class AnalysesMixin:
    """Methods of Store; `self.db` is the sqlite-utils Database, `self.transaction()` all-or-nothing."""

    db: Any

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
        return analysis_from_row(rows[0]) if rows else None
