"""Delivery against real aiosmtpd servers on 127.0.0.1: the pool, the ledger and every fault."""

from __future__ import annotations

import email
import socket
from datetime import date
from email import policy as email_policy
from pathlib import Path

import pytest

from newsletter.config import Config, load_config
from newsletter.deliver import RetryPolicy, classify, send_edition
from newsletter.deliver.tokens import verify_token
from newsletter.errors import DeliveryError
from newsletter.models import Edition, Subscriber
from newsletter.store import Store
from tests.servers.smtp import FaultSMTPServer, make_tls_files

FAST = RetryPolicy(backoff=0.01, max_backoff=0.05, throttle_pause=0.05, throttle_interval=0.02,
                   connect_failures=2)
DAY = date(2026, 2, 9)


def make_edition(store: Store, profile: str = "cv", title: str = "Arxiv Computer Vision Papers - 2026-02-09",
                 day: date = DAY) -> Edition:
    ed = Edition(date=day, profile=profile, language="en", title=title)
    store.save_selection(ed, [])
    html = "<html><body><p>Hello %%NL_NAME%%</p><p>论文 paper</p>" \
           "<a href=\"%%NL_UNSUBSCRIBE_URL%%\">unsubscribe</a></body></html>"
    text = "Hello %%NL_NAME%%\n论文 paper\nUnsubscribe: %%NL_UNSUBSCRIBE_URL%%\n"
    store.update_edition(ed.id, html=html, text=text, markdown="# Report\n\n论文\n", status="rendered")
    return store.get_edition(day, profile)


def people(n: int, domain: str = "example.org") -> list[Subscriber]:
    return [Subscriber(email=f"user{i:03d}@{domain}", name=f"User {i}", profiles=["cv"]) for i in range(n)]


@pytest.fixture
def cfg(project) -> Config:
    c = load_config(project.config)
    c.smtp.security = "none"
    c.smtp.host = "127.0.0.1"
    c.smtp.timeout = 5
    return c


@pytest.fixture
def store(tmp_path: Path):
    s = Store.open(tmp_path / "var" / "t.db")
    yield s
    s.close()


def statuses(store: Store, ed: Edition) -> dict[str, str]:
    return {d.email: d.status for d in store.deliveries(ed.id)}


def test_embedded_sink_writes_one_eml_per_recipient_and_a_rerun_sends_nothing(cfg, store):
    cfg.smtp.host = ""
    ed = make_edition(store)
    report = send_edition(store, cfg, ed, people(5), policy=FAST)
    assert report.counts()["sent"] == 5 and report.complete
    files = sorted(cfg.resolve(cfg.smtp.outbox).glob("*.eml"))
    assert len(files) == 5
    assert not list(cfg.resolve(cfg.smtp.outbox).glob(".*tmp"))
    msg = email.message_from_bytes(files[0].read_bytes(), policy=email_policy.default)
    assert msg["List-Unsubscribe"].startswith("<mailto:")
    assert "List-Unsubscribe-Post" not in msg
    again = send_edition(store, cfg, ed, people(5), policy=FAST)
    assert again.sent_now == 0 and len(list(cfg.resolve(cfg.smtp.outbox).glob("*.eml"))) == 5


