"""Restarts of `newsletter mailbox` against the real Dovecot: killed with SIGKILL mid-batch again and
again, then run to the end, every message is counted exactly once (one record, one bounce event per
message, the right suppressions) and every message ends up flagged; a run after that changes nothing.

The messages are DSNs put straight into the mailbox's Maildir (Maildir delivery is lock-free by
design, as Postfix's virtual agent does it) and read over IMAP (STARTTLS, our CA)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from newsletter.store import Store
from tests.conftest import ROOT
from tests.servers.mailserver import MailServer, missing
from tests.test_mail_loop import SENDER, SENDER_PASSWORD
from tests.test_mailbox_loop import set_section

N = 120
KILLS = 6
PASSWORD_ENV = "NEWSLETTER_MAILBOX_PASSWORD"


def dsn(i: int, message_id: str) -> bytes:
    """A Postfix-style DSN about reader i: 5.1.1 (hard) for every third, 4.2.2 (soft, delayed) else."""
    rcpt = f"reader{i}@example.org"
    hard = i % 3 == 0
    action, status, said = ("failed", "5.1.1", "550 5.1.1 user unknown") if hard else \
        ("delayed", "4.2.2", "452 4.2.2 mailbox full")
    return f"""\
From: MAILER-DAEMON@mail.example.net (Mail Delivery System)
To: {SENDER}
Subject: {"Undelivered Mail Returned to Sender" if hard else "Delayed Mail (still being retried)"}
Message-ID: <dsn-{i}@mail.example.net>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B{i}"

--B{i}
Content-Type: text/plain

This is the mail system at host mail.example.net.

--B{i}
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.net

Final-Recipient: rfc822; {rcpt}
Original-Recipient: rfc822;{rcpt}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {said}

--B{i}
Content-Type: text/rfc822-headers

From: {SENDER}
To: {rcpt}
Message-ID: {message_id}
Subject: arXiv

--B{i}--
""".replace("\n", "\r\n").encode()


def deliver_to_maildir(mail: MailServer, address: str, messages: list[bytes]) -> None:
    md = mail.maildir(address)
    uid, gid = os.stat(md.parents[2]).st_uid, os.stat(md.parents[2]).st_gid  # the mail folder's owner (postfix)
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True, exist_ok=True)
    for p in [md.parent, md.parents[1], md, md / "cur", md / "new", md / "tmp"]:
        os.chown(p, uid, gid)
    for i, raw in enumerate(messages):
        tmp = md / "tmp" / f"{time.time():.0f}.{i}_{os.getpid()}.test"
        tmp.write_bytes(raw)
        os.chown(tmp, uid, gid)
        tmp.rename(md / "new" / tmp.name)


def count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            return c.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.fixture
def mail():
    why = missing()
    if why:
        pytest.fail(f"the real mail loop cannot run: {why}")
    with MailServer(users={SENDER: SENDER_PASSWORD}) as server:
        yield server


def test_killed_mailbox_reads_count_each_message_exactly_once(project, mail):
    project.edit('from = "arXiv Daily <newsletter@localhost>"', f'from = "arXiv Daily <{SENDER}>"')
    set_section(project, "mailbox", host="127.0.0.1", port=mail.imap_port, ca_file=str(mail.ca), username=SENDER,
                password_env=PASSWORD_ENV, soft_bounce_limit=3)
    store = Store.open(project.db)
    edition = store.db["editions"].insert({"date": "2026-02-09", "profile": "cv", "language": "zh", "title": "t",
                                           "status": "sent", "created": "", "updated": ""}).last_pk
    ids = {i: f"<issue-{i}@news.test>" for i in range(N)}
    store.create_deliveries(edition, [(f"reader{i}@example.org", "", ids[i]) for i in range(N)])
    store.close()
    deliver_to_maildir(mail, SENDER, [dsn(i, ids[i]) for i in range(N)])

    cmd = [sys.executable, "-m", "newsletter.cli", "mailbox", "--config", str(project.config)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), PASSWORD_ENV: SENDER_PASSWORD}
    rng = random.Random(17)
    kills = 0
    for _ in range(KILLS * 3):
        if kills >= KILLS or count(project.db, "select count(*) from inbound_messages") >= N - 10:
            break
        before = count(project.db, "select count(*) from inbound_messages")
        proc = subprocess.Popen(cmd, cwd=project.dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while count(project.db, "select count(*) from inbound_messages") == before and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.05))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
        proc.stderr.close()
    assert kills >= 3, f"only {kills} kills landed mid-batch"

    final = subprocess.run(cmd, cwd=project.dir, env=env, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert count(project.db, "select count(*) from inbound_messages") == N
    assert count(project.db, "select count(*) from bounce_events") == N
    assert count(project.db, "select count(distinct email) from bounce_events") == N
    assert count(project.db, "select count(*) from suppressions where reason = 'hard_bounce'") == len(range(0, N, 3))
    assert count(project.db, "select count(*) from suppressions where reason != 'hard_bounce'") == 0

    box = mail.imap(SENDER)
    try:
        box.select("INBOX", readonly=True)
        _, data = box.uid("SEARCH", None, "NOT KEYWORD $NewsletterProcessed")
        assert data[0].split() == []
        _, data = box.uid("SEARCH", None, "UNSEEN")
        assert len(data[0].split()) == N  # a person reading the mailbox still sees them unread
    finally:
        box.logout()
    again = subprocess.run(cmd, cwd=project.dir, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "read 0 new" in again.stdout, again.stdout + again.stderr
    assert count(project.db, "select count(*) from bounce_events") == N


def test_processed_messages_are_moved_to_the_processed_folder(project, mail, cli, monkeypatch):
    set_section(project, "mailbox", host="127.0.0.1", port=mail.imaps_port, security="ssl", ca_file=str(mail.ca),
                username=SENDER, password_env=PASSWORD_ENV, processed_folder="Processed")
    monkeypatch.setenv(PASSWORD_ENV, SENDER_PASSWORD)
    deliver_to_maildir(mail, SENDER, [dsn(i, f"<issue-{i}@news.test>") for i in range(3)])
    r = cli("mailbox")
    assert r.code == 0 and "read 3 new" in r.out, r.out + r.err  # over implicit TLS this time
    assert mail.fetch(SENDER) == [] and len(mail.fetch(SENDER, mailbox="Processed")) == 3
    again = cli("mailbox")
    assert again.code == 0 and "read 0 new" in again.out
