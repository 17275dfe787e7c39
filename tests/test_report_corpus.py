"""Reports in the reference layout as real ones come: they round-trip, and broken ones say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.render.markdown import MarkdownFormatError, parse_markdown, render_markdown
from tests.servers.render_data import REFERENCE, reference_edition

REPORTS = sorted((Path(__file__).resolve().parent / "data" / "reports").glob("*.md"))
REPORTS = [p for p in REPORTS if p.name != "README.md"]
# excerpts of real published reports (credited in data/reports/README.md), and the reference itself
REAL = sorted((Path(__file__).resolve().parent / "data" / "reports" / "real").glob("*.md")) + [REFERENCE]


def _strip_line_ends(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip("\n").split("\n"))


def test_corpus_is_there():
    assert len(REPORTS) >= 2


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: p.name)
def test_report_round_trips(path: Path):
    text = path.read_text(encoding="utf-8")
    ed = parse_markdown(text, profile="cv")
    assert len(ed.entries) == 10
    again = render_markdown(ed)
    assert _strip_line_ends(again) == _strip_line_ends(text)
    assert render_markdown(parse_markdown(again)) == again  # and stable from then on


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_real_report_round_trips(path: Path):
    """Real reports: hard-wrapped abstracts and findings, doubled spaces, `---` runs, headings in analyses."""
    text = path.read_text(encoding="utf-8")
    ed = parse_markdown(text, profile="cv")
    assert ed.entries and all(e.analysis.text for e in ed.entries) and ed.summary.strip()
    again = render_markdown(ed)
    assert _strip_line_ends(again) == _strip_line_ends(text)
    assert render_markdown(parse_markdown(again)) == again


def test_real_reports_are_credited_and_varied():
    credits = (REFERENCE.parent / "reports" / "README.md").read_text(encoding="utf-8")
    for path in REAL[:-1]:
        day = path.stem.rsplit("_", 1)[1]
        assert f"arxiv_cv_report_{day}.md" in credits and day in credits, f"{path.name} is not credited"
    texts = [p.read_text(encoding="utf-8") for p in REAL]
    assert len(REAL) >= 10
    assert any("\n**Authors:**  " in t for t in texts)  # doubled spaces as published
    eds = [parse_markdown(t) for t in texts]
    entries = [e for ed in eds for e in ed.entries]
    assert any("\n" in e.source["abstract"] for e in entries)  # hard-wrapped abstracts
    assert any("\n" in e.source["key_findings"] for e in entries)  # hard-wrapped key findings
    assert any(ed.summary.rstrip().endswith("---") for ed in eds)  # `---` runs before the contents
    assert any("\n### " in e.analysis.text or e.analysis.text.startswith("### ") for e in entries)


def test_real_wrapped_findings_are_whole_sentences():
    ed = parse_markdown((REFERENCE.parent / "reports" / "real" / "arxiv_cv_report_2025-11-05.md").read_text("utf-8"))
    findings = ed.entries[1].analysis.key_findings
    assert len(findings) == 4 and findings[2].startswith("At the heart of our approach is a novel perceptual")
    assert all("\n" not in f for f in findings)
    ed.entries[1].analysis.key_findings = findings[:1]  # edited: written in the canonical one-line form
    assert "\n- We present PercHead, a method for single-image 3D head reconstruction and semantic 3D" in \
        render_markdown(ed)


def test_wrapped_abstract_parses_to_one_line_text():
    wrapped = parse_markdown((REFERENCE.parent / "reports" / "wrapped_abstracts_2026-02-09.md").read_text("utf-8"))
    ref = reference_edition()
    for w, r in zip(wrapped.entries, ref.entries, strict=True):
        assert w.paper.abstract == " ".join(r.paper.abstract.split())
        assert w.paper.authors == r.paper.authors
        assert "\n" not in w.paper.abstract


def test_analysis_keeps_runs_headings_and_label_lookalikes():
    ed = parse_markdown((REFERENCE.parent / "reports" / "analysis_structure_2026-02-09.md").read_text("utf-8"))
    first, second = ed.entries[0].analysis, ed.entries[1].analysis
    assert "\n\n-----\n\n### Heading inside the analysis\n\n" in first.text and first.text.endswith("## Another heading")
    assert second.text.endswith("**Key Findings:**\n\n- not a real finding")
    assert "not a real finding" not in second.key_findings
    assert ed.entries[2].paper.authors[:2] == ["Darryl Hannan", "John Cooper"]


def test_our_own_editions_render_as_before():
    """Without parsed source, or once a field is edited, the canonical one-line form is written."""
    ed = parse_markdown((REFERENCE.parent / "reports" / "wrapped_abstracts_2026-02-09.md").read_text("utf-8"))
    for e in ed.entries:
        e.source = {}
    assert render_markdown(ed) == REFERENCE.read_text(encoding="utf-8")
    ed = parse_markdown((REFERENCE.parent / "reports" / "wrapped_abstracts_2026-02-09.md").read_text("utf-8"))
    ed.entries[0].paper.abstract = "Edited <b>abstract</b>."
    text = render_markdown(ed)
    assert "\n\nEdited &lt;b>abstract&lt;/b>.\n\n**Analysis:**" in text  # edited: canonical and sanitised
    assert "\n\ncamera movement, but live-action" not in text
    assert "\nrevolutionize the development of generalist agents" in text  # untouched ones stay wrapped


def test_hostile_source_fragment_is_not_written_verbatim():
    ed = reference_edition()
    e = ed.entries[0]
    e.paper.abstract = "a <script>x</script> b"
    e.source["abstract"] = "a <script>x</script>\nb"  # whitespace-equal, but not sanitised
    assert "a &lt;script>x&lt;/script> b" in render_markdown(ed)


def _broken(old: str, new: str, count: int = 1) -> str:
    text = REFERENCE.read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, count)


def _without_summary() -> str:
    """Later reports of the system we replace drop the summary: a different layout, refused."""
    text = REFERENCE.read_text(encoding="utf-8")
    return text[:text.index("## Executive Summary")] + text[text.index("## Table of Contents"):]


def _offset_of(s: str) -> int:
    return REFERENCE.read_text(encoding="utf-8").index(s)


def _real(day: str) -> str:
    return (REFERENCE.parent / "reports" / "real" / f"arxiv_cv_report_{day}.md").read_text(encoding="utf-8")


def _real_cut(day: str, before: str) -> str:
    """A real report cut off mid-paper, as a failed download or a half-written file leaves it."""
    text = _real(day)
    return text[:text.index(before)]


BROKEN_REAL = [
    # the generator's own file, before the site adds its `time:` meta line
    ("generator file without the time line", lambda: _real("2025-10-22").split("\n", 2)[2],
     r"^line 1: expected 'time: YYYYMMDD' \(the top of the file\), found '# Arxiv Computer Vision Papers - 2025-10-22'"),
    ("cut inside the second abstract", lambda: _real_cut("2025-11-05", "novel-view synthesis and, furthermore"),
     r"^line 168: expected an abstract followed by an empty line and '\*\*Analysis:\*\*' \(none before the next "
     r"paper\) \(paper 2511.02777v1\), found 'We present PercHead, a method"),
    ("cut before the links", lambda: _real_cut("2026-02-10", "**Links:**"),
     r"^line 122: expected '\*\*Links:\*\*' \(after an empty line\) at the end of the paper \(paper 2602.08613v1\), "
     r"found an empty line$"),
]


@pytest.mark.parametrize(("name", "make", "message"), BROKEN_REAL, ids=[b[0] for b in BROKEN_REAL])
def test_broken_real_report_names_the_line(name, make, message):
    with pytest.raises(MarkdownFormatError, match=message):
        parse_markdown(make())


BROKEN = [
    ("no time line", lambda: _broken("time: 20260209\n", "date: 20260209\n"), r"^line 1: expected 'time: YYYYMMDD'"),
    ("title heading lost", lambda: _broken("<a id='2602.06949v1'></a>\n## [", "<a id='2602.06949v1'></a>\n### ["),
     r"^line 282: expected '## \[Title\]\(url\)' after the anchor \(paper 2602.06949v1\)"),
    ("authors label misspelt", lambda: _broken("**Authors:** Darryl", "**Author:** Darryl"),
     r"^line 314: expected '\*\*Authors:\*\* …' \(paper 2602.06914v1\), found '\*\*Author:\*\* Darryl"),
    ("bad date", lambda: _broken("**Published:** 2026-02-06", "**Published:** 6 Feb 2026"),
     r"^line 71: expected '\*\*Published:\*\* YYYY-MM-DD', not '6 Feb 2026'"),
    ("no analysis header", lambda: _broken("**Analysis:**\n\n好的，我将以AI领域", "**Analyse:**\n\n好的，我将以AI领域"),
     r"^line 77: expected an abstract followed by an empty line and '\*\*Analysis:\*\*'"),
    ("newer layout without summary", lambda: _without_summary(),
     r"^line 5: expected '## Executive Summary' \(the top of the file\), found '## Table of Contents'"),
    ("cut after the time line", lambda: "time: 20260209\n",
     r"^line 3: expected '# Title' \(the top of the file\), found the end of the file"),
    ("cut inside a paper", lambda: REFERENCE.read_text(encoding="utf-8")[:_offset_of("**Categories:** cs.CV")],
     r"^line 73: expected '\*\*Categories:\*\* …' \(paper 2602.06959v1\), found an empty line"),
    ("no table of contents", lambda: _broken("## Table of Contents", "## Contents"),
     r"^line 7: expected the executive summary, then '---' and '## Table of Contents' before the first paper \(line 66\)"),
]


@pytest.mark.parametrize(("name", "make", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_report_names_the_line(name, make, message):
    with pytest.raises(MarkdownFormatError, match=message):
        parse_markdown(make())
