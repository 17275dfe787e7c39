"""A real mail loop: `newsletter run` on the shipped config and subscribers, with the sample day
from the local arXiv stand-in, mails through Debian's Postfix (STARTTLS or implicit TLS with a
certificate from a test CA given as [smtp] ca_file, AUTH through Dovecot SASL with the password
from the variable named by [smtp] password_env); Postfix delivers into Maildirs, and every message
is read back over IMAP from Dovecot, as a reader's mail client would.

Proved here against servers nobody here wrote: the headers a client and a provider look at (Date,
Message-ID = the ledger's, List-Id, List-Unsubscribe, List-Unsubscribe-Post with [web] public_url),
both alternatives decode, each reader gets their own issue (subject, their own top paper), nothing
is duplicated, and a second run sends nothing. Bad credentials, an untrusted certificate and a
refused recipient each end the run with exit 1 and one line saying what to fix, lose nothing, and
a run after the fix sends only what is missing.

Needs root and the Debian packages postfix and dovecot-imapd (`make mailserver`, part of
`make test`); without them every test here FAILS saying so (never skipped).
"""

from __future__ import annotations

import email
import email.policy
import sqlite3
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest

from newsletter.config import load_config
from newsletter.fetch.sample import SAMPLE_DAY
from newsletter.ops.doctor import check_smtp
from tests.servers.arxiv_fake import serve_sample
from tests.servers.mailserver import MailServer, missing
from tests.test_demo_e2e import TOP_TITLE

DAY = SAMPLE_DAY.isoformat()
SENDER = "newsletter@news.test"  # the relay account, and the From address
SENDER_PASSWORD = "s3nd-Only-through-TLS"
PASSWORD_ENV = "NEWSLETTER_SMTP_PASSWORD"  # the shipped config's [smtp] password_env
SECRET_ENV = "NEWSLETTER_UNSUBSCRIBE_SECRET"
# the shipped subscribers/team.toml: their mailboxes on the test Postfix (domain example.org is local there)
READERS = {"ada@example.org": "ada-imap-password", "alan@example.org": "alan-imap-password"}
TITLE = "Arxiv Computer Vision Papers"


@pytest.fixture
def mail():
    why = missing()
    if why:
        pytest.fail(f"the real mail loop cannot run: {why}")
    with MailServer(users={SENDER: SENDER_PASSWORD, **READERS}) as server:
        yield server


@pytest.fixture
def arxiv_url():
    with serve_sample() as base_url:
        yield base_url


def configure(project, mail: MailServer, arxiv_url: str, monkeypatch, *, security: str = "starttls") -> None:
    """The shipped config, pointed at the arXiv stand-in and the test Postfix (password from the env)."""
    project.edit('base_url = "https://export.arxiv.org/api/query"', f'base_url = "{arxiv_url}"')
    project.edit("delay_seconds = 3.0", "delay_seconds = 0")
    project.edit('host = ""', 'host = "127.0.0.1"')
    port = mail.submission_port if security == "starttls" else mail.smtps_port
    project.edit("port = 587", f"port = {port}")
    project.edit('security = "starttls"', f'security = "{security}"')
    project.edit('username = ""', f'username = "{SENDER}"')
    project.edit('from = "arXiv Daily <newsletter@localhost>"', f'from = "arXiv Daily <{SENDER}>"')
    project.edit('ca_file = ""', f'ca_file = "{mail.ca}"')
    project.edit("timeout = 30", "timeout = 20")
    monkeypatch.setenv(PASSWORD_ENV, SENDER_PASSWORD)


def ledger(project) -> dict[str, tuple[str, str]]:
    """address -> (status, Message-ID) of the day's deliveries."""
    with sqlite3.connect(project.db) as db:
        rows = db.execute("select d.email, d.status, d.message_id from deliveries d "
                          "join editions e on e.id = d.edition_id where e.date = ?", [DAY]).fetchall()
    return {email: (status, mid) for email, status, mid in rows}


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def inbox(mail: MailServer, who: str, n: int = 1) -> list[EmailMessage]:
    """The reader's messages over IMAP, once n arrived and Postfix's queue settled: exactly n."""
    msgs = [parse(raw) for raw in mail.wait_for(who, n)]
    assert len(msgs) == n, f"{who}: {len(msgs)} messages, expected {n}: {[m['Subject'] for m in msgs]}"
    return msgs


def assert_clean_failure(r, needle: str) -> str:
    """Exit 1, no traceback, and one line of the command's result (stdout and `error:` lines; the
    progress log on stderr aside) says `needle`; returns that line."""
    out = r.out + r.err
    assert r.code == 1, out
    assert "Traceback" not in out, out
    result = r.out.splitlines() + [line for line in r.err.splitlines() if line.startswith("error:")]
    lines = [line for line in result if needle in line]
    assert len(lines) == 1, out
    return lines[0]


