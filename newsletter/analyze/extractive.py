"""Analyses without an LLM: the abstract's key sentences and the day's themes, clearly labelled.

The last rung of the ladder (and the only one with no model configured). Sentences that state
what the paper contributes or shows come first; boilerplate ("Code will be available at …")
never counts as a finding.
"""

from __future__ import annotations

import re
from collections import Counter

from ..config import Config, Profile
from ..keywords import keyword_re
from ..models import Analysis, Edition, Paper

_ABBREV = ["e.g.", "i.e.", "et al.", "etc.", "vs.", "Fig.", "Figs.", "Eq.", "Eqs.", "Sec.", "cf.", "approx.", "resp."]
CONTRIBUTION_RE = re.compile(
    r"\b(we|this (paper|work|study)|our (method|approach|model|framework|work|results|experiments|contributions?)"
    r"|the proposed)\b[^.]*?\b(introduce|propose|present|develop|design|devise|construct|build|release|"
    r"establish|formulate|show|demonstrate|achieve|outperform|find|reveal|curate|collect)\w*"
    r"|\b(experiments?|results?|evaluations?|extensive \w+)\b[^.]*?\b(show|demonstrate|indicate|verif|confirm|reveal)\w*"
    r"|\bour (key )?(contribution|innovation|insight)s?\b"
    r"|\b(state-of-the-art|outperform\w*|surpass\w*)\b",
    re.IGNORECASE,
)


def split_sentences(text: str) -> list[str]:
    """Sentences of an English abstract, not fooled by 'e.g.', 'et al.' or decimals."""
    t = " ".join(text.split())
    for i, a in enumerate(_ABBREV):
        t = t.replace(a, a.replace(".", f"\x00{i}\x00"))
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"'“])", t)
    out = []
    for p in parts:
        for i, a in enumerate(_ABBREV):
            p = p.replace(a.replace(".", f"\x00{i}\x00"), a)
        p = p.strip()
        if p:
            out.append(p)
    return out


RESULT_RE = re.compile(
    r"\b(outperform\w*|achiev\w*|state-of-the-art|experiments?|results?|demonstrat\w*|improv\w*|surpass\w*)\b",
    re.IGNORECASE,
)


# Sentences that say where to find things, not what the paper found.
BOILERPLATE_RE = re.compile(
    r"\b(code|data(sets?)?|models?|weights|checkpoints?|implementation|project page|demos?|videos?|"
    r"supplementary)\b[^.]{0,80}\b(is|are|will be|has been|have been|can be|shall be)\s+"
    r"(made\s+)?(publicly\s+|freely\s+|openly\s+)?(available|released|accessible|found|open[- ]sourced)"
    r"|\b(available|released|accessible) (at|on|via|from)\b|https?://|github\.com|\bproject page\b"
    r"|^(accepted|to appear|published) (at|in|by)\b",
    re.IGNORECASE,
)


def content_sentences(text: str) -> list[str]:
    """The abstract's sentences minus boilerplate ("Code will be available at …")."""
    sents = split_sentences(text)
    kept = [s for s in sents if not BOILERPLATE_RE.search(s)]
    return kept or sents


def key_findings(paper: Paper, limit: int = 5) -> list[str]:
    """Sentences of the abstract that state what the paper contributes or shows."""
    sents = content_sentences(paper.abstract)
    found = [s for s in sents if CONTRIBUTION_RE.search(s) and len(s) > 25]
    if not found:
        found = [s for s in sents if re.search(r"\bwe\b", s, re.IGNORECASE)][:2] or sents[:2]
    return found[:limit]


