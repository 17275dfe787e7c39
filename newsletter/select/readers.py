"""Each reader's own selection within a profile: their words, keywords, authors and votes; never a paper twice.

A reader with no words (interests, keywords) and no votes gets the profile's own ranking minus what
they already had, papers by their must-include authors first. Everyone else is ranked over the pool
(the papers given, in the profile's categories, no exclude keyword) by the hybrid score of `rank.py`:
their vector (interests + keywords embedded locally, cached in `reader_vectors` by a hash of the words,
so a reader is embedded again only when their words change; moved by their votes), their keywords,
the profile's keywords and LLM scores. numpy and the model load only when someone is ranked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..config import Config, Profile
from ..models import Paper, Score, Subscriber
from ..progress import Progress, emit
from ..store import Store
from ..wording import plural
from .authors import AuthorIndex
from .choose import in_categories

if TYPE_CHECKING:
    import numpy as np

EMBED_BATCH = 32  # readers' texts are short: 32 at a time was ~2x faster than the papers' 8 (1,000 texts: 5.6 s vs 10.5 s)


def choose_for_readers(
    store: Store, cfg: Config, profile: Profile, readers: list[Subscriber], papers: list[Paper], default: list[str],
    scores: dict[str, Score] | None = None, edition_id: int | None = None, progress: Progress | None = None,
) -> dict[str, list[str]]:
    """email (lower-case) -> that reader's ranked paper ids (at most max_papers, else profile.top_n).

    `papers` is the candidate pool (the day's papers, or an edition's for a late subscriber), `default`
    the profile's own ranked ids, `scores` its LLM scores (keyword-only ones are ignored), `edition_id`
    the edition being made: its own picks are not history."""
    people: dict[str, Subscriber] = {}
    for s in readers:
        people.setdefault(s.email.lower(), s)
    if not people:
        return {}
    pool = pool_of(profile, papers)
    emails = list(people)
    ids = [p.id for p, _ in pool]
    seen = store.seen_papers(emails, list(dict.fromkeys(ids + list(default))), exclude_edition=edition_id)
    votes = store.get_votes(emails)
    ranked = [e for e, s in people.items() if pool and (has_words(s) or votes.get(e))]
    out: dict[str, list[str]] = {}
    authors = AuthorIndex([p for p, _ in pool])
    position: dict[str, int] = {}
    for pid in [*default, *ids]:
        position.setdefault(pid, len(position))
    by_words = set(ranked)
    for e, s in people.items():
        if e not in by_words:
            mine = sorted((ids[i] for i in authors.papers_by(s.authors)), key=lambda pid: position[pid])
            out[e] = default_picks(default, seen.get(e, set()), limit(s, profile), first=mine)
    fresh = 0
    if ranked:
        picks, fresh = rank_personal(store, profile, [people[e] for e in ranked], pool, seen, votes, scores,
                                     progress)
        out.update(picks)
    n_personal = sum(1 for s in people.values() if s.personal)
    emit(progress, "select", f"select[{profile.name}]: {plural(len(people), 'reader')} ranked ({n_personal} personal), "
         f"{plural(fresh, 'new reader vector')}", profile=profile.name)
    return {e: out[e] for e in people}


def pool_of(profile: Profile, papers: list[Paper]) -> list[tuple[Paper, int]]:
    """The papers a reader of the profile may get, each with the profile's keyword score: its categories,
    no exclude keyword, each id once, in the order given."""
    from .rank import KeywordMatcher

    mine: dict[str, Paper] = {}
    for p in papers:
        if p.id not in mine and in_categories(p, profile):
            mine[p.id] = p
    matcher = KeywordMatcher(list(mine.values()))
    scores, excluded = matcher.profile_scores(profile.keywords)
    return [(p, s) for p, s, ex in zip(mine.values(), scores, excluded, strict=True) if not ex]


def has_words(s: Subscriber) -> bool:
    return bool(s.interests.strip() or any(k.strip() for k in s.keywords))


def limit(s: Subscriber, profile: Profile) -> int:
    return s.max_papers or profile.top_n


def default_picks(default: Sequence[str], seen: set[str], limit: int, first: Sequence[str] = ()) -> list[str]:
    """The profile's own ranking for one reader: `first` (papers by their authors), then `default`, without
    what they had before and without repeats, at most `limit`. Pure: usable for a late subscriber as is."""
    out: dict[str, None] = {}
    for pid in [*first, *default]:
        if pid not in seen:
            out.setdefault(pid)
    return list(out)[:limit]


def reader_text(s: Subscriber, profile: Profile) -> str:
    """What a reader's vector is embedded from: interests and keywords; with neither (votes only), the
    profile's primary keywords (else secondary ones, else its title)."""
    words = " ".join(s.interests.split())
    kws = ", ".join(" ".join(k.split()) for k in s.keywords if k.strip())
    text = ". ".join(t for t in (words, kws) if t)
    return text or ", ".join(profile.keywords.primary or profile.keywords.secondary) or profile.title


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def reader_vectors(store: Store, profile: Profile, subs: list[Subscriber],
                   progress: Progress | None = None) -> tuple[np.ndarray, int]:
    """(readers x dim) vectors in `subs` order and how many texts had to be embedded. Cached per reader
    under a hash of their text; readers with the same text share one embedding."""
    import numpy as np

    from ..embeddings import MODEL_ID, embed

    texts = {s.email.lower(): reader_text(s, profile) for s in subs}
    hashes = {e: text_hash(t) for e, t in texts.items()}
    have = store.get_reader_vectors(MODEL_ID, hashes)
    missing = [e for e in hashes if e not in have]
    todo: dict[str, str] = {}
    if missing:
        by_hash = {hashes[e]: v for e, v in have.items()}
        wanted = sorted({hashes[e] for e in missing} - set(by_hash))
        by_hash.update(store.reader_vectors_by_hash(MODEL_ID, wanted))
        todo = {hashes[e]: texts[e] for e in missing if hashes[e] not in by_hash}
        if todo:
            emit(progress, "select", f"select[{profile.name}]: embedding {plural(len(todo), 'reader text')} "
                 "(once: cached until the words change)", profile=profile.name)
            by_hash.update(zip(todo, embed(list(todo.values()), batch_size=EMBED_BATCH), strict=True))
        new = {e: (hashes[e], by_hash[hashes[e]]) for e in missing}
        store.put_reader_vectors(MODEL_ID, new)
        have.update({e: v for e, (_, v) in new.items()})
    return np.stack([have[e] for e in texts]).astype(np.float32), len(todo)


