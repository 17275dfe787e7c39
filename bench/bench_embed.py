"""Embedding 400 papers on this machine: the chosen settings vs. naive ones, measured in the same run.

Each setting runs in its own subprocess, so its peak RSS and model-load time are its own. Prints one row
per setting (load s, embed s, papers/s, CPU s, peak RSS) and the speed-up of the chosen settings; the
target is 400 papers in <= 15 s on 2 cores. CPU seconds are printed too because wall time on a shared
machine swings with its load, CPU time much less.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_embed.py
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N = 400
NAIVE_N = 100  # the naive setting is ~5x slower: measured on 100 papers, shown per paper and scaled to 400

# name -> (max tokens, fixed padding?, batch size, workers, intra-op threads, default session options?)
SETTINGS: dict[str, tuple[int, bool, int, int, int, bool]] = {
    "naive: pad to 256, batch 32, ORT defaults": (256, True, 32, 1, 0, True),
    "earlier: 128 tok, batch 32, 1 pass x 2 threads": (128, False, 32, 1, 2, False),
    "128 tok, batch 8, 2 passes x 1 thread": (128, False, 8, 2, 1, False),
    "chosen: 96 tok, batch 8, 2 passes x 1 thread": (96, False, 8, 2, 1, False),
}
CHOSEN = "chosen: 96 tok, batch 8, 2 passes x 1 thread"
BASELINE = "naive: pad to 256, batch 32, ORT defaults"


def corpus(n: int) -> list[str]:
    """n realistic paper texts: the 43 real ones of the ranking set and the sample day, then the same
    texts with their sentences rotated (same lengths, different token sequences)."""
    from newsletter.embeddings import paper_text
    from tests.ranking_eval import load_papers

    base = [paper_text(p) for p in load_papers()]
    out: list[str] = []
    for turn in range(n // len(base) + 1):
        for text in base:
            sentences = re.split(r"(?<=[.!?]) ", text)
            k = turn % max(1, len(sentences))
            out.append(" ".join(sentences[k:] + sentences[:k]))
    return out[:n]


def run_one(name: str) -> dict[str, float]:
    """One setting, in this (fresh) process."""
    from newsletter.embeddings import model as M

    max_tokens, fixed, batch, workers, threads, defaults = SETTINGS[name]
    texts = corpus(NAIVE_N if name == BASELINE else N)
    t0 = time.perf_counter()
    m = M.open_model(max(threads, 1), max_tokens)
    if defaults:
        import onnxruntime as ort

        m.session = ort.InferenceSession(str(M.model_path()), providers=["CPUExecutionProvider"])
    if fixed:
        m.tokenizer.enable_padding(length=max_tokens)
    load_s = time.perf_counter() - t0
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    vectors = M.embed(texts, batch_size=batch, model=m, workers=workers)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    scale = N / len(texts)
    return {"n": len(texts), "load_s": load_s, "wall_s": wall * scale, "cpu_s": cpu * scale,
            "rss_mb": r1.ru_maxrss / 1024, "dim": vectors.shape[1]}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(run_one(sys.argv[2])))
        return
    rows = {}
    for name in SETTINGS:
        r = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True, text=True, timeout=300)
        if r.returncode:
            sys.exit(f"{name}: failed\n{r.stderr}")
        rows[name] = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"{N} papers (title + abstract), {Path('/proc/loadavg').read_text().split()[0]} load average at the end")
    print(f"{'setting':48s} {'load s':>7s} {'embed s':>8s} {'papers/s':>9s} {'CPU s':>7s} {'peak RSS':>9s}")
    for name, r in rows.items():
        note = f"  (measured on {r['n']:.0f}, scaled)" if r["n"] != N else ""
        print(f"{name:48s} {r['load_s']:7.2f} {r['wall_s']:8.2f} {N / r['wall_s']:9.1f} {r['cpu_s']:7.2f} "
              f"{r['rss_mb']:7.0f}MB{note}")
    base, best = rows[BASELINE], rows[CHOSEN]
    print(f"chosen vs naive: {base['wall_s'] / best['wall_s']:.1f}x faster (wall), "
          f"{base['cpu_s'] / best['cpu_s']:.1f}x less CPU; target 400 papers <= 15 s: "
          f"{'met' if best['wall_s'] <= 15 else 'NOT met'} ({best['wall_s']:.1f} s)")


if __name__ == "__main__":
    main()
