"""One-click unsubscribe over real HTTP on 127.0.0.1: GET confirms, POST suppresses that list only
(once), the pages speak the list's language and name it by its title, forgeries are refused."""

from __future__ import annotations

import base64
import email
import re
import urllib.error
import urllib.request
from email import policy as email_policy
from urllib.parse import quote, urlparse

import pytest

from newsletter.config import load_config
from newsletter.deliver import send_edition
from newsletter.deliver.tokens import TokenError, make_token, unverified_list, verify_token
from newsletter.models import Subscriber
from newsletter.store import Store
from newsletter.web.public import WebServer
from tests.test_deliver import FAST, make_edition, people

SECRET = "unsubscribe-secret-for-tests"
ROBOTS = """[[profiles]]
name = "robots"
title = "Arxiv Robotics Papers"
categories = ["cs.RO"]
language = "en"
"""


@pytest.fixture
def site(project, tmp_path, monkeypatch):
    """Two lists: the shipped `cv` (zh, «Arxiv Computer Vision Papers») and `robots` (en)."""
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)
    project.append(ROBOTS)
    cfg = load_config(project.config)
    cfg.web.public_url = "https://news.example.org"
    store = Store.open(tmp_path / "t.db")
    with WebServer(store, cfg) as server:
        yield cfg, store, server
    store.close()


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def visible(page: str) -> str:
    """The words a reader sees: no tags, no attribute values (the token is base64 and may contain 'cv')."""
    return re.sub(r"<[^>]*>", " ", page)


def link(server, email: str, list_name: str) -> str:
    return f"{server.url}unsubscribe?token={quote(make_token(SECRET.encode(), email, list_name))}"


def test_tokens_round_trip_and_detect_tampering():
    t = make_token(b"k", "Ada@Example.org", "cv")
    assert verify_token(b"k", t) == ("ada@example.org", "cv")
    payload, mac = t.split(".")
    other = base64.urlsafe_b64encode(b"cv\x00eve@example.org").rstrip(b"=").decode()
    for bad in (f"{other}.{mac}", make_token(b"other-secret", "ada@example.org", "cv"), t + "x", "", "a.b.c",
                make_token(b"k", "ada@example.org", "ml").split(".")[0] + "." + mac):
        with pytest.raises(TokenError):
            verify_token(b"k", bad)


def test_get_shows_a_confirmation_and_changes_nothing(site):
    cfg, store, server = site
    token = make_token(SECRET.encode(), "ada@example.org", "cv")
    code, page = http("GET", f"{server.url}unsubscribe?token={quote(token)}")
    assert code == 200 and "ada@example.org" in page and 'method="post"' in page
    for _ in range(3):  # link scanners fetch every link, more than once
        assert http("GET", f"{server.url}unsubscribe?token={quote(token)}")[0] == 200
    assert store.suppressed() == {} and store.suppressions() == []


def test_a_chinese_list_gets_a_chinese_page_naming_its_title(site):
    cfg, store, server = site
    code, page = http("GET", link(server, "ada@example.org", "cv"))
    assert code == 200 and '<html lang="zh">' in page
    assert "<title>退订「Arxiv Computer Vision Papers」？</title>" in page
    assert "将不再收到「Arxiv Computer Vision Papers」。您订阅的其他栏目不受影响。" in page
    assert "确认退订</button>" in page
    assert not re.search(r"\bcv\b", visible(page)), "the internal list name is never shown"
    code, page = http("POST", link(server, "ada@example.org", "cv"), b"List-Unsubscribe=One-Click")
    assert code == 200 and "<h1>已退订</h1>" in page and "「Arxiv Computer Vision Papers」" in page
    assert not re.search(r"\bcv\b", visible(page))


def test_an_english_list_gets_an_english_page_that_says_what_happens(site):
    cfg, store, server = site
    code, page = http("GET", link(server, "ada@example.org", "robots"))
    assert code == 200 and '<html lang="en">' in page
    assert "will no longer receive «Arxiv Robotics Papers». Other lists you receive are not affected." in page
    code, page = http("POST", link(server, "ada@example.org", "robots"), b"List-Unsubscribe=One-Click")
    assert "You will no longer receive «Arxiv Robotics Papers» at <b>ada@example.org</b>." in page
    assert "robots" not in visible(page)


def test_a_list_the_config_no_longer_has_gets_a_generic_english_page(site):
    cfg, store, server = site
    code, page = http("GET", link(server, "ada@example.org", "old-list"))
    assert code == 200 and "Unsubscribe from this newsletter?" in page and "old-list" not in visible(page)
    assert unverified_list(make_token(b"x", "a@b.org", "cv")) == "cv" and unverified_list("garbage") is None


