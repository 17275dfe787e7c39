"""The "done when" of operations: a scheduler left running over simulated days against local
arXiv and SMTP servers mails exactly one issue per announcement day to each subscriber, nothing on
weekends, on a holiday (arXiv announced nothing) or from a stale feed, and `status` tells the story.
Also: SIGTERM during a send finishes the message in flight, leaves no 'sending' row, exits 0."""

from __future__ import annotations

import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import date, datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from zoneinfo import ZoneInfo

import pytest
import time_machine
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED

from newsletter.config import load_config
from newsletter.fetch.arxiv import announcement_window
from newsletter.ops import shutdown
from newsletter.ops.schedule import build_scheduler, scheduled_run
from newsletter.pipeline import day_done, run_day
from newsletter.store import Store
from tests.servers.arxiv_server import ArxivServer, read_entries
from tests.servers.smtp import FaultSMTPServer

SHANGHAI = ZoneInfo("Asia/Shanghai")
MON = date(2026, 2, 9)
HOLIDAY = date(2026, 2, 11)  # a Wednesday on which arXiv announced nothing


def entries_for(days: list[date]) -> list:
    """Three new cs.CV papers submitted inside each day's announcement window (ids unique per day)."""
    from newsletter.fetch.sample import FEED_PATH

    sample = read_entries(FEED_PATH)
    out = []
    for n, d in enumerate(days):
        since, _until = announcement_window(d, None, 7)
        for i in range(3):
            e = sample[(n * 3 + i) % len(sample)]
            at = since + timedelta(hours=1, minutes=i)
            out.append(replace(e, id=f"2602.{90000 + n * 10 + i}v1", published=at, updated=at, pdf_href=""))
    return out


def configure(project, arxiv: ArxivServer, smtp: FaultSMTPServer, cron: str | None = None) -> None:
    project.edit('base_url = "https://export.arxiv.org/api/query"', f'base_url = "{arxiv.base_url}"')
    project.edit("delay_seconds = 3.0", "delay_seconds = 0.05")
    project.edit('host = ""', 'host = "127.0.0.1"')
    project.edit("port = 587", f"port = {smtp.port}")
    project.edit('security = "starttls"', 'security = "none"')
    if cron:
        project.edit('cron = "30 9 * * mon-fri"', f'cron = "{cron}"')


def subject(data: bytes) -> str:
    return str(make_header(decode_header(message_from_bytes(data)["Subject"])))


class Jobs:
    def __init__(self, sched):
        self.events: list[int] = []
        self.cond = threading.Condition()
        sched.add_listener(self._on, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)

    def _on(self, ev) -> None:
        with self.cond:
            self.events.append(ev.code)
            self.cond.notify_all()

    def wait(self, n: int, timeout: float = 60) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.events) >= n, timeout), self.events


def test_a_week_of_the_scheduler_sends_one_issue_per_announcement_day(project, cli, caplog):
    caplog.set_level(logging.INFO, logger="newsletter")
    days = [MON + timedelta(days=i) for i in range(8)]  # Mon 9 .. Mon 16 February 2026
    announced = [d for d in days if d.weekday() < 5 and d != HOLIDAY]
    # the job fires every day (even weekends): what is mailed is decided from what was fetched
    with ArxivServer(entries=entries_for(announced)) as arxiv, FaultSMTPServer() as smtp:
        configure(project, arxiv, smtp, cron="30 9 * * *")
        cfg = load_config(project.config)
        shutdown.reset()
        with time_machine.travel(datetime(2026, 2, 9, 8, 0, tzinfo=SHANGHAI), tick=True) as clock:
            sched = build_scheduler(cfg)
            jobs = Jobs(sched)
            sched.start()
            try:
                for n, d in enumerate(days, start=1):
                    clock.move_to(datetime(d.year, d.month, d.day, 9, 30, 2, tzinfo=SHANGHAI))
                    sched.wakeup()
                    jobs.wait(n)
                # the scheduler is told to run Monday again (a restart, a manual re-run): nothing new goes out
                before = len(smtp.handler.received)
                scheduled_run(cfg, days[-1])
                assert len(smtp.handler.received) == before
            finally:
                sched.shutdown(wait=True)
            assert jobs.events == [EVENT_JOB_EXECUTED] * len(days)
            r = cli("status")
        received = list(smtp.handler.received)

    subscribers = {"ada@example.org", "alan@example.org"}
    for who in subscribers:
        mine = sorted(subject(m.data) for m in received if m.rcpt == who)
        # the subject carries the count of papers too: "… - 2026-02-09 · 3 papers"
        dated = sorted(m.split(" · ")[0] for m in mine)
        assert dated == sorted(f"Arxiv Computer Vision Papers - {d.isoformat()}" for d in announced), who
        assert all(re.fullmatch(r".* · \d+ (papers?|篇论文)", m) for m in mine), mine
    assert {m.rcpt for m in received} == subscribers
    assert len({m.message_id for m in received}) == len(received) == 2 * len(announced)

    store = Store.open(project.db)
    try:
        for d in days:
            ed = store.get_edition(d, "cv")
            if d in announced:
                assert ed.status == "sent" and len(ed.entries) == 3
            else:  # weekend and holiday: nothing to say, nothing mailed
                assert ed is None or (ed.status == "empty" and not store.deliveries(ed.id))
        assert all(day_done(store, load_config(project.config), d) for d in days)
    finally:
        store.close()

    logs = caplog.text
    for d in (date(2026, 2, 14), date(2026, 2, 15), HOLIDAY):
        assert f"arXiv announced nothing new for {d}" in logs and "nothing mailed" in logs

    assert r.code == 0, r.err
    assert "deliveries: sent 10, pending 0, sending 0, deferred 0, failed 0" in r.out
    assert "2026-02-14 cv: 0 papers, empty; deliveries none" in r.out
    assert "2026-02-13 cv: 3 papers, sent; deliveries sent 2" in r.out
    assert "next scheduled run: " in r.out and "(cron '30 9 * * *', Asia/Shanghai)" in r.out
    assert r.out.count(": ok at stage deliver") >= 8


