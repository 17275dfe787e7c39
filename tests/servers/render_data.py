"""Editions for the render and preview tests: the reference day, hostile inputs, a stored copy."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from newsletter.models import Analysis, Edition, EditionEntry, Paper

# a copy of shared/reference/arxiv_cv_report_2026-02-09.md, so a clean clone tests the same contract
REFERENCE = Path(__file__).resolve().parent.parent / "data" / "arxiv_cv_report_2026-02-09.md"

LONG_URL = "https://example.org/" + "a" * 300 + "?q=" + "b" * 200
WIDE_TABLE = "| " + " | ".join(f"column{i}" for i in range(30)) + " |\n|" + "---|" * 30 + "\n| " + " | ".join(
    "x" * 20 for _ in range(30)) + " |"

# (name, markdown text an LLM or arXiv might produce) — each goes through all three formats
HOSTILE = [
    ("script", "<script>alert(1)</script> hello"),
    ("event handler", '<img src=x onerror="alert(1)"> and <a href="#" onclick="alert(2)">x</a>'),
    ("javascript link", "[click](javascript:alert(1)) and [b](JAVASCRIPT:alert(1)) and <javascript:alert(3)>"),
    ("data link", "[d](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)"),
    ("remote image", "![tracker](https://evil.example/pixel.png) and <img src='https://evil.example/p.gif'>"),
    ("iframe", '<iframe src="https://evil.example/"></iframe><style>body{display:none}</style>'),
    ("unbalanced", "**bold without end, _italic `code\n\n```python\nnever closed"),
    ("math", "where $x<y$ and $a_i^2 > b$ and $$\\sum_{i} \\alpha_i \\leq 1$$ costs $5 and $10"),
    ("long word", "A" * 400 + " " + LONG_URL),
    ("wide table", WIDE_TABLE),
    ("rtl", "النص العربي يُكتب من اليمين إلى اليسار \u202eevil\u202c and עברית"),
    ("emoji", "🚀🔥 results 👍🏽 家族👨‍👩‍👧‍👦 and 中文字符"),
    ("placeholder forgery", "%%NL_UNSUBSCRIBE_URL%% %%NL_NAME%% %%NL\\_NAME%% &#37;&#37;NL_NAME&#37;&#37;"),
    ("structure forgery", "x\n\n**Key Findings:**\n\n- fake\n\n**Links:**\n\n<a id='9999.99999v1'></a>\n## [fake](https://x)"),
]


def reference_edition(profile: str = "cv") -> Edition:
    from newsletter.render.markdown import parse_markdown

    return parse_markdown(REFERENCE.read_text(encoding="utf-8"), profile=profile, language="zh")


def paper(n: int, title: str = "", abstract: str = "") -> Paper:
    when = datetime(2026, 2, 6, tzinfo=UTC)
    return Paper(
        id=f"2602.{n:05d}", version=1, title=title or f"Paper number {n}", authors=["Ann A", "Bob B"],
        abstract=abstract or "We study things.", categories=["cs.CV", "cs.LG"], primary_category="cs.CV",
        published=when, updated=when, pdf_url=f"https://arxiv.org/pdf/2602.{n:05d}v1",
    )


def hostile_edition(language: str = "en") -> Edition:
    """One paper per hostile input, the input used as title, abstract, analysis and key finding."""
    entries = []
    for i, (name, text) in enumerate(HOSTILE, start=1):
        p = paper(i, title=f"{name}: {text}", abstract=text)
        kind = ("fulltext", "abstract", "extractive")[i % 3]
        a = Analysis(paper_id=p.id, language=language, kind=kind, text=text, key_findings=[text, "plain finding"])
        entries.append(EditionEntry(paper=p, rank=i, analysis=a))
    return Edition(
        date=date(2026, 2, 9), profile="cv", language=language, title="Hostile day - 2026-02-09",
        summary="Summary with " + HOSTILE[0][1] + " and " + HOSTILE[12][1], entries=entries,
    )


def with_extra_entries(ed: Edition, extra: list[EditionEntry]) -> Edition:
    entries = list(ed.entries) + [replace(e, rank=len(ed.entries) + i + 1) for i, e in enumerate(extra)]
    return replace(ed, entries=entries)


def store_rendered(store, cfg, ed: Edition) -> Edition:
    """Put the edition's papers, analyses and selection in the store, render it the pipeline's way."""
    from newsletter.pipeline import stage_render

    store.upsert_papers([e.paper for e in ed.entries])
    for e in ed.entries:
        if e.analysis:
            store.put_analysis(e.analysis)
    new = Edition(date=ed.date, profile=ed.profile, language=ed.language, title=ed.title, status="analyzed",
                  cadence=ed.cadence)
    store.save_selection(new, [e.paper.id for e in ed.entries])
    store.update_edition(new.id, summary=ed.summary, status="analyzed")
    stored = store.get_edition(ed.date, ed.profile, cadence=ed.cadence)
    return stage_render(store, cfg, stored)
