"""One-click feedback over real HTTP on 127.0.0.1: GET confirms and records nothing, POST records the
reader's vote (once, the latest wins), pages speak the list's language, forged tokens get 400, stale
ones 410, a missing secret 503, and oversized requests are refused without being read."""

from __future__ import annotations

import base64
import http.client
import logging
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, date, datetime
from html import escape
from urllib.parse import urljoin

import pytest

from newsletter.config import load_config
from newsletter.deliver.tokens import make_feedback_token, make_token
from newsletter.models import Edition, Paper
from newsletter.ops.logs import mask_email
from newsletter.store import Store
from newsletter.web.public import WebServer
from tests.conftest import ROOT

SECRET = "unsubscribe-secret-for-tests"
ROBOTS = """[[profiles]]
name = "robots"
title = "Arxiv Robotics Papers"
categories = ["cs.RO"]
language = "en"
"""
GRACE = """[[subscriber]]
email = "Grace@Example.org"
name = "Grace Hopper"
profiles = ["robots"]
"""
CV_PAPER, RO_PAPER, OTHER_PAPER = "2602.06959", "2602.06949", "2602.06914"
TITLES = {CV_PAPER: "Seeing <Everything> & More", RO_PAPER: "Robots That Listen", OTHER_PAPER: "Never Sent"}


def paper(pid: str) -> Paper:
    t = datetime(2026, 2, 6, 12, tzinfo=UTC)
    return Paper(pid, 2, TITLES[pid], ["A. Author"], "Abstract.", ["cs.CV"], "cs.CV", t, t,
                 f"https://arxiv.org/pdf/{pid}v2")


@pytest.fixture
def site(project, tmp_path, monkeypatch):
    """Lists `cv` (zh; ada and alan in the shipped subscribers/team.toml) and `robots` (en; Grace).
    CV_PAPER was picked for ada, RO_PAPER for grace; OTHER_PAPER is in the store but picked for nobody."""
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)
    project.append(ROBOTS)
    (project.dir / "subscribers" / "robots.toml").write_text(GRACE)
    cfg = load_config(project.config)
    cfg.web.public_url = "https://news.example.org"
    store = Store.open(tmp_path / "t.db")
    store.upsert_papers([paper(p) for p in TITLES])
    day = date(2026, 2, 9)
    cv = Edition(date=day, profile="cv", language="zh", title="Arxiv Computer Vision Papers - 2026-02-09")
    store.save_selection(cv, [CV_PAPER, OTHER_PAPER])
    store.save_picks(cv.id, {"ada@example.org": [CV_PAPER]})
    ro = Edition(date=day, profile="robots", language="en", title="Arxiv Robotics Papers - 2026-02-09")
    store.save_selection(ro, [RO_PAPER])
    store.save_picks(ro.id, {"grace@example.org": [RO_PAPER]})
    with WebServer(store, cfg) as server:
        yield cfg, store, server
    store.close()


def request(method: str, url: str, body: bytes | None = None) -> tuple[int, str, dict[str, str]]:
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def link(server, email: str, list_name: str, paper_id: str, vote: int, secret: str = SECRET) -> str:
    return f"{server.url}feedback/{make_feedback_token(secret.encode(), email, list_name, paper_id, vote)}"


