"""The walking skeleton end to end: `newsletter run --demo` on a fresh project delivers the sample
issue to every shipped subscriber through the embedded sink, and a second run sends nothing."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from newsletter.config import load_config
from newsletter.roster import load_subscribers

# each shipped reader's best match on the sample day (their interests differ; no LLM key)
TOP_TITLE = {
    "ada@example.org":
        "GaussianPOP: Principled Simplification Framework for Compact 3D Gaussian Splatting via Error Quantification",
    "alan@example.org": "DreamDojo: A Generalist Robot World Model from Large-Scale Human Videos",
}


def messages(outbox: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(outbox.glob("*.eml"))
    ]


def test_demo_delivers_the_sample_issue_once(project, cli):
    r = cli("run", "--demo")
    assert r.code == 0, r.err
    outbox = project.dir / "var" / "demo-outbox"
    assert str(outbox) in r.out and "preview" in r.out

    msgs = messages(outbox)
    subscribers = load_subscribers(load_config(project.config))
    assert sorted(m["To"].addresses[0].addr_spec for m in msgs) == sorted(s.email for s in subscribers)
    assert len({m["Message-ID"] for m in msgs}) == len(msgs)
    for m in msgs:
        assert m.get_content_type() == "multipart/alternative" or m.get_content_type() == "multipart/mixed"
        assert m["Date"] and m["Message-ID"] and m["List-Unsubscribe"]
        html = m.get_body(preferencelist=("html",)).get_content()
        text = m.get_body(preferencelist=("plain",)).get_content()
        who = m["To"].addresses[0].addr_spec
        mine, other = TOP_TITLE[who], next(t for w, t in TOP_TITLE.items() if w != who)
        assert mine in html.replace("\n", " ") and mine.split(":")[0] in text
        assert other.split(":")[0] not in html and other.split(":")[0] not in text  # their own issue
        assert m["Subject"].endswith("3 篇论文")
        assert len(html.encode()) < 100_000
        assert "extractive" in html.lower()
        # links outlive the demo: PDFs and abstracts at arxiv.org, never the stand-in's local port
        assert "127.0.0.1" not in html and "127.0.0.1" not in text
        assert "https://arxiv.org/abs/" in html and "arxiv.org/pdf/" in html

    again = cli("run", "--demo")
    assert again.code == 0, again.err
    assert len(messages(outbox)) == len(msgs)
    assert "nothing new to send" in (again.out + again.err).lower()


def test_until_stops_before_delivery(project, cli):
    r = cli("run", "--demo", "--until", "render")
    assert r.code == 0, r.err
    assert not list((project.dir / "var" / "demo-outbox").glob("*.eml"))
    r = cli("send", "--date", "2026-02-09", "--demo")
    assert r.code == 0, r.err
    assert len(list((project.dir / "var" / "demo-outbox").glob("*.eml"))) == 2


def test_demo_never_uses_the_configured_relay_llm_or_store(project, cli):
    """A demo in a production folder: SMTP host, LLM model and public URL set. It still mails
    only the embedded sink, calls no LLM, and leaves the real history alone."""
    project.edit('host = ""', 'host = "192.0.2.1"')  # TEST-NET: never reached, a demo must not try
    project.edit('model = ""', 'model = "gpt-4o-mini"')
    project.edit('public_url = ""', 'public_url = "https://news.example.org"')
    r = cli("run", "--demo")
    assert r.code == 0, r.err
    assert len(messages(project.dir / "var" / "demo-outbox")) == 2
    assert not (project.dir / "var" / "newsletter.db").exists()
    assert "preview --date 2026-02-09 --demo" in r.out


def test_send_to_mails_one_test_copy_outside_the_ledger(project, cli):
    assert cli("run", "--demo", "--until", "render").code == 0
    r = cli("send", "--demo", "--date", "2026-02-09", "--to", "me@example.org")
    assert r.code == 0, r.err
    assert "test copy sent to me@example.org" in r.out
    msgs = messages(project.dir / "var" / "demo-outbox")
    assert [m["To"].addresses[0].addr_spec for m in msgs] == ["me@example.org"]
    # nobody else was mailed and nothing was recorded: the real send still goes to everyone
    r = cli("send", "--demo", "--date", "2026-02-09")
    assert r.code == 0 and "sent 2" in r.out
    bad = cli("send", "--demo", "--to", "not an address")
    assert bad.code == 2 and "--to 'not an address' is not a valid address" in bad.err
