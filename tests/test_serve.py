"""`newsletter serve` on its production server, driven over real sockets on 127.0.0.x with real
concurrency: hostile requests (a table), slow clients, lying lengths, concurrent POSTs of one token,
HEAD and OPTIONS, the page cache, forwarded headers, the access log, and SIGTERM under load.

Bounds are socket timeouts (an answer that does not come in time fails the test); no test measures
how long anything took. Other clients connect from other loopback addresses (127.0.0.x), as
different people would, since the server limits connections per address."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import quote

import pytest

from newsletter.config import load_config
from newsletter.deliver.tokens import make_feedback_token, make_token
from newsletter.errors import ConfigError
from newsletter.models import Edition, Paper
from newsletter.store import Store
from newsletter.store.threads import ThreadStores
from newsletter.web.guard import networks, resolve_client
from newsletter.web.public import WebServer
from tests.conftest import ROOT

SECRET = "serve-secret-for-tests-0123456789"
PAPER = "2602.06959"
DAY = date(2026, 2, 9)
BOUND = 10.0  # seconds: any answer (or close) that takes longer fails the test


def make_paper(pid: str = PAPER, title: str = "Seeing Everything") -> Paper:
    t = datetime(2026, 2, 6, 12, tzinfo=UTC)
    return Paper(pid, 1, title, ["A. Author"], "We propose a method.", ["cs.CV"], "cs.CV", t, t,
                 f"https://arxiv.org/pdf/{pid}v1")


def add_edition(store: Store, day: date = DAY, title: str = "Arxiv CV - 2026-02-09") -> Edition:
    ed = Edition(date=day, profile="cv", language="zh", title=title)
    store.save_selection(ed, [PAPER])
    store.save_picks(ed.id, {"ada@example.org": [PAPER]})
    store.update_edition(ed.id, html="<p>x</p>", text="x", markdown="# x\n", status="rendered")
    return ed


@pytest.fixture
def site(project, tmp_path, monkeypatch):
    """The shipped project (list `cv`; ada and alan in subscribers/team.toml) with one rendered
    edition, a short client timeout and a small per-client cap, served on its production server."""
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)
    cfg = load_config(project.config)
    cfg.web.public_url = "https://news.example.org"
    cfg.web.client_timeout = 1
    cfg.web.connections_per_client = 5
    cfg.web.threads = 4
    store = Store.open(project.db)
    store.upsert_papers([make_paper()])
    add_edition(store)
    with WebServer(store, cfg, port=0) as server:
        yield cfg, store, server
    store.close()


def unsubscribe_path(email: str = "ada@example.org") -> str:
    return f"/unsubscribe?token={quote(make_token(SECRET.encode(), email, 'cv'))}"


def feedback_path(vote: int = 1) -> str:
    return f"/feedback/{make_feedback_token(SECRET.encode(), 'ada@example.org', 'cv', PAPER, vote)}"


@dataclass
class Answer:
    status: int | None  # None: the server closed the connection without answering
    head: str
    body: bytes


def exchange(port: int, data: bytes, source: str = "127.0.0.1", then_close: bool = False) -> Answer:
    """Send raw bytes, read until the server closes; a server that neither answers nor closes
    within BOUND seconds fails the test (socket.timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=BOUND, source_address=(source, 0)) as s:
        s.sendall(data)
        if then_close:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.startswith(b"HTTP/1."):
        return Answer(None, "", raw)
    head, _, body = raw.partition(b"\r\n\r\n")
    return Answer(int(head.split(b" ", 2)[1]), head.decode("latin-1"), body)


