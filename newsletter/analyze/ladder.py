"""Analyses of the chosen papers and the executive summary of the day.

With an LLM each paper gets the best analysis that passes validation, in this order:
`fulltext` (the 7-section method analysis from the PDF's text), `abstract` (5 points from the
abstract: when the PDF is unavailable or the full-text answer fails), `extractive` (key
sentences of the abstract, no LLM: the last resort, and the only analyzer without an LLM).
Analyses are stored per (paper, language) and shared between the profiles of that language.
One paper's failure never fails the run; only the cost ceiling stops it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Callable

from .config import Config, Profile
from .models import Analysis, Edition, Paper
from .store import Store

log = logging.getLogger(__name__)

MAX_TOKENS = {"fulltext": 6000, "abstract": 2000, "summary": 2500}

# -- sentences and key findings ------------------------------------------------------------------

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


def key_findings(paper: Paper, limit: int = 5) -> list[str]:
    """Sentences of the abstract that state what the paper contributes or shows."""
    sents = split_sentences(paper.abstract)
    found = [s for s in sents if CONTRIBUTION_RE.search(s) and len(s) > 25]
    if not found:
        found = [s for s in sents if re.search(r"\bwe\b", s, re.IGNORECASE)][:2] or sents[:2]
    return found[:limit]


def extractive_analysis(paper: Paper, language: str, profile_keywords: list[str] | None = None,
                        note: str = "") -> Analysis:
    """No LLM: the abstract's key sentences ranked by keywords, contribution cues and position."""
    from .select import keyword_re

    sents = split_sentences(paper.abstract)
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


# -- per-paper analysis -----------------------------------------------------------------------


def _profile_keywords(cfg: Config, language: str) -> list[str]:
    kws: list[str] = []
    for p in cfg.profiles:
        if p.language == language:
            kws += p.keywords.primary + p.keywords.secondary
    return list(dict.fromkeys(kws))


async def _ask(llm, messages, language: str, kind: str, headings: list[str] | None):
    """Ask and validate; a cut-off answer is asked again once with twice the tokens."""
    from .validate import check_answer

    max_tokens = MAX_TOKENS[kind]
    for attempt in range(2):
        ans = await llm.acomplete(messages, max_tokens=max_tokens, temperature=0.3)
        res = check_answer(ans.content, ans.finish_reason, language, kind, headings)
        res.checks["model"] = ans.model
        res.checks["cached"] = ans.cached
        if "truncated" in res.failed and attempt == 0:
            max_tokens *= 2
            continue
        return res, ans
    return res, ans


async def _analyze_one(llm, cfg: Config, language: str, paper: Paper, pdf_sem: asyncio.Semaphore,
                       keywords: list[str]) -> Analysis:
    """Full text, else the abstract, else extractive: the first answer that passes validation."""
    from . import fulltext as ft
    from .llm import CostCeilingReached, LLMError, prompt_messages
    from .validate import ABSTRACT_POINTS, FULLTEXT_SECTIONS

    checks: dict = {"llm": True}
    findings = key_findings(paper)

    async def fulltext_messages():
        text = await ft.fetch_fulltext(cfg, paper, pdf_sem)
        body = ft.cut_to_budget(text, ft.budget_for(cfg))
        checks["pdf"] = f"ok ({ft.estimate_tokens(body)} tokens)"
        return prompt_messages(language, "analysis", paper=paper, fulltext=body)

    async def abstract_messages():
        return prompt_messages(language, "abstract", paper=paper)

    ladder = (
        ("fulltext", fulltext_messages, FULLTEXT_SECTIONS[language]),
        ("abstract", abstract_messages, ABSTRACT_POINTS[language]),
    )
    for kind, messages, headings in ladder:
        try:
            res, ans = await _ask(llm, await messages(), language, kind, headings)
            checks[kind] = res.checks
            if res.ok:
                return Analysis(paper_id=paper.id, language=language, kind=kind, text=res.text,
                                key_findings=findings, model=ans.model, version=paper.version, checks=checks)
            log.info("analysis of %s: %s answer failed %s; falling back", paper.id, kind, res.failed)
        except CostCeilingReached:
            raise
        except ft.FullTextUnavailable as e:
            checks["pdf"] = f"unavailable: {e}"
        except LLMError as e:
            checks[kind] = {"failed": ["llm_error"], "error": str(e)[:300]}
        except Exception as e:  # noqa: BLE001 - one paper's surprise must not fail the day
            log.exception("analysis of %s: %s failed", paper.id, kind)
            checks[kind] = {"failed": ["error"], "error": f"{type(e).__name__}: {e}"[:300]}
    a = extractive_analysis(paper, language, keywords)
    a.checks = {**checks, **a.checks, "llm": True, "llm_tried": True}
    return a


