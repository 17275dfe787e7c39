"""Dataclasses to rows and back (JSON for lists and dicts, ISO text for times)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ..models import Analysis, Paper


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def paper_row(p: Paper) -> dict[str, Any]:
    return {
        "id": p.id, "version": p.version, "title": p.title, "authors": json.dumps(p.authors),
        "abstract": p.abstract, "categories": json.dumps(p.categories),
        "primary_category": p.primary_category, "published": p.published.isoformat(),
        "updated": p.updated.isoformat(), "pdf_url": p.pdf_url, "comment": p.comment or "",
    }


def paper_from_row(row: dict[str, Any]) -> Paper:
    return Paper(
        id=row["id"], version=row["version"], title=row["title"],
        authors=json.loads(row["authors"]), abstract=row["abstract"],
        categories=json.loads(row["categories"]), primary_category=row["primary_category"],
        published=datetime.fromisoformat(row["published"]),
        updated=datetime.fromisoformat(row["updated"]), pdf_url=row["pdf_url"],
        comment=row["comment"] or "",
    )


def analysis_from_row(row: dict[str, Any]) -> Analysis:
    return Analysis(
        paper_id=row["paper_id"], language=row["language"], kind=row["kind"], text=row["text"],
        key_findings=json.loads(row["key_findings"] or "[]"), model=row["model"] or "",
        version=row["version"] or 1, checks=json.loads(row["checks"] or "{}"),
    )
