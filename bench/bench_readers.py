"""Per-reader issues at scale (issue 12's performance section): 10,000 readers over a 400-paper day.

One run prints one table and a line per target:

- embedding the day's 400 papers (`ensure_vectors`, model load included) on this 2-core machine: <= 15 s;
- per reader, with every vector cached: ranking (`choose_for_readers` for all readers at once), the union
  (`picks.union_order`), ONE `render_edition(..., reader_max=...)` of the union and one
  `MessageFactory.build` per reader (`[web] public_url` and the secret set, so each message carries its
  signed unsubscribe and feedback links): <= 1 ms per reader (<= 10 s for 10,000);
- that vs. rendering each reader's issue from scratch (an edition of only their papers through
  `render_edition`, MJML + premailer, then a build; timed on a handful of readers): >= 100x;
- peak RSS of that phase <= 300 MB, measured in a child process that only loads vectors from the store
  (it checks onnxruntime was never imported);
- LLM calls: the analyze stage for the union, against the local OpenAI-compatible stub
  (tests/servers/llm_server.py, PDFs served by it too): analysis calls = distinct papers chosen, vs. the
  naive per-reader cost (one analysis per reader and pick).

Each step runs in a child process of this one (which stays small: a child's ru_maxrss starts from its
parent's RSS at spawn), on one temporary store. Wall and CPU seconds are both printed: the machine is
shared, and wall time swings with what else runs (the load average is printed too). Render's imports and
template compilation are done before the clock, as bench_render.py does, and shown on their own row.
The baseline is the fastest of the readers it is timed on. Papers are the 43 real abstracts of tests/data/ranking/
with their sentences rotated (400 texts, like bench_embed.py's corpus), embedded by the real model.
Readers' texts are all distinct (pairs of the graded interests with varied openings and endings);
a third have a keyword, one in 50 an author, one in 20 a vote, each had 5 of the day's papers in an
earlier edition, and they want 5-15 papers. Embedding 10,000 reader texts is a one-time cost (the
pipeline keeps them in `reader_vectors` until a reader's words change): it is measured the first time
and the vectors kept in var/bench/ for the next runs, which print the measured cost again.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_readers.py [--quick] [--readers N] [--papers N] [--baseline N]

`--quick` (or BENCH_QUICK=1): 1,000 readers over 100 papers, ~40 s; the targets are for 10,000 x 400.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CACHE = ROOT / "var" / "bench" / "reader-vectors.npz"
TODAY, BEFORE = date(2026, 2, 9), date(2026, 2, 6)
KEY_ENV, SECRET_ENV = "NEWSLETTER_BENCH_LLM_KEY", "NEWSLETTER_BENCH_SECRET"
PUBLIC_URL = "https://news.example.org"
WORDS = ["diffusion", "robot", "quantization", "segmentation", "LiDAR", "Gaussian splatting", "transformer",
         "video generation", "point cloud", "low-rank adaptation"]


# -- the day, the readers, the configuration (the same in every process) -------------------------


def config(tmp: Path, api_base: str = ""):
    from newsletter.config import Config

    return Config.model_validate({
        "store": {"path": str(tmp / "bench.db")}, "base_dir": str(tmp), "source": str(tmp / "config.toml"),
        "web": {"public_url": PUBLIC_URL, "unsubscribe_secret_env": SECRET_ENV},
        "smtp": {"from": "arXiv Daily <news@example.org>"},
        "llm": {"model": "openai/stub-model" if api_base else "", "api_base": api_base, "api_key_env": KEY_ENV,
                "timeout": 60, "max_retries": 1, "max_cost_usd": 0,
                "fulltext_per_day": 10_000, "abstract_per_day": 10_000},  # no cap: every paper is analysed
        "profiles": [{
            "name": "cv", "title": "arXiv Computer Vision", "categories": ["cs.CV"], "language": "zh", "top_n": 10,
            "keywords": {"primary": ["video generation", "diffusion", "3D", "Gaussian Splatting", "vision-language"],
                         "secondary": ["transformer", "compression", "efficient", "robot"], "exclude": ["survey"]}}],
    })


def day(n: int) -> list:
    """n papers: the 43 real abstracts, sentences rotated once per round (as bench_embed.py's corpus)."""
    from newsletter.models import Paper  # noqa: F401  (the type)
    from tests.ranking_eval import load_papers

    base = load_papers()
    out = []
    for i in range(n):
        p = base[i % len(base)]
        sentences = re.split(r"(?<=[.!?]) ", p.abstract)
        k = (i // len(base)) % max(1, len(sentences))
        out.append(replace(p, id=f"2701.{i:05d}", abstract=" ".join(sentences[k:] + sentences[:k]),
                           categories=["cs.CV"], primary_category="cs.CV",
                           authors=[f"Author {i}", f"Writer {i % 97}", "Song Han" if i % 40 == 0 else "Ji Lin"]))
    return out


def readers(n: int) -> list:
    from newsletter.models import Subscriber
    from tests.ranking_eval import load_queries

    texts = [q.text for q in load_queries()]
    heads = ["", "mostly ", "anything on ", "new work on "]
    tails = ["", " for real-time use", " with little labelled data", " on mobile devices", ", theory and practice",
             ", benchmarks and datasets"]
    extra = ["", " (and graphs)", " in medicine", " at scale", " for science"]
    combos = itertools.product(extra, heads, tails, itertools.combinations(texts, 2))
    out = []
    for i, (x, h, t, (a, b)) in enumerate(itertools.islice(combos, n)):
        out.append(Subscriber(f"reader{i}@example.org", name=f"Reader {i}", profiles=["cv"],
                              interests=f"{h}{a}; {b}{t}{x}", max_papers=5 + i % 11,
                              keywords=[WORDS[i % len(WORDS)]] if i % 3 == 0 else [],
                              authors=["S. Han"] if i % 50 == 0 else []))
    if len(out) < n:
        sys.exit(f"only {len(out)} distinct reader texts")
    return out


def default_ids(pool: list) -> list[str]:
    """The profile's own selection (what select_papers ranks; here simply the first ten)."""
    return [p.id for p in pool[:10]]


def peak_mb() -> dict[str, float]:
    """ru_maxrss, and VmHWM (this process's own high-water mark, whatever its parent's size)."""
    hwm = next((int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM:")), 0)
    return {"ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "vmhwm_mb": hwm / 1024}


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Clock:
    """Wall and CPU seconds of each named step (`with clock("rank"): ...`); CPU time says what this
    process used, whatever else the shared machine was doing."""

    def __init__(self) -> None:
        self.t: dict[str, tuple[float, float]] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        w, c = time.perf_counter(), time.process_time()
        yield
        self.t[name] = (time.perf_counter() - w, time.process_time() - c)


# -- the steps, each in its own process -------------------------------------------------------------


def step_setup(tmp: Path, a: dict) -> dict:
    """The store: the day's papers, an earlier edition (5 of today's papers per reader), votes."""
    from newsletter.models import Edition
    from newsletter.store import Store

    cfg = config(tmp)
    store = Store.open(cfg.store_path)
    pool, subs = day(a["papers"]), readers(a["readers"])
    store.upsert_papers(pool)
    n = len(pool)
    before = store.save_selection(Edition(date=BEFORE, profile="cv", language="zh", title="t"), [])
    store.save_picks(before, {s.email: [pool[(i * 7 + j) % n].id for j in range(5)] for i, s in enumerate(subs)})
    for i, s in enumerate(subs[::20]):
        store.put_vote(s.email, "cv", pool[(i * 13) % n].id, 1 if i % 2 else -1)
    store.close()
    return {}


def step_embed(tmp: Path, a: dict) -> dict:
    """The day's papers embedded once (`ensure_vectors`: what the select stage calls), model load included."""
    from newsletter.embeddings import ensure_vectors
    from newsletter.store import Store

    store = Store.open(config(tmp).store_path)
    pool = day(a["papers"])
    c0, t0 = cpu_s(), time.perf_counter()
    vectors = ensure_vectors(store, pool)
    wall = time.perf_counter() - t0
    assert len(vectors) == len(pool)
    store.close()
    return {"wall": wall, "cpu": cpu_s() - c0, **peak_mb()}


def step_reader_vectors(tmp: Path, a: dict) -> dict:
    """Every reader's vector in the store: from var/bench/ when an earlier run embedded that text, else
    embedded now by the library (`reader_vectors`, which stores them) and added to var/bench/."""
    import numpy as np

    from newsletter.embeddings import MODEL_ID
    from newsletter.select.readers import reader_text, reader_vectors, text_hash
    from newsletter.store import Store

    cfg = config(tmp)
    store = Store.open(cfg.store_path)
    profile, subs = cfg.profiles[0], readers(a["readers"])
    hashes = {s.email: text_hash(reader_text(s, profile)) for s in subs}
    cached: dict[str, np.ndarray] = {}
    meta = {"model": MODEL_ID, "texts": 0, "seconds": 0.0, "measured": ""}
    if CACHE.is_file():
        with np.load(CACHE) as z:
            m = json.loads(str(z["meta"]))
            if m.get("model") == MODEL_ID:
                meta, cached = m, dict(zip(z["hashes"].tolist(), z["vectors"], strict=True))
    store.put_reader_vectors(MODEL_ID, {e: (h, cached[h]) for e, h in hashes.items() if h in cached})
    t0 = time.perf_counter()
    _, fresh = reader_vectors(store, profile, subs)
    wall = time.perf_counter() - t0
    if fresh:
        got = store.reader_vectors_by_hash(MODEL_ID, sorted(set(hashes.values())))
        cached.update(got)
        meta = {"model": MODEL_ID, "texts": meta["texts"] + fresh, "seconds": meta["seconds"] + wall,
                "measured": time.strftime("%Y-%m-%d")}
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(cached)
        with open(CACHE.with_suffix(".tmp"), "wb") as f:
            np.savez(f, hashes=np.array(keys), vectors=np.stack([cached[k] for k in keys]), meta=json.dumps(meta))
        CACHE.with_suffix(".tmp").replace(CACHE)
    store.close()
    return {"fresh": fresh, "wall": wall, "per_text": meta["seconds"] / max(1, meta["texts"]),
            "measured": meta["measured"], "distinct": len(set(hashes.values()))}


def step_llm(tmp: Path, a: dict) -> dict:
    """Select (the readers' picks and their union, saved as the pipeline's select stage saves them), then
    the analyze stage for the union with the LLM at the local stub, and the executive summary."""
    import logging

    from newsletter.analyze import DayBudget, analyze_papers, summarize
    from newsletter.llm import make_llm, run_sync
    from newsletter.models import Edition
    from newsletter.picks import union_order
    from newsletter.select import choose_for_readers
    from newsletter.store import Store
    from tests.servers.llm_server import LLMStub, kind_of, paper_pdf

    logging.getLogger("newsletter").setLevel(logging.ERROR)
    with LLMStub() as stub:
        cfg = config(tmp, stub.api_base)
        store = Store.open(cfg.store_path)
        profile, subs = cfg.profiles[0], readers(a["readers"])
        pool = [replace(p, pdf_url=stub.pdf_url(p.id)) for p in day(a["papers"])]
        for p in pool:
            stub.pdfs[p.id] = paper_pdf(p.id, p.title, n_lines=25)
        store.upsert_papers(pool)
        default = default_ids(pool)
        picks = {e: ids for e, ids in choose_for_readers(store, cfg, profile, subs, pool, default).items() if ids}
        union = union_order(default, picks)
        eid = store.save_selection(Edition(date=TODAY, profile="cv", language="zh", title=f"{profile.title} - "
                                           f"{TODAY.isoformat()}"), union)
        store.save_picks(eid, picks)

        llm = make_llm(cfg, store, 1)
        run_sync(lambda: llm.acomplete([{"role": "user", "content": "warm up"}]))  # import litellm, connect
        stub.reset()
        by_id = {p.id: p for p in pool}
        default_caps = DayBudget(40, 100).routes("zh", union)  # what the shipped [llm] caps would allow
        routes = DayBudget(cfg.llm.fulltext_per_day, cfg.llm.abstract_per_day).routes("zh", union)
        t0 = time.perf_counter()
        analyses = analyze_papers(store, cfg, "zh", [by_id[i] for i in union], llm=llm, routes=routes)
        wall = time.perf_counter() - t0
        calls = [kind_of(r.body) for r in stub.chat_requests()]
        ed = store.get_edition(TODAY, "cv")
        summary = summarize(store, cfg, ed, llm=llm)
        store.update_edition(eid, summary=summary, status="analyzed")
        store.close()
    kinds: dict[str, int] = {}
    for x in analyses.values():
        kinds[x.kind] = kinds.get(x.kind, 0) + 1
    return {"distinct": len(union), "calls": len(calls), "by_kind": {k: calls.count(k) for k in set(calls)},
            "analyses": kinds, "wall": wall, "naive": sum(len(ids) for ids in picks.values()),
            "capped_calls": sum(1 for r in default_caps.values() if r != "extractive"),
            "summary_calls": len(stub.chat_requests()) - len(calls)}


def step_phase(tmp: Path, a: dict) -> dict:
    """Rank, union, one render, a message per reader: timed; then peak RSS; then the from-scratch baseline."""
    from newsletter.assembly import assemble_wire
    from newsletter.deliver.message import new_message_id
    from newsletter.deliver.send import message_factory
    from newsletter.picks import union_order
    from newsletter.render import render_edition
    from newsletter.select import choose_for_readers
    from newsletter.store import Store

    cfg = config(tmp)
    store = Store.open(cfg.store_path)
    profile, subs = cfg.profiles[0], readers(a["readers"])
    pool = store.get_papers([p.id for p in day(a["papers"])])
    default = default_ids(pool)
    eid = store.get_edition(TODAY, "cv", with_papers=False).id
    mids = [new_message_id("example.org") for _ in subs]
    clock = Clock()
    with clock("warmup"):  # imports, template compilation: once per process (bench_render.py does the same)
        first = store.get_edition(TODAY, "cv")
        render_edition(replace(first, entries=first.entries[:1]), cfg)

    with clock("rank"):
        picks = choose_for_readers(store, cfg, profile, subs, pool, default, edition_id=eid)
    with clock("union"):
        picks = {e: ids for e, ids in picks.items() if ids}
        union = union_order(default, picks)
    with clock("load"):
        ed = store.get_edition(TODAY, "cv")  # the union with its analyses, as the select and analyze stages left it
    assert [e.paper.id for e in ed.entries] == union and store.get_picks(eid) == picks, "not the run's selection"
    assert all(e.analysis for e in ed.entries)
    with clock("render"):
        out = render_edition(ed, cfg, reader_max=max(len(ids) for ids in picks.values()))
    ed.html, ed.text, ed.parts, ed.markdown = out.html, out.text, out.parts, out.markdown
    size = 0
    with clock("build"):
        factory = message_factory(cfg, ed, picks)
        for s, mid in zip(subs, mids, strict=True):
            size += len(factory.build(s.email, s.name, mid, eightbit=True))
    rss = peak_mb()
    model_loaded = "onnxruntime" in sys.modules
    check = factory.build(subs[0].email, subs[0].name, mids[0], eightbit=True).decode()
    assert check.count(f"{PUBLIC_URL}/feedback/") >= 2 * min(len(picks[subs[0].email]), out.max_cards or 99), \
        "no signed feedback links"

    sample = subs[:1000]  # a server without 8BITMIME: quoted-printable or base64 per message
    with clock("7bit"):
        for s, mid in zip(sample, mids, strict=False):
            factory.build(s.email, s.name, mid, eightbit=False)
    with clock("assemble"):  # the reader's issue alone (their papers, signed links, name): what a render makes
        for s in sample:
            https, mailto = factory.unsubscribe_urls(s.email)
            assemble_wire(factory.wire, picks[s.email], functools.partial(factory.feedback_for, s.email),
                          name=s.name, unsubscribe_url=https or mailto, email=s.email)

    # baseline: each reader's issue rendered from scratch (an edition of only their papers), then built
    by_id = {e.paper.id: e for e in ed.entries}
    base = []
    for s in subs[: a["baseline"]]:
        ids = picks[s.email]
        with clock("baseline render"):
            mine = replace(ed, entries=[replace(by_id[i], rank=r) for r, i in enumerate(ids, 1)], parts="")
            own = render_edition(mine, cfg, reader_max=len(ids))
        with clock("baseline build"):
            mine.html, mine.text, mine.parts, mine.markdown = own.html, own.text, own.parts, own.markdown
            message_factory(cfg, mine, {s.email: ids}).build(s.email, s.name, mids[0], eightbit=True)
        base.append((clock.t["baseline render"], clock.t["baseline build"]))
    store.close()
    for k in ("7bit", "assemble"):
        clock.t[k] = tuple(x / len(sample) for x in clock.t[k])
    # the fastest reader's: the baseline at its best
    clock.t["baseline render"], clock.t["baseline build"] = min(base, key=lambda rb: rb[0][0] + rb[1][0])
    return {"t": clock.t, "papers": len(union), "reader_max": max(len(v) for v in picks.values()),
            "mean_picks": sum(len(v) for v in picks.values()) / len(picks), "worst_kb": out.worst_size / 1024,
            "allowance": out.allowance, "max_cards": out.max_cards, "mb_out": size / 2**20,
            "model_loaded": model_loaded, "baselines": len(base), **rss}


STEPS = {"setup": step_setup, "embed": step_embed, "readers": step_reader_vectors, "llm": step_llm,
         "phase": step_phase}


def child(step: str, tmp: Path, a: dict) -> dict:
    env = {**os.environ, KEY_ENV: "sk-bench", SECRET_ENV: "bench-secret-" + "x" * 32,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, __file__, "--child", step, str(tmp), json.dumps(a)], env=env,
                       capture_output=True, text=True, timeout=900)
    if r.returncode:
        sys.exit(f"step {step} failed:\n{r.stderr[-4000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# -- the report -------------------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(STEPS[sys.argv[2]](Path(sys.argv[3]), json.loads(sys.argv[4]))))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1,000 readers over 100 papers (a smoke run)")
    ap.add_argument("--readers", type=int)
    ap.add_argument("--papers", type=int)
    ap.add_argument("--baseline", type=int, default=5, help="readers the from-scratch baseline is timed on")
    args = ap.parse_args()
    quick = args.quick or bool(os.environ.get("BENCH_QUICK"))
    a = {"readers": args.readers or (1_000 if quick else 10_000), "papers": args.papers or (100 if quick else 400),
         "baseline": min(args.baseline, 2) if quick else args.baseline}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_readers_") as d:
        tmp = Path(d)
        child("setup", tmp, a)
        emb = child("embed", tmp, a)
        rv = child("readers", tmp, a)
        llm = child("llm", tmp, a)
        ph = child("phase", tmp, a)
    report(a, emb, rv, llm, ph, time.perf_counter() - started)


def report(a: dict, emb: dict, rv: dict, llm: dict, ph: dict, total: float) -> None:
    n, p, t = a["readers"], a["papers"], ph["t"]
    phase = ("rank", "union", "load", "render", "build")
    per = [sum(t[k][i] for k in phase) / n for i in (0, 1)]  # wall, CPU per reader
    ours = [(t["render"][i] + t["build"][i]) / n for i in (0, 1)]  # one render + assemble + build, per reader
    issue = [t["render"][i] / n + t["assemble"][i] for i in (0, 1)]  # one render + assembly only, per reader
    base = [t["baseline render"][i] + t["baseline build"][i] for i in (0, 1)]
    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"{n:,} readers, each with their own words, x {p} papers: {ph['papers']} distinct papers chosen, "
          f"{ph['mean_picks']:.1f} per reader on average (at most {ph['reader_max']}; {ph['max_cards']} as full cards); "
          f"load average {load} on {os.cpu_count()} cores")
    print(f"{'step':66s} {'wall s':>7s} {'CPU s':>7s} {'wall ms/rd':>10s} {'CPU ms/rd':>9s}")

    def row(name: str, wall: float, cpu: float | None = None, per_reader: bool = True) -> None:
        c = f"{cpu:7.2f}" if cpu is not None else f"{'':7s}"
        r = f" {wall / n * 1000:10.3f} {(cpu or 0) / n * 1000:9.3f}" if per_reader else ""
        print(f"{name:66s} {wall:7.2f} {c}{r}")

    row(f"embed {p} papers (ensure_vectors, model load included)", emb["wall"], emb["cpu"], False)
    row(f"embed {rv['distinct']:,} reader texts (one-time; " + (f"{rv['fresh']:,} new now)" if rv["fresh"] else
        f"measured {rv['measured']}, kept in var/bench/)"), rv["per_text"] * rv["distinct"], None, False)
    row("render's imports and templates (once per process, before the clock)", *t["warmup"], False)
    row(f"rank: choose_for_readers, {n:,} readers, vectors cached", *t["rank"])
    row("union of the picks (picks.union_order)", *t["union"])
    row("load the edition and its analyses (store)", *t["load"])
    row(f"ONE render_edition, {ph['papers']} papers, reader_max={ph['reader_max']}", *t["render"])
    row(f"assemble + build {n:,} messages (signed links, 8BITMIME)", *t["build"])
    row("  total per reader (the five rows above)", per[0] * n, per[1] * n)
    row("  of which assembling the reader's issue (1,000 timed, x n)", t["assemble"][0] * n, t["assemble"][1] * n)
    row("  a message for a server without 8BITMIME (1,000 timed, x n)", t["7bit"][0] * n, t["7bit"][1] * n)
    row(f"baseline: each reader's issue rendered from scratch (x {n:,})", t["baseline render"][0] * n,
        t["baseline render"][1] * n)
    row("  and its message built (x n)", t["baseline build"][0] * n, t["baseline build"][1] * n)
    row(f"LLM stage: analyze the {llm['distinct']} distinct papers (stub, 0 s latency)", llm["wall"], None, False)
    ok = lambda c: "met" if c else "NOT MET"  # noqa: E731
    scale = "" if n >= 10_000 and p >= 400 else " (a smaller run: the targets are for 10,000 x 400)"
    print(f"- embedding {p} papers: {emb['wall']:.1f} s wall, {emb['cpu']:.1f} s CPU, peak {emb['vmhwm_mb']:.0f} MB; "
          f"target <= 15 s for 400: " + (ok(emb["wall"] <= 15) if p >= 400 else "n/a (quick run)"))
    print(f"- per reader, rank to message: {per[0] * 1000:.3f} ms wall ({per[0] * n:.1f} s for {n:,}), "
          f"{per[1] * 1000:.3f} ms CPU; target <= 1 ms: {ok(per[0] <= 1e-3)}{scale}")
    print(f"- per reader, from scratch (render + build) vs one render + build: {base[0] * 1000:.1f} vs "
          f"{ours[0] * 1000:.3f} ms = {base[0] / ours[0]:,.0f}x faster wall, {base[1] / ours[1]:,.0f}x CPU; target >= "
          f"100x: {ok(base[0] / ours[0] >= 100)}{scale}. The issue alone (render from scratch vs one render + "
          f"assembly): {t['baseline render'][0] * 1000:.1f} vs {issue[0] * 1000:.3f} ms = "
          f"{t['baseline render'][0] / issue[0]:,.0f}x; the message build ({t['baseline build'][0] * 1000:.2f} ms: "
          f"signed links, headers, MIME) is the same work in both")
    print(f"- peak RSS of that phase's process: {ph['ru_maxrss_mb']:.0f} MB (ru_maxrss; VmHWM {ph['vmhwm_mb']:.0f} MB), "
          f"onnxruntime {'LOADED' if ph['model_loaded'] else 'never imported'}; target <= 300 MB: "
          f"{ok(ph['ru_maxrss_mb'] <= 300 and not ph['model_loaded'])}")
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(llm["by_kind"].items()))
    print(f"- distinct papers chosen: {llm['distinct']}, LLM analysis calls: {llm['calls']} ({kinds}; and "
          f"{llm['summary_calls']} executive summary); one analysis per reader and pick would be {llm['naive']:,} calls "
          f"({llm['naive'] / max(1, llm['calls']):.0f}x more); with the shipped caps (fulltext_per_day 40, "
          f"abstract_per_day 100): at most {llm['capped_calls']}; target calls = distinct papers: "
          f"{ok(llm['calls'] == llm['distinct'])}")
    print(f"whole benchmark: {total:.0f} s wall")


if __name__ == "__main__":
    main()
