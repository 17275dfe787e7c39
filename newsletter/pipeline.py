"""One issue day, stage by stage: fetch → select → analyze → render → deliver.

Each stage reads its input from the store and writes its output there, and does nothing when
that output is already present, so any stage can be re-run (or a crashed run resumed) safely.
The CLI and the scheduler are thin shells around `run_day` and `send_day`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from .config import Config, Profile, load_subscribers
from .models import Edition, Paper
from .store import Store

log = logging.getLogger(__name__)

STAGES = ("fetch", "select", "analyze", "render", "deliver")

Progress = Callable[[str], None]


class PipelineError(Exception):
    """A run cannot go on (arXiv unreachable, cost ceiling, SMTP auth...): exit 1 with this message."""


@dataclass
class DayReport:
    day: date
    fetched: int = 0
    new: int = 0
    fetch_status: str = ""
    editions: dict[str, dict] = field(default_factory=dict)  # profile -> counts and status
    cost: float = 0.0
    notes: list[str] = field(default_factory=list)


def _say(progress: Progress | None, msg: str) -> None:
    log.info(msg)
    if progress:
        progress(msg)


def stage_fetch(store: Store, cfg: Config, day: date, progress: Progress | None = None) -> list[Paper]:
    """The day's new papers of every profile's categories; fetched once per day, then read from the store."""
    from .sources.arxiv import fetch_day

    done = store.get_fetch(day)
    if done and done["status"] in ("ok", "empty"):
        papers = store.fetched_papers(day)
        _say(progress, f"fetch: {len(papers)} papers for {day} already in the store")
        return papers
    categories = sorted({c for p in cfg.profiles for c in p.categories})
    last = store.last_fetch_before(day)
    result = fetch_day(cfg.arxiv, categories, day, last_until=last["until"] if last else None, progress=progress)
    new = store.upsert_papers(result.papers)
    status = "ok" if result.papers else "empty"
    store.record_fetch(day, result.since, result.until, categories, [p.id for p in result.papers], new, status)
    _say(progress, f"fetch: {len(result.papers)} papers ({new} new) submitted {result.since:%Y-%m-%d %H:%M} – "
         f"{result.until:%Y-%m-%d %H:%M} UTC")
    return result.papers


def stage_select(
    store: Store, cfg: Config, profile: Profile, day: date, papers: list[Paper], llm=None,
    progress: Progress | None = None,
) -> Edition:
    """The edition for (day, profile) with its ranked papers; kept once made."""
    from .select import select_papers

    ed = store.get_edition(day, profile.name)
    if ed is not None:
        _say(progress, f"select[{profile.name}]: {len(ed.entries)} papers already chosen")
        return ed
    scores = select_papers(store, cfg, profile, day, papers, llm=llm, progress=progress)
    ed = Edition(
        date=day, profile=profile.name, language=profile.language, title=f"{profile.title} - {day.isoformat()}",
        status="selected" if scores else "empty",
    )
    store.save_selection(ed, [s.paper_id for s in scores])
    _say(progress, f"select[{profile.name}]: {len(scores)} of {len(papers)} papers chosen")
    return store.get_edition(day, profile.name)


def stage_analyze(
    store: Store, cfg: Config, ed: Edition, llm=None, progress: Progress | None = None
) -> Edition:
    """An analysis for every chosen paper and the executive summary (analyses are shared per language)."""
    from .analyze import analyze_papers, summarize

    if ed.status not in ("selected",):
        return ed
    papers = [e.paper for e in ed.entries]
    analyses = analyze_papers(store, cfg, ed.language, papers, llm=llm, progress=progress)
    for e in ed.entries:
        e.analysis = analyses.get(e.paper.id) or e.analysis
    ed.summary = summarize(store, cfg, ed, llm=llm)
    ed.status = "analyzed"
    store.update_edition(ed.id, summary=ed.summary, status=ed.status)
    kinds: dict[str, int] = {}
    for e in ed.entries:
        if e.analysis:
            kinds[e.analysis.kind] = kinds.get(e.analysis.kind, 0) + 1
    _say(progress, f"analyze[{ed.profile}]: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    return ed


def stage_render(store: Store, cfg: Config, ed: Edition, progress: Progress | None = None) -> Edition:
    """Markdown, HTML and text of the edition, stored so preview and send never render again."""
    from .render import render_edition

    if ed.status != "analyzed":
        return ed
    out = render_edition(ed, cfg)
    ed.markdown, ed.html, ed.text, ed.status = out.markdown, out.html, out.text, "rendered"
    store.update_edition(ed.id, markdown=ed.markdown, html=ed.html, text=ed.text, status=ed.status)
    _say(progress, f"render[{ed.profile}]: markdown {len(ed.markdown.encode()) // 1024} KB, "
         f"html {len(ed.html.encode()) // 1024} KB")
    return ed


def stage_deliver(store: Store, cfg: Config, ed: Edition, progress: Progress | None = None) -> dict[str, int]:
    """Send the rendered edition to the profile's subscribers; the ledger makes this exactly-once."""
    from .deliver import send_edition

    if ed.status not in ("rendered", "sent"):
        return {}
    subscribers = [s for s in load_subscribers(cfg) if ed.profile in s.profiles]
    report = send_edition(store, cfg, ed, subscribers, progress=progress)
    counts = report.counts()
    if report.complete:
        ed.status = "sent"
        store.update_edition(ed.id, status="sent")
    return counts


