"""The mail that comes back, through the real Postfix and Dovecot (tests/servers/mailserver.py).

An issue is relayed by Postfix to a test domain served by another local SMTP server; Postfix itself
bounces what that server refuses (550 -> a DSN; 451 -> a delay warning with delay_warning_time)
to our VERP envelope sender `newsletter+<token>@news.test`, which lands in the From address's
mailbox (recipient_delimiter = +). `newsletter mailbox` reads it over IMAP (STARTTLS, our CA,
password from the environment), suppresses the address, and the next issue is not sent there. A
reader's mailto unsubscribe, sent through Postfix as a mail client would, stops that list only.
Reading again changes nothing.
"""

from __future__ import annotations

import email
import email.policy
import smtplib
import sqlite3
import ssl
from urllib.parse import unquote, urlparse

import pytest

from newsletter.config import load_config
from newsletter.ops.deliverability import check_mailbox
from tests.servers.arxiv_fake import serve_sample
from tests.servers.mailserver import MailServer, missing
from tests.servers.smtp import FaultSMTPServer
from tests.test_mail_loop import DAY, SECRET_ENV, SENDER, SENDER_PASSWORD, configure

MAILBOX_ENV = "NEWSLETTER_MAILBOX_PASSWORD"
ADA = "ada@example.org"
ADA_PASSWORD = "ada-imap-password"
GHOST = "ghost@far.example.net"  # no such user at the far server


def subscribers(project, *entries: tuple[str, list[str]]) -> None:
    """The subscriber file: plain readers (3 papers each, so the second list has papers left for them)."""
    text = "".join(f'[[subscriber]]\nemail = "{e}"\nname = "{e.split("@")[0].title()}"\nprofiles = {p!r}\n'
                   "max_papers = 3\n\n"
                   for e, p in entries)
    (project.dir / "subscribers" / "team.toml").write_text(text.replace("'", '"'))


def set_section(project, section: str, **values: object) -> None:
    """Set keys of a [section] of the project's config.toml (other keys and comments stay)."""
    text = project.config.read_text()
    start = text.index(f"[{section}]\n")
    end = text.index("\n[", start + 1)
    keep = [ln for ln in text[start:end].splitlines()[1:] if ln.split("=")[0].strip() not in values]
    lines = [f"{k} = {v!r}".replace("'", '"') if isinstance(v, str) else f"{k} = {str(v).lower()}"
             if isinstance(v, bool) else f"{k} = {v}" for k, v in values.items()]
    project.config.write_text(text[:start] + f"[{section}]\n" + "\n".join(lines + keep) + text[end:])


def with_mailbox(project, mail: MailServer, monkeypatch, **extra: object) -> None:
    """A second list (cv2: the "next issue"), the bounce mailbox = the From address's, VERP on."""
    project.append('[[profiles]]\nname = "cv2"\ntitle = "Second List"\ncategories = ["cs.CV"]\nlanguage = "zh"\n'
                   'top_n = 3\n')
    set_section(project, "mailbox", host="127.0.0.1", port=mail.imap_port, security="starttls", ca_file=str(mail.ca),
                username=SENDER, password_env=MAILBOX_ENV, folder="INBOX", **extra)
    monkeypatch.setenv(MAILBOX_ENV, SENDER_PASSWORD)
    monkeypatch.setenv(SECRET_ENV, "a-long-random-secret-for-the-bounce-loop")


