"""Render once vs. personalise per recipient: the reference day, 10,000 recipients.

Prints a table and the ratio (full render time / per-recipient personalisation time);
the target is personalisation at least 100x cheaper than a render. Each reader's own issue
(their papers of the edition, assembled from the render's parts with their signed feedback
links, then personalised) is timed the same way: the target is 0.3 ms per reader of ten papers.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.assembly import Parts, assemble  # noqa: E402
from newsletter.config import Config  # noqa: E402
from newsletter.deliver.tokens import feedback_url, make_feedback_token  # noqa: E402
from newsletter.render import personalize, render_edition  # noqa: E402
from newsletter.render.markdown import parse_markdown, render_markdown  # noqa: E402

REFERENCE = ROOT / "tests" / "data" / "arxiv_cv_report_2026-02-09.md"
RECIPIENTS = 10_000
READERS = 2_000
RENDERS = 3


def main() -> None:
    cfg = Config.model_validate({
        "profiles": [{"name": "cv", "categories": ["cs.CV"], "language": "zh"}],
        "web": {"public_url": "https://news.example.org"},
    })
    ed = parse_markdown(REFERENCE.read_text(encoding="utf-8"), profile="cv", language="zh")
    render_edition(ed, cfg)  # warm-up: imports, template compilation

    t0 = time.perf_counter()
    for _ in range(RENDERS):
        md = render_markdown(ed)
    t_md = (time.perf_counter() - t0) / RENDERS

    t0 = time.perf_counter()
    for _ in range(RENDERS):
        out = render_edition(ed, cfg)
    t_render = (time.perf_counter() - t0) / RENDERS

    t0 = time.perf_counter()
    total = 0
    for i in range(RECIPIENTS):
        url = f"https://news.example.org/unsubscribe?token=tok{i:08d}abcdefghijklmnopqrstuvwxyz"
        h = personalize(out.html, name=f"Reader {i}", unsubscribe_url=url, html=True)
        t = personalize(out.text, name=f"Reader {i}", unsubscribe_url=url, html=False)
        total += len(h) + len(t)
    t_all = time.perf_counter() - t0
    t_one = t_all / RECIPIENTS

    mine = render_edition(ed, cfg, reader_max=10)  # every reader has their own ten (feedback links reserved)
    parts = Parts.from_json(mine.parts)
    rnd = random.Random(1)
    picks = [rnd.sample(parts.ids, len(parts.ids)) for _ in range(READERS)]
    def signer(email: str):
        def fb(pid: str, vote: int) -> str:
            return feedback_url("https://news.example.org", make_feedback_token(b"k" * 32, email, "cv", pid, vote))
        return fb

    t0 = time.perf_counter()
    signed = [{(p, v): signer(f"reader{i}@example.org")(p, v) for p in ids for v in (1, -1)}
              for i, ids in enumerate(picks)]
    t_sign = (time.perf_counter() - t0) / READERS
    t0 = time.perf_counter()
    for ids, urls in zip(picks, signed, strict=True):
        a = assemble(parts, ids, lambda p, v, urls=urls: urls[(p, v)])
    t_asm = (time.perf_counter() - t0) / READERS
    t0 = time.perf_counter()
    for ids in picks:
        assemble(parts, ids)
    t_join = (time.perf_counter() - t0) / READERS

    rows = [
        ("markdown render (reference day)", f"{t_md * 1000:9.2f} ms", f"{len(md.encode()) / 1024:.0f} KB"),
        ("full render: md + MJML + premailer + text", f"{t_render * 1000:9.2f} ms",
         f"html {out.html_size / 1024:.1f} KB, allowance {out.allowance}"),
        (f"personalise html+text x {RECIPIENTS:,}", f"{t_all * 1000:9.2f} ms", f"{total / 2**20:.0f} MB produced"),
        ("personalise one recipient", f"{t_one * 1e6:9.2f} µs", ""),
        ("render with readers of 10 (parts)", "", f"worst reader {mine.worst_size / 1024:.1f} KB on the wire, "
         f"parts {len(mine.parts.encode()) / 1024:.0f} KB"),
        ("assemble one reader: 10 papers + 20 feedback links", f"{t_asm * 1e6:9.2f} µs",
         f"html {len(a.html.encode()) / 1024:.0f} KB + text"),
        ("assemble one reader, no feedback links", f"{t_join * 1e6:9.2f} µs", ""),
        ("sign one reader's 20 feedback tokens (deliver)", f"{t_sign * 1e6:9.2f} µs", "HMAC-SHA256 each"),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"{'step':<{w}}  {'time':>12}  notes")
    for name, tm, note in rows:
        print(f"{name:<{w}}  {tm:>12}  {note}")
    ratio = t_render / t_one
    print(f"ratio: full render / per-recipient personalisation = {ratio:,.0f}x (target >= 100x)"
          f" {'OK' if ratio >= 100 else 'BELOW TARGET'}")
    print(f"ratio: full render / per-reader assembly = {t_render / t_asm:,.0f}x;"
          f" assembly {t_asm * 1e3:.3f} ms per reader (target <= 0.3 ms) {'OK' if t_asm <= 3e-4 else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
