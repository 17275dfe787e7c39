"""The arXiv source against a real local arXiv stand-in: windows, paging, politeness, failure modes."""

from __future__ import annotations

import socket
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
import requests

from newsletter.config import ArxivConfig
from newsletter.fetch.arxiv import (
    ArxivError,
    _retry_after,
    announcement_window,
    build_query,
    dedupe,
    fetch_day,
)
from newsletter.fetch.sample import SAMPLE_DAY, load_entries
from tests.servers.arxiv_server import ArxivServer, compile_query

DELAY = 0.05
CV = ["cs.CV"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def cfg_for(server: ArxivServer, **kw: object) -> ArxivConfig:
    base = {"base_url": server.base_url, "delay_seconds": DELAY, "num_retries": 2, "timeout": 5, "empty_retry_hours": 0}
    return ArxivConfig(**{**base, **kw})


@pytest.fixture
def server():
    with ArxivServer() as srv:
        yield srv


# -- announcement_window ---------------------------------------------------------------------


def test_window_of_the_reference_issue_monday():
    # issue 2026-02-09 (Mon) = announcement Sun 20:00 ET = submissions Thu 14:00 ET .. Fri 14:00 ET
    assert announcement_window(date(2026, 2, 9), None, 7) == (utc(2026, 2, 5, 19), utc(2026, 2, 6, 19))


@pytest.mark.parametrize(
    "day, since, until",
    [
        (date(2026, 2, 10), utc(2026, 2, 6, 19), utc(2026, 2, 9, 19)),  # Tue: Fri..Mon cutoff (weekend inside)
        (date(2026, 2, 11), utc(2026, 2, 9, 19), utc(2026, 2, 10, 19)),  # Wed
        (date(2026, 2, 12), utc(2026, 2, 10, 19), utc(2026, 2, 11, 19)),  # Thu
        (date(2026, 2, 13), utc(2026, 2, 11, 19), utc(2026, 2, 12, 19)),  # Fri
    ],
)
def test_window_weekdays(day, since, until):
    assert announcement_window(day, None, 7) == (since, until)


@pytest.mark.parametrize("day", [date(2026, 2, 7), date(2026, 2, 8)])
def test_window_weekend_has_no_announcement(day):
    assert announcement_window(day, None, 7) is None


def test_window_dst_starts():
    # US DST starts Sun 2026-03-08: Friday's cutoff is 19:00Z (EST), Monday's 18:00Z (EDT)
    assert announcement_window(date(2026, 3, 10), None, 7) == (utc(2026, 3, 6, 19), utc(2026, 3, 9, 18))


def test_window_dst_ends():
    # US DST ends Sun 2026-11-01: Friday Oct 30 cutoff is 18:00Z (EDT), Monday Nov 2 is 19:00Z (EST)
    assert announcement_window(date(2026, 11, 2), None, 7) == (utc(2026, 10, 29, 18), utc(2026, 10, 30, 18))
    assert announcement_window(date(2026, 11, 3), None, 7) == (utc(2026, 10, 30, 18), utc(2026, 11, 2, 19))


def test_window_catches_up_from_last_until():
    last = utc(2026, 2, 3, 19)  # the last good fetch ended Tue; the server was down since
    assert announcement_window(date(2026, 2, 9), last, 7) == (last, utc(2026, 2, 6, 19))


def test_window_ignores_last_until_inside_the_normal_window():
    assert announcement_window(date(2026, 2, 9), utc(2026, 2, 6, 1), 7) == (utc(2026, 2, 5, 19), utc(2026, 2, 6, 19))


def test_window_catch_up_is_capped_by_max_days():
    since, until = announcement_window(date(2026, 2, 9), utc(2026, 1, 1), 3)
    assert until == utc(2026, 2, 6, 19) and since == until - timedelta(days=3)


def test_query_string():
    q = build_query(["cs.CV", "cs.LG"], utc(2026, 2, 5, 19), utc(2026, 2, 6, 19))
    assert q == "(cat:cs.CV OR cat:cs.LG) AND submittedDate:[202602051900 TO 202602061900]"


def test_retry_after_header_forms():
    assert _retry_after("7") == 7.0
    assert _retry_after(None) is None and _retry_after("soon") is None
    later = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 25 <= _retry_after(later) <= 31


# -- fetching the sample day -----------------------------------------------------------------


def test_sample_day_gives_the_ten_reference_papers(server):
    seen: list[str] = []
    r = fetch_day(cfg_for(server), CV, SAMPLE_DAY, None, progress=lambda ev: seen.append(ev.note))
    assert len(r.papers) == 10 and r.total == 10 and r.requests == 1
    assert (r.since, r.until) == (utc(2026, 2, 5, 19), utc(2026, 2, 6, 19))
    ids = [p.id for p in r.papers]
    assert ids[0] == "2602.06959" and ids[-1] == "2602.06830" and len(set(ids)) == 10
    dojo = next(p for p in r.papers if p.id == "2602.06949")
    assert dojo.version == 1 and dojo.versioned_id == "2602.06949v1"
    assert dojo.title == "DreamDojo: A Generalist Robot World Model from Large-Scale Human Videos"
    assert len(dojo.authors) == 30 and dojo.authors[0] == "Shenyuan Gao" and dojo.authors[-1] == 'Linxi "Jim" Fan'
    assert dojo.categories == ["cs.RO", "cs.AI", "cs.CV", "cs.LG"] and dojo.primary_category == "cs.RO"
    assert dojo.abstract.startswith("Being able to simulate") and dojo.abstract.endswith("robot world models.")
    for p in r.papers:
        assert p.published.tzinfo is not None and p.published.utcoffset() == timedelta(0)
        assert r.since <= p.published < r.until and p.published.date() == date(2026, 2, 6)
        assert p.updated.tzinfo is not None
    # the PDF link points at the server, which serves a real PDF
    assert dojo.pdf_url == f"{server.root_url}/pdf/2602.06949v1"
    pdf = requests.get(dojo.pdf_url, timeout=5)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    # the request is the documented one: OR of categories, GMT minutes, newest first, one big page
    (req,) = server.query_requests()
    assert req.params["search_query"] == "(cat:cs.CV) AND submittedDate:[202602051900 TO 202602061900]"
    assert (req.params["sortBy"], req.params["sortOrder"]) == ("submittedDate", "descending")
    assert (req.params["start"], req.params["max_results"]) == ("0", "2000")
    assert any("requesting" in s for s in seen)


def test_categories_are_or_ed(server):
    r = fetch_day(cfg_for(server), ["cs.RO", "stat.ML"], SAMPLE_DAY, None)
    assert sorted(p.id for p in r.papers) == ["2602.06883", "2602.06949"]


def test_paging_respects_the_delay(server):
    r = fetch_day(cfg_for(server, page_size=3), CV, SAMPLE_DAY, None)
    reqs = server.query_requests()
    assert len(r.papers) == 10 and len({p.id for p in r.papers}) == 10
    assert [q.params["start"] for q in reqs] == ["0", "3", "6", "9"]
    assert all(q.params["max_results"] == "3" for q in reqs)
    assert len(server.gaps()) == 3 and min(server.gaps()) >= DELAY


def test_sample_pdfs_and_server_404(server):
    for e in load_entries():
        assert requests.get(f"{server.root_url}/pdf/{e.id}", timeout=5).content.startswith(b"%PDF-")
    assert requests.get(f"{server.root_url}/pdf/2602.06959", timeout=5).status_code == 200  # latest version
    assert requests.get(f"{server.root_url}/pdf/2602.99999v1", timeout=5).status_code == 404


def test_legitimately_empty_day_is_no_error(server):
    # Tuesday 2026-02-10 covers Fri 19:00Z .. Mon 19:00Z: the sample papers are all older
    r = fetch_day(cfg_for(server), CV, date(2026, 2, 10), None)
    assert r.papers == [] and r.total == 0 and len(server.query_requests()) == 1


def test_weekend_makes_no_request(server):
    r = fetch_day(cfg_for(server), CV, date(2026, 2, 7), None)
    assert r.papers == [] and r.requests == 0 and server.requests == [] and "no arXiv announcement" in r.notes[0]


def test_catch_up_window_reaches_back_to_last_until(server):
    r = fetch_day(cfg_for(server), CV, SAMPLE_DAY, "2026-02-04T19:00:00+00:00")
    assert r.since == utc(2026, 2, 4, 19) and len(r.papers) == 10
    assert "submittedDate:[202602041900 TO 202602061900]" in server.query_requests()[0].params["search_query"]


def test_paper_at_the_cutoff_minute_belongs_to_the_next_window(server):
    late = replace(load_entries()[0], id="2602.07001v1", published=utc(2026, 2, 6, 19, 0, 30),
                   updated=utc(2026, 2, 6, 19, 0, 30))
    server.set_entries([*load_entries(), late])
    r = fetch_day(cfg_for(server), CV, SAMPLE_DAY, None)
    assert r.total == 11  # arXiv's range includes the whole last minute...
    assert "2602.07001" not in {p.id for p in r.papers} and len(r.papers) == 10  # ...we do not


def test_two_versions_of_one_paper_keep_the_highest():
    entries = load_entries()
    v2 = replace(entries[0], id="2602.06959v2", updated=utc(2026, 2, 6, 18, 50), title="CineScene v2")
    with ArxivServer([*entries, v2]) as srv:
        r = fetch_day(cfg_for(srv), CV, SAMPLE_DAY, None)
    cine = [p for p in r.papers if p.id == "2602.06959"]
    assert len(r.papers) == 10 and len(cine) == 1 and cine[0].version == 2 and cine[0].title == "CineScene v2"


def test_dedupe_keeps_highest_version_in_first_seen_order():
    base = fetch_paper_like()
    a1, a3, b1, a2 = (replace(base, id=i, version=v) for i, v in [("A", 1), ("A", 3), ("B", 1), ("A", 2)])
    assert [(p.id, p.version) for p in dedupe([a1, a3, b1, a2])] == [("A", 3), ("B", 1)]


def fetch_paper_like():
    from newsletter.models import Paper

    t = utc(2026, 2, 6)
    return Paper(id="x", version=1, title="t", authors=[], abstract="", categories=["cs.CV"],
                 primary_category="cs.CV", published=t, updated=t, pdf_url="")


# -- arXiv's bad days ------------------------------------------------------------------------


def test_429_then_success(server):
    server.fail(429)
    r = fetch_day(cfg_for(server), CV, SAMPLE_DAY, None)
    assert len(r.papers) == 10 and r.requests == 2
    assert [q.status for q in server.query_requests()] == [429, 200]
    assert server.gaps()[0] >= DELAY


def test_429_retry_after_is_honoured(server):
    server.fail(429, retry_after=1)
    r = fetch_day(cfg_for(server), CV, SAMPLE_DAY, None)
    assert len(r.papers) == 10
    assert server.gaps()[0] >= 0.95  # Retry-After: 1 beats the 0.05 s backoff


def test_503_exhausted_raises_with_backoff(server):
    server.fail(503, times=10)
    with pytest.raises(ArxivError, match=r"failed after 3 attempts: HTTP 503"):
        fetch_day(cfg_for(server), CV, SAMPLE_DAY, None)
    gaps = server.gaps()
    assert len(server.query_requests()) == 3
    assert gaps[0] >= DELAY and gaps[1] >= 2 * DELAY  # exponential backoff


def test_soft_rate_limit_body_is_retried(server):
    # arXiv throttles with HTTP 200 and a plain "Rate exceeded." body: never read that as "no papers"
    server.inject("rate_text", times=2)
    r = fetch_day(cfg_for(server), CV, SAMPLE_DAY, None)
    assert len(r.papers) == 10 and len(server.query_requests()) == 3


def test_soft_rate_limit_exhausted_raises(server):
    server.inject("rate_text", times=10)
    with pytest.raises(ArxivError, match="rate limited"):
        fetch_day(cfg_for(server), CV, SAMPLE_DAY, None)


def test_connection_refused_raises(server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = ArxivConfig(base_url=f"http://127.0.0.1:{port}/api/query", delay_seconds=0.01, num_retries=1)
    with pytest.raises(ArxivError, match="connection failed"):
        fetch_day(cfg, CV, SAMPLE_DAY, None)


def test_timeout_is_retried(server):
    server.inject("slow", seconds=0.8)
    r = fetch_day(cfg_for(server, timeout=0.3), CV, SAMPLE_DAY, None)
    assert len(r.papers) == 10 and len(server.query_requests()) == 2


def test_timeout_exhausted_raises(server):
    server.inject("slow", times=5, seconds=0.6)
    with pytest.raises(ArxivError, match=r"no answer within 0.2 s"):
        fetch_day(cfg_for(server, timeout=0.2, num_retries=1), CV, SAMPLE_DAY, None)


def test_error_feed_raises_at_once(server):
    server.inject("error_feed", message="incorrect id format for 1234.12345")
    with pytest.raises(ArxivError, match="error feed: incorrect id format for 1234.12345") as e:
        fetch_day(cfg_for(server), CV, SAMPLE_DAY, None)
    assert "\n" not in str(e.value) and len(server.query_requests()) == 1


def test_http_400_is_not_retried(server):
    server.fail(400)
    with pytest.raises(ArxivError, match="refused the query: HTTP 400"):
        fetch_day(cfg_for(server), CV, SAMPLE_DAY, None)
    assert len(server.query_requests()) == 1


def test_malformed_feed_raises(server):
    server.inject("malformed", times=10)
    with pytest.raises(ArxivError, match="malformed feed"):
        fetch_day(cfg_for(server), CV, SAMPLE_DAY, None)
    assert len(server.query_requests()) == 3


def test_malformed_once_is_retried(server):
    server.inject("malformed")
    assert len(fetch_day(cfg_for(server), CV, SAMPLE_DAY, None).papers) == 10


def test_empty_first_page_with_totals_raises(server):
    server.inject("empty_page", times=10, start=0)
    with pytest.raises(ArxivError, match=r"empty first page although totalResults = 10"):
        fetch_day(cfg_for(server), CV, SAMPLE_DAY, None)


def test_empty_page_midway_raises(server):
    server.inject("empty_page", times=10, start=3)
    with pytest.raises(ArxivError, match=r"empty page at #3 of 10"):
        fetch_day(cfg_for(server, page_size=3), CV, SAMPLE_DAY, None)
    assert [q.params["start"] for q in server.query_requests()] == ["0", "3", "3", "3"]


def test_stale_feed_raises(server):
    server.inject("stale")
    with pytest.raises(ArxivError, match="stale feed: its newest paper was submitted 2026-01-30"):
        fetch_day(cfg_for(server), CV, SAMPLE_DAY, None)


# -- the stand-in itself ---------------------------------------------------------------------


def test_server_query_language():
    e = load_entries()[1]  # DreamDojo, cs.RO primary
    assert compile_query("cat:cs.RO")(e) and not compile_query("cat:cs.CL")(e)
    assert compile_query("(cat:cs.CL OR cat:cs.LG) AND ti:dojo")(e)
    assert not compile_query("cat:cs.CV ANDNOT au:malik")(e)
    assert compile_query("submittedDate:[202602061700 TO 202602061800]")(e)
    assert not compile_query("submittedDate:[202602061800 TO 202602061900]")(e)
    with pytest.raises(ValueError):
        compile_query("(cat:cs.CV")


def test_empty_announcement_is_asked_again_until_the_papers_arrive(server):
    """arXiv's API can lag behind the announcement: an empty answer on an announcement day is asked
    again (here every 0.6 s) instead of being taken as an empty day."""
    papers = server.entries
    server.set_entries([])
    asked: list[str] = []

    def progress(ev) -> None:
        asked.append(ev.note)
        if sum("asking again" in n for n in asked) == 2:
            server.set_entries(papers)  # the announcement reaches the API

    cfg = cfg_for(server, empty_retry_minutes=0.01, empty_retry_hours=0.01)
    r = fetch_day(cfg, CV, SAMPLE_DAY, None, progress=progress)
    assert len(r.papers) == 10 and r.attempts == 3


def test_empty_announcement_after_the_retries_is_an_empty_day(server):
    server.set_entries([])
    cfg = cfg_for(server, empty_retry_minutes=0.01, empty_retry_hours=0.0003)  # about 1 s of retries
    r = fetch_day(cfg, CV, SAMPLE_DAY, None)
    assert r.papers == [] and r.announced and r.attempts >= 2
    weekend = fetch_day(cfg, CV, date(2026, 2, 7), None)  # Saturday: no announcement, nothing asked again
    assert weekend.attempts == 1 and not weekend.announced
