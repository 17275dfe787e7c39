"""The pipeline's own promises: a stop request is honoured between stages and the next run goes on
from there; a failed run records where it failed; every stage is done once."""

from __future__ import annotations

import pytest

from newsletter.config import load_config
from newsletter.errors import ArxivError
from newsletter.fetch.sample import SAMPLE_DAY
from newsletter.ops import shutdown
from newsletter.pipeline import run_day
from newsletter.store import Store
from tests.servers.arxiv_fake import ArxivServer, serve_sample


@pytest.fixture
def day(project):
    cfg = load_config(project.config)
    cfg.arxiv.delay_seconds = 0
    store = Store.open(cfg.store_path)
    yield cfg, store
    store.close()
    shutdown.reset()


def outbox(project):
    return sorted((project.dir / "var" / "outbox").glob("*.eml"))


def test_stop_between_stages_then_resume(project, day):
    cfg, store = day

    def progress(ev) -> None:
        if ev.note.startswith("select["):
            shutdown.request_stop("test")

    with serve_sample() as base_url:
        cfg.arxiv.base_url = base_url
        run_day(store, cfg, SAMPLE_DAY, progress=progress)
        run = store.recent_runs(1)[0]
        assert (run["status"], run["stage"]) == ("stopped", "analyze")
        assert store.get_edition(SAMPLE_DAY, "cv").status == "selected"
        assert outbox(project) == []

        shutdown.reset()
        report = run_day(store, cfg, SAMPLE_DAY)
    assert report.editions["cv"]["status"] == "sent"
    assert len(outbox(project)) == 2
    assert store.recent_runs(1)[0]["status"] == "ok"


def test_failed_fetch_is_recorded_and_mails_nothing(project, day):
    cfg, store = day
    with ArxivServer() as server:
        server.inject("error_feed", times=10)
        cfg.arxiv.base_url = server.base_url
        cfg.arxiv.num_retries = 0
        with pytest.raises(ArxivError):
            run_day(store, cfg, SAMPLE_DAY)
    run = store.recent_runs(1)[0]
    assert (run["status"], run["stage"]) == ("failed", "fetch") and run["error"]
    assert store.get_edition(SAMPLE_DAY, "cv") is None and outbox(project) == []


def test_each_stage_runs_once(project, day):
    cfg, store = day
    with serve_sample() as base_url:
        cfg.arxiv.base_url = base_url
        run_day(store, cfg, SAMPLE_DAY, until="render")
        html = store.get_edition(SAMPLE_DAY, "cv").html
        said: list[str] = []
        run_day(store, cfg, SAMPLE_DAY, until="render", progress=lambda ev: said.append(ev.note))
    assert any("already in the store" in m for m in said) and any("already chosen" in m for m in said)
    assert not any(m.startswith(("analyze[", "render[")) for m in said)
    assert store.get_edition(SAMPLE_DAY, "cv").html == html
