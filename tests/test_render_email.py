"""The HTML email: size budget by measurement, attachments, labels, no external resources."""

from __future__ import annotations

import logging
import re
from dataclasses import replace

import lxml.html
import pytest

from newsletter.config import Config
from newsletter.models import Analysis, EditionEntry
from newsletter.render import personalize, render_edition
from newsletter.render.email import (
    HTML_BUDGET,
    PERSONALIZATION_RESERVE,
    build_html,
    is_shortened,
    render_email,
    shorten_analysis,
    size_of,
)
from newsletter.render.markdown import parse_markdown
from newsletter.store import Store
from tests.servers.render_data import paper, reference_edition


def _cfg(public_url: str = "") -> Config:
    return Config.model_validate(
        {"profiles": [{"name": "cv", "categories": ["cs.CV"], "language": "zh"}], "web": {"public_url": public_url}}
    )


@pytest.fixture(scope="module")
def reference_rendered():
    ed = reference_edition()
    return ed, render_edition(ed, _cfg("https://news.example.org"))


def test_reference_day_fits_under_100_kb_even_after_personalisation(reference_rendered):
    ed, r = reference_rendered
    assert len(r.markdown.encode()) > 140_000  # the full content is far bigger than the budget
    assert r.html_size == size_of(r.html) < HTML_BUDGET - PERSONALIZATION_RESERVE
    long_url = "https://news.example.org/unsubscribe?token=" + "x" * 400
    out = personalize(r.html, name="名" * 100, unsubscribe_url=long_url)
    assert len(out.encode("utf-8")) < 100_000
    assert long_url in out and "%%NL_" not in out
    assert r.allowance is not None and len(r.shortened) >= 5


