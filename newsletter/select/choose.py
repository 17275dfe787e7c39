"""Which papers a profile gets: keyword prefilter, then (with an LLM) batched 1-3 scores.

The prefilter is cheap and decides what the LLM even sees (primary keywords weigh more than
secondary ones, exclude keywords drop a paper, matching is case-insensitive on word
boundaries). Papers featured for the profile on another date are dropped before any call.
With an LLM, papers go in batches of [llm] batch_size per call and come back as strict JSON
(relevance and significance, 1-3 each); a malformed batch is retried once, then split in
halves down to single papers; a paper the LLM cannot score keeps its keyword score, so an
LLM outage degrades the selection instead of emptying it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from .config import Config, Keywords, Profile
from .models import Paper, Score
from .store import Store

log = logging.getLogger(__name__)

PRIMARY_WEIGHT = 3
SECONDARY_WEIGHT = 1
TITLE_BONUS = 2  # a keyword in the title counts this many times more


@dataclass
class KeywordHit:
    score: int = 0
    primary: list[str] = field(default_factory=list)
    secondary: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)

    def reason(self) -> str:
        hits = self.primary + self.secondary
        return f"keywords {self.score}: {', '.join(hits)}" if hits else "no keyword match"


@lru_cache(maxsize=512)
def keyword_re(keyword: str) -> re.Pattern[str]:
    """Case-insensitive, on word boundaries; spaces and hyphens interchangeable; plural -s/-es ok."""
    words = [re.escape(w) for w in re.split(r"[\s\-]+", keyword.strip()) if w]
    body = r"[\s\-]+".join(words)
    return re.compile(r"(?<![\w])" + body + r"(?:s|es)?(?![\w])", re.IGNORECASE)


def keyword_score(paper: Paper, kw: Keywords) -> KeywordHit:
    hit = KeywordHit()
    title, abstract = paper.title, paper.abstract
    for k in kw.exclude:
        if keyword_re(k).search(title) or keyword_re(k).search(abstract):
            hit.excluded.append(k)
    for weight, words, found in ((PRIMARY_WEIGHT, kw.primary, hit.primary), (SECONDARY_WEIGHT, kw.secondary, hit.secondary)):
        for k in words:
            r = keyword_re(k)
            in_title, in_abstract = bool(r.search(title)), bool(r.search(abstract))
            if in_title or in_abstract:
                found.append(k)
                hit.score += weight * (TITLE_BONUS if in_title else 1)
    return hit


def has_keywords(kw: Keywords) -> bool:
    return bool(kw.primary or kw.secondary)


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
    progress: Callable[[str], None] | None = None,
) -> list[Score]:
    """The profile's papers for `day`, ranked, at most profile.top_n; scores are stored."""
    ids = [p.id for p in papers]
    featured = store.featured_before(profile.name, ids, day)
    pool = [p for p in papers if p.id not in featured]
    candidates = prefilter(pool, profile)
    log.info("select[%s]: %d papers, %d featured before, %d past the keyword prefilter",
             profile.name, len(papers), len(featured), len(candidates))
    if progress:
        progress(f"select[{profile.name}]: {len(candidates)} of {len(papers)} papers past the keyword prefilter")
    if not candidates:
        return []
    hits = {p.id: h for p, h in candidates}
    if llm is None:
        ranked = [keyword_proxy(p, profile.name, h) for p, h in candidates]  # already in keyword order
        chosen = ranked[: profile.top_n]
        store.put_scores(chosen)
        return chosen

    from .llm import prompt_hash

    phash = hashlib.sha256((prompt_hash(profile.language, "score") + prompt_fingerprint(profile)).encode()
                           ).hexdigest()[:16]
    stored = store.get_scores(profile.name, list(hits), llm.model)
    scores: dict[str, Score] = {pid: s for pid, s in stored.items() if s.prompt_hash == phash}
    todo = [p for p, _ in candidates if p.id not in scores]
    if todo:
        fresh = _score_with_llm(llm, cfg, profile, todo, phash, progress)
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


# -- LLM scoring -----------------------------------------------------------------------------


def _score_with_llm(
    llm, cfg: Config, profile: Profile, papers: list[Paper], phash: str,
    progress: Callable[[str], None] | None,
) -> dict[str, Score]:
    from .llm import run_sync

    size = cfg.llm.batch_size
    batches = [papers[i : i + size] for i in range(0, len(papers), size)]

    async def main() -> dict[str, Score]:
        done = 0

        async def one(batch: list[Paper]) -> dict[str, Score]:
            nonlocal done
            out = await _score_batch(llm, profile, batch, phash)
            done += 1
            if progress and (done == len(batches) or done % max(1, len(batches) // 10) == 0):
                progress(f"select[{profile.name}]: scored {done}/{len(batches)} batches")
            return out

        results = await asyncio.gather(*(one(b) for b in batches))
        merged: dict[str, Score] = {}
        for r in results:
            merged.update(r)
        return merged

    return run_sync(main)


async def _score_batch(llm, profile: Profile, batch: list[Paper], phash: str) -> dict[str, Score]:
    """Scores for a batch: ask, retry once on a bad answer, then split; missing ids = unscorable."""
    from .llm import CostCeilingReached, LLMError, prompt_messages
    from .validate import ScoreFormatError, parse_scores

    ids = [p.id for p in batch]
    messages = prompt_messages(profile.language, "score", profile=profile, papers=batch)
    max_tokens = 150 + 120 * len(batch)
    for attempt in range(2):
        try:
            ans = await llm.acomplete(messages, max_tokens=max_tokens, temperature=0.0, json_mode=True)
        except CostCeilingReached:
            raise
        except LLMError as e:
            log.warning("select[%s]: scoring %d papers failed: %s", profile.name, len(batch), e)
            return {}  # the model is unreachable: splitting would only multiply failing calls
        try:
            if ans.finish_reason == "length":
                raise ScoreFormatError("answer cut off (finish_reason=length)")
            parsed = parse_scores(ans.content, ids)
        except ScoreFormatError as e:
            log.info("select[%s]: bad scoring answer for %d papers (%s); attempt %d", profile.name, len(batch), e,
                     attempt + 1)
            if ans.finish_reason == "length":
                max_tokens *= 2
            else:
                messages = messages + [
                    {"role": "assistant", "content": ans.content[:4000]},
                    {"role": "user", "content": _CORRECTION[profile.language].format(ids=", ".join(ids))},
                ]
            continue
        return {
            pid: Score(paper_id=pid, profile=profile.name, relevance=r, significance=s, reason=why,
                       model=llm.model, prompt_hash=phash)
            for pid, (r, s, why) in parsed.items()
        }
    if len(batch) == 1:
        log.warning("select[%s]: no valid score for %s; it keeps its keyword score", profile.name, ids[0])
        return {}
    half = len(batch) // 2
    left, right = await asyncio.gather(
        _score_batch(llm, profile, batch[:half], phash), _score_batch(llm, profile, batch[half:], phash)
    )
    return {**left, **right}


_CORRECTION = {
    "zh": '上面的回答不是要求的 JSON。请只输出一个 JSON 对象 {{"scores": [...]}}，为以下每个 id 各给一项：{ids}',
    "en": 'That answer was not the JSON asked for. Answer with only one JSON object {{"scores": [...]}} with one '
          "entry for each of these ids: {ids}",
}


def prompt_fingerprint(profile: Profile) -> str:
    """What the scores depend on besides the paper: used in logs and tests."""
    blob = repr((profile.keywords.model_dump(), profile.language, profile.categories))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
