"""Semantic ranking vs. the keyword baseline on real, hand-graded arXiv abstracts (tests/data/ranking/).

The model is real (no mock): a missing model package fails here, it never skips.
"""

from __future__ import annotations

import pytest

from newsletter.embeddings import embed, paper_text
from tests.ranking_eval import evaluate, keyword_ranking, load_papers, load_queries, semantic_ranking, table


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, tuple[float, float]]]:
    papers, queries = load_papers(), load_queries()
    ids = [p.id for p in papers]
    paper_vecs = embed([paper_text(p) for p in papers])
    query_vecs = dict(zip([q.id for q in queries], embed([q.text for q in queries]), strict=True))
    out = {
        "semantic": evaluate(lambda q: semantic_ranking(query_vecs[q.id], ids, paper_vecs), queries),
        "keywords": evaluate(lambda q: keyword_ranking(q, papers), queries),
    }
    print("\n" + table(out))
    return out


def test_the_set_is_real_and_fully_graded():
    papers, queries = load_papers(), load_queries()
    assert 40 <= len(papers) <= 80 and len({p.id for p in papers}) == len(papers)
    assert all(len(p.abstract) > 300 for p in papers)
    ids = {p.id for p in papers}
    for q in queries:
        assert set(q.grades) <= ids, q.id
        assert sum(1 for g in q.grades.values() if g == 2) >= 2, f"{q.id}: too few highly relevant papers"


def test_semantic_ranking_is_at_least_as_good_as_keywords_on_the_mean(results):
    sem, kw = results["semantic"]["mean"], results["keywords"]["mean"]
    assert sem[0] >= kw[0], f"precision@3: semantic {sem[0]:.3f} < keywords {kw[0]:.3f}"
    assert sem[1] >= kw[1], f"nDCG@5: semantic {sem[1]:.3f} < keywords {kw[1]:.3f}"


def test_semantic_ranking_is_good_in_absolute_terms(results):
    p3, ndcg = results["semantic"]["mean"]
    assert p3 >= 0.85 and ndcg >= 0.85, (p3, ndcg)


def test_plain_words_are_where_embeddings_win(results):
    """A reader's own words rarely repeat the abstract's: there keywords fall behind, meaning does not."""
    def mean_plain(r: dict[str, tuple[float, float]]) -> float:
        vals = [v[1] for k, v in r.items() if k.endswith("/plain")]
        return sum(vals) / len(vals)

    assert mean_plain(results["semantic"]) >= mean_plain(results["keywords"]) + 0.1
