"""Several profiles on one day: each sees only its own categories, analyses are shared by language
(LLM calls follow distinct papers, not profiles), one profile's failure does not stop the others,
and a subscriber's `language` must agree with their profiles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newsletter.config import Profile, load_config
from newsletter.errors import ConfigError
from newsletter.fetch.sample import SAMPLE_DAY, load_entries
from newsletter.models import Paper
from newsletter.pipeline import run_day
from newsletter.roster import load_subscribers
from newsletter.select import in_categories
from newsletter.store import Store
from tests.conftest import ROOT
from tests.servers.arxiv_fake import serve_sample

CROSS = {e.id.split("v")[0]: (e.primary_category, set(e.categories)) for e in load_entries()}


def ids_with(category: str, cross: bool) -> set[str]:
    """What the sample day holds in a category: by primary category, or also cross-listed."""
    return {pid for pid, (prim, cats) in CROSS.items() if prim == category or (cross and category in cats)}


def test_category_rule_primary_and_cross_lists():
    papers = dict(CROSS)
    assert ids_with("cs.RO", cross=False) == {"2602.06949"}
    assert ids_with("cs.AI", cross=True) == {"2602.06949", "2602.06879", "2602.06850"}
    strict = Profile(name="lg", categories=["cs.LG"], cross_lists=False)
    loose = Profile(name="lg", categories=["cs.LG"])
    def paper(pid: str) -> Paper:
        prim, cats = papers[pid]
        now = datetime(2026, 2, 6, tzinfo=UTC)
        return Paper(id=pid, version=1, title="t", authors=[], abstract="a", categories=sorted(cats),
                     primary_category=prim, published=now, updated=now, pdf_url="")

    assert in_categories(paper("2602.06883"), strict)  # primary cs.LG
    assert not in_categories(paper("2602.06949"), strict)  # cs.LG only as a cross-list
    assert in_categories(paper("2602.06949"), loose)


@pytest.fixture
def three_profiles(stub, tmp_path, monkeypatch):
    """cv (zh, cs.CV), ai (zh, cs.AI: overlaps cv), robots (en, cs.RO primary only: disjoint from cv's
    primaries); the LLM at the stub, arXiv at the fake server."""
    stub.reset()
    monkeypatch.setenv("NEWSLETTER_TEST_LLM_KEY", "sk-test")
    text = (ROOT / "config.toml").read_text().replace("empty_retry_hours = 3 ", "empty_retry_hours = 0 ")
    text += """
[[profiles]]
name = "ai"
title = "AI cross-lists"
categories = ["cs.AI"]
language = "zh"

[[profiles]]
name = "robots"
title = "Robotics"
categories = ["cs.RO"]
language = "en"
cross_lists = false
"""
    (tmp_path / "config.toml").write_text(text)
    (tmp_path / "subscribers").mkdir()
    cfg = load_config(tmp_path / "config.toml")
    cfg.llm.model = "openai/stub-model"
    cfg.llm.api_base = stub.api_base
    cfg.llm.api_key_env = "NEWSLETTER_TEST_LLM_KEY"
    cfg.llm.max_retries = 1
    cfg.llm.min_score = 2
    cfg.arxiv.delay_seconds = 0
    store = Store.open(cfg.store_path)
    yield cfg, store
    store.close()


def test_each_profile_gets_only_its_categories_and_analyses_are_shared_by_language(three_profiles, stub):
    cfg, store = three_profiles
    with serve_sample() as base_url:
        cfg.arxiv.base_url = base_url
        report = run_day(store, cfg, SAMPLE_DAY, until="analyze")
    assert report.status == "ok", report.failed
    chosen = {name: {e.paper.id for e in store.get_edition(SAMPLE_DAY, name).entries} for name in ("cv", "ai", "robots")}
    assert chosen["robots"] == {"2602.06949"}  # the one paper whose primary category is cs.RO
    assert chosen["ai"] <= ids_with("cs.AI", cross=True) and chosen["ai"]
    assert chosen["cv"] <= ids_with("cs.CV", cross=True)
    assert not chosen["robots"] & ids_with("cs.CV", cross=False)  # nothing of cv's own papers
    # analyses: once per (paper, language), whatever the number of profiles that feature the paper
    zh_papers = chosen["cv"] | chosen["ai"]
    assert chosen["cv"] & chosen["ai"], "the test needs an overlap"
    analysis_calls = stub.chat_requests("fulltext")
    langs = [r.body["messages"][0]["content"] for r in analysis_calls]
    assert len(analysis_calls) == len(zh_papers) + len(chosen["robots"]), (len(analysis_calls), langs)
    for pid in zh_papers:
        assert store.get_analysis(pid, "zh").kind == "fulltext"
    assert store.get_analysis("2602.06949", "en").kind == "fulltext"
    # a second run of the day asks the LLM nothing
    n = len(stub.requests)
    with serve_sample() as base_url:
        cfg.arxiv.base_url = base_url
        run_day(store, cfg, SAMPLE_DAY, until="analyze")
    assert len(stub.requests) == n


def test_one_profile_failing_does_not_stop_the_others(project, cli):
    """A profile whose subscriber file breaks at delivery time fails alone: recorded, reported, exit 1,
    and the other profile's issue still goes out."""
    project.append('[[profiles]]\nname = "robots"\ntitle = "Robotics"\ncategories = ["cs.RO"]\nlanguage = "en"')
    (project.dir / "subscribers" / "robots.toml").write_text(
        '[[subscriber]]\nemail = "rob@example.org"\nprofiles = ["robots"]\n')
    with serve_sample() as base_url:
        project.edit('base_url = "https://export.arxiv.org/api/query"', f'base_url = "{base_url}"')
        project.edit("delay_seconds = 3.0", "delay_seconds = 0.0")
        cfg = load_config(project.config)
        store = Store.open(cfg.store_path)
        from newsletter.models import Edition

        # cv's edition exists already and is broken (rendered with no content): its delivery fails
        store.save_selection(Edition(date=SAMPLE_DAY, profile="cv", language="zh", title="x", status="rendered"), [])
        store.close()
        r = cli("run", "--date", "2026-02-09")
    assert r.code == 1, r.out + r.err
    assert "cv: 0 papers" in r.out and "FAILED at deliver" in r.out
    assert "robots: 1 paper, sent" in r.out
    store = Store.open(project.db)
    run = store.recent_runs(1)[0]
    assert run["status"] == "failed" and "cv:" in run["error"]
    assert store.get_edition(SAMPLE_DAY, "robots").status == "sent"
    store.close()


def test_subscriber_language_must_match_their_profiles(project):
    cfg = load_config(project.config)  # cv is zh
    (project.dir / "subscribers" / "x.toml").write_text(
        '[[subscriber]]\nemail = "en@example.org"\nprofiles = ["cv"]\nlanguage = "en"\n')
    with pytest.raises(ConfigError, match=r"language 'en'.*cv.*zh"):
        load_subscribers(cfg)
    (project.dir / "subscribers" / "x.toml").write_text(
        '[[subscriber]]\nemail = "zh@example.org"\nprofiles = ["cv"]\nlanguage = "zh"\n')
    assert any(s.email == "zh@example.org" for s in load_subscribers(cfg))
