"""Crash safety: `newsletter send` is SIGKILLed at random moments (≥ 20 times) and restarted.

Every subscriber must get the edition, every copy must carry the recipient's Message-ID from
the ledger, and a Message-ID may arrive twice only if its row was `sending` (in flight) when
one of the kills happened. The readers have interests of their own, so each copy is that
reader's own issue (assembled per reader), and a resent copy is the same issue again.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from email import message_from_bytes
from pathlib import Path

from newsletter.config import load_config
from newsletter.fetch.sample import SAMPLE_DAY
from newsletter.pipeline import run_day
from newsletter.store import Store
from tests.servers.arxiv_fake import serve_sample
from tests.servers.smtp import FaultSMTPServer

ROOT = Path(__file__).resolve().parent.parent
N = 200
KILLS = 24
TOPICS = ["3D Gaussian splatting", "robot world models", "video generation", "model compression for phones",
          "vision transformers", "video editing", "vision-language models", "diffusion transformers"]
ABS = re.compile(r"https://arxiv\.org/abs/(\d{4}\.\d{4,5})v\d")


def _project(tmp: Path, port: int) -> Path:
    (tmp / "subscribers").mkdir()
    entries = "\n".join(
        f'[[subscriber]]\nemail = "reader{i:03d}@example.org"\nname = "Reader {i}"\nprofiles = ["cv"]\n'
        f'interests = "{TOPICS[i % len(TOPICS)]}"\nmax_papers = {1 + i % 3}\n'
        for i in range(N)
    )
    (tmp / "subscribers" / "all.toml").write_text(entries, encoding="utf-8")
    cfg = tmp / "config.toml"
    cfg.write_text(
        f"""
[store]
path = "var/newsletter.db"
[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
pool_size = 2
timeout = 10
[[profiles]]
name = "cv"
title = "Arxiv Computer Vision Papers"
categories = ["cs.CV"]
language = "en"
""",
        encoding="utf-8",
    )
    return cfg


def _in_flight(db: Path, edition_id: int) -> set[str]:
    store = Store.open(db)
    try:
        return {d.message_id for d in store.deliveries(edition_id, ["sending"])}
    finally:
        store.close()


def test_killed_sends_deliver_everyone_and_duplicate_only_in_flight_messages(tmp_path):
    rng = random.Random(20260209)
    with FaultSMTPServer(delay=0.01) as srv:
        cfg_path = _project(tmp_path, srv.port)
        db = tmp_path / "var" / "newsletter.db"
        store = Store.open(db)
        with serve_sample() as base_url:  # the sample day, each reader's own picks, one render
            cfg = load_config(cfg_path)
            cfg.arxiv.base_url, cfg.arxiv.delay_seconds = base_url, 0
            run_day(store, cfg, SAMPLE_DAY, until="render")
        ed = store.get_edition(SAMPLE_DAY, "cv")
        picks = store.get_picks(ed.id)
        store.close()
        assert len(picks) == N and len({tuple(p) for p in picks.values()}) > 5
        cmd = [sys.executable, "-m", "newsletter.cli", "send", "--config", str(cfg_path), "--date", SAMPLE_DAY.isoformat()]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        in_flight: set[str] = set()
        in_flight_events = 0
        kills = 0
        finished_early = 0
        for _ in range(KILLS * 3):  # bounded: enough runs to land KILLS kills while mail is still going
            if kills >= KILLS:
                break
            before = len(srv.handler.received)
            proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if rng.random() < 0.2:
                time.sleep(rng.uniform(0.0, 0.6))  # sometimes during start-up or ledger creation
            else:
                deadline = time.monotonic() + 20
                while len(srv.handler.received) == before and proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.002)
                time.sleep(rng.uniform(0.0, 0.08))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            else:
                finished_early += 1
            proc.wait(timeout=30)
            proc.stderr.close()
            sending = _in_flight(db, ed.id)
            in_flight |= sending
            in_flight_events += len(sending)  # the same message can be in flight at several kills
        assert kills >= 20, f"only {kills} kills landed"
        final = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr
        received = list(srv.handler.received)

    store = Store.open(db)
    try:
        ledger = {d.email: d for d in store.deliveries(ed.id)}
        assert {d.status for d in ledger.values()} == {"sent"}
        assert len(ledger) == N
    finally:
        store.close()
    got: dict[str, list[str]] = {}
    for r in received:
        got.setdefault(r.rcpt, []).append(r.message_id)
    assert set(got) == set(ledger), "someone did not receive the edition"
    for rcpt, ids in got.items():
        assert set(ids) == {ledger[rcpt].message_id}, f"{rcpt} got a copy with another Message-ID"
        if len(ids) > 1:
            assert ledger[rcpt].message_id in in_flight, f"{rcpt} got a duplicate that was not in flight"
    for r in received:  # each copy is the reader's own issue, resent copies included
        html = next(p for p in message_from_bytes(r.data).walk() if p.get_content_type() == "text/html")
        assert list(dict.fromkeys(ABS.findall(html.get_payload(decode=True).decode()))) == picks[r.rcpt]
    duplicates = sum(len(ids) - 1 for ids in got.values())
    assert duplicates <= in_flight_events
    assert in_flight, "no kill landed while a message was in flight: the test exercised nothing"
    print(f"kills {kills}, runs that finished first {finished_early}, in flight at a kill {len(in_flight)}, "
          f"duplicates {duplicates}")
