"""Analyses and the executive summary against the local LLM server, with PDFs served over HTTP."""

from __future__ import annotations

from datetime import date

import pytest

from newsletter.analyze import analyze_papers, extractive_analysis, key_findings, short_name, summarize
from newsletter.analyze import fulltext as ft
from newsletter.errors import CostCeilingReached
from newsletter.llm import make_llm
from newsletter.models import Edition, EditionEntry
from newsletter.store import Store
from tests.servers.llm_server import (
    EN_SECTIONS,
    PREAMBLE_EN,
    PREAMBLE_ZH,
    REFUSAL_EN,
    REFUSAL_ZH,
    Reply,
    default_answer,
    kind_of,
    make_config,
    make_papers,
    paper_pdf,
)

DAY = date(2026, 2, 9)


@pytest.fixture
def env(stub, tmp_path, monkeypatch):
    stub.reset()
    monkeypatch.setenv("NEWSLETTER_TEST_LLM_KEY", "sk-test")

    def build(n=3, language="zh", **llm):
        cfg = make_config(tmp_path, stub, language=language, **llm)
        store = Store.open(cfg.store_path)
        client = make_llm(cfg, store, store.start_run("run", DAY))
        client.backoff, client.max_backoff = 0.01, 0.05
        papers = make_papers(n, stub)
        store.upsert_papers(papers)
        return cfg, store, client, papers

    return build


def is_kind(kind):
    return lambda body: kind_of(body) == kind


def edition_of(papers, analyses, language="zh"):
    return Edition(date=DAY, profile="cv", language=language, title="Arxiv Computer Vision Papers - 2026-02-09",
                   entries=[EditionEntry(paper=p, rank=i, analysis=analyses.get(p.id))
                            for i, p in enumerate(papers, start=1)])


# -- the good path and re-runs --------------------------------------------------------------------


def test_fulltext_analysis_from_the_pdf_then_rerun_makes_no_call(env, stub):
    cfg, store, llm, papers = env(n=3)
    out = analyze_papers(store, cfg, "zh", papers, llm=llm)
    assert {a.kind for a in out.values()} == {"fulltext"}
    a = out[papers[0].id]
    assert a.text.startswith("### 1. 摘要翻译") and "### 7. 总结" in a.text
    assert a.checks["pdf"].startswith("ok") and a.checks["fulltext"]["failed"] == []
    assert a.key_findings and all(f in papers[0].abstract for f in a.key_findings)
    prompt = stub.chat_requests("fulltext")[0].body["messages"][1]["content"]
    assert "Method sentence 3" in prompt and "References sentence" not in prompt  # the PDF's text, without refs
    assert sorted(stub.pdf_requests) == sorted(p.id for p in papers)
    summary = summarize(store, cfg, edition_of(papers, out), llm=llm)
    assert "**建议阅读论文：**" in summary
    n = len(stub.requests)
    # a second run: stored analyses, cached summary, full text kept on disk
    llm2 = make_llm(cfg, store, store.start_run("run", DAY))
    again = analyze_papers(store, cfg, "zh", papers, llm=llm2)
    assert {k: v.text for k, v in again.items()} == {k: v.text for k, v in out.items()}
    assert summarize(store, cfg, edition_of(papers, again), llm=llm2) == summary
    assert len(stub.requests) == n and llm2.calls == 0 and len(stub.pdf_requests) == 3


def test_llm_cache_alone_avoids_calls_when_analyses_are_lost(env, stub):
    cfg, store, llm, papers = env(n=2)
    analyze_papers(store, cfg, "zh", papers, llm=llm)
    n = len(stub.requests)
    store.db.execute("delete from analyses")
    llm2 = make_llm(cfg, store, store.start_run("run", DAY))
    out = analyze_papers(store, cfg, "zh", papers, llm=llm2)
    assert {a.kind for a in out.values()} == {"fulltext"} and len(stub.requests) == n


def test_english_profile_gets_english_sections(env, stub):
    cfg, store, llm, papers = env(n=1, language="en")
    a = analyze_papers(store, cfg, "en", papers, llm=llm)[papers[0].id]
    assert a.kind == "fulltext" and a.text.startswith("### 1. Abstract Summary")
    assert "**Recommended Reading:**" in summarize(store, cfg, edition_of(papers, {a.paper_id: a}, "en"), llm=llm)


# -- each failure mode ------------------------------------------------------------------------------


def test_pdf_unavailable_falls_back_to_abstract_analysis(env, stub):
    cfg, store, llm, papers = env(n=2)
    del stub.pdfs[papers[0].id]  # 404
    stub.pdfs[papers[1].id] = b"<html>not a pdf</html>"
    out = analyze_papers(store, cfg, "zh", papers, llm=llm)
    assert [out[p.id].kind for p in papers] == ["abstract", "abstract"]
    assert "404" in out[papers[0].id].checks["pdf"] and "not a PDF" in out[papers[1].id].checks["pdf"]
    assert out[papers[0].id].text.startswith("**1. 论文的主要贡献**")
    assert not stub.chat_requests("fulltext")


