"""Per-reader ranking at scale: 10,000 readers over a 400-paper day, in one call.

Rows: the first `choose_for_readers` call (it embeds every reader's text once; cached in reader_vectors
after that), the same call again with cached vectors (store reads, history, votes, keyword matches,
ranking), the ranking core alone (`rank.rank_readers`: one matrix product per chunk of readers,
argpartition), and a naive baseline measured in the same run on fewer readers and scaled: one reader
at a time, their keywords matched by regex for each reader, a full sort. Target: the ranking of
10,000 x 400 well under a second.

Papers are the 43 real abstracts of tests/data/ranking/ with their sentences rotated (400 texts);
their vectors are the real ones plus a little noise (embedding papers is bench_embed.py's subject).
Readers' texts are real (pairs of the graded interests with varied openings and endings) and embedded
by the real model. A third of the readers have a keyword, one in 50 an author, one in 20 a vote, and
each had 5 of the day's papers in an earlier edition.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_readers.py [READERS] [PAPERS]
"""

from __future__ import annotations

import itertools
import re
import resource
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from newsletter.config import Config  # noqa: E402
from newsletter.embeddings import MODEL_ID, embed, paper_text  # noqa: E402
from newsletter.keywords import keyword_re  # noqa: E402
from newsletter.models import Edition, Paper, Subscriber  # noqa: E402
from newsletter.select import choose_for_readers, rank  # noqa: E402
from newsletter.store import Store  # noqa: E402
from tests.ranking_eval import load_papers, load_queries  # noqa: E402

READERS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
PAPERS = int(sys.argv[2]) if len(sys.argv) > 2 else 400
NAIVE = 300  # readers the naive baseline is timed on (then scaled)
WORDS = ["diffusion", "robot", "quantization", "segmentation", "LiDAR", "Gaussian splatting", "transformer",
         "video generation", "point cloud", "low-rank adaptation"]