def get(port: int, path: str, source: str = "127.0.0.1", method: str = "GET", extra: str = "",
        body: bytes = b"") -> Answer:
    req = (f"{method} {path} HTTP/1.1\r\nHost: news.example.org\r\nConnection: close\r\n{extra}"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    return exchange(port, req, source)


def access_lines(server) -> list[str]:
    server.access.flush()
    return server.access.path.read_text().splitlines() if server.access.path.exists() else []


def lines_after(server, before: list[str], n: int, keep=lambda ln: True) -> list[str]:
    """The access-log lines since `before`, once there are `n` of them (bounded): the server may log
    a request just after the client saw its answer or its closed connection."""
    deadline = time.monotonic() + BOUND
    while len(new := [ln for ln in access_lines(server)[len(before):] if keep(ln)]) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return new


# -- hostile input, as a table ---------------------------------------------------------------------

U = unsubscribe_path()
HOSTILE: list[tuple[str, bytes, set[int | None]]] = [
    # (case, raw request, acceptable outcomes: status codes, or None for a closed connection)
    ("long URL", b"GET /archive/" + b"a" * 6000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", {414}),
    ("URL over the header limit", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", {431}),
    ("long feedback token", b"GET /feedback/" + b"A" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", {414}),
    ("long unsubscribe token", b"GET /unsubscribe?token=" + b"A" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    ("invalid UTF-8, percent-encoded", b"GET /%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    ("invalid UTF-8, raw bytes", b"GET /\xff\xfe\xfd HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    ("invalid UTF-8 in a token", b"GET /unsubscribe?token=%ff%c3%28 HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    ("invalid UTF-8 in a feedback token", b"GET /feedback/%ff%c3%28.abc HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    ("traversal, plain", b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", {404}),
    ("traversal under /archive/", b"GET /archive/../../config.toml HTTP/1.1\r\nHost: x\r\n\r\n", {404}),
    ("traversal, %2e%2e%2f", b"GET /archive/%2e%2e%2f%2e%2e%2fconfig.toml HTTP/1.1\r\nHost: x\r\n\r\n", {404}),
    ("traversal, double-encoded", b"GET /archive/%252e%252e%252fconfig.toml HTTP/1.1\r\nHost: x\r\n\r\n", {404}),
    ("traversal, backslashes", b"GET /archive/..%5c..%5cconfig.toml HTTP/1.1\r\nHost: x\r\n\r\n", {404}),
    ("traversal, overlong UTF-8", b"GET /archive/%c0%ae%c0%ae/config.toml HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    ("traversal, full-width dots", "GET /archive/％２ｅ％２ｅ/config.toml HTTP/1.1\r\nHost: x\r\n\r\n".encode(), {400, 404}),
    ("traversal in an archive name", b"GET /archive/2026-02-09/..%2f..%2fvar%2fnewsletter.db HTTP/1.1\r\nHost: x\r\n\r\n",
     {404}),
    ("traversal in a feedback token", b"GET /feedback/..%2f..%2fconfig.toml HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    ("absolute path", b"GET //etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", {404}),
    ("NUL in the path", b"GET /archive/%00.html HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    ("CRLF in a parameter", f"GET {U}%0d%0aSet-Cookie:%20x=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode(), {400}),
    ("CRLF in the path", b"GET /feedback/x%0d%0aLocation:%20http://evil HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    ("bare CR in the request line", b"GET /a\rb HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    ("garbage request line", b"GARBAGE\r\n\r\n", {400}),
    ("invalid Content-Length", f"POST {U} HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".encode(), {400}),
    ("negative Content-Length", f"POST {U} HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".encode(), {400}),
    ("huge announced body, unread", f"POST {U} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n".encode(),
     {413}),
    ("huge body sent", f"POST {U} HTTP/1.1\r\nHost: x\r\nContent-Length: 40000\r\n\r\n".encode() + b"x" * 40000,
     {413}),
    ("huge chunked body", f"POST {U} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
     + b"9c40\r\n" + b"x" * 40000 + b"\r\n0\r\n\r\n", {413}),
    ("unknown transfer coding", f"POST {U} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n".encode(), {501}),
    ("header flood", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Flood: 1\r\n" * 3000 + b"\r\n", {431}),
    ("one huge header", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n", {431}),
    ("unknown method", b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n", {405}),
    ("TRACE", b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", {405}),
    ("lying Content-Length, longer than the body",
     f"POST {U} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nList-Unsubscribe".encode(), {None}),
    ("headers that never end", b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n", {None}),
    ("a connection that sends nothing", b"", {None}),
]


@pytest.mark.parametrize("case,raw,outcomes", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_request_gets_a_4xx_or_a_closed_connection_and_one_log_line(site, caplog, case, raw, outcomes):
    cfg, store, server = site
    caplog.set_level(logging.INFO)
    before = access_lines(server)
    answers: list[Answer] = []
    hostile = threading.Thread(target=lambda: answers.append(exchange(server.port, raw, "127.0.0.7")))
    hostile.start()
    # while the hostile request is open (the stalled ones for a whole client timeout), another
    # client is answered at once: bounded by the socket timeout, not measured
    assert get(server.port, "/", source="127.0.0.8").status == 200
    hostile.join(BOUND + 5)
    assert not hostile.is_alive() and answers, f"{case}: no answer and no close in {BOUND} s"
    answer = answers[0]
    assert answer.status in outcomes, f"{case}: {answer.status} {answer.head[:200]!r}"
    assert answer.status is None or 400 <= answer.status < 500 or answer.status == 501
    assert b"root:" not in answer.body and b"[web]" not in answer.body and b"SQLite format" not in answer.body
    assert "Set-Cookie" not in answer.head and "Location" not in answer.head
    new = lines_after(server, before, 1, keep=lambda ln: " GET / 200 " not in ln)
    assert len(new) == 1, f"{case}: {new}"
    assert "127.0.0" not in new[0] and "token=" not in new[0] and "AAAA" not in new[0] and "%" not in new[0]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text
    assert store.suppressions() == [] and store.get_votes() == {}


def test_many_connections_from_one_client_are_cut_and_others_still_served(site):
    cfg, store, server = site
    held = []
    try:
        for _ in range(cfg.web.connections_per_client):  # the cap: all accepted, all stalled
            s = socket.create_connection(("127.0.0.1", server.port), timeout=BOUND, source_address=("127.0.0.9", 0))
            s.sendall(b"GET / HTTP/1.1\r\n")
            held.append(s)
        before = access_lines(server)
        for _ in range(10):  # beyond it: closed at once, no answer
            answer = exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "127.0.0.9")
            assert answer.status is None
        refused = lines_after(server, before, 10)
        assert len(refused) == 10 and all("refused: over 5 open connections from one client" in ln for ln in refused)
        for i in range(10):  # everyone else is served meanwhile
            assert get(server.port, "/", source=f"127.0.1.{i + 1}").status == 200
    finally:
        for s in held:
            s.close()


def test_slow_clients_hold_no_worker(project, tmp_path, monkeypatch):
    """Two workers, twenty clients stalled mid-headers and mid-body: everyone else is still answered."""
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)
    cfg = load_config(project.config)
    cfg.web.threads, cfg.web.client_timeout = 2, 30
    store = Store.open(tmp_path / "slow.db")
    held = []
    try:
        with WebServer(store, cfg, port=0) as server:
            for i in range(20):
                s = socket.create_connection(("127.0.0.1", server.port), timeout=BOUND,
                                             source_address=(f"127.0.2.{i + 1}", 0))
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" if i % 2 else
                          f"POST {U} HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nList".encode())
                held.append(s)
            results = []
            threads = [threading.Thread(target=lambda i=i: results.append(
                get(server.port, feedback_path() if i % 2 else unsubscribe_path(), source=f"127.0.3.{i + 1}").status))
                for i in range(30)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(BOUND + 5)
            assert sorted(results) == [200] * 15 + [410] * 15  # ada has no picks in this store: 410
    finally:
        for s in held:
            s.close()
        store.close()


# -- state changes only on POST, exactly once -----------------------------------------------------

def test_concurrent_posts_of_one_token_record_it_once(site, caplog):
    cfg, store, server = site
    caplog.set_level(logging.INFO, logger="newsletter.web")
    barrier = threading.Barrier(16)
    statuses = []

    def post(path: str, source: str) -> None:
        barrier.wait()
        statuses.append(get(server.port, path, source=source, method="POST", body=b"List-Unsubscribe=One-Click").status)

    for path in (feedback_path(-1), unsubscribe_path("bob@example.org")):
        barrier.reset()
        statuses.clear()
        threads = [threading.Thread(target=post, args=(path, f"127.0.4.{i + 1}")) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(BOUND + 5)
        assert statuses == [200] * 16
    assert store.get_votes() == {"ada@example.org": {PAPER: -1}}
    assert [(r["email"], r["list"]) for r in store.suppressions()] == [("bob@example.org", "cv")]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("voted -1" in m for m in messages) == 1
    assert sum("unsubscribed one address" in m for m in messages) == 1


def test_many_addresses_posted_at_once_are_each_recorded_once(site):
    cfg, store, server = site
    emails = [f"reader{i:03d}@example.org" for i in range(120)]
    errors = []

    def worker(k: int) -> None:
        for email in emails[k::12] + emails[k::24]:  # every address once, half of them twice
            status = get(server.port, unsubscribe_path(email), source=f"127.0.5.{k + 1}", method="POST").status
            if status != 200:
                errors.append(status)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    db = sqlite3.connect(store.path)
    assert db.execute("select count(*), count(distinct email) from suppressions").fetchone() == (120, 120)
    db.close()


def test_get_head_and_options_change_nothing(site):
    cfg, store, server = site
    for path in (unsubscribe_path(), feedback_path(1), feedback_path(-1)):
        for method in ("GET", "HEAD", "OPTIONS", "GET"):
            assert get(server.port, path, method=method).status in (200, 204)
    assert store.suppressions() == [] and store.get_votes() == {}


def test_head_is_get_without_the_body_and_options_says_what_is_allowed(site):
    cfg, store, server = site
    for path in ("/", "/archive/2026-02-09/cv.html", unsubscribe_path(), feedback_path()):
        full, head = get(server.port, path), get(server.port, path, method="HEAD")
        assert full.status == head.status == 200 and head.body == b""
        length = re.search(r"Content-Length: (\d+)", head.head).group(1)
        assert int(length) == len(full.body) > 0
    allow = {"/": "GET, HEAD, OPTIONS", "/archive/2026-02-09/cv.html": "GET, HEAD, OPTIONS",
             unsubscribe_path(): "GET, HEAD, POST, OPTIONS", feedback_path(): "GET, HEAD, POST, OPTIONS",
             "*": "GET, HEAD, POST, OPTIONS"}
    for path, methods in allow.items():
        answer = get(server.port, path, method="OPTIONS")
        assert answer.status == 204 and f"Allow: {methods}" in answer.head and answer.body == b""
        answer = get(server.port, path, method="DELETE")
        if path != "*":
            assert answer.status == 405 and f"Allow: {methods}" in answer.head
    assert get(server.port, "/nope", method="OPTIONS").status == 404


# -- cached pages ----------------------------------------------------------------------------------

def test_archive_pages_are_built_once_until_a_new_edition(site):
    cfg, store, server = site
    page = "/archive/2026-02-09/cv.html"
    first = get(server.port, page)
    builds = server.cache.builds
    for i in range(5):
        again = get(server.port, page, source=f"127.0.6.{i + 1}")
        assert again.body == first.body
    assert server.cache.builds == builds, "served from the cache"
    etag = re.search(r"Etag: (\S+)", first.head, re.I).group(1)
    assert get(server.port, page, extra=f"If-None-Match: {etag}\r\n").status == 304
    assert "Cache-Control: public" in first.head
    assert "2026-02-10" not in get(server.port, "/").body.decode()
    add_edition(store, date(2026, 2, 10), "Arxiv CV - 2026-02-10")  # a new edition: the index changes
    assert "2026-02-10" in get(server.port, "/").body.decode()
    assert get(server.port, "/archive/2026-02-10/cv.html").status == 200
    store.upsert_papers([make_paper(title="Seeing Everything, Revised")])
    assert "Seeing Everything, Revised" in get(server.port, page).body.decode()
    assert get(server.port, page, extra=f"If-None-Match: {etag}\r\n").status == 200


# -- proxies ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("peer,forwarded,proto,client,scheme", [
    ("127.0.0.1", "203.0.113.9", "https", "203.0.113.9", "https"),             # our proxy: believed
    ("127.0.0.1", "6.6.6.6, 203.0.113.9", "https", "203.0.113.9", "https"),    # the client's own claim is not
    ("127.0.0.1", "203.0.113.9, 10.0.0.2", "https", "203.0.113.9", "https"),   # through two trusted proxies
    ("198.51.100.4", "203.0.113.9", "https", "198.51.100.4", "http"),          # anyone else: ignored
    ("127.0.0.1", "", "gopher", "127.0.0.1", "http"),
])
def test_forwarded_headers_are_believed_only_from_configured_proxies(peer, forwarded, proto, client, scheme):
    environ = {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded, "HTTP_X_FORWARDED_PROTO": proto,
               "wsgi.url_scheme": "http"}
    assert resolve_client(environ, networks(["127.0.0.1", "10.0.0.0/8"])) == client
    assert environ["wsgi.url_scheme"] == scheme and environ["REMOTE_ADDR"] == client
    assert "HTTP_X_FORWARDED_FOR" not in environ and "HTTP_X_FORWARDED_PROTO" not in environ


def test_a_trusted_proxy_may_hold_many_connections(project, tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)
    cfg = load_config(project.config)
    cfg.web.connections_per_client, cfg.web.trusted_proxies = 2, ["127.0.0.1"]
    store = Store.open(tmp_path / "proxy.db")
    held = []
    try:
        with WebServer(store, cfg, port=0) as server:
            for source in ("127.0.0.1", "127.0.0.11"):
                for _ in range(4):
                    s = socket.create_connection(("127.0.0.1", server.port), timeout=BOUND, source_address=(source, 0))
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                    held.append(s)
            for s in held:
                try:
                    s.sendall(b"Connection: close\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):  # one the server had closed at once
                    pass
            answers = []
            for s in held:
                try:
                    answers.append(s.recv(12)[:12])
                except ConnectionResetError:  # closed at once, then written to
                    answers.append(b"")
            assert answers[:4] == [b"HTTP/1.1 200"] * 4  # the proxy: all four
            assert answers[4:6] == [b"HTTP/1.1 200"] * 2 and answers[6:] == [b""] * 2  # anyone else: two
    finally:
        for s in held:
            s.close()
        store.close()


# -- the store, the log, the configuration --------------------------------------------------------

def test_each_thread_has_its_own_connection_in_wal_mode(tmp_path):
    stores = ThreadStores(tmp_path / "t.db")
    seen = {}

    def use(i: int) -> None:
        seen[i] = (stores.get(), stores.get())

    threads = [threading.Thread(target=use, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(a is b for a, b in seen.values()) and len({id(a) for a, _ in seen.values()}) == 4
    assert seen[0][0].db.execute("pragma journal_mode").fetchone()[0] == "wal"
    stores.close()
    with pytest.raises(ValueError):
        ThreadStores(":memory:")


def test_access_log_has_one_line_per_request_and_no_token_or_address(site):
    cfg, store, server = site
    requests = [("GET", "/"), ("GET", "/archive/2026-02-09/cv.html"), ("GET", unsubscribe_path()),
                ("POST", unsubscribe_path("carol@example.org")), ("GET", feedback_path()), ("HEAD", feedback_path()),
                ("GET", "/nope?email=ada@example.org"), ("GET", "/feedback/ada@example.org")]
    before = access_lines(server)
    for method, path in requests:
        get(server.port, path, method=method)
    lines = lines_after(server, before, len(requests))
    assert [ln.split(" ")[1:4] for ln in lines] == [
        ["GET", "/", "200"], ["GET", "/archive/2026-02-09/cv.html", "200"], ["GET", "/unsubscribe", "200"],
        ["POST", "/unsubscribe", "200"], ["GET", "/feedback/<token>", "200"], ["HEAD", "/feedback/<token>", "200"],
        ["GET", "<other>", "404"], ["GET", "/feedback/<token>", "400"]]
    text = "\n".join(lines)
    for secret_bit in ("token=", "example.org", "127.0.0.1", make_token(SECRET.encode(), "ada@example.org", "cv")[:20]):
        assert secret_bit not in text


def test_web_host_is_loopback_unless_configured(project, tmp_path):
    cfg = load_config(project.config)
    assert cfg.web.host == "127.0.0.1"
    project.edit('host = "127.0.0.1"', 'host = "example.org"')
    with pytest.raises(ConfigError, match=r"\[web\]\.host: .*must be an IP address"):
        load_config(project.config)
    project.edit('host = "example.org"', 'host = "127.0.0.2"')
    project.edit('trusted_proxies = ["127.0.0.1", "::1"]', 'trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]')
    cfg = load_config(project.config)
    store = Store.open(tmp_path / "h.db")
    try:
        with WebServer(store, cfg, port=0) as server:
            assert server.url.startswith("http://127.0.0.2:")
            assert get_url(server.url) == 200
    finally:
        store.close()


def get_url(url: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url), timeout=BOUND) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


# -- SIGTERM under load ----------------------------------------------------------------------------

def test_sigterm_under_load_finishes_the_requests_in_flight_and_exits(project, monkeypatch):
    """`newsletter serve` as a process, 12 clients posting one-click unsubscribes and fetching pages;
    SIGTERM in the middle. Every request either got its whole answer or was refused before it was
    read; every 200 to a POST is in the store; the process exits 0 and says so."""
    store = Store.open(project.db)
    store.upsert_papers([make_paper()])
    add_edition(store)
    store.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NEWSLETTER_UNSUBSCRIBE_SECRET": SECRET}
    cmd = [sys.executable, "-m", "newsletter.cli", "serve", "--config", str(project.config), "--port", "0"]
    proc = subprocess.Popen(cmd, cwd=project.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(re.search(r":(\d+)/", proc.stdout.readline()).group(1))
        outcomes: list[tuple[str, int | None, bool]] = []
        going = threading.Event()
        going.set()
        answered = threading.Semaphore(0)

        def client(k: int) -> None:
            i = 0
            while going.is_set():
                email = f"c{k}-{i}@example.org"
                path = unsubscribe_path(email) if i % 2 else "/archive/2026-02-09/cv.html"
                try:
                    a = get(port, path, source=f"127.0.7.{k + 1}", method="POST" if i % 2 else "GET")
                    whole = not a.body if a.status is None else len(a.body) == int(
                        re.search(r"Content-Length: (\d+)", a.head).group(1))
                    outcomes.append((email if i % 2 else "", a.status, whole))
                except (ConnectionRefusedError, ConnectionResetError):
                    outcomes.append((email, None, True))  # refused: the server had stopped listening
                answered.release()
                i += 1

        threads = [threading.Thread(target=client, args=(k,)) for k in range(12)]
        for t in threads:
            t.start()
        for _ in range(150):
            assert answered.acquire(timeout=BOUND)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=BOUND)
        going.clear()
        for t in threads:
            t.join(BOUND)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    assert code == 0 and "SIGTERM received" in err and "Traceback" not in err, err
    statuses = {s for _, s, _ in outcomes}
    assert statuses <= {200, None}, statuses
    assert all(whole for _, _, whole in outcomes), "a response was cut short"
    posted = {e for e, s, _ in outcomes if e and s == 200}
    stored = Store.open(project.db)
    try:
        suppressed = {r["email"] for r in stored.suppressions()}
    finally:
        stored.close()
    assert posted <= suppressed and len(posted) > 20
