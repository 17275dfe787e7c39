"""Many readers over one pool at once: pure functions on numpy arrays (no store, no model).

    score(reader, paper) = cos(q, v)                                        the reader's words (and votes)
                         + W.reader_keywords * coverage of their keywords  matched as profile keywords are
                         + max(cos, 0) * (W.profile_keywords * on_topic + W.llm * llm)   the list's opinion

`q` is the reader's vector, `v` the paper's (both L2-normalised, so the dot product is the cosine).
`coverage` is the mean over the reader's keywords of 1 (in the title), 1/2 (in the abstract) or 0;
`on_topic` the profile's keyword score capped at one primary keyword (min(score, 3) / 3); `llm` the
profile's LLM relevance + significance mapped to 0..1. The list's opinion is scaled by the cosine:
it reorders papers this reader finds about equally close and barely moves one far from their
interests. A paper by one of the reader's authors is lifted above everything; a paper they had
before is never picked. One matrix product per chunk of readers, `argpartition` for the top k.

Weights: nDCG@5 on the graded set (tests/data/ranking/: 43 real abstracts, 7 interests x 2 phrasings graded by
hand), each query a reader of the shipped `cv` list (its keywords, no exclude), with the interest alone or with
its content words as keywords too; bench/bench_reader_weights.py prints the whole table.
                                                   interest   + keywords
    pure embeddings of the reader's text             0.952       0.942
    chosen hybrid 0.2 / 0.1 / 0.05                   0.952       0.955
  reader_keywords 0.2: with the list terms 0.05 .. 0.5 all give 0.955 (alone 0.949 .. 0.942), so the set does not
    pin it; 0.2 is mid-plateau: a paper naming all of a reader's keywords in its title gains 0.2, about half the
    cosine gap between a wanted and an unwanted paper on the set (0.55 vs 0.18).
  profile_keywords 0.1, capped at one primary keyword: 0.02 .. 0.3 cost nothing (0.952), 0.05 .. 0.15 gain with
    keywords (0.955). Divided by the day's highest score instead, 0.02 already costs 0.012 (0.940: a wanted paper
    falls below an unwanted one 0.002 lower in cosine that names more of the list's keywords).
  llm 0.05, times the cosine: the set has no LLM scores, so the weight is bounded with random ones (30 draws):
    mean 0.948, worst 0.934 for the interest alone; without the cosine factor worst 0.908, at 0.1 worst 0.925.
    Real scores say more than noise: at cosine 0.5 they reorder papers within 0.025 of each other.
Rocchio (alpha, beta, gamma) = (1, 0.5, 0.35), on 42 two-topic readers (two interests joined) voting on the best
paper of the second topic, counting that topic's other grade-2 papers: one "less like this" moves them down 6.4
ranks on average and halves their share of the top 5 (1.40 -> 0.69); gamma 0.15 moves them 2.3 (barely visible),
0.5 moves them 10.7 (0.40 left: one vote all but erases a topic). One "more like this" with beta 0.5 lifts them
3.0 ranks (1.40 -> 2.31 in the top 5); beta 0.25 only 1.9.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

import numpy as np

from ..config import Keywords
from ..keywords import PRIMARY_WEIGHT, SECONDARY_WEIGHT, TITLE_BONUS, keyword_re
from ..models import Paper


@dataclass(frozen=True)
class Weights:
    """The hybrid's weights (the cosine's is 1); the module's docstring says how they were chosen."""

    reader_keywords: float = 0.2
    profile_keywords: float = 0.1
    llm: float = 0.05


WEIGHTS = Weights()
KEYWORD_CAP = PRIMARY_WEIGHT  # one primary keyword anywhere (or a secondary one in title and abstract) is "on topic"
ROCCHIO = (1.0, 0.5, 0.35)  # alpha (the reader's words), beta (mean liked), gamma (mean disliked)
AUTHOR_BOOST = 100.0  # above any possible score: the reader's authors come first, best of them first
CHUNK = 2048  # readers per matrix product: 2048 x 400 float32 is 3 MB of scores


