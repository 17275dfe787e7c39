"""Each reader their own issue, end to end through the pipeline against local arXiv and SMTP servers:
different interests give different papers (no LLM key), a weekly reader gets one issue a week, a
reader never gets a paper twice, and LLM cost follows the distinct papers under the day's cap."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from email.utils import parseaddr

from newsletter.assembly import Parts, assemble
from newsletter.config import load_config
from newsletter.fetch.sample import SAMPLE_DAY
from newsletter.pipeline import day_done, run_day
from newsletter.store import Store
from tests.conftest import ROOT
from tests.servers.arxiv_fake import serve_sample
from tests.servers.arxiv_server import ArxivServer
from tests.servers.smtp import FaultSMTPServer
from tests.test_ops_days import MON, configure, entries_for

ABS = re.compile(r"https://arxiv\.org/abs/(\d{4}\.\d{4,5})v\d")

READERS = """
[[subscriber]]
email = "splat@example.org"
name = "Splat"
profiles = ["cv"]
interests = "3D Gaussian splatting, compact 3D scene representations and their compression"
max_papers = 2

[[subscriber]]
email = "robot@example.org"
name = "Robot"
profiles = ["cv"]
interests = "robot learning, world models trained on large-scale human videos"
max_papers = 2
"""


def papers_in(data: bytes) -> list[str]:
    """The paper ids a message's HTML part links to, in order of first appearance."""
    msg = message_from_bytes(data)
    html = next(p for p in msg.walk() if p.get_content_type() == "text/html").get_payload(decode=True).decode()
    return list(dict.fromkeys(ABS.findall(html)))


def subject(data: bytes) -> str:
    return str(make_header(decode_header(message_from_bytes(data)["Subject"])))


def test_two_readers_get_different_papers_in_the_demo_without_an_llm(project, cli):
    (project.dir / "subscribers" / "team.toml").write_text(READERS)
    r = cli("run", "--demo")
    assert r.code == 0, r.err
    outbox = project.dir / "var" / "demo-outbox"
    got = {}
    for f in outbox.glob("*.eml"):
        data = f.read_bytes()
        got[parseaddr(message_from_bytes(data)["To"])[1]] = (papers_in(data), subject(data))
    splat, robot = got["splat@example.org"][0], got["robot@example.org"][0]
    assert len(splat) == len(robot) == 2 and set(splat) != set(robot)
    assert splat[0] == "2602.06830"  # GaussianPOP: compact 3D Gaussian splatting
    assert robot[0] == "2602.06949"  # DreamDojo: a robot world model from human videos
    assert got["splat@example.org"][1].endswith(("2 篇论文", "2 papers"))
    # one line per reader saying what they got
    lines = [ln for ln in r.out.splitlines() if "@example.org" in ln]
    assert len(lines) == 2 and "splat@example.org" in lines[1] and "GaussianPOP" in lines[1], r.out


def test_a_weekly_reader_gets_exactly_one_issue_over_monday_to_monday(project):
    days = [MON + timedelta(days=i) for i in range(8)]  # Mon 9 .. Mon 16 February 2026
    announced = [d for d in days if d.weekday() < 5]
    (project.dir / "subscribers" / "team.toml").write_text(
        READERS.replace('max_papers = 2\n', 'max_papers = 2\nfrequency = "weekly"\n', 1)
    )
    with ArxivServer(entries=entries_for(announced)) as arxiv, FaultSMTPServer() as smtp:
        configure(project, arxiv, smtp)
        cfg = load_config(project.config)
        assert cfg.schedule.weekly_day == "fri"
        store = Store.open(project.db)
        try:
            for d in days:
                report = run_day(store, cfg, d)
                assert report.status == "ok", report.editions
            run_day(store, cfg, days[-1])  # a re-run mails nothing new
            assert all(day_done(store, cfg, d) for d in days)
            weekly = store.get_edition(MON + timedelta(days=4), "cv", cadence="weekly")
        finally:
            store.close()
        received = list(smtp.handler.received)
    mine = [m for m in received if m.rcpt == "splat@example.org"]
    assert len(mine) == 1, [subject(m.data) for m in mine]
    assert "周刊 2026-02-07 至 2026-02-13" in subject(mine[0].data)  # the cv profile is written in Chinese
    week_ids = {e.id.split("v")[0] for e in entries_for(announced[:5])}
    assert set(papers_in(mine[0].data)) <= week_ids and len(papers_in(mine[0].data)) == 2
    assert weekly is not None and weekly.status == "sent"
    daily = [m for m in received if m.rcpt == "robot@example.org"]
    assert len(daily) == len(announced)  # the daily reader is unaffected: one issue per announcement day


def test_a_reader_is_never_sent_the_same_paper_twice(project):
    day1, day2 = MON, MON + timedelta(days=1)
    both = entries_for([day1, day2])
    first, again = both[:3], both[3:]
    # day 2 announces one of day 1's papers again (e.g. cross-listed later)
    again[0] = replace(first[0], published=again[0].published, updated=again[0].updated)
    (project.dir / "subscribers" / "team.toml").write_text(READERS.replace("max_papers = 2", "max_papers = 3"))
    with ArxivServer(entries=first + again) as arxiv, FaultSMTPServer() as smtp:
        configure(project, arxiv, smtp)
        cfg = load_config(project.config)
        store = Store.open(project.db)
        try:
            run_day(store, cfg, day1)
            run_day(store, cfg, day2)
        finally:
            store.close()
        received = list(smtp.handler.received)
    for who in ("splat@example.org", "robot@example.org"):
        ids = [i for m in received if m.rcpt == who for i in papers_in(m.data)]
        assert len([m for m in received if m.rcpt == who]) == 2
        assert len(ids) == len(set(ids)), (who, ids)


