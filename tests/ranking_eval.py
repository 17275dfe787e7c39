"""The graded relevance set in tests/data/ranking/ and the two rankers it compares (shared by the test and the bench).

Semantic: cosine of the query's embedding and each paper's (title + abstract). Keyword baseline: the project's
own `keyword_score` with the query's content words as primary keywords. Metrics: precision@3 (grade >= 1 counts)
and nDCG@5 with gains 2^grade - 1.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from newsletter.config import Keywords
from newsletter.keywords import keyword_score
from newsletter.models import Paper

DATA = Path(__file__).resolve().parent / "data" / "ranking"
STOPWORDS = {"a", "an", "and", "the", "of", "for", "with", "from", "in", "on", "to", "by", "how", "via"}


@dataclass
class Query:
    id: str
    text: str
    grades: dict[str, int]


def load_papers() -> list[Paper]:
    when = datetime(2026, 2, 9, tzinfo=UTC)
    return [
        Paper(id=r["id"], version=1, title=r["title"], authors=[], abstract=r["abstract"], categories=r["categories"],
              primary_category=r["categories"][0], published=when, updated=when, pdf_url="")
        for r in json.loads((DATA / "papers.json").read_text())
    ]


def load_queries() -> list[Query]:
    """Each reader interest twice: in the papers' own words ("keywords") and as a reader says it ("plain")."""
    raw = json.loads((DATA / "grades.json").read_text())["interests"]
    return [Query(f"{i['id']}/{kind}", text, i["grades"]) for i in raw for kind, text in i["phrasings"].items()]


def precision_at(ranked: list[str], grades: dict[str, int], k: int = 3) -> float:
    return sum(1 for pid in ranked[:k] if grades.get(pid, 0) >= 1) / k


def ndcg_at(ranked: list[str], grades: dict[str, int], k: int = 5) -> float:
    def dcg(gs: list[int]) -> float:
        return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(gs[:k]))

    ideal = dcg(sorted(grades.values(), reverse=True))
    return dcg([grades.get(pid, 0) for pid in ranked]) / ideal if ideal else 0.0


def keyword_ranking(query: Query, papers: list[Paper]) -> list[str]:
    """Papers by keyword_score (query content words as primary keywords); ties keep the file's order."""
    words = [w for w in query.text.lower().split() if w not in STOPWORDS]
    kw = Keywords(primary=words)
    scores = [(-keyword_score(p, kw).score, i, p.id) for i, p in enumerate(papers)]
    return [pid for _, _, pid in sorted(scores)]


def semantic_ranking(query_vec: np.ndarray, ids: list[str], paper_vecs: np.ndarray) -> list[str]:
    sims = paper_vecs @ query_vec
    return [ids[i] for i in np.argsort(-sims, kind="stable")]


def evaluate(rank: Callable[[Query], list[str]], queries: list[Query]) -> dict[str, tuple[float, float]]:
    """query id -> (precision@3, nDCG@5), plus 'mean'."""
    out = {q.id: (precision_at(rank(q), q.grades), ndcg_at(rank(q), q.grades)) for q in queries}
    out["mean"] = (float(np.mean([v[0] for v in out.values()])), float(np.mean([v[1] for v in out.values()])))
    return out


def table(results: dict[str, dict[str, tuple[float, float]]]) -> str:
    """A plain-text table: one row per query, one P@3/nDCG@5 column pair per ranker."""
    names = list(results)
    rows = [f"{'query':30s} " + " ".join(f"{n + ' P@3':>18s} {'nDCG@5':>7s}" for n in names)]
    for qid in results[names[0]]:
        rows.append(f"{qid:30s} " + " ".join(f"{results[n][qid][0]:18.2f} {results[n][qid][1]:7.3f}" for n in names))
    return "\n".join(rows)
