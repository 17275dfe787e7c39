"""What the mailbox's decisions look like to the operator: `newsletter status` gives each edition's
bounce and complaint rates (with the bulk-sender limits), `subscribers show` a reader's bounces,
complaints and mailto unsubscribes with their evidence, and why mail no longer goes out."""

from __future__ import annotations

from newsletter.config import load_config
from newsletter.deliver.inbound.act import Context
from newsletter.deliver.inbound.process import MailboxReport, handle
from newsletter.store import Store

DSN = b"""From: MAILER-DAEMON@relay.example.net (Mail Delivery System)
To: newsletter@localhost
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-1@relay.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example.net

Final-Recipient: rfc822; alan@example.org
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <alan@example.org>: Recipient address rejected: User unknown

--B
Content-Type: text/rfc822-headers

Message-ID: <issue-alan@localhost>
To: alan@example.org

--B--
"""

ARF = b"""From: feedback@fbl.example.net
To: newsletter@localhost
Subject: Abuse report
Message-ID: <arf-1@fbl.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="F"

--F
Content-Type: text/plain

This is an email abuse report.

--F
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Rcpt-To: <ada@example.org>

--F
Content-Type: text/rfc822-headers

Message-ID: <issue-ada@localhost>

--F--
"""


def test_status_and_show_tell_what_came_back(project, cli):
    cfg = load_config(project.config)
    store = Store.open(project.db)
    edition = store.db["editions"].insert({"date": "2026-02-09", "profile": "cv", "language": "zh", "title": "t",
                                           "status": "sent", "created": "", "updated": ""}).last_pk
    store.create_deliveries(edition, [("ada@example.org", "Ada", "<issue-ada@localhost>"),
                                      ("alan@example.org", "Alan", "<issue-alan@localhost>")])
    for who in ("ada@example.org", "alan@example.org"):
        store.set_delivery(edition, who, "sent")
    report = MailboxReport(where="test")
    ctx = Context(store, cfg, None, "newsletter@localhost")
    assert handle(ctx, DSN.replace(b"\n", b"\r\n"), "", report) and handle(ctx, ARF, "", report)
    store.close()

    status = cli("status")
    assert status.code == 0, status.err
    line = next(ln for ln in status.out.splitlines() if ln.startswith("  2026-02-09 cv:"))
    assert line.endswith("; bounces 1 (1 hard, 0 soft) = 50.0%, complaints 1 = 50.0% "
                         "[complaints over 0.3%; bounces over 2%]"), line
    assert "mailbox: not read ([mailbox] host is empty" in status.out

    alan = cli("subscribers", "show", "alan@example.org")
    assert alan.code == 0, alan.err
    assert "suppressed: hard_bounce" in alan.out
    assert "hard_bounce (every list)" in alan.out and "550 5.1.1" in alan.out and "found by Message-ID" in alan.out
    assert "Mail that came back: 1 event" in alan.out
    row = next(ln for ln in alan.out.splitlines() if "hard bounce" in ln and "2026-02-09 cv" in ln)
    assert "5.1.1" in row and "Recipient address rejected" in row
    ada = cli("subscribers", "show", "ada@example.org")
    assert "suppressed: complaint" in ada.out and "spam complaint" in ada.out


def test_mailbox_without_a_mailbox_configured_is_one_line(project, cli):
    r = cli("mailbox")
    assert r.code == 2 and r.err.startswith("error: [mailbox] host is empty") and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1