def test_llm_cost_follows_distinct_papers_under_the_days_cap(stub, tmp_path, monkeypatch):
    stub.reset()
    monkeypatch.setenv("NEWSLETTER_TEST_LLM_KEY", "sk-test")
    (tmp_path / "subscribers").mkdir()
    topics = ["3D Gaussian splatting", "robot world models", "video generation", "model compression",
              "vision transformers", "diffusion transformers", "video editing", "vision-language models"]
    (tmp_path / "subscribers" / "r.toml").write_text("\n".join(
        f'[[subscriber]]\nemail = "r{i}@example.org"\nprofiles = ["cv"]\ninterests = "{t}"\nmax_papers = 2\n'
        for i, t in enumerate(topics)))
    cfg = load_config(ROOT / "config.toml")
    cfg.base_dir = tmp_path
    cfg.llm.model, cfg.llm.api_base = "openai/stub-model", stub.api_base
    cfg.llm.api_key_env, cfg.llm.max_retries, cfg.llm.min_score = "NEWSLETTER_TEST_LLM_KEY", 1, 2
    cfg.llm.fulltext_per_day, cfg.llm.abstract_per_day = 2, 1
    store = Store.open(cfg.store_path)
    with serve_sample() as base_url:
        cfg.arxiv.base_url, cfg.arxiv.delay_seconds = base_url, 0
        run_day(store, cfg, SAMPLE_DAY, until="render")
    ed = store.get_edition(SAMPLE_DAY, "cv")
    chosen = store.get_picks(ed.id)
    distinct = {i for ids in chosen.values() for i in ids}
    assert len(chosen) == len(topics) and {e.paper.id for e in ed.entries} == distinct
    kinds = [e.analysis.kind for e in ed.entries]
    assert kinds.count("fulltext") == 2 and kinds.count("abstract") == 1, kinds
    capped = [e for e in ed.entries if e.analysis.checks.get("capped")]
    assert len(capped) == len(distinct) - 2 and all(e.analysis.kind != "fulltext" for e in capped)
    analysis_calls = [r for r in stub.requests if '"relevance"' not in str(r) and "建议阅读" not in str(r)
                      and "summary" not in str(r).lower()]
    assert len(analysis_calls) <= 3  # one call per analysed paper, whatever the number of readers
    # clearly labelled: the budget, not a failure, is why those are not full-text analyses
    by_kind = {e.analysis.kind: e.paper.id for e in capped}
    issue = assemble(Parts.from_json(ed.parts), [by_kind["abstract"], by_kind["extractive"]])
    assert "超出今日全文分析配额" in issue.html and "超出今日分析配额" in issue.text
    store.close()


def test_a_weekly_edition_has_its_own_archive_page_beside_the_daily_one(tmp_path):
    from datetime import date

    from newsletter.models import Edition
    from newsletter.render import ui
    from newsletter.render.archive import archive_for_path

    cfg = load_config(ROOT / "config.toml")
    cfg.base_dir = tmp_path
    store = Store.open(cfg.store_path)
    fri = date(2026, 2, 13)
    for cadence, title in (("daily", "Daily issue"), ("weekly", "Weekly issue")):
        ed = Edition(date=fri, profile="cv", language="zh", title=title, cadence=cadence, status="rendered")
        store.save_selection(ed, [])
        store.update_edition(ed.id, status="rendered", markdown=f"# {title}\n")
    daily, weekly = ui.archive_path(fri, "cv"), ui.archive_path(fri, "cv", "weekly")
    assert daily != weekly and weekly.endswith("/cv.weekly.html")
    assert "Daily issue" in archive_for_path(store, cfg, daily)
    assert "Weekly issue" in archive_for_path(store, cfg, weekly)
    store.close()


def test_the_send_path_loads_no_model_even_for_a_reader_who_joined_after_the_selection(project):
    import os

    from tests.test_embeddings import _heavy_after

    with ArxivServer(entries=entries_for([MON])) as arxiv, FaultSMTPServer() as smtp:
        configure(project, arxiv, smtp)
        cfg = load_config(project.config)
        store = Store.open(project.db)
        run_day(store, cfg, MON, until="render")
        store.close()
        with open(project.dir / "subscribers" / "team.toml", "a") as f:
            f.write('\n[[subscriber]]\nemail = "late@example.org"\nprofiles = ["cv"]\ninterests = "video editing"\n')
        os.environ["NEWSLETTER_CONFIG"] = str(project.config)
        try:
            heavy = _heavy_after(f"sys.argv = ['newsletter', 'send', '--date', '{MON.isoformat()}']\n"
                                 "from newsletter.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass")
        finally:
            del os.environ["NEWSLETTER_CONFIG"]
        received = {m.rcpt for m in smtp.handler.received}
    assert heavy == []
    assert received == {"ada@example.org", "alan@example.org", "late@example.org"}