def run_day(
    store: Store, cfg: Config, day: date, until: str = "deliver", profiles: list[str] | None = None,
    progress: Progress | None = None, command: str = "run",
) -> DayReport:
    """Every stage up to `until` for every (chosen) profile of one issue day.

    A stop request (SIGTERM) is honoured between stages: what is done stays in the store, the
    run is recorded as stopped, and the next run goes on from there."""
    from .llm import make_llm
    from .shutdown import stop_requested

    report = DayReport(day=day)
    chosen = [cfg.profile(n) for n in profiles] if profiles else cfg.profiles
    wanted = STAGES[: STAGES.index(until) + 1]
    run_id = store.start_run(command, day)
    stage, status, llm = "fetch", "ok", None
    try:
        papers = stage_fetch(store, cfg, day, progress)
        report.fetched = len(papers)
        if "select" in wanted:
            llm = make_llm(cfg, store, run_id)
        for profile in chosen:
            for stage in wanted[1:]:
                if stop_requested():
                    status = "stopped"
                    break
                if stage == "select":
                    ed = stage_select(store, cfg, profile, day, papers, llm=llm, progress=progress)
                    info = report.editions[profile.name] = {"papers": len(ed.entries), "status": ed.status}
                    if ed.status == "empty":
                        _say(progress, f"{profile.name}: nothing new for {day}; no edition is made and nothing is mailed")
                        break
                elif stage == "analyze":
                    ed = stage_analyze(store, cfg, ed, llm=llm, progress=progress)
                elif stage == "render":
                    ed = stage_render(store, cfg, ed, progress)
                else:
                    info["deliveries"] = stage_deliver(store, cfg, ed, progress)
                info["status"] = ed.status
            if status == "stopped":
                _say(progress, f"stopped on request before {stage} of {profile.name}; the next run goes on from there")
                break
        report.cost = llm.cost if llm is not None else 0.0
        store.update_run(run_id, stage=until if status == "ok" else stage, status=status, finished=_now(),
                         cost=report.cost, counts={"fetched": report.fetched, **report.editions})
        return report
    except BaseException as e:
        cost = store.llm_totals(run_id)["cost"]
        store.update_run(run_id, stage=stage, status="failed", finished=_now(), cost=cost, error=str(e)[:500])
        raise


def send_day(store: Store, cfg: Config, day: date, progress: Progress | None = None) -> dict[str, dict[str, int]]:
    """Deliver the already rendered editions of a day (what `newsletter send` does)."""
    run_id = store.start_run("send", day)
    out: dict[str, dict[str, int]] = {}
    try:
        for profile in cfg.profiles:
            ed = store.get_edition(day, profile.name)
            if ed is None or ed.status not in ("rendered", "sent"):
                continue
            out[profile.name] = stage_deliver(store, cfg, ed, progress)
        store.update_run(run_id, stage="deliver", status="ok", finished=_now(), counts=out)
        return out
    except BaseException as e:
        store.update_run(run_id, stage="deliver", status="failed", finished=_now(), error=str(e)[:500])
        raise


def _now() -> str:
    from .store import now_iso

    return now_iso()