def test_shortening_is_decided_by_measurement():
    # without the phone-length reading allowance (the layout's own cut) the byte budget alone decides
    ed = reference_edition()
    cfg = _cfg("https://news.example.org")
    r = render_email(ed, cfg, reading=None)
    limit = HTML_BUDGET - PERSONALIZATION_RESERVE
    assert r.allowance is not None and r.size <= limit
    longest = max(len(e.analysis.text) for e in ed.entries)
    step = max(200, longest // 64)
    bigger, _ = build_html(ed, cfg, allowance=r.allowance + step)
    assert size_of(bigger) > limit  # a larger allowance would not have fitted


def test_shortened_email_links_the_archive_and_attaches_nothing_with_public_url(reference_rendered):
    ed, r = reference_rendered
    assert is_shortened(r.html) and r.attachments == []
    assert "https://news.example.org/archive/2026-02-09/cv.html#2602.06959v1" in r.html
    assert "阅读完整分析" in r.html and "完整报告见网页存档" in r.text and "附件" not in r.text + r.html


@pytest.mark.parametrize("attach", ["html", "markdown"])
def test_shortened_email_attaches_one_file_of_the_complete_report(attach):
    ed = reference_edition()
    ed = replace(ed, entries=ed.entries[:3])  # small enough that the report fits the message budget
    cfg = _cfg()
    cfg.render.attach = attach
    r = render_edition(ed, cfg)
    assert is_shortened(r.html)
    [a] = r.attachments
    assert a.filename == f"arxiv-cv-2026-02-09.{'md' if attach == 'markdown' else 'html'}"
    if attach == "markdown":
        assert parse_markdown(a.data.decode()).entries[0].analysis.text == ed.entries[0].analysis.text
    else:
        assert "摄像机可控的动态视频" in a.data.decode()  # the last line of the first, longest analysis
    label = "HTML" if attach == "html" else "Markdown"
    assert f"完整报告见附件（{label}）" in r.text and f"完整报告见附件（{label}）" in r.html
    # kept with the edition in the store: send time attaches exactly what render produced
    store = Store.open(":memory:")
    store.save_selection(ed, [e.paper.id for e in ed.entries])
    store.save_render(ed.id, r.markdown, r.html, r.text, r.attachments)
    assert store.get_edition_by_id(ed.id).attachments == r.attachments


def test_a_report_too_big_for_the_message_is_not_attached_and_not_promised():
    ed = reference_edition()
    r = render_edition(ed, _cfg())  # attach = "html", but the whole report is ~235 KB on the wire
    assert is_shortened(r.html) and r.attachments == []
    assert "附件" not in r.text and "附件" not in r.html


def test_small_edition_is_whole_and_has_no_attachments():
    ed = reference_edition()
    ed = replace(ed, entries=ed.entries[1:3])  # two short analyses: under the reading allowance
    r = render_edition(ed, _cfg())
    assert r.allowance is None and r.attachments == [] and not is_shortened(r.html)
    assert "read the full" not in r.html.lower()


def test_huge_edition_degrades_to_a_title_list_under_budget():
    entries = []
    for i in range(1, 101):
        p = paper(i, title=f"A long paper title number {i} about diffusion models and video generation")
        findings = [f"Finding {k} of paper {i}: " + "important result " * 30 for k in range(5)]
        entries.append(EditionEntry(p, i, Analysis(p.id, "en", "abstract", "Text " * 500, findings)))
    ed = replace(reference_edition(), language="en", entries=entries)
    mail = render_email(ed, _cfg())
    assert mail.size < HTML_BUDGET - PERSONALIZATION_RESERVE
    assert mail.dropped and len(mail.dropped) < 100
    assert "A long paper title number 100" in mail.html  # still listed by title


def test_every_card_says_what_kind_of_analysis_it_got():
    ed = reference_edition()
    ed = replace(ed, language="en", entries=ed.entries[:3])
    ed.entries[0].analysis.kind = "fulltext"
    ed.entries[1].analysis.kind = "abstract"
    ed.entries[2].analysis.kind = "extractive"
    r = render_edition(ed, _cfg())
    text = " ".join(r.text.split())  # the text part wraps lines
    for needle in ("Full-text analysis · written by an LLM", "Abstract-only analysis",
                   "not written by an LLM"):
        assert needle in r.html and needle in text
    assert r.html.count("not written by an LLM") == 1 and text.count("not written by an LLM") == 1
    assert "**Analysis (extractive):**" in r.markdown


def test_no_external_resources_small_style_block_and_a_footer(reference_rendered):
    _, r = reference_rendered
    tree = lxml.html.document_fromstring(r.html)
    assert not list(tree.iter("link", "script", "img", "iframe"))
    assert "fonts.googleapis" not in r.html and "@import" not in r.html
    assert all(len(s.text_content().encode()) < 16_000 for s in tree.iter("style"))
    assert "%%NL_UNSUBSCRIBE_URL%%" in r.html and "退订" in r.html
    assert "您订阅了" in r.html  # why you receive it
    assert "PingFang SC" in r.html and "Microsoft YaHei" in r.html
    assert 'name="viewport"' in r.html
    assert r.html.count('class="kind ') == 10
    # the compact list links to the archive's cards, not to in-message anchors (dead in Gmail iOS & co.)
    toc = tree.xpath("//ol[contains(@class,'toc')]/li/a/@href")
    base = "https://news.example.org/archive/2026-02-09/cv.html"
    assert toc[:2] == [f"{base}#2602.06959v1", f"{base}#2602.06949v1"]


def test_authors_are_shortened_with_et_al():
    ed = reference_edition()
    ed = replace(ed, language="en", entries=ed.entries[1:2])
    r = render_edition(ed, _cfg())
    assert "Shenyuan Gao, William Liang, Kaiyuan Zheng et al." in r.html


def test_premailer_is_quiet(caplog, capfd):
    caplog.set_level(logging.DEBUG)
    ed = reference_edition()
    render_email(replace(ed, entries=ed.entries[:2]), _cfg())
    assert not [r for r in caplog.records if r.name.startswith(("cssutils", "premailer")) and r.levelno >= logging.WARNING]
    err = capfd.readouterr().err
    assert "cssutils" not in err and "WARNING" not in err


def test_shorten_analysis_keeps_whole_blocks_and_key_sections_first():
    text = "## 1. Intro\n\nfirst para.\n\nsecond para.\n\n```\ncode\n\nmore code\n```\n\n## 7. 总结\n\nthe summary."
    short = shorten_analysis(text, 40)
    assert "总结" in short and "the summary." in short
    assert short.count("```") in (0, 2)
    assert shorten_analysis(text, 0) == ""
    assert shorten_analysis(text, 10_000) == text
    assert re.match(r"^abc", shorten_analysis("abc. " * 100, 50))