def analyze_papers(
    store: Store, cfg: Config, language: str, papers: list[Paper], llm=None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Analysis]:
    """An analysis for every paper (stored ones reused); never raises for one paper's failure."""
    keywords = _profile_keywords(cfg, language)
    out: dict[str, Analysis] = {}
    todo: list[Paper] = []
    for p in papers:
        a = store.get_analysis(p.id, language)
        stale = a is None or a.version != p.version
        upgrade = a is not None and llm is not None and a.kind == "extractive" and not a.checks.get("llm")
        if stale or upgrade:
            todo.append(p)
        else:
            out[p.id] = a
    if not todo:
        return out
    if llm is None:
        for p in todo:
            a = extractive_analysis(p, language, keywords)
            store.put_analysis(a)
            out[p.id] = a
        return out

    from .llm import run_sync

    async def main() -> None:
        pdf_sem = asyncio.Semaphore(cfg.llm.pdf_concurrency)
        done = 0

        async def one(p: Paper) -> None:
            nonlocal done
            a = await _analyze_one(llm, cfg, language, p, pdf_sem, keywords)
            store.put_analysis(a)  # kept as soon as made: a stopped run resumes from here
            out[p.id] = a
            done += 1
            if progress:
                progress(f"analyze: {done}/{len(todo)} {p.id} → {a.kind}")

        results = await asyncio.gather(*(one(p) for p in todo), return_exceptions=True)
        for r in results:  # only the cost ceiling (or a bug) gets here; the first one is re-raised
            if isinstance(r, BaseException):
                raise r

    run_sync(main)
    return out


# -- executive summary ---------------------------------------------------------------------------


def short_name(title: str) -> str:
    """'CineScene: Implicit 3D as ...' → 'CineScene'; otherwise the first words."""
    head = re.split(r"[:：]", title, maxsplit=1)[0].strip()
    if head != title.strip() and len(head) <= 40:
        return head
    words = title.split()
    return " ".join(words[:4]) + ("…" if len(words) > 4 else "")


def _entries_context(edition: Edition) -> list[dict]:
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
    from .select import keyword_re

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
    for c in _entries_context(edition):
        ours = [f for f in c["findings"] if re.search(r"\b(we|our)\b", f, re.IGNORECASE)]
        first = (ours or c["findings"] or [""])[0]
        lines.append(f"{c['rank']}. **{c['short']} ({c['rank']})**" + (f": {first}" if first else ""))
    return "\n".join(lines).strip()


def summarize(store: Store, cfg: Config, edition: Edition, llm=None) -> str:
    """The executive summary Markdown of the edition, in its language (extractive without an LLM)."""
    if not edition.entries:
        return ""
    if llm is None:
        return extractive_summary(cfg, edition)
    from .llm import CostCeilingReached, LLMError, prompt_messages, run_sync
    from .validate import SUMMARY_SECTIONS

    lang = edition.language
    msgs = prompt_messages(lang, "summary", title=edition.title, entries=_entries_context(edition))
    try:
        res, _ = run_sync(lambda: _ask(llm, msgs, lang, "summary", SUMMARY_SECTIONS[lang]))
    except CostCeilingReached:
        raise
    except LLMError as e:
        log.warning("summary of %s: LLM failed (%s); using the extractive overview", edition.title, e)
        return extractive_summary(cfg, edition)
    if not res.ok:
        log.warning("summary of %s failed validation %s; using the extractive overview", edition.title, res.failed)
        return extractive_summary(cfg, edition)
    return res.text