def test_one_click_post_suppresses_that_list_at_once_and_exactly_once(site):
    cfg, store, server = site
    for _ in range(3):  # the mail client's one-click POST, then the reader presses the button twice
        code, page = http("POST", link(server, "ada@example.org", "cv"), b"List-Unsubscribe=One-Click")
        assert code == 200 and "已退订" in page
    rows = store.suppressions()
    assert [(r["email"], r["list"], r["reason"]) for r in rows] == [("ada@example.org", "cv", "unsubscribed")]
    assert store.suppressed("cv") == {"ada@example.org": "unsubscribed"}
    assert store.suppressed("robots") == {}
    # the button's form POST (token in the query, form fields in the body) does the same
    code, _ = http("POST", link(server, "bob@example.org", "robots"), b"List-Unsubscribe=One-Click")
    assert code == 200 and store.suppressed("robots") == {"bob@example.org": "unsubscribed"}


def test_leaving_one_list_keeps_the_other_coming(site):
    cfg, store, server = site
    cfg.smtp.host = ""  # embedded sink
    both = [Subscriber(email=f"user{i:03d}@example.org", name=f"User {i}", profiles=["cv", "robots"])
            for i in range(2)]
    code, _ = http("POST", link(server, "user001@example.org", "cv"), b"List-Unsubscribe=One-Click")
    assert code == 200
    cv = make_edition(store)
    robots = make_edition(store, profile="robots", title="Arxiv Robotics Papers - 2026-02-09")
    cv_report = send_edition(store, cfg, cv, both, policy=FAST)
    robots_report = send_edition(store, cfg, robots, both, policy=FAST)
    assert cv_report.counts()["sent"] == 1 and cv_report.counts()["suppressed"] == 1
    assert robots_report.counts()["sent"] == 2 and robots_report.counts()["suppressed"] == 0
    assert {d.email: d.status for d in store.deliveries(cv.id)}["user001@example.org"] == "suppressed"
    assert {d.email: d.status for d in store.deliveries(robots.id)}["user001@example.org"] == "sent"
    # a hard bounce stays every-list: it stops both
    store.suppress("user000@example.org", "hard_bounce", "550 no such user")
    assert set(store.suppressed("robots")) == {"user000@example.org"}
    assert store.suppressed("cv") == {"user000@example.org": "hard_bounce", "user001@example.org": "unsubscribed"}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_forged_tokens_are_refused(site, method):
    cfg, store, server = site
    genuine = make_token(SECRET.encode(), "ada@example.org", "cv")
    mac = genuine.split(".")[1]
    victim = base64.urlsafe_b64encode(b"cv\x00victim@example.org").rstrip(b"=").decode()
    for token in (f"{victim}.{mac}", make_token(b"guessed", "victim@example.org", "cv"), "garbage", ""):
        body = b"List-Unsubscribe=One-Click" if method == "POST" else None
        code, page = http(method, f"{server.url}unsubscribe?token={quote(token)}", body)
        assert code == 400 and ("not valid" in page or "退订链接无效" in page)
    assert store.suppressed() == {}


def test_without_a_secret_the_endpoint_refuses(site, monkeypatch):
    cfg, store, server = site
    token = make_token(SECRET.encode(), "ada@example.org", "cv")
    monkeypatch.delenv("NEWSLETTER_UNSUBSCRIBE_SECRET")
    code, _ = http("POST", f"{server.url}unsubscribe?token={quote(token)}", b"List-Unsubscribe=One-Click")
    assert code == 503 and store.suppressed() == {}


def test_the_link_in_a_sent_message_unsubscribes_and_the_next_send_skips_the_reader(site):
    cfg, store, server = site
    cfg.smtp.host = ""  # embedded sink
    ed = make_edition(store)
    send_edition(store, cfg, ed, people(2), policy=FAST)
    eml = sorted(cfg.resolve(cfg.smtp.outbox).glob("*.eml"))
    msgs = [email.message_from_bytes(f.read_bytes(), policy=email_policy.default) for f in eml]
    msg = next(m for m in msgs if m["To"].addresses[0].addr_spec == "user001@example.org")
    https = msg["List-Unsubscribe"].split(",")[0].strip(" <>")
    local = server.url.rstrip("/") + urlparse(https).path + "?" + urlparse(https).query
    code, _ = http("POST", local, b"List-Unsubscribe=One-Click")
    assert code == 200 and store.suppressed("cv") == {"user001@example.org": "unsubscribed"}
    from datetime import date

    ed2 = make_edition(store, day=date(2026, 2, 10), title="Arxiv CV - 2026-02-10")
    report = send_edition(store, cfg, ed2, people(2), policy=FAST)
    assert report.counts()["suppressed"] == 1 and report.counts()["sent"] == 1


def test_archive_index_and_unknown_pages(site):
    cfg, store, server = site
    code, page = http("GET", server.url)
    assert code == 200
    assert http("GET", server.url + "nope")[0] == 404
    assert http("POST", server.url)[0] == 405
