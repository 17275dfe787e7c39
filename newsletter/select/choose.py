"""Which papers a profile gets: its categories, the keyword prefilter, then (with an LLM) scores.

A profile sees only papers of its own categories (the primary one, or any cross-list when
`cross_lists` is on). Papers featured for the profile in an edition of any other date are
dropped before any call. The keyword prefilter is cheap and decides what the LLM even sees;
with an LLM the survivors are scored in batches (see llm_scores) and ranked by the LLM's
relevance + significance, papers it could not score keeping their keyword rank behind them.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date

from ..config import Config, Profile
from ..keywords import KeywordHit, has_keywords, keyword_score
from ..models import Paper, Score
from ..progress import Progress, emit
from ..store import Store
from ..wording import plural

log = logging.getLogger(__name__)


def in_categories(paper: Paper, profile: Profile) -> bool:
    """The paper belongs to the profile: its primary category, or a cross-list when allowed."""
    wanted = set(profile.categories)
    if paper.primary_category in wanted:
        return True
    return profile.cross_lists and any(c in wanted for c in paper.categories)


def prefilter(papers: list[Paper], profile: Profile) -> list[tuple[Paper, KeywordHit]]:
    """Papers worth scoring, best keyword score first (then id desc): no exclude hit, and a
    keyword hit when the profile has keywords at all."""
    out = []
    for p in papers:
        h = keyword_score(p, profile.keywords)
        if h.excluded:
            continue
        if has_keywords(profile.keywords) and h.score <= 0:
            continue
        out.append((p, h))
    out.sort(key=lambda ph: ph[0].id, reverse=True)  # ties: larger (newer) id first; sorts are stable
    out.sort(key=lambda ph: -ph[1].score)
    return out


def keyword_proxy(paper: Paper, profile: str, hit: KeywordHit, note: str = "") -> Score:
    """A Score from keywords alone (the no-LLM path, or a paper the LLM could not score)."""
    return Score(
        paper_id=paper.id, profile=profile,
        relevance=1 + min(2, len(hit.primary)), significance=1 + min(2, len(hit.secondary)),
        reason=(note + hit.reason()) if note else hit.reason(), model="keywords",
    )


def select_papers(
    store: Store, cfg: Config, profile: Profile, day: date, papers: list[Paper], llm=None,
    progress: Progress | None = None,
) -> list[Score]:
    """The profile's papers for `day`, ranked, at most profile.top_n; scores are stored."""
    mine = [p for p in papers if in_categories(p, profile)]
    featured = store.featured_before(profile.name, [p.id for p in mine], day)
    pool = [p for p in mine if p.id not in featured]
    candidates = prefilter(pool, profile)
    emit(progress, "select", f"select[{profile.name}]: {len(mine)} of {plural(len(papers), 'paper')} in "
         f"{', '.join(profile.categories)}, {len(featured)} featured before, {len(candidates)} past the "
         "keyword prefilter", profile=profile.name)
    if not candidates:
        return []
    hits = {p.id: h for p, h in candidates}
    if llm is None:
        ranked = [keyword_proxy(p, profile.name, h) for p, h in candidates]  # already in keyword order
        chosen = ranked[: profile.top_n]
        store.put_scores(chosen)
        return chosen

    from ..llm import prompt_hash
    from ..templating import override_dir
    from .llm_scores import score_with_llm

    phash = hashlib.sha256((prompt_hash(profile.language, "score", override_dir(cfg)) + prompt_fingerprint(profile)).encode()
                           ).hexdigest()[:16]
    stored = store.get_scores(profile.name, list(hits), llm.model)
    scores: dict[str, Score] = {pid: s for pid, s in stored.items() if s.prompt_hash == phash}
    todo = [p for p, _ in candidates if p.id not in scores]
    if todo:
        fresh = score_with_llm(llm, cfg, profile, todo, phash, progress)
        store.put_scores([s for s in fresh.values() if s.model != "keywords"])
        scores.update(fresh)
    for p, h in candidates:  # unscorable papers keep their keyword score, never the LLM's scale
        if p.id not in scores:
            scores[p.id] = keyword_proxy(p, profile.name, h, note="LLM could not score it; ")

    def rank_key(s: Score) -> tuple:
        by_llm = s.model != "keywords"
        return (0 if by_llm else 1, -s.total, -s.relevance, 0 if by_llm else -hits[s.paper_id].score)

    eligible = [s for s in scores.values() if s.model == "keywords" or s.total >= cfg.llm.min_score]
    ranked = sorted(sorted(eligible, key=lambda s: s.paper_id, reverse=True), key=rank_key)
    return ranked[: profile.top_n]


def prompt_fingerprint(profile: Profile) -> str:
    """What the scores depend on besides the paper: used in logs and tests."""
    blob = repr((profile.keywords.model_dump(), profile.language, profile.categories, profile.cross_lists))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