def visible(page: str) -> str:
    """The words a reader sees: no tags, no attribute values (the token is in the form's action)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", page))


def test_get_confirms_in_chinese_and_records_nothing(site):
    cfg, store, server = site
    url = link(server, "ada@example.org", "cv", CV_PAPER, +1)
    for _ in range(3):  # mail scanners and prefetchers fetch every link, more than once
        code, page, _ = request("GET", url)
        assert code == 200
    assert request("HEAD", url)[0] == 200
    assert '<html lang="zh">' in page and "<title>更多类似？</title>" in page
    assert escape(TITLES[CV_PAPER]) in page and "<Everything>" not in page, "the title is shown, escaped"
    assert "「Arxiv Computer Vision Papers」将为 a***@example.org 推荐更多类似的论文" in visible(page)
    assert page.count("<form") == 1 and page.count("<button") == 1 and 'method="post"' in page
    assert ">更多类似</button>" in page
    assert "ada@example.org" not in page and not re.search(r"\bcv\b", visible(page))
    action = re.search(r'<form method="post" action="([^"]+)"', page).group(1)
    assert urljoin(url, action) == url, "the button posts back to the same link"
    assert store.get_votes() == {}


def test_get_confirms_in_english_for_an_english_list(site):
    cfg, store, server = site
    code, page, headers = request("GET", link(server, "grace@example.org", "robots", RO_PAPER, -1))
    assert code == 200 and '<html lang="en">' in page and "<h1>Less like this?</h1>" in page
    assert "Press the button and «Arxiv Robotics Papers» will bring g***@example.org fewer papers like this one." \
        in visible(page)
    assert ">Less like this</button>" in page and TITLES[RO_PAPER] in page
    assert "form-action 'self'" in headers["Content-Security-Policy"] and headers["Cache-Control"] == "no-store"
    assert "http" not in re.sub(r'href="https://arxiv\.org/[^"]*"', "", page).replace("http-equiv", ""), \
        "nothing external is loaded"
    assert store.get_votes() == {}


def test_post_records_the_vote_once_and_thanks_with_a_link_to_the_paper(site, caplog):
    cfg, store, server = site
    url = link(server, "ada@example.org", "cv", CV_PAPER, +1)
    with caplog.at_level(logging.INFO, logger="newsletter.web.feedback"):
        for _ in range(3):  # the reader presses the button again, or reloads the thank-you page
            code, page, _ = request("POST", url, b"")
            assert code == 200 and "<h1>感谢反馈</h1>" in page and "您的下一期简报将包含更多类似的论文。" in page
    assert f'<a href="https://arxiv.org/abs/{CV_PAPER}v2">{escape(TITLES[CV_PAPER])}</a>' in page
    assert store.get_votes() == {"ada@example.org": {CV_PAPER: 1}}
    assert [(r["paper_id"], r["vote"], r["profile"]) for r in store.vote_rows("ada@example.org")] == \
        [(CV_PAPER, 1, "cv")]
    lines = [r.getMessage() for r in caplog.records if "voted" in r.getMessage()]
    assert lines == [f"feedback: a***@example.org voted +1 on {CV_PAPER} (list cv)"], "one line per recorded vote"
    assert "ada@example.org" not in caplog.text


def test_a_later_opposite_vote_replaces_the_earlier(site):
    cfg, store, server = site
    assert request("POST", link(server, "grace@example.org", "robots", RO_PAPER, +1), b"")[0] == 200
    assert store.get_votes(["grace@example.org"]) == {"grace@example.org": {RO_PAPER: 1}}
    code, page, _ = request("POST", link(server, "grace@example.org", "robots", RO_PAPER, -1), b"")
    assert code == 200 and "Your next issue will have fewer papers like this." in page
    assert store.get_votes() == {"grace@example.org": {RO_PAPER: -1}}
    assert len(store.vote_rows("grace@example.org")) == 1


def tampered(token: str, payload: bytes) -> str:
    """The genuine token's signature on another payload."""
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode() + "." + token.split(".")[1]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_forged_tokens_are_refused_and_record_nothing(site, method):
    cfg, store, server = site
    genuine = make_feedback_token(SECRET.encode(), "ada@example.org", "cv", CV_PAPER, +1)
    forged = [
        make_feedback_token(b"guessed-secret", "ada@example.org", "cv", CV_PAPER, +1),  # another secret
        make_token(SECRET.encode(), "ada@example.org", "cv"),  # an unsubscribe token
        tampered(genuine, f"cv\x00ada@example.org\x00{OTHER_PAPER}\x00+".encode()),  # another paper
        tampered(genuine, f"cv\x00ada@example.org\x00{CV_PAPER}\x00-".encode()),  # the other vote
        tampered(genuine, f"cv\x00alan@example.org\x00{CV_PAPER}\x00+".encode()),  # another reader
        genuine + "x", genuine.replace(".", ".."), "garbage", "",
    ]
    for token in forged:
        code, page, _ = request(method, f"{server.url}feedback/{token}", b"" if method == "POST" else None)
        assert code == 400, token
        assert "This feedback link is not valid" in page or "此反馈链接无效" in page
        assert "ada@example.org" not in page and "alan" not in page
    assert store.get_votes() == {}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_stale_tokens_get_410_and_record_nothing(site, method, project):
    cfg, store, server = site
    body = b"" if method == "POST" else None
    # a paper of the list that was never chosen for this reader, or chosen for someone else
    for who, pid in (("ada@example.org", OTHER_PAPER), ("alan@example.org", CV_PAPER)):
        code, page, _ = request(method, link(server, who, "cv", pid, +1), body)
        assert code == 410 and "<h1>链接已失效</h1>" in page and "未记录任何内容" in page
    # a list this config does not have, or one the reader does not get
    assert request(method, link(server, "ada@example.org", "old-list", CV_PAPER, +1), body)[0] == 410
    assert request(method, link(server, "ada@example.org", "robots", CV_PAPER, +1), body)[0] == 410
    # unsubscribed from that list; suppressed for every list (a hard bounce)
    store.suppress("ada@example.org", "unsubscribed", "one-click", list_name="cv")
    code, page, _ = request(method, link(server, "ada@example.org", "cv", CV_PAPER, +1), body)
    assert code == 410 and "ada@example.org" not in page
    store.suppress("grace@example.org", "hard_bounce", "550 no such user")
    code, page, _ = request(method, link(server, "grace@example.org", "robots", RO_PAPER, -1), body)
    assert code == 410 and "<h1>Link no longer valid</h1>" in page
    assert store.get_votes() == {}


def test_a_reader_removed_from_the_subscriber_files_is_stale_at_once(site, project):
    cfg, store, server = site
    url = link(server, "grace@example.org", "robots", RO_PAPER, +1)
    assert request("GET", url)[0] == 200
    (project.dir / "subscribers" / "robots.toml").unlink()
    assert request("POST", url, b"")[0] == 410
    (project.dir / "subscribers" / "robots.toml").write_text(GRACE.replace('["robots"]', '["cv"]'))
    assert request("POST", url, b"")[0] == 410, "still subscribed, but no longer to that list"
    (project.dir / "subscribers" / "robots.toml").write_text(GRACE)
    assert request("POST", url, b"")[0] == 200
    assert store.get_votes() == {"grace@example.org": {RO_PAPER: 1}}