def rows(project, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(project.db) as db:
        return db.execute(sql, args).fetchall()


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


@pytest.fixture
def arxiv_url():
    with serve_sample() as base_url:
        yield base_url


def servers(far: FaultSMTPServer, **params: str) -> MailServer:
    why = missing()
    if why:
        pytest.fail(f"the real mail loop cannot run: {why}")
    return MailServer(users={SENDER: SENDER_PASSWORD, ADA: ADA_PASSWORD}, relay={"far.example.net": far.port},
                      postfix_params={"recipient_delimiter": "+", **params})


def test_a_hard_bounce_from_postfix_suppresses_the_address_and_the_next_issue_skips_it(project, cli, arxiv_url,
                                                                                       monkeypatch):
    with FaultSMTPServer() as far:
        far.always("rcpt", GHOST, f"550 5.1.1 <{GHOST}>: Recipient address rejected: no such user")
        with servers(far) as mail:
            configure(project, mail, arxiv_url, monkeypatch)
            with_mailbox(project, mail, monkeypatch)
            subscribers(project, (ADA, ["cv", "cv2"]), ("ghost@far.example.net", ["cv", "cv2"]))
            r = cli("run", "--date", DAY, "--profile", "cv")
            assert r.code == 0, r.out + r.err  # the relay took both: the failure comes later, as mail
            (dsn,) = [parse(m) for m in mail.wait_for(SENDER, 1)]
            assert dsn.get_content_type() == "multipart/report"
            assert dsn["Delivered-To"].startswith("newsletter+") and dsn["Delivered-To"].endswith("@news.test")

            read = cli("mailbox")
            assert read.code == 0, read.out + read.err
            assert "read 1 new (hard bounce 1," in read.out and f"suppressed 1: {GHOST} (hard bounce)" in read.out
            assert rows(project, "select email, list, reason from suppressions") == [(GHOST, "", "hard_bounce")]
            (event,) = rows(project, "select b.email, b.kind, b.status, e.profile from bounce_events b "
                                     "join editions e on e.id = b.edition_id")
            assert event == ("ghost@far.example.net", "hard_bounce", "5.1.1", "cv")  # VERP named the delivery
            (msg,) = rows(project, "select kind, email, status, action from inbound_messages")
            assert msg[:3] == ("hard_bounce", "ghost@far.example.net", "5.1.1") and "suppressed" in msg[3]

            again = cli("mailbox")
            assert again.code == 0 and "read 0 new" in again.out, again.out + again.err
            assert rows(project, "select count(*) from bounce_events") == [(1,)]

            nxt = cli("run", "--date", DAY, "--profile", "cv2")
            assert nxt.code == 0, nxt.out + nxt.err
            mail.wait_for(ADA, 2)
    assert [r.rcpt for r in far.handler.received] == []  # ghost was tried once (refused), never again
    status = dict(rows(project, "select d.email, d.status from deliveries d join editions e on e.id = d.edition_id "
                                "where e.profile = 'cv2'"))
    assert status == {ADA: "sent", "ghost@far.example.net": "suppressed"}


def test_deferred_mail_becomes_soft_bounces_that_suppress_past_the_threshold(project, cli, arxiv_url, monkeypatch):
    with FaultSMTPServer() as far:
        far.always("rcpt", "slow@far.example.net", "451 4.2.1 <slow@far.example.net>: mailbox busy, try again later")
        with servers(far, delay_warning_time="1s") as mail:
            configure(project, mail, arxiv_url, monkeypatch)
            with_mailbox(project, mail, monkeypatch, soft_bounce_limit=2, soft_bounce_days=14)
            subscribers(project, ("slow@far.example.net", ["cv", "cv2"]))
            assert cli("run", "--date", DAY, "--profile", "cv").code == 0
            (warning,) = [parse(m) for m in mail.wait_for(SENDER, 1)]
            assert "delayed" in str(warning["Subject"]).lower()
            first = cli("mailbox")
            assert "soft bounce 1," in first.out and "suppressed" not in first.out, first.out + first.err
            assert rows(project, "select count(*) from suppressions") == [(0,)]

            assert cli("run", "--date", DAY, "--profile", "cv2").code == 0
            mail.wait_for(SENDER, 2)
            second = cli("mailbox")
            assert "suppressed 1: slow@far.example.net (soft bounce)" in second.out, second.out + second.err
    ((reason, detail),) = rows(project, "select reason, detail from suppressions where email = 'slow@far.example.net'")
    assert reason == "soft_bounce" and detail.startswith("2 soft bounces in 14 days") and "4.2.1" in detail
    assert rows(project, "select kind, status from bounce_events") == [("soft_bounce", "4.2.1")] * 2


def test_a_mailto_unsubscribe_through_postfix_stops_that_list_only(project, cli, arxiv_url, monkeypatch):
    with FaultSMTPServer() as far, servers(far) as mail:
        configure(project, mail, arxiv_url, monkeypatch)
        with_mailbox(project, mail, monkeypatch)
        subscribers(project, (ADA, ["cv", "cv2"]))
        doctor = check_mailbox(load_config(project.config))  # `newsletter doctor`'s line, against Dovecot
        assert doctor.state == "ok" and "login accepted, 0 new message(s); VERP on" in doctor.detail, doctor.line()
        monkeypatch.setenv(MAILBOX_ENV, "not-the-password")
        bad = check_mailbox(load_config(project.config))
        assert bad.state == "fail" and "IMAP login failed" in bad.detail and "not-the-password" not in bad.line()
        monkeypatch.setenv(MAILBOX_ENV, SENDER_PASSWORD)
        assert cli("run", "--date", DAY, "--profile", "cv").code == 0
        (issue,) = [parse(m) for m in mail.wait_for(ADA, 1)]
        mailto = urlparse(issue["List-Unsubscribe"].strip("<>"))
        assert mailto.scheme == "mailto" and mailto.path == SENDER
        subject = unquote(mailto.query.removeprefix("subject="))
        # Ada's mail client sends the request through her own provider (the same Postfix here)
        with smtplib.SMTP("127.0.0.1", mail.submission_port, timeout=20) as s:
            s.starttls(context=ssl.create_default_context(cafile=str(mail.ca)))
            s.login(ADA, ADA_PASSWORD)
            s.sendmail(ADA, [mailto.path], f"From: {ADA}\r\nTo: {mailto.path}\r\nSubject: {subject}\r\n\r\n"
                       "unsubscribe\r\n".encode())
        mail.wait_for(SENDER, 1)
        read = cli("mailbox")
        assert read.code == 0 and "unsubscribed 1: ada@example.org from cv" in read.out, read.out + read.err
        assert rows(project, "select email, list, reason from suppressions") == [(ADA, "cv", "unsubscribed")]
        listing = cli("subscribers", "list")
        assert "unsubscribed from cv" in listing.out
        assert cli("run", "--date", DAY, "--profile", "cv2").code == 0  # the other list still comes
        assert len(mail.wait_for(ADA, 2)) == 2


def test_the_scheduler_reads_the_mailbox_before_each_run_and_hourly(project, cli, arxiv_url, monkeypatch):
    from datetime import date, timedelta

    from newsletter.ops.schedule import MAILBOX_ID, build_scheduler, scheduled_run

    with FaultSMTPServer() as far:
        far.always("rcpt", GHOST, f"550 5.1.1 <{GHOST}>: Recipient address rejected: no such user")
        with servers(far) as mail:
            configure(project, mail, arxiv_url, monkeypatch)
            with_mailbox(project, mail, monkeypatch)
            subscribers(project, (ADA, ["cv", "cv2"]), (GHOST, ["cv", "cv2"]))
            assert cli("run", "--date", DAY, "--profile", "cv").code == 0
            mail.wait_for(SENDER, 1)  # the DSN is in the mailbox; nobody has read it
            cfg = load_config(project.config)
            job = build_scheduler(cfg).get_job(MAILBOX_ID)
            assert job is not None and job.trigger.interval == timedelta(hours=1)
            report = scheduled_run(cfg, date.fromisoformat(DAY), wait_lock=0)  # every list: cv2 is new
            assert report is not None and report.editions["cv2"]["status"] == "sent"
            mail.wait_for(ADA, 2)
    assert rows(project, "select email, reason from suppressions") == [(GHOST, "hard_bounce")]
    status = dict(rows(project, "select d.email, d.status from deliveries d join editions e on e.id = d.edition_id "
                                "where e.profile = 'cv2'"))
    assert status == {ADA: "sent", GHOST: "suppressed"}
    without = load_config(project.config).model_copy(update={"mailbox": type(cfg.mailbox)()})
    assert build_scheduler(without).get_job(MAILBOX_ID) is None
