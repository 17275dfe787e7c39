"""Benchmark: sending one edition to 10,000 recipients through a relay with a 5 ms round trip.

The sink runs in its own process and answers every SMTP reply (banner included) after 5 ms, like
a relay across a network. Measured in one run:

  pool 4 (default) and pool 8: `send_edition` as in production (ledger, per-recipient messages
                               built from the rendered edition, reused connections)
  baseline:                    the reference system's way: one new connection per message, one
                               after another (same message builder, no ledger); measured on the
                               first BASELINE recipients because it is slow, reported as msgs/s

Also the peak RSS of the process after the sends, and that litellm was never imported.
Usage: python bench/bench_send.py  (BENCH_QUICK=1 for a short run)
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import resource
import smtplib
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUICK = os.environ.get("BENCH_QUICK") == "1"
N = 2_000 if QUICK else 10_000
BASELINE = 200 if QUICK else 1_000
DELAY = 0.005


def _sink(port_out, delay: float) -> None:
    """A minimal SMTP responder: every reply after `delay`; messages are read and discarded."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def reply(data: bytes) -> None:
            await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()

        try:
            await reply(b"220 bench ESMTP\r\n")
            while line := await reader.readline():
                cmd = line[:4].upper()
                if cmd == b"EHLO":
                    await reply(b"250-bench\r\n250-8BITMIME\r\n250 SIZE 50000000\r\n")
                elif cmd in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                    await reply(b"250 OK\r\n")
                elif cmd == b"DATA":
                    await reply(b"354 go ahead\r\n")
                    await reader.readuntil(b"\r\n.\r\n")
                    await reply(b"250 2.0.0 queued\r\n")
                elif cmd == b"QUIT":
                    await reply(b"221 bye\r\n")
                    break
                else:
                    await reply(b"500 unknown command\r\n")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=2**24)
        port_out.put(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _edition_html() -> tuple[str, str, str]:
    """A realistic rendered edition: ~70 KB of inlined HTML with CJK text, a text part, Markdown."""
    para = ("<tr><td style=\"font-family:-apple-system,'PingFang SC',sans-serif;font-size:15px;"
            "line-height:1.6;color:#222;padding:4px 0\">本文提出了一种用于视频生成的扩散模型，"
            "在 3D Gaussian Splatting 基准上取得了显著提升 (PSNR +1.2 dB)。方法：时空注意力与蒸馏。"
            "</td></tr>\n")
    html = ("<!doctype html><html><body><table>"
            "<tr><td>%%NL_NAME%%，您好</td></tr>" + para * 230
            + '<tr><td><a href="%%NL_UNSUBSCRIBE_URL%%">退订</a></td></tr></table></body></html>')
    text = "%%NL_NAME%%，您好\n\n" + "本文提出了一种用于视频生成的扩散模型，在基准上取得了显著提升。\n" * 150
    text += "\n退订: %%NL_UNSUBSCRIBE_URL%%\n"
    md = "# Arxiv Computer Vision Papers - 2026-02-09\n\n" + "本文提出了一种扩散模型。\n" * 300
    return html, text, md


def main() -> None:
    from newsletter.config import load_config
    from newsletter.deliver import send_edition
    from newsletter.deliver.message import MessageFactory
    from newsletter.models import Edition, Subscriber
    from newsletter.store import Store

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    sink = ctx.Process(target=_sink, args=(q, DELAY), daemon=True)
    sink.start()
    port = q.get(timeout=30)
    tmp = Path(tempfile.mkdtemp(prefix="bench_send_"))
    cfg = load_config(ROOT / "config.toml")
    cfg.store.path = str(tmp / "bench.db")
    cfg.smtp.host, cfg.smtp.port, cfg.smtp.security = "127.0.0.1", port, "none"
    cfg.web.public_url = ""
    store = Store.open(cfg.store_path)
    html, text, md = _edition_html()
    subs = [Subscriber(email=f"reader{i:05d}@example.org", name=f"读者 {i}", profiles=["cv"]) for i in range(N)]
    rows = []
    try:
        for n, pool in enumerate((4, 8)):
            day = date(2026, 2, 9) + timedelta(days=n)
            ed = Edition(date=day, profile="cv", language="zh", title=f"Arxiv Computer Vision Papers - {day}")
            store.save_selection(ed, [])
            store.update_edition(ed.id, html=html, text=text, markdown=md, status="rendered")
            ed = store.get_edition(day, "cv")
            cfg.smtp.pool_size = pool
            t = time.perf_counter()
            report = send_edition(store, cfg, ed, subs)
            secs = time.perf_counter() - t
            assert report.counts()["sent"] == N, report.counts()
            rows.append((f"pool of {pool}" + (" (default)" if pool == 4 else ""), N, secs, N / secs))
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        # baseline: a new connection per message, sequentially, same message builder
        factory = MessageFactory(cfg, ed)
        t = time.perf_counter()
        for i, s in enumerate(subs[:BASELINE]):
            data = factory.build(s.email, s.name, f"<base.{i}@localhost>")
            conn = smtplib.SMTP("127.0.0.1", port, local_hostname="localhost", timeout=30)
            conn.sendmail("newsletter@localhost", [s.email], data)
            conn.quit()
        secs = time.perf_counter() - t
        rows.append(("new connection per message", BASELINE, secs, BASELINE / secs))
        size_kb = len(factory.build(subs[0].email, subs[0].name, "<size@localhost>")) / 1024
    finally:
        store.close()
        sink.terminate()
    base = rows[-1][3]
    print(f"\nbench_send: {N} recipients, relay round trip {DELAY * 1000:.0f} ms per reply, "
          f"message {size_kb:.0f} KB (HTML {len(html.encode()) // 1024} KB before encoding)")
    print(f"{'method':<30} {'messages':>9} {'seconds':>9} {'msgs/s':>9} {'vs baseline':>12}")
    for name, n, secs, rate in rows:
        print(f"{name:<30} {n:>9} {secs:>9.1f} {rate:>9.1f} {rate / base:>11.1f}x")
    print(f"peak RSS of the sending process: {peak_mb:.0f} MB (target <= 150 MB); "
          f"litellm imported: {'litellm' in sys.modules}")
    ratio4, ratio8 = rows[0][3] / base, rows[1][3] / base
    print(f"ratio pool 4 / baseline = {ratio4:.1f}x (target >= 5x); pool 8 / baseline = {ratio8:.1f}x "
          "(target >= 10x)")


if __name__ == "__main__":
    main()
