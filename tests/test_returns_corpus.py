"""A corpus of real mail that comes back, each message classified right (tests/data/returns/, credited in
its README): bounces from Postfix, Sendmail, qmail, Exim, Microsoft 365/Exchange/Outlook.com, Gmail,
Yahoo and Amazon SES (DSNs, bounces without a DSN, SES's JSON notifications), ARF reports and RFC 3834
auto-replies, and ordinary mail. The expected kind of each follows the label the sisimai project gives
it (userunknown/hostunknown/hasmoved: hard; mailbox full, expired, blocked, spam, policy: soft; feedback
abuse: complaint; other feedback types and delivered: other; vacation: auto-reply); the recipients are
those the message names. Then the same messages go through the store as `newsletter mailbox` records
them: the right suppressions, each message once."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from newsletter.config import load_config
from newsletter.deliver.inbound.act import Context
from newsletter.deliver.inbound.classify import classify
from newsletter.deliver.inbound.process import MailboxReport, handle
from newsletter.store import Store

DATA = Path(__file__).parent / "data" / "returns"
OURS = ["newsletter@news.test"]
# file -> (kind, sorted (recipient, kind) of its bounces or complaint)
EXPECTED = {
    "arf-01": ("complaint", []),
    "arf-02": ("complaint", [('this-local-part-does-not-exist-on-yahoo@yahoo.com', 'complaint')]),
    "arf-11": ("complaint", []),
    "arf-12": ("other", []),
    "arf-18": ("other", []),
    "is-not-bounce-01": ("other", []),
    "is-not-bounce-02": ("other", []),
    "lhost-amazonses-03": ("soft_bounce", [('kijitora@example.jp', 'soft_bounce')]),
    "lhost-amazonses-05": ("hard_bounce", [('bounce@simulator.amazonses.com', 'hard_bounce')]),
    "lhost-amazonses-06": ("hard_bounce", [('bounce@simulator.amazonses.com', 'hard_bounce')]),
    "lhost-amazonses-11": ("complaint", [('complaint@simulator.amazonses.com', 'complaint')]),
    "lhost-amazonses-12": ("other", []),
    "lhost-amazonses-14": ("soft_bounce", [('sironeko@neko.example.org', 'soft_bounce')]),
    "lhost-amazonses-17": ("soft_bounce", [('kijitora@example.com', 'soft_bounce')]),
    "lhost-exchange2007-01": ("hard_bounce", [('mikeneko@example.co.jp', 'hard_bounce')]),
    "lhost-exchange2007-02": ("soft_bounce", [('kijitora@example.edu', 'soft_bounce')]),
    "lhost-exchange2007-05": ("soft_bounce", [('gwang1@student.mlcsyd.nsw.edu.au', 'soft_bounce')]),
    "lhost-exchange2007-06": ("hard_bounce", [('transports@agglo-saumur.fr', 'hard_bounce')]),
    "lhost-exim-01": ("soft_bounce", [('kijitora@example.ed.jp', 'soft_bounce')]),
    "lhost-exim-02": ("hard_bounce", [('kijitora@example.jp', 'hard_bounce'), ('sabatora@example.jp', 'hard_bounce')]),
    "lhost-exim-05": ("hard_bounce", [('kijitora@neko.example.co.jp', 'hard_bounce')]),
    "lhost-exim-07": ("soft_bounce", [('shiba@example.com', 'soft_bounce')]),
    "lhost-exim-59": ("hard_bounce", [('kijitora@icloud.example.com', 'hard_bounce')]),
    "lhost-gmail-01": ("hard_bounce", [('userunknown@example.jp', 'hard_bounce')]),
    "lhost-gmail-04": ("soft_bounce", [('kijitora@example.com', 'soft_bounce')]),
    "lhost-gmail-06": ("soft_bounce", [('kijitora@example.jp', 'soft_bounce')]),
    "lhost-gmail-16": ("soft_bounce", [('mailboxfull@bouncehammer.jp', 'soft_bounce')]),
    "lhost-gmail-18": ("hard_bounce", [('kijitora@example.or.jp', 'hard_bounce')]),
    "lhost-outlook-01": ("soft_bounce", [('kijitora@example.jp', 'soft_bounce')]),
    "lhost-outlook-02": ("hard_bounce", [('kijitora@example.jp', 'hard_bounce')]),
    "lhost-postfix-02": ("hard_bounce", [('filtered@example.co.jp', 'hard_bounce'),
                                         ('userunknown@example.co.jp', 'hard_bounce')]),
    "lhost-postfix-04": ("hard_bounce", [('kijitora@example.co.jp', 'hard_bounce')]),
    "lhost-postfix-06": ("hard_bounce", [('kijitora@neko.example.jp', 'hard_bounce')]),
    "lhost-postfix-08": ("soft_bounce", [('kijitora@example.com', 'soft_bounce')]),
    "lhost-postfix-13": ("hard_bounce", [('kijitora@example.jp', 'hard_bounce'), ('noraneko@example.jp', 'soft_bounce')]),
    "lhost-postfix-14": ("hard_bounce", [('kijitora@2jo.example.jp', 'hard_bounce')]),
    "lhost-postfix-31": ("hard_bounce", [('kijitora@gmail.com', 'hard_bounce')]),
    "lhost-postfix-39": ("soft_bounce", [('kijitora@example.com', 'soft_bounce')]),
    "lhost-postfix-45": ("soft_bounce", [('kijitora@example.net', 'soft_bounce')]),
    "lhost-qmail-02": ("hard_bounce", [('filtered@example.jp', 'hard_bounce'), ('userunknown@example.jp', 'hard_bounce')]),
    "lhost-qmail-06": ("soft_bounce", [('kijitora@example.jp', 'soft_bounce')]),
    "lhost-qmail-13": ("hard_bounce", [('nekochan@cx.libsisimai.com', 'hard_bounce')]),
    "lhost-qmail-16": ("hard_bounce", [('userunknown@libsisimai.net', 'hard_bounce')]),
    "lhost-qmail-24": ("soft_bounce", [('mailboxfull@libsisimai.net', 'soft_bounce')]),
    "lhost-sendmail-01": ("hard_bounce", [('userunknown@bouncehammer.jp', 'hard_bounce')]),
    "lhost-sendmail-03": ("hard_bounce", [('bounce0@example.org', 'hard_bounce')]),
    "lhost-sendmail-05": ("soft_bounce", [('kijitora@example.org', 'soft_bounce')]),
    "lhost-sendmail-07": ("soft_bounce", [('kijitora@example.org', 'soft_bounce')]),
    "lhost-sendmail-12": ("soft_bounce", [('kijitora@example.org', 'soft_bounce')]),
    "lhost-sendmail-15": ("hard_bounce", [('', 'hard_bounce')]),
    "lhost-sendmail-38": ("soft_bounce", [('kijitora@example.com', 'soft_bounce')]),
    "lhost-yahoo-01": ("hard_bounce", [('kijitora@example.org', 'hard_bounce')]),
    "lhost-yahoo-02": ("soft_bounce", [('kijitora@example.ed.jp', 'soft_bounce')]),
    "lhost-yahoo-03": ("hard_bounce", [('kijitora@example.jp', 'hard_bounce')]),
    "lhost-yahoo-05": ("hard_bounce", [('kijitora@example.co.jp', 'hard_bounce')]),
    "lhost-yahoo-14": ("soft_bounce", [('kijitora@example.org', 'soft_bounce')]),
    "rfc3834-01": ("auto_reply", []),
    "rfc3834-02": ("auto_reply", []),
    "rfc3834-03": ("auto_reply", []),
    "rfc3834-04": ("auto_reply", []),
    "rfc3834-05": ("auto_reply", []),
    "rhost-microsoft-01": ("soft_bounce", [('kijitora@example.com', 'soft_bounce')]),
    "rhost-microsoft-02": ("hard_bounce", [('kijitora@example.org', 'hard_bounce')]),
    "rhost-microsoft-03": ("hard_bounce", [('kijitora@example.com', 'hard_bounce')]),
}


def test_the_corpus_is_all_here():
    assert sorted(p.stem for p in DATA.glob("*.eml")) == sorted(EXPECTED)
    kinds = {k for k, _ in EXPECTED.values()}
    assert kinds == {"hard_bounce", "soft_bounce", "complaint", "auto_reply", "other"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_message_is_classified_right(name):
    v = classify((DATA / f"{name}.eml").read_bytes(), OURS)
    kind, bounces = EXPECTED[name]
    assert v.kind == kind, f"{name}: {v.kind} ({v.why})"
    if kind in ("hard_bounce", "soft_bounce", "complaint"):
        assert sorted((b.email, b.kind) for b in v.bounces) == bounces, v.bounces
        assert v.why


def test_the_corpus_through_the_store_suppresses_the_right_addresses_once(project, caplog):
    cfg = load_config(project.config)
    store = Store.open(":memory:")
    edition = store.db["editions"].insert({"date": "2026-02-09", "profile": "cv", "language": "zh", "title": "t",
                                           "status": "sent", "created": "", "updated": ""}).last_pk
    named = sorted({e for _, pairs in EXPECTED.values() for e, _ in pairs if e})
    store.create_deliveries(edition, [(e, "", f"<m{i}@news.test>") for i, e in enumerate(named)])
    ctx = Context(store, cfg, None, "newsletter@news.test")
    report = MailboxReport(where="corpus")
    caplog.set_level(logging.WARNING)
    for name in sorted(EXPECTED):
        assert handle(ctx, (DATA / f"{name}.eml").read_bytes(), "", report)
    for name in sorted(EXPECTED):  # read again: nothing changes
        assert not handle(ctx, (DATA / f"{name}.eml").read_bytes(), "", report)
    hard = {e for _, pairs in EXPECTED.values() for e, bk in pairs if e and bk == "hard_bounce"}
    complained = {e for k, pairs in EXPECTED.values() for e, _ in pairs if e and k == "complaint"}
    soft = [e for _, pairs in EXPECTED.values() for e, bk in pairs if e and bk == "soft_bounce"]
    often = {e for e in soft if soft.count(e) >= cfg.mailbox.soft_bounce_limit}  # the same test address, many files
    got = {r["email"]: r["reason"] for r in store.suppressions()}
    assert set(got) == hard | complained | often
    assert {e for e, r in got.items() if r == "complaint"} == complained
    assert {e for e, r in got.items() if r == "soft_bounce"} <= often
    assert sum(report.kinds.values()) == len(EXPECTED)
    assert report.kinds["auto_reply"] == 5 and report.kinds["other"] == 5
    assert store.inbound_summary()["kinds"] == dict(report.kinds)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_malformed_message_is_one_log_line_and_is_not_read_twice(project, caplog):
    cfg = load_config(project.config)
    store = Store.open(":memory:")
    ctx = Context(store, cfg, None, "newsletter@news.test")
    report = MailboxReport(where="test")
    caplog.set_level(logging.INFO, logger="newsletter")
    for raw in (b"", b"\x00\xff\xfe garbage without any header line"):
        caplog.clear()
        assert handle(ctx, raw, "", report)
        lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(lines) == 1 and "malformed" in lines[0].getMessage()
        assert not handle(ctx, raw, "", report)
    assert report.kinds == {"malformed": 2}
