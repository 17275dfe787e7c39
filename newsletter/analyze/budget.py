"""The day's analysis budget: which chosen papers may use the full text, the abstract, or no LLM.

LLM cost must follow the distinct papers chosen across readers, never the readers, and stay
bounded however many readers pick however many papers: per day and language the first
`[llm] fulltext_per_day` papers (in priority order: the profile's own picks first, then the
papers most readers chose) get the full-text ladder, the next `abstract_per_day` the abstract
route, the rest the extractive analysis; each capped analysis records why (`checks["capped"]`)
and the issue labels it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROUTES = ("fulltext", "abstract", "extractive")


@dataclass
class DayBudget:
    """What is left of one day's budget per language; papers already routed keep their route."""

    fulltext: int
    abstract: int
    routed: dict[tuple[str, str], str] = field(default_factory=dict)  # (language, paper id) -> route
    used: dict[str, list[int]] = field(default_factory=dict)  # language -> [fulltext, abstract] used

    def routes(self, language: str, ids: list[str]) -> dict[str, str]:
        """The best rung each paper may use, spending the budget in the order given."""
        used = self.used.setdefault(language, [0, 0])
        out: dict[str, str] = {}
        for pid in ids:
            key = (language, pid)
            if key not in self.routed:
                if used[0] < self.fulltext:
                    used[0] += 1
                    self.routed[key] = "fulltext"
                elif used[1] < self.abstract:
                    used[1] += 1
                    self.routed[key] = "abstract"
                else:
                    self.routed[key] = "extractive"
            out[pid] = self.routed[key]
        return out