def test_a_stale_feed_mails_nothing_and_says_why(project, caplog):
    caplog.set_level(logging.INFO, logger="newsletter")
    tue = MON + timedelta(days=1)
    with ArxivServer(entries=entries_for([tue])) as arxiv, FaultSMTPServer() as smtp:
        arxiv.inject("stale", times=10)  # arXiv answers with last week's papers
        configure(project, arxiv, smtp)
        cfg = load_config(project.config)
        shutdown.reset()
        assert scheduled_run(cfg, tue, wait_lock=0) is None  # the run failed, logged, the scheduler goes on
        assert smtp.handler.received == []
    assert "stale feed" in caplog.text
    store = Store.open(project.db)
    try:
        run = store.recent_runs(1)[0]
        assert run["status"] == "failed" and run["stage"] == "fetch" and "stale feed" in run["error"]
        assert store.get_edition(tue, "cv") is None
    finally:
        store.close()


SUBSCRIBERS = "\n".join(
    f'[[subscriber]]\nemail = "reader{i}@example.org"\nname = "Reader {i}"\nprofiles = ["cv"]\n' for i in range(6)
)


def ledger(db) -> dict[str, str]:
    with sqlite3.connect(db, timeout=30) as c:
        return dict(c.execute("select email, status from deliveries").fetchall())


@pytest.mark.timeout(90)
def test_sigterm_during_send_finishes_the_message_in_flight_and_exits_0(project):
    (project.dir / "subscribers" / "readers.toml").write_text(SUBSCRIBERS)
    with ArxivServer() as arxiv, FaultSMTPServer(delay=0.15) as smtp:  # every reply takes 0.15 s
        configure(project, arxiv, smtp)
        project.edit("pool_size = 4", "pool_size = 1")
        cfg = load_config(project.config)
        store = Store.open(project.db)
        run_day(store, cfg, MON, until="render")
        store.close()
        env = {**os.environ, "NEWSLETTER_CONFIG": str(project.config)}
        p = subprocess.Popen([sys.executable, "-m", "newsletter.cli", "send", "--date", MON.isoformat()],
                             cwd=project.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            in_flight = None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # one message sent, the next one on the wire
                rows = ledger(project.db) if project.db.exists() else {}
                sending = [e for e, st in rows.items() if st == "sending"]
                if sending and "sent" in rows.values():
                    in_flight = sending[0]
                    break
                time.sleep(0.02)
            assert in_flight, "no message was being sent"
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
        assert p.returncode == 0, err
        assert "stopped on request (SIGTERM received)" in err
        rows = ledger(project.db)
        assert "sending" not in rows.values()
        assert rows[in_flight] == "sent"  # the message in flight completed ...
        got = [m.rcpt for m in smtp.handler.received]
        assert got.count(in_flight) == 1  # ... once
        sent = {e for e, s in rows.items() if s == "sent"}
        assert set(got) == sent and 2 <= len(sent) < len(rows)  # it stopped early; the rest is pending
        assert {s for e, s in rows.items() if e not in sent} == {"pending"}

        # the next send resumes: everyone gets exactly one message
        r = subprocess.run([sys.executable, "-m", "newsletter.cli", "send", "--date", MON.isoformat()],
                           cwd=project.dir, env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        got = sorted(m.rcpt for m in smtp.handler.received)
        assert got == sorted(rows) and set(ledger(project.db).values()) == {"sent"}