def day(n: int) -> list[Paper]:
    base = load_papers()
    out = []
    for i in range(n):
        p = base[i % len(base)]
        sentences = re.split(r"(?<=[.!?]) ", p.abstract)
        k = (i // len(base)) % max(1, len(sentences))
        out.append(replace(p, id=f"2701.{i:05d}", abstract=" ".join(sentences[k:] + sentences[:k]),
                           categories=["cs.CV"], primary_category="cs.CV",
                           authors=[f"Author {i}", f"Writer {i % 97}", "Song Han" if i % 40 == 0 else "Ji Lin"]))
    return out


def readers(n: int, pool: list[Paper]) -> list[Subscriber]:
    texts = [q.text for q in load_queries()]
    heads = ["", "mostly ", "anything on ", "new work on "]
    tails = ["", " for real-time use", " with little labelled data", " on mobile devices", ", theory and practice",
             ", benchmarks and datasets"]
    extra = ["", " (and graphs)", " in medicine", " at scale", " for science"]
    combos = itertools.product(extra, heads, tails, itertools.combinations(texts, 2))
    out = []
    for i, (x, h, t, (a, b)) in enumerate(itertools.islice(combos, n)):
        out.append(Subscriber(f"reader{i}@example.org", interests=f"{h}{a}; {b}{t}{x}", max_papers=5 + i % 11,
                              keywords=[WORDS[i % len(WORDS)]] if i % 3 == 0 else [],
                              authors=["S. Han"] if i % 50 == 0 else []))
    if len(out) < n:
        sys.exit(f"only {len(out)} distinct reader texts")
    return out


def naive(store: Store, subs: list[Subscriber], pool: list[Paper], seen: dict[str, set[str]]) -> float:
    """One reader at a time: cosine row, their keywords matched by regex over every paper, a full sort."""
    vecs = store.get_vectors(MODEL_ID, [p.id for p in pool])
    matrix = np.stack([vecs[p.id] for p in pool])
    from newsletter.select.readers import reader_text, text_hash

    profile = Config.model_validate({"profiles": [{"name": "cv", "categories": ["cs.CV"]}]}).profiles[0]
    qv = store.get_reader_vectors(MODEL_ID, {s.email: text_hash(reader_text(s, profile)) for s in subs})
    t0 = time.perf_counter()
    for s in subs:
        score = matrix @ qv[s.email]
        for k in s.keywords:
            rx = keyword_re(k)
            score += 0.2 * np.array([1.0 if rx.search(p.title) else 0.5 if rx.search(p.abstract) else 0.0 for p in pool])
        for j, p in enumerate(pool):
            if p.id in seen.get(s.email, ()):
                score[j] = -np.inf
        [pool[j].id for j in np.argsort(-score)[: s.max_papers]]
    return time.perf_counter() - t0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run(Path(tmp))


def run(tmp: Path) -> None:
    cfg = Config.model_validate({"store": {"path": str(tmp / "bench.db")}, "profiles": [{
        "name": "cv", "categories": ["cs.CV"], "top_n": 10,
        "keywords": {"primary": ["video generation", "diffusion", "3D", "Gaussian Splatting", "vision-language"],
                     "secondary": ["transformer", "compression", "efficient", "robot"], "exclude": ["survey"]}}]})
    store = Store.open(cfg.store_path)
    try:
        measure(store, cfg)
    finally:
        store.close()


def measure(store: Store, cfg: Config) -> None:
    profile = cfg.profiles[0]
    pool = day(PAPERS)
    store.upsert_papers(pool)
    real = dict(zip([p.id for p in load_papers()], embed([paper_text(p) for p in load_papers()]), strict=True))
    rng = np.random.default_rng(0)
    noisy = {p.id: real[load_papers()[i % len(real)].id] + rng.normal(0, 0.02, 384).astype(np.float32)
             for i, p in enumerate(pool)}
    store.put_vectors(MODEL_ID, {k: v / np.linalg.norm(v) for k, v in noisy.items()})
    subs = readers(READERS, pool)
    before = store.save_selection(Edition(date=date(2026, 2, 6), profile="cv", language="en", title="t"), [])
    today = store.save_selection(Edition(date=date(2026, 2, 9), profile="cv", language="en", title="t"), [])
    store.save_picks(before, {s.email: [pool[(i * 7 + j) % PAPERS].id for j in range(5)] for i, s in enumerate(subs)})
    for i, s in enumerate(subs[::20]):
        store.put_vote(s.email, "cv", pool[i % PAPERS].id, 1 if i % 2 else -1)
    default = [p.id for p in pool[:10]]

    core: list[float] = []
    inner = rank.rank_readers

    def timed(*a, **k):
        t0 = time.perf_counter()
        out = inner(*a, **k)
        core.append(time.perf_counter() - t0)
        return out

    rank.rank_readers = timed
    call = lambda: choose_for_readers(store, cfg, profile, subs, pool, default, edition_id=today)  # noqa: E731
    t0 = time.perf_counter()
    first = call()
    t_first = time.perf_counter() - t0
    cached = []
    for _ in range(3):
        t0 = time.perf_counter()
        again = call()
        cached.append(time.perf_counter() - t0)
    assert again == first and all(len(first[s.email]) == s.max_papers for s in subs)
    seen = store.seen_papers([s.email for s in subs[:NAIVE]], [p.id for p in pool], exclude_edition=today)
    t_naive = naive(store, subs[:NAIVE], pool, seen) * READERS / NAIVE
    t_core, t_cached = min(core[1:]), min(cached)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{READERS:,} readers x {PAPERS} papers, {Path('/proc/loadavg').read_text().split()[0]} load average at the end")
    print(f"{'step':58s} {'seconds':>8s} {'readers/s':>10s}")
    rows = [
        ("first call: embeds every reader's text once, then ranks", t_first),
        ("  of which embedding (first call minus a cached call)", t_first - t_cached),
        ("call with cached vectors (store, history, votes, ranking)", t_cached),
        ("  of which the ranking core (rank.rank_readers)", t_core),
        (f"naive: one reader at a time (timed on {NAIVE}, scaled)", t_naive),
    ]
    for name, s in rows:
        print(f"{name:58s} {s:8.2f} {READERS / s:10,.0f}")
    print(f"peak RSS {rss:.0f} MB; ranking core vs naive: {t_naive / t_core:.0f}x faster; {READERS:,} x {PAPERS} "
          f"ranked in {t_core:.2f} s ({t_cached:.2f} s the whole call); target for 10,000 x 400: well under 1 s")

if __name__ == "__main__":
    main()
