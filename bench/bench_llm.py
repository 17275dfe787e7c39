"""Benchmark: the LLM stage of a day of 400 candidate papers against a stub answering after 0.5 s.

As built (concurrency [llm] concurrency=8, batch_size=10) vs the same code with concurrency 1 and
batch size 1, in one run. The serial baseline would take ~3.5 minutes, so its selection part is
measured on a subset of papers and scaled linearly (said so in the table); its analysis and
summary part is measured in full. Also: LLM calls of each, calls on a second run (target 0),
peak memory, and the critical path given concurrency and latency.

Run: .venv/bin/python bench/bench_llm.py [--papers 400] [--latency 0.5] [--subset 20]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.analyze import analyze_papers, summarize  # noqa: E402
from newsletter.llm import make_llm, run_sync  # noqa: E402
from newsletter.models import Edition, EditionEntry  # noqa: E402
from newsletter.select import select_papers  # noqa: E402
from newsletter.store import Store  # noqa: E402
from tests.servers.llm_server import LLMStub, make_config, make_papers  # noqa: E402

DAY = date(2026, 2, 9)


def quiet() -> None:
    import logging

    logging.getLogger("newsletter").setLevel(logging.ERROR)


def day(cfg, store, papers, run_no: int) -> tuple[float, dict]:
    """select → analyze → summary for one profile, as the pipeline runs them; returns wall time and stats."""
    llm = make_llm(cfg, store, run_no)
    llm.backoff = 0.05
    prof = cfg.profiles[0]
    t0 = time.perf_counter()
    scores = select_papers(store, cfg, prof, DAY, papers, llm=llm)
    t_select = time.perf_counter() - t0
    by_id = {p.id: p for p in papers}
    chosen = [by_id[s.paper_id] for s in scores]
    analyses = analyze_papers(store, cfg, prof.language, chosen, llm=llm)
    ed = Edition(date=DAY, profile=prof.name, language=prof.language, title=prof.title,
                 entries=[EditionEntry(paper=p, rank=i, analysis=analyses[p.id]) for i, p in enumerate(chosen, 1)])
    summarize(store, cfg, ed, llm=llm)
    wall = time.perf_counter() - t0
    kinds: dict[str, int] = {}
    for a in analyses.values():
        kinds[a.kind] = kinds.get(a.kind, 0) + 1
    return wall, {"select": t_select, "chosen": len(chosen), "chosen_ids": [p.id for p in chosen], "kinds": kinds,
                  **llm.stats()}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--papers", type=int, default=400)
    ap.add_argument("--latency", type=float, default=0.5)
    ap.add_argument("--subset", type=int, default=20, help="papers the serial baseline's selection is measured on")
    args = ap.parse_args()
    quiet()
    os.environ["NEWSLETTER_BENCH_LLM_KEY"] = "sk-bench"
    tmp = Path(tempfile.mkdtemp(prefix="bench_llm_"))

    with LLMStub() as stub:
        papers = make_papers(args.papers, stub)
        # warm-up: import litellm and open a connection before anything is timed
        wcfg = make_config(tmp / "warm", stub, api_key_env="NEWSLETTER_BENCH_LLM_KEY")
        warm = make_llm(wcfg, Store.open(":memory:"), 0)
        run_sync(lambda: warm.acomplete([{"role": "user", "content": "warm up"}]))
        stub.latency = args.latency

        # as built
        cfg = make_config(tmp / "built", stub, api_key_env="NEWSLETTER_BENCH_LLM_KEY", timeout=30)
        store = Store.open(cfg.store_path)
        store.upsert_papers(papers)
        stub.reset()
        rss_before = _peak_rss_mb()
        wall, st = day(cfg, store, papers, 1)
        rss_growth = _peak_rss_mb() - rss_before
        calls_built = len(stub.requests)
        stub.reset()
        wall2, st2 = day(cfg, store, papers, 2)
        calls_rerun = len(stub.requests)

        # baseline: concurrency 1, batch size 1 (selection on a subset, scaled; analysis + summary in full)
        bcfg = make_config(tmp / "base", stub, api_key_env="NEWSLETTER_BENCH_LLM_KEY", timeout=30,
                           concurrency=1, batch_size=1)
        bstore = Store.open(bcfg.store_path)
        subset = papers[: args.subset]
        bstore.upsert_papers(papers)
        stub.reset()
        llm = make_llm(bcfg, bstore, 1)
        t0 = time.perf_counter()
        select_papers(bstore, bcfg, bcfg.profiles[0], DAY, subset, llm=llm)
        t_sel_subset = time.perf_counter() - t0
        sel_calls_subset = len(stub.requests)
        by_id = {p.id: p for p in papers}
        chosen = [by_id[i] for i in st["chosen_ids"]]  # the same analysis work as the built run
        stub.reset()
        t0 = time.perf_counter()
        analyses = analyze_papers(bstore, bcfg, "zh", chosen, llm=llm)
        ed = Edition(date=DAY, profile="cv", language="zh", title="bench",
                     entries=[EditionEntry(paper=p, rank=i, analysis=analyses[p.id]) for i, p in enumerate(chosen, 1)])
        summarize(bstore, bcfg, ed, llm=llm)
        t_rest = time.perf_counter() - t0
        rest_calls = len(stub.requests)

    scale = args.papers / len(subset)
    base_wall = t_sel_subset * scale + t_rest
    base_calls = round(sel_calls_subset * scale) + rest_calls
    conc, batch, lat = cfg.llm.concurrency, cfg.llm.batch_size, args.latency
    critical = (math.ceil(math.ceil(args.papers / batch) / conc) + math.ceil(st["chosen"] / conc) + 1) * lat
    rss_mb = _peak_rss_mb()

    print(f"\nLLM stage, {args.papers} candidate papers (all past the keyword prefilter), "
          f"top {st['chosen']} analysed, stub latency {lat:.2f} s\n")
    print("| variant | LLM calls | wall time (s) | notes |")
    print("|---|---:|---:|---|")
    print(f"| as built (concurrency {conc}, batch {batch}) | {calls_built} | {wall:.2f} | "
          f"select {st['select']:.2f} s; analyses {st['kinds']}; critical path {critical:.2f} s |")
    print(f"| baseline (concurrency 1, batch 1) | {base_calls} | {base_wall:.1f} | estimated: selection measured on "
          f"{len(subset)} papers ({t_sel_subset:.1f} s, {sel_calls_subset} calls) × {scale:g}; analysis + summary "
          f"measured ({t_rest:.1f} s, {rest_calls} calls) |")
    print(f"| second run, as built | {calls_rerun} | {wall2:.2f} | cache hits {st2['cache_hits']} |")
    print()
    print(f"speed-up as built vs baseline: {base_wall / wall:.1f}× (target ≥ 20×)")
    print(f"as built vs critical path: {wall / critical:.2f}× (target ≤ 1.5×)")
    print(f"calls on the second run: {calls_rerun} (target 0)")
    print(f"peak memory: process peak RSS {rss_mb:.0f} MB (litellm and the stub server included); "
          f"the as-built run raised the peak by {rss_growth:.1f} MB")


if __name__ == "__main__":
    main()