def list_prior(keyword_scores: list[int], llm_totals: list[int | None], weights: Weights = WEIGHTS) -> np.ndarray:
    """Per paper, the list's opinion: W.profile_keywords * on_topic + W.llm * llm (scaled by the cosine later).
    `llm_totals` is relevance + significance (2..6) of the profile's LLM score, None when there is none."""
    kw = np.minimum(np.asarray(keyword_scores, dtype=np.float32), KEYWORD_CAP) / KEYWORD_CAP
    llm = np.array([0.0 if t is None else min(max((t - 2) / 4, 0.0), 1.0) for t in llm_totals], dtype=np.float32)
    return (weights.profile_keywords * kw + weights.llm * llm).astype(np.float32)


class KeywordMatcher:
    """How strongly each keyword matches each paper of a fixed pool: 1 in the title, 0.5 in the abstract,
    0 not at all, matched exactly as profile keywords are (`keywords.keyword_re`). Each distinct keyword
    (case and spacing aside) is matched once, however many readers wrote it: a plain substring search over
    the pool's case-folded text finds the few papers worth running the regular expression on."""

    def __init__(self, papers: list[Paper]):
        self.papers = papers
        lowered = [f"{p.title}\n{p.abstract}".casefold() for p in papers]
        self.starts: list[int] = []
        at = 0
        for t in lowered:
            self.starts.append(at)
            at += len(t) + 1
        self.text = "\x00".join(lowered)
        self.rows: dict[str, int] = {}
        self.strengths: list[np.ndarray] = []

    def row(self, keyword: str) -> int | None:
        """The keyword's row in `matrix()`; None for a keyword with no words."""
        key = " ".join(keyword.lower().split())
        if not [w for w in re.split(r"[\s\-]+", key) if w]:
            return None
        if key not in self.rows:
            self.rows[key] = len(self.strengths)
            self.strengths.append(self.match(key))
        return self.rows[key]

    def match(self, keyword: str) -> np.ndarray:
        out = np.zeros(len(self.papers), dtype=np.float32)
        probe = max(re.split(r"[\s\-]+", keyword.casefold()), key=len)  # every match contains its longest word
        rx = keyword_re(keyword)
        at = self.text.find(probe)
        while at >= 0:
            i = bisect.bisect_right(self.starts, at) - 1
            p = self.papers[i]
            out[i] = 1.0 if rx.search(p.title) else (0.5 if rx.search(p.abstract) else 0.0)
            at = self.text.find(probe, self.starts[i + 1]) if i + 1 < len(self.starts) else -1
        return out

    def profile_scores(self, kw: Keywords) -> tuple[list[int], list[bool]]:
        """`keyword_score(paper, kw)`'s score and whether it has an exclude hit, for every paper of the pool."""
        score = np.zeros(len(self.papers), dtype=np.int64)
        for weight, words in ((PRIMARY_WEIGHT, kw.primary), (SECONDARY_WEIGHT, kw.secondary)):
            for k in words:
                row = self.row(k)
                if row is not None:
                    s = self.strengths[row]
                    score += weight * np.where(s >= 1, TITLE_BONUS, s > 0).astype(np.int64)
        excluded = np.zeros(len(self.papers), dtype=bool)
        for k in kw.exclude:
            row = self.row(k)
            if row is not None:
                excluded |= self.strengths[row] > 0
        return score.tolist(), excluded.tolist()

    def matrix(self) -> np.ndarray:
        """(distinct keywords x papers) strengths."""
        if not self.strengths:
            return np.zeros((0, len(self.papers)), dtype=np.float32)
        return np.stack(self.strengths)


