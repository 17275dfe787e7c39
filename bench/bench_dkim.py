"""Benchmark: the CPU cost of DKIM-signing each message, beside the cost of building it unsigned.

One edition (the realistic ~110 KB message of bench_send.py: CJK HTML and text) is built for N
readers: `build_unsigned` (the per-reader message the pool sends without [dkim]), then `build`
with [dkim] set (the same bytes signed by dkimpy, RSA-2048, relaxed/relaxed, 11 headers), and the
signature alone (dkimpy's sign over already built bytes). Single thread, in one run.
Usage: python bench/bench_dkim.py  (BENCH_QUICK=1 for a short run)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

N = 100 if os.environ.get("BENCH_QUICK") == "1" else 500


def main() -> None:
    from bench_send import _edition_html
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from newsletter.config import load_config
    from newsletter.deliver.message import MessageFactory
    from newsletter.models import Edition

    tmp = Path(tempfile.mkdtemp(prefix="bench_dkim_"))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp / "dkim.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    cfg = load_config(ROOT / "config.toml")
    cfg.smtp.from_ = "arXiv Daily <newsletter@news.example.org>"
    cfg.dkim.domain, cfg.dkim.selector, cfg.dkim.private_key_file = "news.example.org", "bench", str(tmp / "dkim.pem")
    html, text, md = _edition_html()
    ed = Edition(date=date(2026, 2, 9), profile="cv", language="zh", title="Arxiv Computer Vision Papers", id=1,
                 html=html, text=text, markdown=md)
    factory = MessageFactory(cfg, ed)
    readers = [(f"reader{i:05d}@example.org", f"读者 {i}", f"<m{i}@news.example.org>") for i in range(N)]

    def timed(fn) -> tuple[float, list[bytes]]:
        t = time.perf_counter()
        out = [fn(*r) for r in readers]
        return (time.perf_counter() - t) / N, out

    factory.build_unsigned(*readers[0])  # warm the skeleton cache, as the pool's first message does
    unsigned, built = timed(factory.build_unsigned)
    signed, _ = timed(factory.build)
    t = time.perf_counter()
    for data in built:
        factory.signer.sign(data)
    sign_only = (time.perf_counter() - t) / N
    size = len(built[0]) / 1024
    print(f"\nbench_dkim: {N} readers, message {size:.0f} KB, RSA-2048 with dkimpy (relaxed/relaxed, 11 headers)")
    print(f"{'step':<34} {'ms per message':>15} {'msgs/s (1 core)':>16}")
    for name, secs in (("build, unsigned (baseline)", unsigned), ("build + DKIM signature", signed),
                       ("DKIM signature alone", sign_only)):
        print(f"{name:<34} {secs * 1000:>15.2f} {1 / secs:>16.0f}")
    print(f"ratio signed / unsigned build = {signed / unsigned:.1f}x; the signature is "
          f"{100 * sign_only / signed:.0f}% of a signed message's CPU")


if __name__ == "__main__":
    main()
