"""`newsletter status` and `history` against a real store (and a real scheduler process holding
its lock): runs with stage, counts, cost and errors; the next scheduled run; deliveries that need
attention; editions searchable by paper id or words."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

from newsletter.config import load_config
from newsletter.models import Edition, Paper
from newsletter.ops.status import history_lines, status_lines
from newsletter.store import Store

SHANGHAI = ZoneInfo("Asia/Shanghai")


def paper(pid: str, title: str, abstract: str = "An abstract.") -> Paper:
    t = datetime(2026, 2, 6, 12, 0)
    return Paper(id=pid, version=2, title=title, authors=["A"], abstract=abstract, categories=["cs.CV"],
                 primary_category="cs.CV", published=t, updated=t, pdf_url="")


def fill(store: Store) -> None:
    store.upsert_papers([
        paper("2602.06959", "CineScene: Implicit 3D for Cinematic Video Generation"),
        paper("2602.06830", "GaussianPOP: Compact 3D Gaussian Splatting", "We simplify splats with error quantification."),
        paper("2602.07001", "A Benchmark for Robot Manipulation"),
    ])
    mon, tue = date(2026, 2, 9), date(2026, 2, 10)
    e1 = store.save_selection(Edition(date=mon, profile="cv", language="zh", title="CV - 2026-02-09", status="sent"),
                              ["2602.06959", "2602.06830"])
    e2 = store.save_selection(Edition(date=tue, profile="cv", language="zh", title="CV - 2026-02-10", status="rendered"),
                              ["2602.07001"])
    store.create_deliveries(e1, [("ada@example.org", "Ada", "<1@x>"), ("alan@example.org", "Alan", "<2@x>")])
    store.set_delivery(e1, "ada@example.org", "sent")
    store.set_delivery(e1, "alan@example.org", "sent")
    store.create_deliveries(e2, [("ada@example.org", "Ada", "<3@x>"), ("alan@example.org", "Alan", "<4@x>"),
                                 ("bob@example.org", "Bob", "<5@x>")])
    store.set_delivery(e2, "ada@example.org", "deferred", "451 4.3.0 mailbox busy", attempt=True)
    store.set_delivery(e2, "bob@example.org", "failed", "550 5.1.1 no such user", attempt=True)
    r1 = store.start_run("run", mon)
    store.update_run(r1, stage="deliver", status="ok", finished=datetime(2026, 2, 9, 1, 31, 5).isoformat() + "+00:00",
                     cost=0.0123, counts={"fetched": 120, "cv": {"papers": 2, "status": "rendered",
                                                                 "deliveries": {"sent": 2, "sent_now": 2, "failed": 0}}})
    r2 = store.start_run("run", tue)
    store.update_run(r2, stage="fetch", status="failed", finished=store.recent_runs(1)[0]["started"],
                     error="arXiv served a stale feed: try again later")


def test_status_tells_what_happened_and_what_is_next(project):
    cfg = load_config(project.config)
    store = Store.open(project.db)
    fill(store)
    lines = status_lines(cfg, store, now=datetime(2026, 2, 13, 10, 0, tzinfo=SHANGHAI))  # a Friday morning
    text = "\n".join(lines)
    store.close()
    assert lines[0] == "scheduler: not running (start it: newsletter schedule)"
    assert "next scheduled run: Mon 2026-02-16 09:30 CST (cron '30 9 * * mon-fri', Asia/Shanghai)" in text
    assert "#2 run issue 2026-02-10" in text and "failed at stage fetch" in text
    assert "error: arXiv served a stale feed: try again later" in text
    assert "#1 run issue 2026-02-09" in text and "ok at stage deliver, cost $0.0123" in text
    assert "fetched 120; cv: 2 papers, rendered; sent 2 (2 now)" in text
    assert "2026-02-10 cv: 1 paper, rendered; deliveries deferred 1, failed 1, pending 1" in text
    assert "deliveries: sent 2, pending 1, sending 0, deferred 1, failed 1, suppressed 0" in text
    assert "  deferred ada@example.org (2026-02-10 cv, 1 attempt): 451 4.3.0 mailbox busy" in text
    assert "  failed bob@example.org (2026-02-10 cv, 1 attempt): 550 5.1.1 no such user" in text
    assert "  pending alan@example.org (2026-02-10 cv, 0 attempts)" in text
    assert "go out on the next run" in text


def test_status_names_a_running_scheduler_and_a_run_in_progress(project, cli):
    env = {**os.environ, "NEWSLETTER_CONFIG": str(project.config)}
    p = subprocess.Popen([sys.executable, "-m", "newsletter.cli", "schedule", "--no-catch-up"], cwd=project.dir,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        line = ""
        while "scheduler started" not in line and time.monotonic() < deadline:
            line = p.stderr.readline()
            assert line or p.poll() is None, "the scheduler exited"
        assert "scheduler started: cron '30 9 * * mon-fri' in Asia/Shanghai; next run 20" in line
        r = cli("status")
        assert r.code == 0
        assert f"scheduler: running (pid {p.pid} on " in r.out and "`newsletter schedule`" in r.out
        # a second scheduler exits at once, naming the first
        r2 = subprocess.run([sys.executable, "-m", "newsletter.cli", "schedule"], cwd=project.dir, env=env,
                            capture_output=True, text=True, timeout=60)
        assert r2.returncode == 1 and f"pid {p.pid}" in r2.stderr and "another newsletter process" in r2.stderr
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert "SIGTERM received" in err and "scheduler stopped cleanly" in err
    assert "not running" in cli("status").out
    log = (project.dir / "var" / "logs" / "newsletter.log").read_text()
    assert "scheduler started" in log and "scheduler stopped cleanly" in log


def test_history_by_id_word_and_profile(project, cli):
    store = Store.open(project.db)
    fill(store)
    assert history_lines(store)[0].startswith("2026-02-10 cv (rendered, 1 paper, sent to 0): CV - 2026-02-10")
    by_id = history_lines(store, "2602.06830v1")
    assert by_id[0].startswith("2026-02-09 cv (sent, 2 papers, sent to 2)")
    assert "  * 2. 2602.06830v2  GaussianPOP: Compact 3D Gaussian Splatting" in by_id
    assert "    1. 2602.06959v2  CineScene: Implicit 3D for Cinematic Video Generation" in by_id
    assert len([ln for ln in by_id if not ln.startswith(" ")]) == 1
    by_words = history_lines(store, "error quantification")  # in the abstract only
    assert by_words[0].startswith("2026-02-09 cv") and any(ln.startswith("  * 2. 2602.06830") for ln in by_words)
    assert history_lines(store, "robot")[0].startswith("2026-02-10 cv")
    assert history_lines(store, "nonexistent words") == ["no edition featured 'nonexistent words'"]
    store.close()
    r = cli("history", "2602.06959", "--profile", "cv")
    assert r.code == 0 and "* 1. 2602.06959v2" in r.out
    r = cli("history", "--profile", "nope")
    assert r.code == 2 and "unknown profile 'nope'" in r.err