def assert_own_issue(msg: EmailMessage, who: str) -> None:
    """The reader's own issue: subject with their count, their top paper, not the other reader's."""
    assert msg["Subject"] == f"{TITLE} - {DAY} · 3 篇论文", msg["Subject"]
    html = msg.get_body(preferencelist=("html",)).get_content()
    text = msg.get_body(preferencelist=("plain",)).get_content()
    mine = TOP_TITLE[who]
    other = next(t for w, t in TOP_TITLE.items() if w != who)
    assert mine in " ".join(html.split()) and mine.split(":")[0] in text, who
    assert other.split(":")[0] not in html and other.split(":")[0] not in text, who


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_each_reader_reads_their_own_issue_over_imap(security, project, cli, mail, arxiv_url, monkeypatch):
    configure(project, mail, arxiv_url, monkeypatch, security=security)
    public = security == "starttls"  # one-click unsubscribe and feedback links with STARTTLS; mailto only with ssl
    if public:
        project.edit('public_url = ""', 'public_url = "https://news.example.org"')
        monkeypatch.setenv(SECRET_ENV, "a-long-random-secret-for-the-mail-loop")
    doctor = check_smtp(load_config(project.config))  # `newsletter doctor`'s SMTP + AUTH check, on a real relay
    assert doctor.state == "ok" and f"AUTH accepted for '{SENDER}'" in doctor.detail, doctor.line()
    r = cli("run", "--date", DAY)
    assert r.code == 0, r.out + r.err
    assert "Traceback" not in r.out + r.err

    rows = ledger(project)
    assert {e: s for e, (s, _) in rows.items()} == {e: "sent" for e in READERS}
    seen_ids = set()
    for who in READERS:
        (msg,) = inbox(mail, who)
        # what the receiving server recorded: our envelope sender, this mailbox, TLS + AUTH submission
        assert msg["Return-Path"] == f"<{SENDER}>" and msg["Delivered-To"] == who
        assert "with ESMTPSA" in msg["Received"], msg["Received"]
        assert msg["From"].addresses[0].addr_spec == SENDER
        assert [a.addr_spec for a in msg["To"].addresses] == [who]
        assert parsedate_to_datetime(msg["Date"]).tzinfo is not None
        assert msg["Message-ID"] == rows[who][1]  # the ledger's id: a resend would carry the same
        seen_ids.add(msg["Message-ID"])
        assert msg["List-Id"] == f'"{TITLE}" <cv.news.test>'
        unsub = msg["List-Unsubscribe"]
        assert f"<mailto:{SENDER}?subject=unsubscribe%20" in unsub
        if public:
            assert unsub.startswith("<https://news.example.org/unsubscribe?token=")
            assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        else:
            assert "https://" not in unsub and msg["List-Unsubscribe-Post"] is None
        assert msg.get_content_type() in ("multipart/alternative", "multipart/mixed")
        html = msg.get_body(preferencelist=("html",)).get_content()
        text = msg.get_body(preferencelist=("plain",)).get_content()
        assert html.lstrip().lower().startswith(("<!doctype", "<html")) and "</html>" in html.lower()
        assert "Ada Lovelace" in text if who.startswith("ada") else "Alan Turing" in text
        assert ("/feedback/" in html) == public
        assert_own_issue(msg, who)
    assert len(seen_ids) == len(READERS)
    # the same message as an IMAPS client sees it
    assert [parse(raw)["Message-ID"] for raw in mail.fetch("ada@example.org", implicit_tls=True)] == \
        [rows["ada@example.org"][1]]

    again = cli("run", "--date", DAY)
    assert again.code == 0, again.out + again.err
    assert "nothing new to send" in again.out
    mail.settle()
    assert {who: len(mail.fetch(who)) for who in READERS} == {who: 1 for who in READERS}
    assert mail.queued() == 0


def test_bad_credentials_stop_with_one_line_and_lose_nothing(project, cli, mail, arxiv_url, monkeypatch):
    configure(project, mail, arxiv_url, monkeypatch)
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password-42")
    r = cli("run", "--date", DAY)
    line = assert_clean_failure(r, f"SMTP authentication failed for '{SENDER}'")
    assert "535" in line and "not-the-password-42" not in r.out + r.err
    doctor = check_smtp(load_config(project.config))
    assert doctor.state == "fail" and "AUTH refused" in doctor.detail, doctor.line()
    assert {s for s, _ in ledger(project).values()} == {"pending"}
    assert {who: mail.count(who) for who in READERS} == {who: 0 for who in READERS}

    monkeypatch.setenv(PASSWORD_ENV, SENDER_PASSWORD)
    fixed = cli("send", "--date", DAY)
    assert fixed.code == 0, fixed.out + fixed.err
    rows = ledger(project)
    for who in READERS:
        (msg,) = inbox(mail, who)
        assert msg["Message-ID"] == rows[who][1] and rows[who][0] == "sent"
        assert_own_issue(msg, who)


