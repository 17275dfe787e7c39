"""The LLM stage inside a real day: sample arXiv server → select → analyze, with the LLM stub."""

from __future__ import annotations

import pytest

from newsletter.config import load_config
from newsletter.errors import CostCeilingReached
from newsletter.fetch.sample import SAMPLE_DAY
from newsletter.pipeline import run_day
from newsletter.store import Store
from tests.conftest import ROOT
from tests.servers.arxiv_fake import serve_sample
from tests.servers.llm_server import Reply


@pytest.fixture
def day(stub, tmp_path, monkeypatch):
    """The shipped config (its cv profile, zh) with the LLM at the stub and arXiv at the sample server."""
    stub.reset()
    monkeypatch.setenv("NEWSLETTER_TEST_LLM_KEY", "sk-test")
    cfg = load_config(ROOT / "config.toml")
    cfg.base_dir = tmp_path
    cfg.llm.model = "openai/stub-model"
    cfg.llm.api_base = stub.api_base
    cfg.llm.api_key_env = "NEWSLETTER_TEST_LLM_KEY"
    cfg.llm.max_retries = 1
    cfg.llm.min_score = 2
    store = Store.open(cfg.store_path)

    def run(until="analyze"):
        with serve_sample() as base_url:
            cfg.arxiv.base_url = base_url
            cfg.arxiv.delay_seconds = 0
            return run_day(store, cfg, SAMPLE_DAY, until=until)

    return cfg, store, run


def test_a_day_with_an_llm_then_a_rerun_without_calls(day, stub):
    cfg, store, run = day
    report = run()
    ed = store.get_edition(SAMPLE_DAY, "cv")
    assert report.editions["cv"]["papers"] == len(ed.entries) > 0 and ed.status == "analyzed"
    kinds = {e.analysis.kind for e in ed.entries}
    assert kinds == {"fulltext"}, [e.analysis.checks for e in ed.entries]
    assert ed.summary.startswith("**主要趋势与主题：**")
    n = len(stub.requests)
    assert n > 0
    run()
    assert len(stub.requests) == n  # re-running the day makes no LLM call
    last = store.recent_runs(1)[0]
    assert last["status"] == "ok" and last["cost"] == 0


def test_one_paper_failing_does_not_fail_the_day(day, stub):
    cfg, store, run = day
    victim = "CineScene"
    stub.when(lambda b: victim in str(b) and '"relevance"' not in str(b) and "建议阅读" not in str(b),
              Reply(status=500))
    run()
    ed = store.get_edition(SAMPLE_DAY, "cv")
    kinds = {e.paper.title.split(":")[0]: e.analysis.kind for e in ed.entries}
    assert kinds[victim] == "extractive"
    assert set(k for name, k in kinds.items() if name != victim) == {"fulltext"}
    assert store.recent_runs(1)[0]["status"] == "ok"


def test_cost_ceiling_fails_the_run_with_its_message(day, stub):
    cfg, store, run = day
    cfg.llm.model = "openai/gpt-4o-mini"
    cfg.llm.max_cost_usd = 0.1
    cfg.llm.concurrency = 1
    stub.when(lambda b: True, Reply(prompt_tokens=1_000_000, completion_tokens=10))
    with pytest.raises(CostCeilingReached):
        run()
    last = store.recent_runs(1)[0]
    assert last["status"] == "failed" and "max_cost_usd" in last["error"]
