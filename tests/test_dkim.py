"""DKIM: every message is signed once over its final bytes (dkimpy), verifies against the public key
(the DNS answer given by the test), still verifies after the real Postfix relayed it and Dovecot
served it over IMAP, and fails once a byte of the body changes. A key that cannot be used is one
line before anything is sent."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from newsletter.config import load_config
from newsletter.deliver.dkim import dns_record
from tests.servers.arxiv_fake import serve_sample
from tests.servers.mailserver import MailServer, missing
from tests.test_mail_loop import DAY, READERS, SENDER, SENDER_PASSWORD, configure
from tests.test_mailbox_loop import set_section

SIGNED = ["from", "to", "subject", "date", "message-id", "reply-to", "list-id", "list-unsubscribe",
          "list-unsubscribe-post", "mime-version", "content-type"]


def make_key(folder: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = folder / "dkim.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return path


def dns_for(project):
    """dkimpy's DNS lookup, answered from the record `newsletter doctor` tells the operator to publish."""
    name, value = dns_record(load_config(project.config))
    asked = []

    def lookup(qname: bytes, timeout: int = 5) -> bytes | None:
        asked.append(qname.decode().rstrip("."))
        return value.encode() if qname.decode().rstrip(".") == name else None

    return lookup, asked


def signed_headers(raw: bytes) -> list[str]:
    sig = email.message_from_bytes(raw, policy=email.policy.compat32)["DKIM-Signature"]
    h = re.search(r"\bh=([^;]+)", " ".join(sig.split())).group(1)
    return [x.strip() for x in h.split(":")]


def test_the_demo_issue_is_signed_once_and_verifies(project, cli, tmp_path):
    key = make_key(tmp_path)
    set_section(project, "dkim", domain="localhost", selector="news2026", private_key_file=str(key))
    r = cli("run", "--demo")
    assert r.code == 0, r.out + r.err
    files = sorted((project.dir / "var" / "demo-outbox").glob("*.eml"))
    assert len(files) == 2
    lookup, asked = dns_for(project)
    for f in files:
        raw = f.read_bytes()
        assert raw.count(b"DKIM-Signature:") == 1 and raw.startswith(b"DKIM-Signature:")
        assert signed_headers(raw) == SIGNED
        assert dkim.verify(raw, dnsfunc=lookup)
        head, body = raw.split(b"\r\n\r\n", 1)
        assert not dkim.verify(head + b"\r\n\r\n" + body.replace(b"arXiv", b"arXix", 1), dnsfunc=lookup)
        assert not dkim.verify(raw.replace(b"Subject: ", b"Subject: Re: ", 1), dnsfunc=lookup)
    assert set(asked) == {"news2026._domainkey.localhost"}


def test_a_missing_key_is_one_line_before_anything_is_sent(project, cli, tmp_path):
    set_section(project, "dkim", domain="localhost", selector="s", private_key_file=str(tmp_path / "nope.pem"))
    r = cli("run", "--demo")
    assert r.code != 0 and "Traceback" not in r.out + r.err
    assert "[dkim] private_key_file" in r.err and "cannot read it" in r.err
    assert not list((project.dir / "var" / "demo-outbox").glob("*.eml"))


def test_signed_mail_still_verifies_after_postfix_and_imap(project, cli, tmp_path, monkeypatch):
    why = missing()
    if why:
        pytest.fail(f"the real mail loop cannot run: {why}")
    pem = make_key(tmp_path).read_text()
    monkeypatch.setenv("NEWSLETTER_DKIM_KEY", pem)  # the key from the environment this time
    with serve_sample() as arxiv_url, MailServer(users={SENDER: SENDER_PASSWORD, **READERS}) as mail:
        configure(project, mail, arxiv_url, monkeypatch)
        set_section(project, "dkim", domain="news.test", selector="s1", private_key_env="NEWSLETTER_DKIM_KEY")
        r = cli("run", "--date", DAY)
        assert r.code == 0, r.out + r.err
        assert pem.splitlines()[1] not in r.out + r.err
        received = {who: mail.wait_for(who, 1)[0] for who in READERS}
    lookup, _ = dns_for(project)
    for who, raw in received.items():
        assert b"\r\nReceived: " in raw.split(b"DKIM-Signature:")[0] or raw.startswith(b"Return-Path:")  # relayed
        assert dkim.verify(raw, dnsfunc=lookup), who
        assert not dkim.verify(raw.replace(b"Ada", b"Eve").replace(b"Alan", b"Eve"), dnsfunc=lookup), who
