"""Keyword matching shared by selection (the prefilter) and analysis (the extractive ranking).

Case-insensitive, on word boundaries, spaces and hyphens interchangeable, plural -s/-es ok.
Primary keywords weigh more than secondary ones, a keyword in the title counts double, and an
exclude keyword drops a paper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from .config import Keywords
from .models import Paper

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
