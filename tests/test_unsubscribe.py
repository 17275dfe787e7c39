"""One-click unsubscribe over real HTTP on 127.0.0.1: GET confirms, POST suppresses, forgeries refused."""

from __future__ import annotations

import base64
import email
import urllib.error
import urllib.request
from email import policy as email_policy
from urllib.parse import quote, urlparse

import pytest

from newsletter.config import load_config
from newsletter.deliver import send_edition
from newsletter.deliver.tokens import TokenError, make_token, verify_token
from newsletter.store import Store
from newsletter.web.public import WebServer
from tests.test_deliver import FAST, make_edition, people

SECRET = "unsubscribe-secret-for-tests"


@pytest.fixture
def site(project, tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)
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
    assert store.suppressed() == {}


def test_one_click_post_suppresses_at_once(site):
    cfg, store, server = site
    token = make_token(SECRET.encode(), "ada@example.org", "cv")
    code, page = http("POST", f"{server.url}unsubscribe?token={quote(token)}", b"List-Unsubscribe=One-Click")
    assert code == 200 and "no more" in page
    assert store.suppressed() == {"ada@example.org": "unsubscribed"}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_forged_tokens_are_refused(site, method):
    cfg, store, server = site
    genuine = make_token(SECRET.encode(), "ada@example.org", "cv")
    mac = genuine.split(".")[1]
    victim = base64.urlsafe_b64encode(b"cv\x00victim@example.org").rstrip(b"=").decode()
    for token in (f"{victim}.{mac}", make_token(b"guessed", "victim@example.org", "cv"), "garbage", ""):
        body = b"List-Unsubscribe=One-Click" if method == "POST" else None
        code, page = http(method, f"{server.url}unsubscribe?token={quote(token)}", body)
        assert code == 400 and "not valid" in page
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
    assert code == 200 and store.suppressed() == {"user001@example.org": "unsubscribed"}
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
