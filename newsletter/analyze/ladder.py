"""The analysis ladder: the best analysis of each chosen paper that passes validation.

With an LLM each paper gets the best analysis that passes validation, in this order:
`fulltext` (the 7-section method analysis from the PDF's text), `abstract` (5 points from the
abstract: when the PDF is unavailable or the full-text answer fails), `extractive` (key
sentences of the abstract, no LLM: the last resort, and the only analyzer without an LLM).
Analyses are stored per (paper, language) and shared between the profiles of that language.
One paper's failure never fails the run; only the cost ceiling, a fatal LLM error (bad key,
unknown model) or a stop request (SIGTERM, during a download or a backoff) stops it.
"""

from __future__ import annotations

import asyncio
import logging

from ..config import Config
from ..errors import ConfigError, CostCeilingReached, LLMFatalError, StopRequested
from ..llm import LLMError, prompt_messages, run_sync
from ..models import Analysis, Paper
from ..progress import Progress, emit
from ..store import Store
from ..templating import override_dir
from . import fulltext as ft
from .budget import ROUTES
from .extractive import extractive_analysis, key_findings
from .validate import ABSTRACT_POINTS, FULLTEXT_SECTIONS, check_answer

log = logging.getLogger(__name__)

MAX_TOKENS = {"fulltext": 6000, "abstract": 2000, "summary": 2500}

def _profile_keywords(cfg: Config, language: str) -> list[str]:
    kws: list[str] = []
    for p in cfg.profiles:
        if p.language == language:
            kws += p.keywords.primary + p.keywords.secondary
    return list(dict.fromkeys(kws))


async def ask(llm, messages, language: str, kind: str, headings: list[str] | None):
    """Ask and validate; a cut-off answer is asked again once with twice the tokens."""
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
                       keywords: list[str], route: str = "fulltext") -> Analysis:
    """Full text, else the abstract, else extractive: the first answer that passes validation,
    starting from `route` (the day's budget may leave a paper only the abstract)."""
    checks: dict = {"llm": True}
    if route != "fulltext":
        checks["capped"] = "fulltext_per_day"
    findings = key_findings(paper)

    async def fulltext_messages():
        text = await ft.fetch_fulltext(cfg, paper, pdf_sem)
        body = ft.cut_to_budget(text, ft.budget_for(cfg))
        checks["pdf"] = f"ok ({ft.estimate_tokens(body)} tokens)"
        return prompt_messages(language, "analysis", override_dir(cfg), paper=paper, fulltext=body)

    async def abstract_messages():
        return prompt_messages(language, "abstract", override_dir(cfg), paper=paper)

    ladder = (
        ("fulltext", fulltext_messages, FULLTEXT_SECTIONS[language]),
        ("abstract", abstract_messages, ABSTRACT_POINTS[language]),
    )
    for kind, messages, headings in ladder[ROUTES.index(route):]:
        try:
            res, ans = await ask(llm, await messages(), language, kind, headings)
            checks[kind] = res.checks
            if res.ok:
                return Analysis(paper_id=paper.id, language=language, kind=kind, text=res.text,
                                key_findings=findings, model=ans.model, version=paper.version, checks=checks)
            log.info("analysis of %s: %s answer failed %s; falling back", paper.id, kind, res.failed)
        except (CostCeilingReached, LLMFatalError, StopRequested, ConfigError):  # ConfigError: a broken override
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
    progress: Progress | None = None, routes: dict[str, str] | None = None,
) -> dict[str, Analysis]:
    """An analysis for every paper (stored ones reused); never raises for one paper's failure.

    `routes` (see budget.py): the best rung each paper may use; a paper routed "extractive" gets
    no LLM call, and its analysis says it was past the day's cap."""
    routes = routes or {}
    keywords = _profile_keywords(cfg, language)
    out: dict[str, Analysis] = {}
    todo: list[Paper] = []
    for p in papers:
        a = store.get_analysis(p.id, language)
        stale = a is None or a.version != p.version
        upgrade = (a is not None and llm is not None and a.kind == "extractive" and not a.checks.get("llm")
                   and routes.get(p.id) != "extractive")
        if stale or upgrade:
            todo.append(p)
        else:
            out[p.id] = a
    if not todo:
        return out
    capped = [p for p in todo if llm is not None and routes.get(p.id) == "extractive"]
    for p in todo if llm is None else capped:
        a = extractive_analysis(p, language, keywords)
        if p in capped:
            a.checks = {**a.checks, "capped": "abstract_per_day"}
        store.put_analysis(a)
        out[p.id] = a
    todo = [p for p in todo if llm is not None and p not in capped]
    if not todo:
        return out

    async def main() -> None:
        pdf_sem = asyncio.Semaphore(cfg.llm.pdf_concurrency)
        done = 0

        async def one(p: Paper) -> None:
            nonlocal done
            a = await _analyze_one(llm, cfg, language, p, pdf_sem, keywords, routes.get(p.id, "fulltext"))
            store.put_analysis(a)  # kept as soon as made: a stopped run resumes from here
            out[p.id] = a
            done += 1
            emit(progress, "analyze", f"analyze: {done}/{len(todo)} {p.id} → {a.kind}", done=done, total=len(todo))

        results = await asyncio.gather(*(one(p) for p in todo), return_exceptions=True)
        for r in results:  # only the cost ceiling, a fatal LLM error, a stop (or a bug); the first is re-raised
            if isinstance(r, BaseException):
                raise r

    run_sync(main)
    return out