def test_broken_subscriber_files_keep_the_last_good_roster_or_answer_503(project, tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)
    cfg = load_config(project.config)
    store = Store.open(tmp_path / "t.db")
    store.upsert_papers([paper(CV_PAPER)])
    ed = Edition(date=date(2026, 2, 9), profile="cv", language="zh", title="CV")
    store.save_selection(ed, [CV_PAPER])
    store.save_picks(ed.id, {"ada@example.org": [CV_PAPER]})
    team = project.dir / "subscribers" / "team.toml"
    good = team.read_text()
    try:
        team.write_text(good + "\n[[subscriber]]\nemail = 'not an address'\nprofiles = ['cv']\n")
        with WebServer(store, cfg) as server:
            url = link(server, "ada@example.org", "cv", CV_PAPER, +1)
            code, page, _ = request("POST", url, b"")
            assert code == 503 and "暂时无法反馈" in page and store.get_votes() == {}
            team.write_text(good)
            assert request("POST", url, b"")[0] == 200
            team.write_text(good + "\n[[subscriber]]\nemail = 'oops'\n")  # an edit half done
            assert request("POST", link(server, "ada@example.org", "cv", CV_PAPER, -1), b"")[0] == 200
        assert store.get_votes() == {"ada@example.org": {CV_PAPER: -1}}
    finally:
        store.close()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_without_a_secret_feedback_answers_503(site, monkeypatch, method):
    cfg, store, server = site
    url = link(server, "grace@example.org", "robots", RO_PAPER, +1)
    monkeypatch.delenv("NEWSLETTER_UNSUBSCRIBE_SECRET")
    code, page, _ = request(method, url, b"" if method == "POST" else None)
    assert code == 503 and "Feedback unavailable" in page and store.get_votes() == {}


def test_other_methods_get_405_with_allow(site):
    cfg, store, server = site
    url = link(server, "ada@example.org", "cv", CV_PAPER, +1)
    for method in ("PUT", "DELETE", "PATCH"):
        code, _, headers = request(method, url, b"")
        assert code == 405 and headers["Allow"] == "GET, HEAD, POST, OPTIONS"
    code, _, headers = request("PUT", server.url, b"")
    assert code == 405 and headers["Allow"] == "GET, HEAD, OPTIONS"
    code, _, headers = request("DELETE", f"{server.url}unsubscribe?token=x")
    assert code == 405 and headers["Allow"] == "GET, HEAD, POST, OPTIONS"
    assert store.get_votes() == {}


def test_oversized_requests_are_refused_without_being_read(site):
    cfg, store, server = site
    huge = "A" * 3000 + "." + "B" * 30
    for method in ("GET", "POST"):
        code, page, _ = request(method, f"{server.url}feedback/{huge}", b"" if method == "POST" else None)
        assert code == 414 and huge not in page
    # a body announced as 100 MB, of which nothing is sent: answered at once, not after reading it
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    path = "/" + link(server, "ada@example.org", "cv", CV_PAPER, +1).split("/", 3)[3]
    started = time.monotonic()
    conn.putrequest("POST", path)
    conn.putheader("Content-Length", str(100_000_000))
    conn.putheader("Content-Type", "application/x-www-form-urlencoded")
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413 and time.monotonic() - started < 5
    conn.close()
    assert request("POST", link(server, "ada@example.org", "cv", CV_PAPER, +1), b"x=" + b"y" * 2000)[0] == 413
    assert store.get_votes() == {}


def test_the_unsubscribe_link_still_works_beside_feedback(site):
    cfg, store, server = site
    token = make_token(SECRET.encode(), "ada@example.org", "cv")
    code, _, _ = request("POST", f"{server.url}unsubscribe?token={token}", b"List-Unsubscribe=One-Click")
    assert code == 200 and store.suppressed("cv") == {"ada@example.org": "unsubscribed"}
    assert request("GET", link(server, "ada@example.org", "cv", CV_PAPER, +1))[0] == 410


def test_mask_email_keeps_only_the_first_character_and_the_domain():
    assert mask_email("ada@example.org") == "a***@example.org"
    assert mask_email("a@x.org") == "a***@x.org"
    assert mask_email("not an address") == "***" and mask_email("@x.org") == "***"


def test_serve_says_at_start_that_it_answers_feedback(project, monkeypatch):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NEWSLETTER_UNSUBSCRIBE_SECRET": SECRET}
    cmd = [sys.executable, "-m", "newsletter.cli", "serve", "--config", str(project.config), "--port", "0"]
    proc = subprocess.Popen(cmd, cwd=project.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:") and "/feedback/<token>" in line, line
        port = int(re.search(r":(\d+)/", line).group(1))
        assert request("GET", f"http://127.0.0.1:{port}/feedback/garbage")[0] == 400
    finally:
        proc.terminate()
        proc.wait(timeout=10)
