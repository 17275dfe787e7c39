"""Render once vs. personalise per recipient: the reference day, 10,000 recipients.

Prints a table and the ratio (full render time / per-recipient personalisation time);
the target is personalisation at least 100x cheaper than a render.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.config import Config  # noqa: E402
from newsletter.render import personalize, render_edition  # noqa: E402
from newsletter.render.markdown import parse_markdown, render_markdown  # noqa: E402

REFERENCE = ROOT / "tests" / "data" / "arxiv_cv_report_2026-02-09.md"
RECIPIENTS = 10_000
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

    rows = [
        ("markdown render (reference day)", f"{t_md * 1000:9.2f} ms", f"{len(md.encode()) / 1024:.0f} KB"),
        ("full render: md + MJML + premailer + text", f"{t_render * 1000:9.2f} ms",
         f"html {out.html_size / 1024:.1f} KB, allowance {out.allowance}"),
        (f"personalise html+text x {RECIPIENTS:,}", f"{t_all * 1000:9.2f} ms", f"{total / 2**20:.0f} MB produced"),
        ("personalise one recipient", f"{t_one * 1e6:9.2f} µs", ""),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"{'step':<{w}}  {'time':>12}  notes")
    for name, tm, note in rows:
        print(f"{name:<{w}}  {tm:>12}  {note}")
    ratio = t_render / t_one
    print(f"ratio: full render / per-recipient personalisation = {ratio:,.0f}x (target >= 100x)"
          f" {'OK' if ratio >= 100 else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
