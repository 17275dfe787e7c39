"""The per-reader ranking's weights (newsletter/select/rank.py), measured on the graded set of tests/data/ranking/.

43 real abstracts, 7 interests x 2 phrasings graded by hand; the profile is the shipped `cv` list (its keywords,
no exclude). Each query is a reader: its interest alone, or its interest plus its content words as keywords (the
words the keyword baseline of tests/ranking_eval.py uses). Prints nDCG@5 for pure embeddings and for the hybrid
as each weight varies (the others at their chosen values unless the row says otherwise), the bound on the LLM
weight from random LLM scores, and what one vote does for each Rocchio setting; ends with the chosen hybrid's
ratio to pure embeddings. The chosen rows go through `rank.rank_readers`, the code every reader is ranked by.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_reader_weights.py
"""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from newsletter.config import Keywords, Profile  # noqa: E402
from newsletter.embeddings import embed, paper_text  # noqa: E402
from newsletter.models import Subscriber  # noqa: E402
from newsletter.select import rank  # noqa: E402
from newsletter.select.readers import reader_text  # noqa: E402
from tests.ranking_eval import DATA, STOPWORDS, load_papers, load_queries, ndcg_at  # noqa: E402

PROFILE = Profile(name="cv", categories=["cs.CV"], keywords=Keywords(
    primary=["video generation", "diffusion", "3D", "Gaussian Splatting", "vision-language", "world model", "multimodal"],
    secondary=["transformer", "compression", "editing", "efficient", "robot", "benchmark", "distillation"]))


class Setup:
    def __init__(self) -> None:
        self.papers = load_papers()
        self.queries = load_queries()
        self.ids = [p.id for p in self.papers]
        self.V = embed([paper_text(p) for p in self.papers])
        self.matcher = rank.KeywordMatcher(self.papers)
        self.kw_scores, _ = self.matcher.profile_scores(PROFILE.keywords)
        self.readers = {}
        for with_kw in (False, True):
            subs = [Subscriber(f"r{i}@x", interests=q.text,
                               keywords=[w for w in q.text.lower().split() if w not in STOPWORDS] if with_kw else [])
                    for i, q in enumerate(self.queries)]
            q = embed([reader_text(s, PROFILE) for s in subs])
            rows = [[self.matcher.row(k) for k in s.keywords] for s in subs]
            self.readers[with_kw] = (q, rows)
        m = self.matcher.matrix()
        self.coverage = {w: np.stack([m[r].mean(axis=0) if r else np.zeros(len(self.ids)) for r in rows])
                         for w, (_, rows) in self.readers.items()}

    def scores(self, with_kw: bool, w: rank.Weights, llm: list[int | None] | None = None, gated: bool = True,
               q: np.ndarray | None = None, by_max: bool = False) -> np.ndarray:
        coverage = self.coverage[with_kw] if q is None else 0  # a reader of the vote rows has no keywords
        q = self.readers[with_kw][0] if q is None else q
        cos = q @ self.V.T
        prior = rank.list_prior(self.kw_scores, llm or [None] * len(self.ids), w)
        if by_max:  # the profile's keyword score divided by the day's highest instead of capped at one primary keyword
            kw = np.asarray(self.kw_scores, dtype=np.float32)
            prior = prior - w.profile_keywords * np.minimum(kw, rank.KEYWORD_CAP) / rank.KEYWORD_CAP \
                + w.profile_keywords * kw / kw.max()
        return cos + (np.maximum(cos, 0) if gated else 1) * prior + w.reader_keywords * coverage

    def ndcg(self, scores: np.ndarray) -> float:
        return float(np.mean([ndcg_at([self.ids[i] for i in np.argsort(-scores[k], kind="stable")], q.grades)
                              for k, q in enumerate(self.queries)]))

    def chosen(self, with_kw: bool) -> float:
        """The real ranking path (rank.rank_readers) with the chosen weights."""
        q, rows = self.readers[with_kw]
        n = len(self.queries)
        readers = rank.Readers(q, rows, [[] for _ in range(n)], [[] for _ in range(n)], [len(self.ids)] * n)
        prior = rank.list_prior(self.kw_scores, [None] * len(self.ids))
        picks = rank.rank_readers(readers, self.V, prior, self.matcher.matrix())
        pairs = zip(picks, self.queries, strict=True)
        return float(np.mean([ndcg_at([self.ids[i] for i in p], q.grades) for p, q in pairs]))


