"""Selection: keyword prefilter, featured-before exclusion, batched LLM scores with strict JSON."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest

from newsletter.config import Keywords, load_config
from newsletter.errors import CostCeilingReached
from newsletter.fetch.sample import load_entries
from newsletter.keywords import keyword_score
from newsletter.llm import make_llm
from newsletter.models import Edition, Paper
from newsletter.select import prefilter, select_papers
from newsletter.store import Store
from tests.conftest import ROOT
from tests.servers.llm_server import Reply, kind_of, make_config, make_papers

DAY = date(2026, 2, 9)


@pytest.fixture
def env(stub, tmp_path, monkeypatch):
    stub.reset()
    monkeypatch.setenv("NEWSLETTER_TEST_LLM_KEY", "sk-test")

    def build(n=30, **llm):
        cfg = make_config(tmp_path, stub, **llm)
        store = Store.open(cfg.store_path)
        client = make_llm(cfg, store, store.start_run("run", DAY))
        client.backoff, client.max_backoff = 0.01, 0.05
        papers = make_papers(n, stub, with_pdf=False)
        store.upsert_papers(papers)
        return cfg, store, client, papers

    return build


def _paper(pid: str, title: str, abstract: str = "Nothing to see.") -> Paper:
    return replace(make_papers(1)[0], id=pid, title=title, abstract=abstract)


# -- keywords -------------------------------------------------------------------------------


def test_keywords_match_on_word_boundaries_case_insensitively():
    kw = Keywords(primary=["3D", "video generation", "diffusion"], secondary=["transformer"], exclude=["survey"])
    assert keyword_score(_paper("1", "Implicit 3D-aware Video-Generation"), kw).primary == ["3D", "video generation"]
    assert keyword_score(_paper("1", "Vision Transformers and Diffusion"), kw).score == 3 * 2 + 1 * 2
    assert keyword_score(_paper("1", "A 3Dprinter and X3D"), kw).score == 0  # no match inside words
    assert keyword_score(_paper("1", "Title", "We use DIFFUSION."), kw).score == 3  # abstract weighs less
    assert keyword_score(_paper("1", "A Survey of 3D"), kw).excluded == ["survey"]


def test_prefilter_drops_excluded_and_unmatched_and_orders_by_score_then_id_desc():
    prof = make_config_profile()
    papers = [
        _paper("2602.00001", "Diffusion for everything"),
        _paper("2602.00003", "Diffusion again"),
        _paper("2602.00002", "A survey of diffusion"),
        _paper("2602.00004", "Cooking recipes"),
        _paper("2602.00005", "Diffusion and 3D transformer"),
    ]
    assert [p.id for p, _ in prefilter(papers, prof)] == ["2602.00005", "2602.00003", "2602.00001"]


def make_config_profile(keywords: dict | None = None):
    from newsletter.config import Profile

    return Profile(name="cv", categories=["cs.CV"], top_n=3, keywords=Keywords(**(keywords or {
        "primary": ["diffusion", "3D"], "secondary": ["transformer"], "exclude": ["survey"]})))


# -- without an LLM (the demo path) ------------------------------------------------------------


def _sample_papers() -> list[Paper]:
    return [
        Paper(id=e.base_id, version=int(e.id.rsplit("v", 1)[1]), title=e.title, authors=e.authors,
              abstract=e.summary, categories=e.categories, primary_category=e.primary_category,
              published=e.published, updated=e.updated, pdf_url="")
        for e in load_entries()
    ]


def test_demo_day_is_mostly_selected_with_the_shipped_keywords():
    cfg = load_config(ROOT / "config.toml")
    store = Store.open(":memory:")
    papers = _sample_papers()
    store.upsert_papers(papers)
    scores = select_papers(store, cfg, cfg.profiles[0], DAY, papers, llm=None)
    assert len(papers) == 10 and len(scores) >= 7
    assert all(s.model == "keywords" and s.reason.startswith("keywords") for s in scores)
    assert store.get_scores("cv", [s.paper_id for s in scores], "keywords").keys() == {s.paper_id for s in scores}


def test_no_keyword_hit_selects_nothing(tmp_path):
    cfg = make_config(tmp_path, None)
    store = Store.open(":memory:")
    papers = [_paper("2602.00001", "Cooking recipes"), _paper("2602.00002", "Gardening")]
    assert select_papers(store, cfg, cfg.profiles[0], DAY, papers) == []


def test_keyword_selection_is_top_n_with_deterministic_ties(tmp_path):
    cfg = make_config(tmp_path, None, top_n=4)
    store = Store.open(":memory:")
    papers = [_paper(f"2602.0000{i}", "Diffusion models") for i in range(1, 8)]
    first = [s.paper_id for s in select_papers(store, cfg, cfg.profiles[0], DAY, papers)]
    again = [s.paper_id for s in select_papers(store, cfg, cfg.profiles[0], DAY, list(reversed(papers)))]
    assert first == again == ["2602.00007", "2602.00006", "2602.00005", "2602.00004"]


def test_papers_featured_on_another_day_are_excluded(tmp_path):
    cfg = make_config(tmp_path, None, top_n=5)
    store = Store.open(":memory:")
    papers = make_papers(6)
    store.upsert_papers(papers)
    old = Edition(date=date(2026, 2, 6), profile="cv", language="zh", title="old")
    store.save_selection(old, [papers[0].id, papers[1].id])
    chosen = {s.paper_id for s in select_papers(store, cfg, cfg.profiles[0], DAY, papers)}
    assert papers[0].id not in chosen and papers[1].id not in chosen and len(chosen) == 4
    # the same day's own edition does not count as "before" (a re-selection keeps its papers)
    store.save_selection(Edition(date=DAY, profile="cv", language="zh", title="today"), [papers[2].id])
    assert papers[2].id in {s.paper_id for s in select_papers(store, cfg, cfg.profiles[0], DAY, papers)}


# -- with an LLM ------------------------------------------------------------------------------


def _batch_ids(rec) -> list[str]:
    from tests.servers.llm_server import ID_RE

    users = [m for m in rec.body["messages"] if m["role"] == "user"]
    return list(dict.fromkeys(ID_RE.findall(users[0]["content"])))


def test_llm_scores_in_batches_with_min_score_and_ranking(env, stub):
    cfg, store, llm, papers = env(n=25, batch_size=10, min_score=4)
    scores = select_papers(store, cfg, cfg.profiles[0], DAY, papers, llm=llm)
    reqs = stub.chat_requests("score")
    assert sorted(len(_batch_ids(r)) for r in reqs) == [5, 10, 10]
    assert all(r.body.get("response_format") == {"type": "json_object"} for r in reqs)
    assert 0 < len(scores) <= 10
    assert all(s.total >= 4 and s.model == "openai/stub-model" for s in scores)
    totals = [(s.total, s.relevance) for s in scores]
    assert totals == sorted(totals, reverse=True)
    for a, b in zip(scores, scores[1:], strict=False):  # ties: larger id first
        if (a.total, a.relevance) == (b.total, b.relevance):
            assert a.paper_id > b.paper_id
    # stored, and a re-run (new run, same store) makes no call at all
    assert len(store.get_scores("cv", [p.id for p in papers], "openai/stub-model")) == 25
    llm2 = make_llm(cfg, store, store.start_run("run", DAY))
    again = select_papers(store, cfg, cfg.profiles[0], DAY, papers, llm=llm2)
    assert [s.paper_id for s in again] == [s.paper_id for s in scores]
    assert len(stub.requests) == 3 and llm2.calls == 0


def test_malformed_json_is_retried_with_a_correction(env, stub):
    cfg, store, llm, papers = env(n=6, batch_size=10)
    stub.script(Reply(content='{"scores": [{"id": "2602.00001", "relevance": 3'))  # cut JSON
    scores = select_papers(store, cfg, cfg.profiles[0], DAY, papers, llm=llm)
    reqs = stub.chat_requests("score")
    assert len(reqs) == 2
    assert reqs[1].body["messages"][-1]["role"] == "user" and "JSON" in reqs[1].body["messages"][-1]["content"]
    assert scores and all(s.model == "openai/stub-model" for s in scores)


def test_a_batch_that_stays_malformed_is_split(env, stub):
    cfg, store, llm, papers = env(n=8, batch_size=8, min_score=2)
    bad = Reply(content="Here are the scores: relevance high, significance medium.")
    stub.script(bad, bad)
    scores = select_papers(store, cfg, cfg.profiles[0], DAY, papers, llm=llm)
    sizes = sorted((len(_batch_ids(r)) for r in stub.chat_requests("score")), reverse=True)
    assert sizes == [8, 8, 4, 4]
    assert len(scores) == 8 and all(s.model == "openai/stub-model" for s in scores)


def test_wrong_ids_and_out_of_range_scores_are_rejected(env, stub):
    cfg, store, llm, papers = env(n=2, batch_size=2, min_score=2)
    wrong = json.dumps({"scores": [{"id": "9999.99999", "relevance": 3, "significance": 3}]})
    out_of_range = json.dumps({"scores": [{"id": p.id, "relevance": 7, "significance": 3} for p in papers]})
    stub.script(Reply(content=wrong), Reply(content=out_of_range))
    scores = select_papers(store, cfg, cfg.profiles[0], DAY, papers, llm=llm)
    assert len(stub.chat_requests("score")) == 4  # 2 attempts, then one call per paper
    assert all(1 <= s.relevance <= 3 and s.model == "openai/stub-model" for s in scores)


def test_truncated_scoring_answer_is_asked_again_with_more_tokens(env, stub):
    cfg, store, llm, papers = env(n=3, batch_size=3, min_score=2)
    stub.script(Reply(finish_reason="length"))
    select_papers(store, cfg, cfg.profiles[0], DAY, papers, llm=llm)
    reqs = stub.chat_requests("score")
    assert len(reqs) == 2 and reqs[1].body["max_tokens"] == 2 * reqs[0].body["max_tokens"]


def test_llm_outage_falls_back_to_keyword_scores(env, stub):
    cfg, store, llm, papers = env(n=12, batch_size=4, max_retries=1, top_n=5)
    stub.when(lambda b: kind_of(b) == "score", Reply(status=500))
    scores = select_papers(store, cfg, cfg.profiles[0], DAY, papers, llm=llm)
    assert len(scores) == 5 and all(s.model == "keywords" for s in scores)
    assert len(stub.requests) == 3 * 2  # three batches, each tried twice, never split on an outage


def test_cost_ceiling_stops_selection(env, stub):
    cfg, store, llm, papers = env(n=30, batch_size=5, model="openai/gpt-4o-mini", max_cost_usd=0.3, concurrency=1)
    stub.when(lambda b: True, Reply(prompt_tokens=1_000_000, completion_tokens=10))
    with pytest.raises(CostCeilingReached, match="max_cost_usd"):
        select_papers(store, cfg, cfg.profiles[0], DAY, papers, llm=llm)
    assert len(stub.requests) == 2