@pytest.mark.parametrize("language,refusal", [("zh", REFUSAL_ZH), ("en", REFUSAL_EN)])
def test_refusal_is_never_shipped(env, stub, language, refusal):
    cfg, store, llm, papers = env(n=1, language=language)
    stub.when(is_kind("fulltext"), Reply(content=refusal))
    a = analyze_papers(store, cfg, language, papers, llm=llm)[papers[0].id]
    assert a.kind == "abstract" and "refusal" in a.checks["fulltext"]["failed"]
    # both refuse: the extractive analysis, labelled so
    stub.reset()
    stub.when(lambda b: kind_of(b) in ("fulltext", "abstract"), Reply(content=refusal))
    store.db.execute("delete from analyses")
    store.db.execute("delete from llm_calls")
    a = analyze_papers(store, cfg, language, papers, llm=llm)[papers[0].id]
    assert a.kind == "extractive" and a.model == "" and a.checks["llm_tried"]
    assert "PDF" not in a.text and "请提供" not in a.text


def test_chat_preamble_is_stripped(env, stub):
    cfg, store, llm, papers = env(n=1)
    stub.when(is_kind("fulltext"), Reply(transform=lambda t: PREAMBLE_ZH + t + "\n\n希望这份分析对您有所帮助！"))
    stub.when(is_kind("summary"), Reply(transform=lambda t: "好的，这是一份简明的执行摘要：\n\n" + t))
    a = analyze_papers(store, cfg, "zh", papers, llm=llm)[papers[0].id]
    assert a.kind == "fulltext" and a.text.startswith("### 1. 摘要翻译")
    assert "好的" not in a.text and "希望" not in a.text and a.checks["fulltext"]["preamble_stripped"] == 2
    s = summarize(store, cfg, edition_of(papers, {a.paper_id: a}), llm=llm)
    assert s.startswith("**主要趋势与主题：**")


def test_english_preamble_and_stray_title_heading(env, stub):
    cfg, store, llm, papers = env(n=1, language="en")
    stub.when(is_kind("fulltext"), Reply(transform=lambda t: PREAMBLE_EN + "## A Paper Title\n\n" + t))
    a = analyze_papers(store, cfg, "en", papers, llm=llm)[papers[0].id]
    assert a.kind == "fulltext" and a.text.startswith("### 1. Abstract Summary") and "## A Paper" not in a.text


def test_wrong_language_falls_back(env, stub):
    cfg, store, llm, papers = env(n=1, language="zh")
    english = default_answer({"messages": [{"role": "user", "content": "Method Design"}]})
    stub.when(is_kind("fulltext"), Reply(content=english))
    a = analyze_papers(store, cfg, "zh", papers, llm=llm)[papers[0].id]
    assert a.kind == "abstract" and "language" in a.checks["fulltext"]["failed"]


def test_missing_sections_and_too_short_fall_back(env, stub):
    cfg, store, llm, papers = env(n=2, language="en")
    six = "\n\n".join(f"### {n}. {h}\n\n" + "Words here. " * 30 for n, h in enumerate(EN_SECTIONS[:6], 1))
    short = "\n".join(f"### {n}. {h}\nok" for n, h in enumerate(EN_SECTIONS, 1))
    stub.when(lambda b: kind_of(b) == "fulltext" and papers[0].title in str(b), Reply(content=six))
    stub.when(lambda b: kind_of(b) == "fulltext" and papers[1].title in str(b), Reply(content=short))
    out = analyze_papers(store, cfg, "en", papers, llm=llm)
    assert out[papers[0].id].kind == "abstract" and out[papers[0].id].checks["fulltext"]["missing_headings"] == [
        "Conclusion"]
    assert out[papers[1].id].kind == "abstract" and "too_short" in out[papers[1].id].checks["fulltext"]["failed"]


