"""The issue as Markdown, in exactly the reference layout, and the parser that reads it back.

The layout is the contract of `shared/reference/arxiv_cv_report_2026-02-09.md`: parsing that
file and rendering it again gives it back byte for byte. Our own files add one thing the
reference lacks, the kind of analysis, and only when it is not `fulltext`:
`**Analysis (abstract):**` / `**Analysis (extractive):**` — so a reader sees that an analysis
was not made from the full text (or not written by an LLM at all), and the parser recovers it.
A reference-style `**Analysis:**` is read as `fulltext`.

Untrusted text goes in through `sanitize.md_source`: it cannot open HTML tags or forge the
`<a id=…>` anchors the parser splits on, so hostile analyses cannot break the structure.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from ..models import ANALYSIS_KINDS, Analysis, Edition, EditionEntry, Paper
from .sanitize import md_source, one_line

ANCHOR_RE = re.compile(r"^<a id='([^'\s]+)'></a>$", re.MULTILINE)
TITLE_RE = re.compile(r"^## \[(.*)\]\((\S+)\)$")
VERSIONED_RE = re.compile(r"^(.+?)v(\d+)$")
ANALYSIS_RE = re.compile(r"\n\n\*\*Analysis(?: \((" + "|".join(ANALYSIS_KINDS) + r")\))?:\*\*\n\n")
SAFE_ID = re.compile(r"[^A-Za-z0-9._/-]")


class MarkdownFormatError(ValueError):
    """The text is not in the issue layout; the message says what was expected where."""


def _title(text: str) -> str:
    """A paper title on one line, with brackets escaped so the heading link stays a link."""
    return md_source(one_line(text)).replace("[", "\\[").replace("]", "\\]")


def _untitle(text: str) -> str:
    return text.replace("\\[", "[").replace("\\]", "]")


def anchor(paper: Paper) -> str:
    """The anchor id of a paper: its versioned arXiv id, reduced to safe characters."""
    return SAFE_ID.sub("", paper.versioned_id)


def analysis_header(kind: str | None) -> str:
    return "**Analysis:**" if kind in (None, "fulltext") else f"**Analysis ({kind}):**"


def render_markdown(edition: Edition) -> str:
    """The edition in the reference layout (the canonical content of an issue)."""
    out: list[str] = [
        f"time: {edition.date:%Y%m%d}",
        "",
        f"# {one_line(edition.title)}",
        "",
        "## Executive Summary",
        "",
        md_source(edition.summary.strip("\n")),
        "",
        "---",
        "",
        "## Table of Contents",
        "",
    ]
    for i, e in enumerate(edition.entries, start=1):
        out.append(f"{i}. [{_title(e.paper.title)}](#{anchor(e.paper)})")
    out += ["", "---", "", "## Papers", ""]
    for e in edition.entries:
        p, a = e.paper, e.analysis
        out += [
            f"<a id='{anchor(p)}'></a>",
            f"## [{_title(p.title)}]({p.abs_url})",
            "",
            f"**Authors:** {md_source(one_line(', '.join(p.authors)))}",
            "",
            f"**Published:** {p.published.date().isoformat()}",
            "",
            f"**Categories:** {', '.join(p.categories)}",
            "",
            "**Abstract:**",
            "",
            md_source(one_line(p.abstract)),
            "",
            analysis_header(a.kind if a else None),
            "",
            md_source(a.text.strip("\n")) if a else "",
            "",
            "**Key Findings:**",
            "",
        ]
        out += [f"- {md_source(one_line(k))}" for k in (a.key_findings if a else []) if one_line(k)]
        out += [
            "",
            "**Links:**",
            "",
            f"- [PDF]({p.pdf_url or f'https://arxiv.org/pdf/{p.versioned_id}'})",
            f"- [arXiv]({p.abs_url})",
            "",
            "---",
            "",
        ]
    return "\n".join(out) + "\n"


def _between(text: str, start: str, end: str, where: str) -> tuple[str, int]:
    i = text.find(start)
    if i < 0:
        raise MarkdownFormatError(f"{where}: missing {start.strip()!r}")
    i += len(start)
    j = text.find(end, i)
    if j < 0:
        raise MarkdownFormatError(f"{where}: missing {end.strip()!r} after {start.strip()!r}")
    return text[i:j], j


def _parse_paper(pid: str, block: str, rank: int, language: str) -> EditionEntry:
    where = f"paper {pid}"
    lines = block.split("\n")
    m = TITLE_RE.match(lines[0]) if lines else None
    if not m:
        raise MarkdownFormatError(f"{where}: expected '## [Title](url)' after the anchor")
    title, abs_url = _untitle(m.group(1)), m.group(2)
    authors, _ = _between(block, "\n\n**Authors:** ", "\n", where)
    published, _ = _between(block, "\n\n**Published:** ", "\n", where)
    categories, _ = _between(block, "\n\n**Categories:** ", "\n", where)
    abstract, _ = _between(block, "\n\n**Abstract:**\n\n", "\n\n**Analysis", where)
    am = ANALYSIS_RE.search(block)
    if not am:
        raise MarkdownFormatError(f"{where}: missing '**Analysis:**'")
    links_at = block.rfind("\n\n**Links:**\n\n")
    kf_at = block.rfind("\n\n**Key Findings:**\n\n", am.end() - 2, links_at + 2 if links_at >= 0 else len(block))
    if links_at < 0 or kf_at < 0:
        raise MarkdownFormatError(f"{where}: missing '**Key Findings:**' or '**Links:**'")
    analysis_text = block[am.end():kf_at]
    kf_block = block[kf_at + len("\n\n**Key Findings:**\n\n"):links_at]
    findings = [ln[2:] for ln in kf_block.split("\n") if ln.startswith("- ")]
    links = block[links_at:]
    pdf = re.search(r"^- \[PDF\]\((\S+)\)$", links, re.MULTILINE)
    vm = VERSIONED_RE.match(pid)
    paper_id, version = (vm.group(1), int(vm.group(2))) if vm else (pid, 1)
    try:
        day = date.fromisoformat(published.strip())
    except ValueError:
        raise MarkdownFormatError(f"{where}: Published {published!r} is not YYYY-MM-DD") from None
    when = datetime(day.year, day.month, day.day, tzinfo=UTC)
    cats = [c.strip() for c in categories.split(",") if c.strip()]
    paper = Paper(
        id=paper_id, version=version, title=title,
        authors=[a.strip() for a in authors.split(", ") if a.strip()],
        abstract=abstract, categories=cats, primary_category=cats[0] if cats else "",
        published=when, updated=when, pdf_url=pdf.group(1) if pdf else f"https://arxiv.org/pdf/{pid}",
    )
    if not abs_url.endswith(pid):
        raise MarkdownFormatError(f"{where}: title link {abs_url} does not match the anchor")
    analysis = Analysis(
        paper_id=paper_id, language=language, kind=am.group(1) or "fulltext", text=analysis_text,
        key_findings=findings, version=version,
    )
    return EditionEntry(paper=paper, rank=rank, analysis=analysis)


def parse_markdown(text: str, profile: str = "", language: str | None = None) -> Edition:
    """Read an issue in the reference layout back into an Edition (entries ranked in file order).

    The file does not name the profile or language: pass them, or get "" and a guess from the
    text (zh when the summary or analyses contain CJK characters, else en).
    """
    text = text.replace("\r\n", "\n")
    head = re.match(r"time: (\d{8})\n\n# (.*)\n\n## Executive Summary\n\n", text)
    if not head:
        raise MarkdownFormatError("expected 'time: YYYYMMDD', '# Title' and '## Executive Summary' at the top")
    day = datetime.strptime(head.group(1), "%Y%m%d").date()
    anchors = list(ANCHOR_RE.finditer(text))
    papers_at = anchors[0].start() if anchors else len(text)
    toc_at = text.rfind("\n\n---\n\n## Table of Contents\n\n", 0, papers_at)
    if toc_at < 0:
        raise MarkdownFormatError("missing '## Table of Contents' after the executive summary")
    summary = text[head.end():toc_at]
    if language is None:
        language = "zh" if re.search(r"[\u4e00-\u9fff]", text) else "en"
    entries = []
    for n, m in enumerate(anchors):
        end = anchors[n + 1].start() if n + 1 < len(anchors) else len(text)
        block = text[m.end() + 1:end]
        entries.append(_parse_paper(m.group(1), block, n + 1, language))
    return Edition(
        date=day, profile=profile, language=language, title=head.group(2), summary=summary,
        entries=entries, markdown=text,
    )