def apply_votes(q: np.ndarray, votes: list[list[tuple[int, int]]], vectors: np.ndarray,
                rocchio: tuple[float, float, float] = ROCCHIO) -> np.ndarray:
    """Rocchio: q' = alpha q + beta mean(liked) - gamma mean(disliked), rows L2-normalised again.
    `votes[r]` lists (row in `vectors`, +1 | -1) for reader r."""
    alpha, beta, gamma = rocchio
    if not any(votes):
        return q
    liked = np.zeros_like(q)
    disliked = np.zeros_like(q)
    n_liked = np.zeros(len(q), dtype=np.float32)
    n_disliked = np.zeros(len(q), dtype=np.float32)
    for r, theirs in enumerate(votes):
        for row, vote in theirs:
            if vote > 0:
                liked[r] += vectors[row]
                n_liked[r] += 1
            else:
                disliked[r] += vectors[row]
                n_disliked[r] += 1
    out = alpha * q + beta * liked / np.maximum(n_liked, 1)[:, None] - gamma * disliked / np.maximum(n_disliked, 1)[:, None]
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.where(norms > 0, norms, 1)).astype(np.float32)


@dataclass
class Readers:
    """What ranking needs of each reader, row by row (row r is one reader)."""

    vectors: np.ndarray  # (R x dim), L2-normalised, votes applied
    keywords: list[list[int]]  # rows of the KeywordMatcher's matrix
    authors: list[list[int]]  # pool papers by their must-include authors
    blocked: list[list[int]]  # pool papers they already had
    limits: list[int]  # how many papers each gets


def rank_readers(readers: Readers, paper_vectors: np.ndarray, prior: np.ndarray, keyword_matrix: np.ndarray,
                 weights: Weights = WEIGHTS, chunk: int = CHUNK) -> list[list[int]]:
    """Each reader's pool indices, best first, at most their limit, never a blocked paper."""
    out: list[list[int]] = []
    for lo in range(0, len(readers.limits), chunk):
        hi = min(lo + chunk, len(readers.limits))
        scores = chunk_scores(readers, lo, hi, paper_vectors, prior, keyword_matrix, weights)
        out.extend(top_k(scores, readers.limits[lo:hi]))
    return out


def chunk_scores(readers: Readers, lo: int, hi: int, paper_vectors: np.ndarray, prior: np.ndarray,
                 keyword_matrix: np.ndarray, weights: Weights) -> np.ndarray:
    """The hybrid score of readers lo..hi against every paper, with boosts and blocks applied."""
    cos = readers.vectors[lo:hi] @ paper_vectors.T
    scores = cos + np.maximum(cos, 0) * prior[None, :]
    with_kw = [r for r in range(lo, hi) if readers.keywords[r]]
    if with_kw and keyword_matrix.size:
        rows = np.fromiter((k for r in with_kw for k in readers.keywords[r]), dtype=np.int64)
        counts = np.array([len(readers.keywords[r]) for r in with_kw])
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        coverage = np.add.reduceat(keyword_matrix[rows], starts, axis=0) / counts[:, None]
        scores[np.array(with_kw) - lo] += weights.reader_keywords * coverage
    for pairs, value in ((readers.authors, AUTHOR_BOOST), (readers.blocked, -np.inf)):
        rows, cols = cells(pairs, lo, hi)
        if value < 0:
            scores[rows, cols] = value
        else:
            scores[rows, cols] += value  # (row, col) pairs are distinct: a plain += is exact
    return scores


def cells(lists: list[list[int]], lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) index arrays of `lists[lo:hi]` (rows relative to lo), for one fancy-indexed write."""
    counts = np.fromiter((len(x) for x in lists[lo:hi]), dtype=np.int64, count=hi - lo)
    rows = np.repeat(np.arange(hi - lo), counts)
    cols = np.fromiter((c for x in lists[lo:hi] for c in x), dtype=np.int64, count=int(counts.sum()))
    return rows, cols


def top_k(scores: np.ndarray, limits: list[int]) -> list[list[int]]:
    """Per row, the column indices of the `limits[row]` highest finite scores, best first."""
    n = scores.shape[1]
    k = min(max(limits, default=0), n)
    if k == 0:
        return [[] for _ in limits]
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (len(scores), 1))
    best = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-best, axis=1, kind="stable")
    part = np.take_along_axis(part, order, axis=1)
    best = np.take_along_axis(best, order, axis=1)
    usable = np.isfinite(best).sum(axis=1).tolist()  # blocked papers (-inf) sort last
    cols = part.tolist()
    return [cols[r][: min(limits[r], usable[r])] for r in range(len(limits))]