def weight_rows(s: Setup) -> None:
    W = rank.WEIGHTS
    zero = rank.Weights(0, 0, 0)
    print(f"{'variant (the other weights as chosen unless it says alone)':78s} {'interest':>8s} {'+keywords':>9s}")
    row = lambda name, a, b: print(f"{name:78s} {a:8.3f} {b:9.3f}")  # noqa: E731
    row("pure embeddings (cosine of the reader's text)", s.ndcg(s.scores(False, zero)), s.ndcg(s.scores(True, zero)))
    for x in (0.1, 0.2, 0.5):
        row(f"reader_keywords {x} alone", s.ndcg(s.scores(False, replace(zero, reader_keywords=x))),
            s.ndcg(s.scores(True, replace(zero, reader_keywords=x))))
    for x in (0.05, 0.1, 0.2, 0.3, 0.5):
        w = replace(W, reader_keywords=x)
        row(f"reader_keywords {x}", s.ndcg(s.scores(False, w)), s.ndcg(s.scores(True, w)))
    for x in (0.02, 0.05, 0.1, 0.15, 0.3):
        w = replace(W, profile_keywords=x)
        row(f"profile_keywords {x} (x cosine)", s.ndcg(s.scores(False, w)), s.ndcg(s.scores(True, w)))
    for x in (0.02, 0.1):
        w = replace(W, profile_keywords=x)
        row(f"profile_keywords {x}, added without the cosine factor", s.ndcg(s.scores(False, w, gated=False)),
            s.ndcg(s.scores(True, w, gated=False)))
        row(f"profile_keywords {x}, divided by the day's maximum, not capped", s.ndcg(s.scores(False, w, by_max=True)),
            s.ndcg(s.scores(True, w, by_max=True)))
    rng = np.random.default_rng(0)
    draws = [[int(a + b) for a, b in zip(rng.integers(1, 4, len(s.ids)), rng.integers(1, 4, len(s.ids)), strict=True)]
             for _ in range(30)]
    for x in (0.05, 0.1):
        for gated in (True, False):
            w = replace(W, llm=x)
            a = [s.ndcg(s.scores(False, w, d, gated)) for d in draws]
            b = [s.ndcg(s.scores(True, w, d, gated)) for d in draws]
            row(f"llm {x}, random scores{'' if gated else ', no cosine factor'}: mean of 30 (worst {min(a):.3f} / "
                f"{min(b):.3f})", float(np.mean(a)), float(np.mean(b)))
    row(f"chosen: {W.reader_keywords} / {W.profile_keywords} / {W.llm}, through rank.rank_readers", s.chosen(False),
        s.chosen(True))


def vote_rows(s: Setup) -> None:
    """Two-topic readers (every ordered pair of interests): a vote on the best paper of the second topic."""
    raw = json.loads((DATA / "grades.json").read_text())["interests"]
    pairs = list(itertools.permutations(range(len(raw)), 2))
    q0 = embed([raw[a]["phrasings"]["keywords"] + " and " + raw[b]["phrasings"]["keywords"] for a, b in pairs])
    print(f"\n{len(pairs)} two-topic readers, one vote on the best paper of the second topic; "
          "the topic's other grade-2 papers:")
    print(f"{'alpha, beta, gamma':22s} {'moved (ranks)':>14s} {'in the top 5 before -> after':>30s}")
    for rocchio, vote in [((1, 0.5, g), -1) for g in (0.15, 0.25, 0.35, 0.5)] + [((1, b, 0.35), 1) for b in (0.25, 0.5)]:
        moved, before, after = [], [], []
        for k, (a, b) in enumerate(pairs):
            theirs = [s.ids.index(i) for i, g in raw[b]["grades"].items() if g == 2 and raw[a]["grades"].get(i, 0) == 0]
            order = list(np.argsort(-s.scores(False, rank.WEIGHTS, q=q0[k : k + 1])[0], kind="stable"))
            voted = min(theirs, key=order.index)
            others = [i for i in theirs if i != voted]
            q = rank.apply_votes(q0[k : k + 1], [[(voted, vote)]], s.V, rocchio)
            new = list(np.argsort(-s.scores(False, rank.WEIGHTS, q=q)[0], kind="stable"))
            moved += [(new.index(i) - order.index(i)) * -vote for i in others]
            before.append(sum(1 for i in order[:5] if i in others))
            after.append(sum(1 for i in new[:5] if i in others))
        word = "down" if vote < 0 else "up"
        print(f"{str(rocchio):22s} {np.mean(moved):8.1f} {word:5s} {np.mean(before):19.2f} -> {np.mean(after):.2f}"
              f"{'  (chosen)' if rocchio == rank.ROCCHIO else ''}")


def main() -> None:
    s = Setup()
    weight_rows(s)
    vote_rows(s)
    zero = rank.Weights(0, 0, 0)
    pure, hybrid = s.ndcg(s.scores(False, zero)), s.chosen(False)
    pure_kw, hybrid_kw = s.ndcg(s.scores(True, zero)), s.chosen(True)
    print(f"\nchosen hybrid vs pure embeddings, nDCG@5: interest {hybrid:.3f} / {pure:.3f} = {hybrid / pure:.3f}x; "
          f"interest + keywords {hybrid_kw:.3f} / {pure_kw:.3f} = {hybrid_kw / pure_kw:.3f}x")


if __name__ == "__main__":
    main()