def extractive_analysis(paper: Paper, language: str, profile_keywords: list[str] | None = None,
                        note: str = "") -> Analysis:
    """No LLM: the abstract's key sentences ranked by keywords, contribution cues and position."""
    sents = content_sentences(paper.abstract)
    findings = key_findings(paper)
    # The Key Findings list already shows the contribution sentences: the analysis shows the rest
    # (context, results), unless the abstract has too little else to say.
    rest = [s for s in sents if s not in findings]
    pool = rest if len(rest) >= 2 else sents
    kws = profile_keywords or []
    scored = []
    for s in pool:
        i = sents.index(s)
        score = 0.0
        score += 2.0 if CONTRIBUTION_RE.search(s) else 0.0
        score += 1.5 if RESULT_RE.search(s) else 0.0
        score += sum(1.0 for k in kws if keyword_re(k).search(s))
        score += 1.0 if i == 0 else (0.5 if i == len(sents) - 1 else 0.0)
        score += 1.0 if re.search(r"\d", s) else 0.0  # numbers: results
        scored.append((score, i, s))
    top = sorted(scored, key=lambda x: (-x[0], x[1]))[:4]
    chosen = [s for _, _, s in sorted(top, key=lambda x: x[1])]
    text = "\n".join(f"- {s}" for s in chosen)
    checks = {"llm": False, "sentences": len(chosen)}
    if note:
        checks["note"] = note
    return Analysis(paper_id=paper.id, language=language, kind="extractive", text=text,
                    key_findings=findings, model="", version=paper.version, checks=checks)


def short_name(title: str) -> str:
    """'CineScene: Implicit 3D as ...' → 'CineScene'; otherwise the first words."""
    head = re.split(r"[:：]", title, maxsplit=1)[0].strip()
    if head != title.strip() and len(head) <= 40:
        return head
    words = title.split()
    return " ".join(words[:4]) + ("…" if len(words) > 4 else "")


def entries_context(edition: Edition) -> list[dict]:
    out = []
    for e in edition.entries:
        findings = (e.analysis.key_findings if e.analysis and e.analysis.key_findings else key_findings(e.paper))
        out.append({
            "rank": e.rank, "id": e.paper.id, "title": e.paper.title, "short": short_name(e.paper.title),
            "findings": [f[:400] for f in findings[:3]],
        })
    return out


def _profile_of(cfg: Config, name: str) -> Profile | None:
    return next((p for p in cfg.profiles if p.name == name), None)


def extractive_summary(cfg: Config, edition: Edition) -> str:
    """No LLM: the day's themes (keyword counts) and the papers by rank, labelled as automatic."""
    zh = edition.language == "zh"
    prof = _profile_of(cfg, edition.profile)
    kws = (prof.keywords.primary + prof.keywords.secondary) if prof else []
    counts: Counter[str] = Counter()
    for e in edition.entries:
        text = f"{e.paper.title} {e.paper.abstract}"
        for k in kws:
            if keyword_re(k).search(text):
                counts[k] += 1
    if not counts:  # no keywords: frequent title words
        stop = {"a", "an", "the", "of", "for", "and", "in", "on", "with", "to", "via", "from", "by", "is", "as",
                "towards", "using", "at", "its", "into", "through"}
        for e in edition.entries:
            for w in set(re.findall(r"[A-Za-z][A-Za-z\-]{2,}", e.paper.title.lower())) - stop:
                counts[w] += 1
        counts = Counter({w: n for w, n in counts.items() if n > 1})
    lines = ["*自动生成的概览（抽取式，非 LLM 撰写）*" if zh else "*Automatic overview (extractive, not LLM-written)*", ""]
    if counts:
        themes = ", ".join(f"{k} ({n})" for k, n in counts.most_common(6))
        lines += [f"**{'本期主题：' if zh else 'Themes of this issue:'}** {themes}", ""]
    lines += ["**本期论文（按排名）：**" if zh else "**Papers by rank:**", ""]
    for c in entries_context(edition):
        ours = [f for f in c["findings"] if re.search(r"\b(we|our)\b", f, re.IGNORECASE)]
        first = (ours or c["findings"] or [""])[0]
        lines.append(f"{c['rank']}. **{c['short']} ({c['rank']})**" + (f": {first}" if first else ""))
    return "\n".join(lines).strip()