def test_message_headers_parts_and_personalisation(cfg, store, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", "s3cret-for-tests")
    cfg.web.public_url = "https://news.example.org"
    cfg.smtp.reply_to = "Editors <editors@example.org>"
    ed = make_edition(store)
    with FaultSMTPServer() as srv:
        cfg.smtp.port = srv.port
        send_edition(store, cfg, ed, people(2), policy=FAST)
    got = srv.handler.received
    assert len(got) == 2 and len({r.message_id for r in got}) == 2
    ledger = {d.email: d.message_id for d in store.deliveries(ed.id)}
    for r in got:
        msg = email.message_from_bytes(r.data, policy=email_policy.default)
        assert msg["Message-ID"] == ledger[r.rcpt]
        assert msg["Subject"] == "Arxiv Computer Vision Papers - 2026-02-09"
        assert msg["Reply-To"] == "Editors <editors@example.org>"
        assert msg["Date"] and msg["List-Id"] == '"Arxiv Computer Vision Papers" <cv.localhost>'
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        https, mailto = [u.strip(" <>") for u in msg["List-Unsubscribe"].split(",")]
        assert https.startswith("https://news.example.org/unsubscribe?token=") and mailto.startswith("mailto:")
        from urllib.parse import parse_qs, urlparse

        token = parse_qs(urlparse(https).query)["token"][0]
        assert verify_token(b"s3cret-for-tests", token) == (r.rcpt, "cv")
        types = [p.get_content_type() for p in msg.walk()]
        assert types == ["multipart/alternative", "text/plain", "text/html"]  # not shortened: no attachment
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        name = "User " + r.rcpt[4:7].lstrip("0") if r.rcpt[4:7] != "000" else "User 0"
        assert f"Hello {name}" in text and f"Hello {name}" in html and "论文" in text
        assert https in text and "%%" not in html and https.replace("&", "&amp;") in html


def test_header_injection_from_names_and_titles_is_impossible(cfg, store):
    ed = make_edition(store, title="Evil\r\nBcc: victim@example.org\nX-Spam: 1")
    subs = [Subscriber(email="a@example.org", name="Eve\r\nBcc: victim@example.org", profiles=["cv"])]
    with FaultSMTPServer() as srv:
        cfg.smtp.port = srv.port
        send_edition(store, cfg, ed, subs, policy=FAST)
    raw = srv.handler.received[0].data
    msg = email.message_from_bytes(raw, policy=email_policy.default)
    assert "Bcc" not in msg and "X-Spam" not in msg
    assert "\n" not in msg["Subject"] and "\n" not in str(msg["To"])
    assert [r.rcpt for r in srv.handler.received] == ["a@example.org"]


def test_pool_reuses_its_connections(cfg, store):
    cfg.smtp.pool_size = 2
    ed = make_edition(store)
    with FaultSMTPServer() as srv:
        cfg.smtp.port = srv.port
        report = send_edition(store, cfg, ed, people(30), policy=FAST)
    assert report.counts()["sent"] == 30
    assert srv.handler.connections <= 2


def test_4xx_is_deferred_and_retried_within_the_run(cfg, store):
    ed = make_edition(store)
    with FaultSMTPServer() as srv:
        cfg.smtp.port = srv.port
        srv.script("rcpt", "user001@example.org", "451 4.3.0 Try again later", "452 4.2.2 Mailbox busy")
        srv.script("data", "user002@example.org", "451 4.3.0 Local error")
        report = send_edition(store, cfg, ed, people(4), policy=FAST)
    assert report.complete and report.counts()["sent"] == 4
    attempts = {d.email: d.attempts for d in store.deliveries(ed.id)}
    assert attempts["user001@example.org"] == 3 and attempts["user002@example.org"] == 2
    assert sorted(r.rcpt for r in srv.handler.received) == [s.email for s in people(4)]


def test_persistent_4xx_stays_deferred_and_the_next_run_sends_it(cfg, store):
    ed = make_edition(store)
    with FaultSMTPServer() as srv:
        cfg.smtp.port = srv.port
        srv.always("rcpt", "user000@example.org", "450 4.2.0 Mailbox unavailable")
        report = send_edition(store, cfg, ed, people(3), policy=FAST)
        assert report.counts()["deferred"] == 1 and not report.complete
        assert statuses(store, ed)["user000@example.org"] == "deferred"
        srv.handler.always.clear()
        again = send_edition(store, cfg, ed, people(3), policy=FAST)
    assert again.complete and again.sent_now == 1
    assert sorted(r.rcpt for r in srv.handler.received) == [s.email for s in people(3)]


def test_unknown_user_fails_and_is_suppressed_as_hard_bounce(cfg, store):
    ed = make_edition(store)
    with FaultSMTPServer() as srv:
        cfg.smtp.port = srv.port
        srv.always("rcpt", "user001@example.org", "550 5.1.1 <user001@example.org>: Recipient address rejected")
        report = send_edition(store, cfg, ed, people(3), policy=FAST)
        assert statuses(store, ed)["user001@example.org"] == "failed"
        assert store.suppressed()["user001@example.org"] == "hard_bounce"
        assert "user001@example.org" in report.refused and "5.1.1" in report.refused["user001@example.org"]
        assert report.complete
        # the next edition skips the bounced address without asking the server
        ed2 = make_edition(store, day=date(2026, 2, 10), title="Arxiv CV - 2026-02-10")
        srv.handler.always.clear()
        r2 = send_edition(store, cfg, ed2, people(3), policy=FAST)
    assert r2.counts()["suppressed"] == 1 and r2.counts()["sent"] == 2
    assert [r.rcpt for r in srv.handler.received].count("user001@example.org") == 0


@pytest.mark.parametrize("reply", ["552 5.2.2 Mailbox full", "554 5.7.1 Message rejected as spam"])
def test_other_permanent_errors_fail_without_suppression(cfg, store, reply):
    ed = make_edition(store)
    with FaultSMTPServer() as srv:
        cfg.smtp.port = srv.port
        srv.always("data", "user000@example.org", reply)
        report = send_edition(store, cfg, ed, people(2), policy=FAST)
    assert statuses(store, ed) == {"user000@example.org": "failed", "user001@example.org": "sent"}
    assert store.suppressed() == {} and report.complete


def test_sending_quota_stops_the_batch_and_keeps_the_rest_pending(cfg, store):
    cfg.smtp.pool_size = 1
    ed = make_edition(store)
    with FaultSMTPServer(quota_after=3) as srv:
        cfg.smtp.port = srv.port
        with pytest.raises(DeliveryError, match="5.4.5") as e:
            send_edition(store, cfg, ed, people(10), policy=FAST)
    c = e.value.report.counts()
    assert c["sent"] == 3 and c["pending"] == 7 and c["failed"] == 0 and c["deferred"] == 0
    assert "sending" not in statuses(store, ed).values()


def test_authentication_failure_stops_cleanly_without_showing_the_password(cfg, store, tmp_path, monkeypatch):
    tls = make_tls_files(tmp_path / "tls")
    cfg.smtp.security, cfg.smtp.ca_file, cfg.smtp.username = "starttls", str(tls.ca), "newsletter"
    monkeypatch.setenv(cfg.smtp.password_env, "wrong-password-123")
    ed = make_edition(store)
    with FaultSMTPServer(tls=tls, mode="starttls", auth=("newsletter", "right")) as srv:
        cfg.smtp.port = srv.port
        with pytest.raises(DeliveryError, match="authentication failed") as e:
            send_edition(store, cfg, ed, people(5), policy=FAST)
    assert "wrong-password-123" not in str(e.value)
    assert set(statuses(store, ed).values()) == {"pending"} and srv.handler.received == []


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_with_auth_delivers(cfg, store, tmp_path, monkeypatch, mode):
    tls = make_tls_files(tmp_path / "tls")
    cfg.smtp.security, cfg.smtp.ca_file, cfg.smtp.username = mode, str(tls.ca), "newsletter"
    monkeypatch.setenv(cfg.smtp.password_env, "right")
    ed = make_edition(store)
    with FaultSMTPServer(tls=tls, mode=mode, auth=("newsletter", "right")) as srv:
        cfg.smtp.port = srv.port
        report = send_edition(store, cfg, ed, people(6), policy=FAST)
    assert report.complete and len(srv.handler.received) == 6


def test_unverifiable_certificate_is_refused(cfg, store, tmp_path):
    tls = make_tls_files(tmp_path / "tls")
    cfg.smtp.security = "starttls"  # no ca_file: the private CA is not trusted
    ed = make_edition(store)
    with FaultSMTPServer(tls=tls, mode="starttls") as srv:
        cfg.smtp.port = srv.port
        with pytest.raises(DeliveryError, match="cannot be verified"):
            send_edition(store, cfg, ed, people(2), policy=FAST)
    assert srv.handler.received == []


def test_starttls_required_but_not_offered_never_falls_back_to_plaintext(cfg, store):
    cfg.smtp.security = "starttls"
    ed = make_edition(store)
    with FaultSMTPServer() as srv:
        cfg.smtp.port = srv.port
        with pytest.raises(DeliveryError, match="STARTTLS"):
            send_edition(store, cfg, ed, people(2), policy=FAST)
    assert srv.handler.received == []


def test_disconnect_mid_data_reconnects_and_resends_with_the_same_message_id(cfg, store):
    ed = make_edition(store)
    with FaultSMTPServer() as srv:
        cfg.smtp.port = srv.port
        srv.script("data", "user001@example.org", "DISCONNECT")
        report = send_edition(store, cfg, ed, people(4), policy=FAST)
    assert report.complete and report.counts()["sent"] == 4
    dropped = srv.handler.dropped[0]
    again = [r for r in srv.handler.received if r.rcpt == "user001@example.org"]
    assert len(again) == 1 and again[0].message_id == dropped.message_id
    assert report.reconnects >= 2


def test_slow_reply_times_out_and_the_resend_keeps_the_message_id(cfg, store):
    cfg.smtp.timeout = 0.3
    ed = make_edition(store)
    with FaultSMTPServer() as srv:
        cfg.smtp.port = srv.port
        srv.script("data", "user000@example.org", "SLOW 0.8")
        report = send_edition(store, cfg, ed, people(2), policy=FAST)
        ids = [r.message_id for r in srv.handler.received if r.rcpt == "user000@example.org"]
    assert report.complete
    assert len(set(ids)) == 1  # a duplicate, if any, repeats the in-flight message's id


def test_421_throttling_slows_the_pool_down(cfg, store):
    """The server allows one message per 40 ms; only slowing down gets everything through in one run."""
    cfg.smtp.pool_size = 4
    ed = make_edition(store)
    policy = RetryPolicy(backoff=0.01, max_backoff=0.02, run_attempts=4, throttle_pause=0.05,
                         throttle_interval=0.05)
    with FaultSMTPServer(min_gap=0.04) as srv:
        cfg.smtp.port = srv.port
        report = send_edition(store, cfg, ed, people(25), policy=policy)
    assert report.throttled >= 1
    assert report.complete and len(srv.handler.received) == 25


def test_rate_limit_keeps_under_the_servers_limit(cfg, store):
    cfg.smtp.pool_size = 4
    cfg.smtp.rate_per_second = 10  # one message per 100 ms across the pool
    ed = make_edition(store)
    with FaultSMTPServer(min_gap=0.05) as srv:
        cfg.smtp.port = srv.port
        report = send_edition(store, cfg, ed, people(8), policy=FAST)
    assert report.complete and srv.handler.throttled == 0 and report.throttled == 0


def test_unreachable_server_stops_with_everything_pending(cfg, store):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        cfg.smtp.port = s.getsockname()[1]  # bound, not listening: connection refused
        ed = make_edition(store)
        with pytest.raises(DeliveryError, match="cannot connect"):
            send_edition(store, cfg, ed, people(3), policy=FAST)
    assert set(statuses(store, ed).values()) == {"pending"}


def test_in_flight_row_from_a_crash_is_resent_with_its_message_id(cfg, store):
    ed = make_edition(store)
    with FaultSMTPServer() as srv:
        cfg.smtp.port = srv.port
        srv.always("rcpt", "user000@example.org", "450 4.2.0 later")
        send_edition(store, cfg, ed, people(2), policy=RetryPolicy(run_attempts=1, backoff=0.01))
        mid = {d.email: d.message_id for d in store.deliveries(ed.id)}["user000@example.org"]
        store.set_delivery(ed.id, "user000@example.org", "sending")  # as if killed during DATA
        srv.handler.always.clear()
        report = send_edition(store, cfg, ed, people(2), policy=FAST)
    assert report.complete and report.sent_now == 1
    assert [r.message_id for r in srv.handler.received if r.rcpt == "user000@example.org"] == [mid]


def test_unsubscribed_and_removed_subscribers_get_nothing(cfg, store):
    ed = make_edition(store)
    store.suppress("USER001@example.org", "unsubscribed")
    with FaultSMTPServer() as srv:
        cfg.smtp.port = srv.port
        store.create_deliveries(ed.id, [("gone@example.org", "", "<gone.1@localhost>")])
        report = send_edition(store, cfg, ed, people(3), policy=FAST)
    st = statuses(store, ed)
    assert st["user001@example.org"] == "suppressed" and st["gone@example.org"] == "suppressed"
    assert sorted(r.rcpt for r in srv.handler.received) == ["user000@example.org", "user002@example.org"]
    assert report.complete


def test_public_url_without_secret_is_refused_before_sending(cfg, store, monkeypatch):
    monkeypatch.delenv("NEWSLETTER_UNSUBSCRIBE_SECRET", raising=False)
    cfg.web.public_url = "https://news.example.org"
    ed = make_edition(store)
    with pytest.raises(DeliveryError, match="NEWSLETTER_UNSUBSCRIBE_SECRET"):
        send_edition(store, cfg, ed, people(1), policy=FAST)


@pytest.mark.parametrize(
    "code,text,stage,kind",
    [
        (421, "4.7.0 slow down", "mail", "throttle"),
        (450, "4.7.1 rate limited", "rcpt", "throttle"),
        (451, "4.3.0 later", "data", "deferred"),
        (452, "4.2.2 mailbox full", "rcpt", "deferred"),
        (550, "5.1.1 user unknown", "rcpt", "hard_bounce"),
        (550, "No such user here", "rcpt", "hard_bounce"),
        (552, "5.2.2 over quota", "data", "failed"),
        (554, "5.4.5 Daily sending quota exceeded", "data", "fatal"),
        (550, "5.4.5 quota", "mail", "fatal"),
        (535, "5.7.8 bad credentials", "auth", "fatal"),
        (554, "5.7.1 spam", "data", "failed"),
    ],
)
def test_reply_classification(code, text, stage, kind):
    assert classify(code, f"{code} {text}", stage) == kind



def _headers(raw: bytes) -> dict[str, bytes]:
    """Each header of a message as its raw folded lines (the first occurrence)."""
    out: dict[str, bytes] = {}
    lines = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    for i, line in enumerate(lines):
        if line[:1] not in (b" ", b"\t"):
            cont = [x for x in lines[i + 1:][: next((k for k, x in enumerate(lines[i + 1:]) if x[:1] not in (b" ", b"\t")),
                                                   len(lines))]]
            out.setdefault(line.split(b":", 1)[0].decode(), b"\r\n".join([line, *cont]))
    return out


def test_list_unsubscribe_is_written_as_urls_and_fast_headers_equal_the_email_packages(cfg, store, monkeypatch):
    """A signed https URL is longer than a header line: the email package would write the whole
    List-Unsubscribe as RFC 2047 encoded words (=?utf-8?q?=3Chttps...), which no client reads as a URL.
    It is folded between the URLs instead, in both builds; the recipient's headers written directly
    are byte for byte what the email package writes."""
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", "a-long-secret-for-the-tests-0123456789")
    cfg.web.public_url = "https://news.example.org"
    from newsletter.deliver.send import message_factory

    f = message_factory(cfg, make_edition(store))
    names = ["", "Ada Lovelace", "O'Neil-Smith", "Zoë", 'A "quoted" name', "Ada  Lovelace", "=?utf-8?q?x?=",
             "x" * 80, "Dr. Who"]
    for k, name in enumerate(names):
        addr = f"reader.{k}@mail.example.org"
        fast = _headers(f.build(addr, name, f"<{k}.x@example.org>"))
        plain = _headers(f.build_message(addr, name, f"<{k}.x@example.org>").as_bytes())
        for h in ("To", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"):
            assert fast[h] == plain[h], (name, h)
        https, mailto = fast["List-Unsubscribe"].decode().removeprefix("List-Unsubscribe: ").split(",\r\n ")
        assert https.startswith("<https://news.example.org/unsubscribe?token=") and mailto.startswith("<mailto:")
        assert b"=?" not in fast["List-Unsubscribe"]
        parsed = email.message_from_bytes(f.build(addr, name, "<1.x@example.org>"), policy=email_policy.default)
        to = parsed["To"].addresses[0]
        assert to.addr_spec == addr and (to.display_name == " ".join(name.split()) or "=?" in name)


def test_the_senders_feedback_signer_makes_the_same_tokens():
    """deliver signs ~20 links per message with one keyed HMAC copied: the same tokens, verifiable."""
    from newsletter.deliver.tokens import feedback_signer, make_feedback_token, verify_feedback_token

    for secret in (b"k", b"s" * 64, b"long-" * 40):
        sign = feedback_signer(secret)
        for addr, paper, vote in (("Ada@Example.org", "2602.06959", 1), ("b@x.org", "2602.00001", -1)):
            token = sign(addr, "cv", paper, vote)
            assert token == make_feedback_token(secret, addr, "cv", paper, vote)
            assert verify_feedback_token(secret, token) == (addr.lower(), "cv", paper, vote)

def test_fast_build_equals_the_plain_email_package_build(cfg, store, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", "k")
    cfg.web.public_url = "https://news.example.org"
    from newsletter.deliver.message import MessageFactory
    from newsletter.deliver.tokens import make_token
    from newsletter.models import Attachment

    ed = make_edition(store)
    files = [Attachment("report.md", "text/markdown", "# 报告 %%NL_UNSUBSCRIBE_URL%%\n".encode()),
             Attachment("data.bin", "application/octet-stream", bytes(range(256)))]
    f = MessageFactory(cfg, ed, attachments=files, token_for=lambda e: make_token(b"k", e, "cv"))
    people = (("a@example.org", "Zoë \"Z\" O'Neil, PhD"), ("用户@例子.中国", "用户"))
    cases = [(addr, name, eightbit) for addr, name in people for eightbit in (False, True)]
    seen = set()
    for addr, name, eightbit in cases:
        raw = f.build(addr, name, "<1.x@localhost>", eightbit)
        fast = email.message_from_bytes(raw, policy=email_policy.default)
        plain = email.message_from_bytes(f.build_message(addr, name, "<1.x@localhost>", eightbit).as_bytes(),
                                         policy=email_policy.default)  # both as they go out
        assert [p.get_content_type() for p in fast.walk()] == [p.get_content_type() for p in plain.walk()]
        ctes = [p["Content-Transfer-Encoding"] for p in fast.walk() if not p.is_multipart()]
        assert ctes == [p["Content-Transfer-Encoding"] for p in plain.walk() if not p.is_multipart()]
        assert ("8bit" in ctes) == eightbit and ctes[-1] == "base64"  # binary: always base64
        assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
        seen.update(ctes)
        assert [p.get_content() for p in fast.walk() if not p.is_multipart()] == \
               [p.get_content() for p in plain.walk() if not p.is_multipart()]
        for h in ("From", "To", "Subject", "Message-ID", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"):
            assert str(fast[h]) == str(plain[h]), h
        assert [p.get_filename() for p in fast.iter_attachments()] == ["report.md", "data.bin"]
    assert {"8bit", "base64"} <= seen and seen & {"quoted-printable", "7bit"}, seen
