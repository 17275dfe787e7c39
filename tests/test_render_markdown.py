"""The Markdown layout contract: the reference file round-trips exactly; our additions parse back."""

from __future__ import annotations

from dataclasses import replace

import pytest

from newsletter.render.markdown import MarkdownFormatError, parse_markdown, render_markdown
from tests.servers.render_data import REFERENCE, hostile_edition, paper, reference_edition


def _strip_line_ends(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.split("\n"))


def test_reference_round_trip_is_exact():
    text = REFERENCE.read_text(encoding="utf-8")
    ed = parse_markdown(text, profile="cv")
    assert ed.title == "Arxiv Computer Vision Papers - 2026-02-09"
    assert ed.date.isoformat() == "2026-02-09"
    assert len(ed.entries) == 10
    assert ed.summary.startswith("好的，这是一份") and ed.summary.endswith("---")
    first = ed.entries[0]
    assert first.paper.id == "2602.06959" and first.paper.version == 1
    assert first.paper.categories == ["cs.CV"] and len(first.paper.authors) == 11
    assert first.analysis.text.startswith("好的，我将以AI领域") and first.analysis.text.endswith("摄像机可控的动态视频。")
    assert len(first.analysis.key_findings) == 5
    assert [e.analysis.kind for e in ed.entries] == ["fulltext"] * 10  # the reference does not say; default
    assert _strip_line_ends(render_markdown(ed)) == _strip_line_ends(text)
    assert render_markdown(ed) == text  # in fact byte for byte


def test_analysis_kind_is_written_only_when_not_fulltext_and_parsed_back():
    ed = reference_edition()
    ed.entries[1].analysis.kind = "abstract"
    ed.entries[2].analysis.kind = "extractive"
    text = render_markdown(ed)
    assert "**Analysis (abstract):**" in text and "**Analysis (extractive):**" in text
    assert text.count("**Analysis:**") == 8
    back = parse_markdown(text)
    assert [e.analysis.kind for e in back.entries][:4] == ["fulltext", "abstract", "extractive", "fulltext"]
    assert render_markdown(back) == text


def test_empty_summary_no_findings_and_missing_analysis_round_trip():
    ed = reference_edition()
    ed = replace(ed, summary="", entries=ed.entries[:2])
    ed.entries[0].analysis.key_findings = []
    ed.entries[1].analysis = None
    text = render_markdown(ed)
    back = parse_markdown(text)
    assert back.summary == "" and len(back.entries) == 2
    assert back.entries[0].analysis.key_findings == []
    assert back.entries[1].analysis.text == ""
    assert render_markdown(back) == text


def test_titles_with_brackets_and_line_breaks_stay_one_heading_link():
    ed = reference_edition()
    ed.entries[0].paper = replace(ed.entries[0].paper, title="[Re] A study\n  of ]brackets[", abstract="line\none")
    back = parse_markdown(render_markdown(ed))
    assert back.entries[0].paper.title == "[Re] A study of ]brackets["
    assert back.entries[0].paper.abstract == "line one"


def test_hostile_text_cannot_break_the_structure():
    ed = hostile_edition()
    text = render_markdown(ed)
    back = parse_markdown(text)
    assert len(back.entries) == len(ed.entries)
    assert [e.paper.id for e in back.entries] == [e.paper.id for e in ed.entries]
    assert all(e.analysis.key_findings[-1] == "plain finding" for e in back.entries)
    assert render_markdown(back) == text  # stable once sanitised


def test_not_the_layout_is_a_clear_error():
    with pytest.raises(MarkdownFormatError, match="time: YYYYMMDD"):
        parse_markdown("# just a title\n")


def test_paper_helper_builds_valid_papers():
    assert paper(3).versioned_id == "2602.00003v1"
