"""The issue as Markdown, in exactly the reference layout, and the parser that reads it back.

The layout is the contract of `shared/reference/arxiv_cv_report_2026-02-09.md`: parsing that
file and rendering it again gives it back byte for byte. Our own files add one thing the
reference lacks, the kind of analysis, and only when it is not `fulltext`:
`**Analysis (abstract):**` / `**Analysis (extractive):**` — so a reader sees that an analysis
was not made from the full text (or not written by an LLM at all), and the parser recovers it.
A reference-style `**Analysis:**` is read as `fulltext`.

Reports of the system we replace also hard-wrap abstracts and key findings and double spaces; a
parsed entry keeps its title, author line, abstract and findings as written (`EditionEntry.source`)
and `_as_read` writes them back while they still match the fields, so such reports round-trip too
(line-end whitespace aside). Errors name the line: `MarkdownFormatError("line 57: expected …")`.

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
ANALYSIS_HEADER_RE = re.compile(r"^\*\*Analysis(?: \((" + "|".join(ANALYSIS_KINDS) + r")\))?:\*\*$")
PDF_RE = re.compile(r"^- \[PDF\]\((\S+)\)$")
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


def _as_read(entry: EditionEntry, key: str, canonical: str) -> str:
    """The fragment of the report this entry was parsed from, when it still says `canonical`.

    Real reports hard-wrap abstracts (arXiv serves them so) and double spaces; our canonical
    form joins and collapses them. A parsed entry keeps what it read in `entry.source`, and it is
    written back only if it differs from the canonical text by whitespace alone and is already
    sanitised (`md_source` leaves it unchanged): an edited field, or a fragment that would carry
    a tag, falls back to the canonical text. Our own entries have no source: output unchanged.
    """
    raw = entry.source.get(key) if entry.source else None
    if raw is None or one_line(raw) != one_line(canonical) or md_source(raw) != raw:
        return canonical
    if key not in ("abstract", "key_findings") and "\n" in raw:  # titles and author lines stay one line
        return canonical
    if key == "key_findings" and _findings(raw.split("\n")) != _findings(canonical.split("\n")):
        return canonical  # the same words, but cut into other findings
    return raw


def _findings(lines: list[str]) -> list[str]:
    """Key findings from their Markdown lines: `- ` opens one, a line without it continues it
    (reports of the system we replace hard-wrap findings taken from arXiv abstracts)."""
    out: list[str] = []
    for ln in lines:
        if ln.startswith("- "):
            out.append(ln[2:])
        elif ln.strip() and out:
            out[-1] += " " + ln
    return [one_line(f) for f in out]


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
        out.append(f"{i}. [{_as_read(e, 'title', _title(e.paper.title))}](#{anchor(e.paper)})")
    out += ["", "---", "", "## Papers", ""]
    for e in edition.entries:
        p, a = e.paper, e.analysis
        out += [
            f"<a id='{anchor(p)}'></a>",
            f"## [{_as_read(e, 'title', _title(p.title))}]({p.abs_url})",
            "",
            f"**Authors:** {_as_read(e, 'authors', md_source(one_line(', '.join(p.authors))))}",
            "",
            f"**Published:** {p.published.date().isoformat()}",
            "",
            f"**Categories:** {', '.join(p.categories)}",
            "",
            "**Abstract:**",
            "",
            _as_read(e, "abstract", md_source(one_line(p.abstract))),
            "",
            analysis_header(a.kind if a else None),
            "",
            md_source(a.text.strip("\n")) if a else "",
            "",
            "**Key Findings:**",
            "",
        ]
        findings = "\n".join(f"- {md_source(one_line(k))}" for k in (a.key_findings if a else []) if one_line(k))
        out += [_as_read(e, "key_findings", findings)] if findings else []
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


def _line_no(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


class _Block:
    """The lines of one part of the file, numbered as in the file, for errors that name the line."""

    def __init__(self, lines: list[str], first: int, where: str):
        self.lines, self.first, self.where = lines, first, where

    def fail(self, i: int, expected: str) -> MarkdownFormatError:
        if i >= len(self.lines):
            seen = ", found the end of the file"
        else:
            got = self.lines[i].rstrip()
            seen = f", found {got[:60]!r}" if got else ", found an empty line"
        return MarkdownFormatError(f"line {self.first + i}: expected {expected} ({self.where}){seen}")

    def expect_blank(self, i: int, after: str) -> None:
        if i >= len(self.lines) or self.lines[i].strip():
            raise self.fail(i, f"an empty line after {after}")

    def field(self, i: int, label: str) -> str:
        """The text after `**Label:** ` on line i, as written (line-end whitespace aside)."""
        head = f"**{label}:**"
        line = self.lines[i].rstrip() if i < len(self.lines) else ""
        if not line.startswith(head):
            raise self.fail(i, f"'{head} …'")
        rest = line[len(head):]
        return rest[1:] if rest.startswith(" ") else rest

    def last(self, label: str, lo: int, hi: int) -> int:
        """Index of the last line `**Label:**` in [lo, hi) that follows an empty line, or -1."""
        for i in range(hi - 1, lo - 1, -1):
            if self.lines[i].rstrip() == f"**{label}:**" and i > 0 and not self.lines[i - 1].strip():
                return i
        return -1


def _parse_paper(pid: str, lines: list[str], first: int, rank: int, language: str) -> EditionEntry:
    """One paper: `lines` start at its anchor, which is line `first` of the file."""
    b = _Block(lines, first, f"paper {pid}")
    m = TITLE_RE.match(lines[1].rstrip()) if len(lines) > 1 else None
    if not m:
        raise b.fail(1, "'## [Title](url)' after the anchor")
    raw_title, abs_url = m.group(1), m.group(2)
    if not abs_url.endswith(pid):
        raise b.fail(1, f"a title link ending in the anchor id {pid}, not {abs_url}")
    b.expect_blank(2, "the title")
    raw_authors = b.field(3, "Authors")
    b.expect_blank(4, "the authors")
    published = b.field(5, "Published")
    b.expect_blank(6, "the publication date")
    categories = b.field(7, "Categories")
    b.expect_blank(8, "the categories")
    if len(lines) <= 9 or lines[9].rstrip() != "**Abstract:**":
        raise b.fail(9, "'**Abstract:**'")
    b.expect_blank(10, "'**Abstract:**'")
    hdr, am = -1, None
    for i in range(11, len(lines)):
        am = ANALYSIS_HEADER_RE.match(lines[i].rstrip())
        if am and not lines[i - 1].strip():
            hdr = i
            break
    if hdr < 0:
        raise b.fail(11, "an abstract followed by an empty line and '**Analysis:**' (none before the next paper)")
    b.expect_blank(hdr + 1, "the analysis header")
    links = b.last("Links", hdr + 2, len(lines))
    if links < 0:
        raise b.fail(len(lines) - 1, "'**Links:**' (after an empty line) at the end of the paper")
    kf = b.last("Key Findings", hdr + 2, links)
    if kf < 0:
        raise b.fail(links, "'**Key Findings:**' (after an empty line) before '**Links:**'")
    raw_abstract = "\n".join(lines[11:hdr - 1])
    analysis_text = "\n".join(lines[hdr + 2:kf - 1])
    raw_findings = "\n".join(ln.rstrip() for ln in lines[kf + 1:links]).strip("\n")
    findings = _findings(raw_findings.split("\n"))
    pdf = next((pm.group(1) for ln in lines[links + 1:] if (pm := PDF_RE.match(ln.rstrip()))), None)
    vm = VERSIONED_RE.match(pid)
    paper_id, version = (vm.group(1), int(vm.group(2))) if vm else (pid, 1)
    try:
        day = date.fromisoformat(published.strip())
    except ValueError:
        raise b.fail(5, f"'**Published:** YYYY-MM-DD', not {published!r}") from None
    when = datetime(day.year, day.month, day.day, tzinfo=UTC)
    cats = [c.strip() for c in categories.split(",") if c.strip()]
    paper = Paper(
        id=paper_id, version=version, title=_untitle(one_line(raw_title)),
        authors=[a.strip() for a in one_line(raw_authors).split(", ") if a.strip()],
        abstract=one_line(raw_abstract), categories=cats, primary_category=cats[0] if cats else "",
        published=when, updated=when, pdf_url=pdf or f"https://arxiv.org/pdf/{pid}",
    )
    analysis = Analysis(
        paper_id=paper_id, language=language, kind=am.group(1) or "fulltext", text=analysis_text,
        key_findings=findings, version=version,
    )
    source = {"title": raw_title, "authors": raw_authors, "abstract": raw_abstract, "key_findings": raw_findings}
    return EditionEntry(paper=paper, rank=rank, analysis=analysis, source=source)


def parse_markdown(text: str, profile: str = "", language: str | None = None) -> Edition:
    """Read an issue in the reference layout back into an Edition (entries ranked in file order).

    The file does not name the profile or language: pass them, or get "" and a guess from the
    text (zh when the summary or analyses contain CJK characters, else en).

    What is free text is kept as written: summary and analyses verbatim (`---` runs, headings
    and all), and the title, author line, abstract and key findings of each paper in `EditionEntry.source`,
    so `render_markdown(parse_markdown(t)) == t` up to line-end whitespace even for reports with
    hard-wrapped abstracts or doubled spaces. A file not in the layout raises one
    MarkdownFormatError naming the line and what was expected there.
    """
    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    top = _Block(lines, 1, "the top of the file")
    hm = re.match(r"time: (\d{8})$", lines[0].rstrip())
    if not hm:
        raise top.fail(0, "'time: YYYYMMDD'")
    try:
        day = datetime.strptime(hm.group(1), "%Y%m%d").date()
    except ValueError:
        raise top.fail(0, "'time: YYYYMMDD' with a real date") from None
    top.expect_blank(1, "the time line")
    if len(lines) < 3 or not lines[2].startswith("# "):
        raise top.fail(2, "'# Title'")
    title = lines[2][2:].rstrip()
    top.expect_blank(3, "the title")
    if len(lines) < 5 or lines[4].rstrip() != "## Executive Summary":
        raise top.fail(4, "'## Executive Summary'")
    top.expect_blank(5, "'## Executive Summary'")
    anchors = list(ANCHOR_RE.finditer(text))
    papers_at = anchors[0].start() if anchors else len(text)
    toc_at = text.rfind("\n\n---\n\n## Table of Contents\n\n", 0, papers_at)
    if toc_at < 0:
        where = f"before the first paper (line {_line_no(text, papers_at)})" if anchors else "in the file"
        raise MarkdownFormatError(
            f"line 7: expected the executive summary, then '---' and '## Table of Contents' {where}")
    head_end = sum(len(ln) + 1 for ln in lines[:6])
    summary = text[head_end:toc_at] if toc_at >= head_end else ""
    if language is None:
        language = "zh" if re.search(r"[\u4e00-\u9fff]", text) else "en"
    entries = []
    for n, m in enumerate(anchors):
        end = anchors[n + 1].start() if n + 1 < len(anchors) else len(text)
        first = _line_no(text, m.start())
        entries.append(_parse_paper(m.group(1), text[m.start():end].split("\n"), first, n + 1, language))
    return Edition(
        date=day, profile=profile, language=language, title=title, summary=summary,
        entries=entries, markdown=text,
    )