def vote_vectors(store: Store, votes: dict[str, dict[str, int]], emails: list[str],
                 known: dict[str, np.ndarray]) -> tuple[np.ndarray, list[list[tuple[int, int]]]]:
    """The voted papers' vectors and, per reader, (row, +1 | -1); a paper not in the store is skipped."""
    import numpy as np

    from ..embeddings import MODEL_ID, ensure_vectors

    voted = list(dict.fromkeys(pid for e in emails for pid in votes.get(e, {})))
    vecs = {pid: known[pid] for pid in voted if pid in known}
    rest = [pid for pid in voted if pid not in vecs]
    if rest:
        vecs.update(store.get_vectors(MODEL_ID, rest))
        unembedded = [pid for pid in rest if pid not in vecs]
        if unembedded:
            vecs.update(ensure_vectors(store, store.get_papers(unembedded)))
    order = [pid for pid in voted if pid in vecs]
    row = {pid: i for i, pid in enumerate(order)}
    matrix = np.stack([vecs[pid] for pid in order]) if order else np.zeros((0, 1), dtype=np.float32)
    return matrix, [[(row[pid], v) for pid, v in votes.get(e, {}).items() if pid in row] for e in emails]


def rank_personal(
    store: Store, profile: Profile, subs: list[Subscriber], pool: list[tuple[Paper, int]],
    seen: dict[str, set[str]], votes: dict[str, dict[str, int]], scores: dict[str, Score] | None,
    progress: Progress | None = None,
) -> tuple[dict[str, list[str]], int]:
    """The hybrid ranking (rank.py) for readers with words or votes; also how many texts were embedded."""
    import numpy as np

    from ..embeddings import ensure_vectors
    from . import rank

    papers = [p for p, _ in pool]
    ids = [p.id for p in papers]
    where = {pid: i for i, pid in enumerate(ids)}
    known = ensure_vectors(store, papers)
    paper_vectors = np.stack([known[pid] for pid in ids]).astype(np.float32)
    emails = [s.email.lower() for s in subs]
    q, fresh = reader_vectors(store, profile, subs, progress)
    voted, their_votes = vote_vectors(store, votes, emails, known)
    q = rank.apply_votes(q, their_votes, voted)
    llm = {pid: s.total for pid, s in (scores or {}).items() if s.model != "keywords"}
    prior = rank.list_prior([kw for _, kw in pool], [llm.get(pid) for pid in ids])
    matcher = rank.KeywordMatcher(papers)
    authors = AuthorIndex(papers)
    rows = [list(dict.fromkeys(r for r in (matcher.row(k) for k in s.keywords) if r is not None)) for s in subs]
    readers = rank.Readers(
        vectors=q, keywords=rows, authors=[authors.papers_by(s.authors) for s in subs],
        blocked=[[where[pid] for pid in seen.get(e, ()) if pid in where] for e in emails],
        limits=[limit(s, profile) for s in subs],
    )
    picks = rank.rank_readers(readers, paper_vectors, prior, matcher.matrix())
    return {e: [ids[i] for i in mine] for e, mine in zip(emails, picks, strict=True)}, fresh