def test_truncated_answer_is_asked_again_with_more_tokens(env, stub):
    cfg, store, llm, papers = env(n=1)
    stub.when(is_kind("fulltext"), Reply(finish_reason="length", transform=lambda t: t[: len(t) // 2]), times=1)
    a = analyze_papers(store, cfg, "zh", papers, llm=llm)[papers[0].id]
    reqs = stub.chat_requests("fulltext")
    assert [r.body["max_tokens"] for r in reqs] == [6000, 12000]
    assert a.kind == "fulltext"
    # cut off both times: never shipped as complete
    stub.reset()
    store.db.execute("delete from analyses")
    store.db.execute("delete from llm_calls")
    stub.when(is_kind("fulltext"), Reply(finish_reason="length"))
    a = analyze_papers(store, cfg, "zh", papers, llm=llm)[papers[0].id]
    assert a.kind == "abstract" and "truncated" in a.checks["fulltext"]["failed"]


def test_one_paper_failing_does_not_fail_the_others(env, stub):
    cfg, store, llm, papers = env(n=4, max_retries=1)
    victim = papers[2]
    stub.when(lambda b: victim.title in str(b), Reply(status=500))
    out = analyze_papers(store, cfg, "zh", papers, llm=llm)
    assert out[victim.id].kind == "extractive" and out[victim.id].checks["abstract"]["failed"] == ["llm_error"]
    assert [out[p.id].kind for p in papers if p is not victim] == ["fulltext"] * 3


def test_summary_falls_back_to_extractive_overview(env, stub):
    cfg, store, llm, papers = env(n=3, max_retries=0)
    stub.when(is_kind("summary"), Reply(status=500))
    ed = edition_of(papers, {})
    s = summarize(store, cfg, ed, llm=llm)
    assert s.startswith("*自动生成的概览") and "1. **" in s
    stub.reset()
    stub.when(is_kind("summary"), Reply(content=REFUSAL_ZH))
    assert summarize(store, cfg, ed, llm=llm).startswith("*自动生成的概览")


def test_cost_ceiling_stops_analysis_and_keeps_what_was_paid(env, stub):
    cfg, store, llm, papers = env(n=4, model="openai/gpt-4o-mini", max_cost_usd=0.2, concurrency=1)
    stub.when(lambda b: True, Reply(prompt_tokens=1_000_000, completion_tokens=10))
    with pytest.raises(CostCeilingReached):
        analyze_papers(store, cfg, "zh", papers, llm=llm)
    kept = [store.get_analysis(p.id, "zh") for p in papers]
    assert sum(a is not None for a in kept) == 2  # the two paid answers are stored; a re-run starts there


# -- without an LLM -----------------------------------------------------------------------------------


def test_extractive_without_llm_is_labelled_and_has_key_findings(tmp_path):
    cfg = make_config(tmp_path, None)
    store = Store.open(":memory:")
    papers = make_papers(2)
    out = analyze_papers(store, cfg, "zh", papers, llm=None)
    a = out[papers[0].id]
    assert a.kind == "extractive" and a.checks["llm"] is False and a.model == ""
    assert a.text.startswith("- ") and a.key_findings
    assert any(f.startswith("We propose") for f in a.key_findings)
    s = summarize(store, cfg, edition_of(papers, out), llm=None)
    assert s.startswith("*自动生成的概览（抽取式，非 LLM 撰写）*") and "(2)" in s


def test_key_findings_like_the_reference():
    p = make_papers(1)[0]
    p.abstract = (
        "Cinematic video production requires control over composition. To address this, we introduce the task "
        "of cinematic video generation. We present CineScene, a framework that leverages implicit 3D-aware scene "
        "representation, e.g. VGGT features. The dataset has 10.5k videos. Experiments show that CineScene achieves "
        "state-of-the-art performance."
    )
    assert key_findings(p) == [
        "To address this, we introduce the task of cinematic video generation.",
        "We present CineScene, a framework that leverages implicit 3D-aware scene representation, e.g. VGGT features.",
        "Experiments show that CineScene achieves state-of-the-art performance.",
    ]
    a = extractive_analysis(p, "en")
    # the analysis complements the Key Findings list instead of repeating it
    assert "Cinematic video production" in a.text and "10.5k videos" in a.text
    assert not any(f in a.text for f in a.key_findings)
    assert short_name("CineScene: Implicit 3D as Effective Scene Representation") == "CineScene"


# -- full text ----------------------------------------------------------------------------------------


def test_extract_and_cut_keeps_method_and_experiments():
    text = ft.extract_text(paper_pdf("2602.00001", "T", n_lines=200))
    assert "Method sentence 5 of paper 2602.00001" in text
    total = ft.estimate_tokens(text)
    cut = ft.cut_to_budget(text, total // 3)
    assert ft.estimate_tokens(cut) <= total // 3 + 50
    assert "References sentence" not in cut
    kept = {s: cut.count(f"{s} sentence") for s in ("Introduction", "Related", "Method", "Experiments")}
    assert kept["Method"] > kept["Introduction"] and kept["Experiments"] > kept["Related"]
    assert kept["Method"] >= 150 and kept["Experiments"] >= 150  # nearly whole


def test_unreadable_pdf_is_unavailable():
    with pytest.raises(ft.FullTextUnavailable):
        ft.extract_text(b"%PDF-1.4 garbage")


def test_extractive_never_picks_boilerplate_sentences():
    from newsletter.analyze import extractive_analysis
    from newsletter.fetch.sample import load_entries
    from newsletter.models import Paper

    e = load_entries()[0]
    boiler = [
        "Code will be available at https://github.com/example/cinescene.",
        "Our code and models are publicly available.",
        "Project page: https://example.github.io/x.",
        "The dataset will be released upon acceptance.",
    ]
    paper = Paper(id=e.base_id, version=1, title=e.title, authors=e.authors, abstract=e.summary + " " + " ".join(boiler),
                  categories=e.categories, primary_category=e.primary_category, published=e.published,
                  updated=e.updated, pdf_url="")
    a = extractive_analysis(paper, "zh")
    shown = a.text + " ".join(a.key_findings)
    for b in boiler:
        assert b not in shown, b
    assert a.key_findings and a.text