@pytest.mark.parametrize("trust", ["another CA", "no ca_file"])
def test_an_untrusted_certificate_stops_before_the_password_is_sent(trust, project, cli, mail, arxiv_url,
                                                                  monkeypatch):
    configure(project, mail, arxiv_url, monkeypatch)
    if trust == "another CA":
        project.edit(f'ca_file = "{mail.ca}"', f'ca_file = "{mail.wrong_ca}"')
    else:
        project.edit(f'ca_file = "{mail.ca}"', 'ca_file = ""')
    r = cli("run", "--date", DAY)
    line = assert_clean_failure(r, f"the TLS certificate of 127.0.0.1:{mail.submission_port} cannot be verified")
    assert "set [smtp] ca_file" in line
    doctor = check_smtp(load_config(project.config))
    assert doctor.state == "fail" and "TLS failed" in doctor.detail, doctor.line()
    assert {s for s, _ in ledger(project).values()} == {"pending"}
    assert {who: mail.count(who) for who in READERS} == {who: 0 for who in READERS}
    assert "sasl_username" not in mail.log(tail=1000)  # no AUTH was ever tried: the password never left

    project.edit(f'ca_file = "{mail.wrong_ca}"' if trust == "another CA" else 'ca_file = ""', f'ca_file = "{mail.ca}"')
    fixed = cli("run", "--date", DAY)
    assert fixed.code == 0, fixed.out + fixed.err
    for who in READERS:
        (msg,) = inbox(mail, who)
        assert_own_issue(msg, who)


def test_a_refused_recipient_is_one_line_and_the_fixed_address_gets_the_issue(project, cli, mail, arxiv_url,
                                                                              monkeypatch):
    configure(project, mail, arxiv_url, monkeypatch)
    team = project.dir / "subscribers" / "team.toml"
    shipped = team.read_text()
    team.write_text(shipped.replace('email = "alan@example.org"', 'email = "alan.turing@example.org"'))
    r = cli("run", "--date", DAY)
    line = assert_clean_failure(r, "alan.turing@example.org was refused by the SMTP server: 550 5.1.1")
    assert "User unknown" in line and "suppressed as a hard bounce" in line
    rows = ledger(project)
    assert rows["ada@example.org"][0] == "sent" and rows["alan.turing@example.org"][0] == "failed"
    (msg,) = inbox(mail, "ada@example.org")
    assert_own_issue(msg, "ada@example.org")
    assert mail.count("alan@example.org") == 0

    team.write_text(shipped)  # the address fixed: the next run sends only what is missing
    fixed = cli("run", "--date", DAY)
    assert fixed.code == 0, fixed.out + fixed.err
    (late,) = inbox(mail, "alan@example.org")
    assert late["Subject"].startswith(f"{TITLE} - {DAY}") and late["Message-ID"] == ledger(project)["alan@example.org"][1]
    assert len(mail.fetch("ada@example.org")) == 1  # Ada is not mailed twice
    assert ledger(project)["alan.turing@example.org"][0] == "failed"  # the refusal stays on record


def test_the_fixture_routes_a_test_domain_and_bounces_like_a_relay():
    """What the bounce handling will build on: a domain routed (transport_maps) to another local
    SMTP server that refuses one address at RCPT. Postfix accepts the message (250) and then mails
    the envelope sender a DSN (multipart/report, Action: failed, Status: 5.1.1), read over IMAP."""
    import smtplib
    import ssl

    from tests.servers.smtp import FaultSMTPServer

    why = missing()
    if why:
        pytest.fail(f"the real mail loop cannot run: {why}")
    with FaultSMTPServer() as far:
        far.always("rcpt", "ghost@far.test", "550 5.1.1 <ghost@far.test>: no such user here")
        with MailServer(users={SENDER: SENDER_PASSWORD}, mailboxes=["other@news.test"],
                        relay={"far.test": far.port}) as mail:
            with smtplib.SMTP("127.0.0.1", mail.submission_port, timeout=20) as s:
                s.starttls(context=ssl.create_default_context(cafile=str(mail.ca)))
                s.login(SENDER, SENDER_PASSWORD)
                body = b"Subject: hello\r\nFrom: newsletter@news.test\r\n\r\nhello\r\n"
                assert s.sendmail(SENDER, ["ghost@far.test", "real@far.test", "other@news.test"], body) == {}
            (dsn,) = [parse(raw) for raw in mail.wait_for(SENDER, 1)]
            assert mail.count("other@news.test") == 1  # a second mailbox, no login
    assert [r.rcpt for r in far.handler.received] == ["real@far.test"]
    assert dsn.get_content_type() == "multipart/report" and dsn.get_param("report-type") == "delivery-status"
    status = next(p for p in dsn.walk() if p.get_content_type() == "message/delivery-status")
    fields = status.as_string()
    assert "Final-Recipient: rfc822; ghost@far.test" in fields and "Action: failed" in fields
    assert "Status: 5.1.1" in fields
