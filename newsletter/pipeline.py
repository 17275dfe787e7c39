"""One issue day, stage by stage: fetch → select → analyze → render → deliver.

The one place that knows the order. Each stage reads its input from the store and writes its
output there, and does nothing when that output is already present, so any stage can be re-run
(or a crashed run resumed) safely. Profiles are isolated: one profile's failure is recorded and
reported, and the others still go out. The CLI and the scheduler are thin shells around
`run_day` and `send_day`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from . import picks, stop, templating
from .config import Config, Profile
from .errors import (
    ConfigError,
    CostCeilingReached,
    DeliveryError,
    LLMFatalError,
    NewsletterError,
    RunError,
    StopRequested,
)
from .llm.faults import clip
from .models import Edition, Paper
from .progress import Progress, emit
from .roster import load_subscribers
from .store import Store, now_iso
from .wording import plural

log = logging.getLogger(__name__)

STAGES = ("fetch", "select", "analyze", "render", "deliver")


@dataclass
class DayReport:
    day: date
    fetched: int = 0
    fetch_status: str = ""
    editions: dict[str, dict] = field(default_factory=dict)  # profile -> papers, status, deliveries, error
    cost: float = 0.0
    status: str = "ok"  # ok | stopped | failed (some profile failed)
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (edition key, address, the server's reply)

    @property
    def failed(self) -> dict[str, str]:
        """Profiles that failed, with their one-line error."""
        return {name: info["error"] for name, info in self.editions.items() if info.get("error")}


def stage_fetch(store: Store, cfg: Config, day: date, progress: Progress | None = None) -> list[Paper]:
    """The day's new papers of every profile's categories; fetched once per day, then read from the store."""
    from .fetch import fetch_day

    done = store.get_fetch(day)
    if done and done["status"] in ("ok", "empty"):
        papers = store.fetched_papers(day)
        emit(progress, "fetch", f"fetch: {plural(len(papers), 'paper')} for {day} already in the store")
        return papers
    categories = sorted({c for p in cfg.profiles for c in p.categories})
    last = store.last_fetch_before(day)
    result = fetch_day(cfg.arxiv, categories, day, last_until=last["until"] if last else None, progress=progress)
    new = store.upsert_papers(result.papers)
    status = "ok" if result.papers else "empty"
    store.record_fetch(day, result.since, result.until, categories, [p.id for p in result.papers], new, status)
    emit(progress, "fetch", f"fetch: {plural(len(result.papers), 'paper')} ({new} new) submitted "
         f"{result.since:%Y-%m-%d %H:%M} – {result.until:%Y-%m-%d %H:%M} UTC")
    return result.papers


def stage_select(
    store: Store, cfg: Config, profile: Profile, day: date, papers: list[Paper], llm=None,
    progress: Progress | None = None, cadence: str = "daily",
) -> Edition:
    """The edition for (day, profile, cadence): its readers' picks and their union; kept once made.

    Daily: the profile's own ranked selection, then each daily reader's picks from the day's papers.
    Weekly (`day` is the week's `weekly_day`): each weekly reader's best of the week's papers."""
    from .select import select_papers

    ed = store.get_edition(day, profile.name, cadence=cadence)
    if ed is not None:
        emit(progress, "select", f"select[{who(profile, cadence)}]: {plural(len(ed.entries), 'paper')} already "
             "chosen", profile=profile.name)
        return ed
    readers = picks.readers_of(picks.all_readers(cfg), profile.name, cadence)
    if cadence == "weekly":
        pool, default = picks.week_pool(store, cfg, profile, day)
        scores, title = [], picks.weekly_title(profile, day)
    else:
        pool, title = papers, f"{profile.title} - {day.isoformat()}"
        scores = select_papers(store, cfg, profile, day, papers, llm=llm, progress=progress)
        default = [s.paper_id for s in scores]
    ids, chosen = picks.choose(store, cfg, profile, readers, pool, default, scores, progress)
    ed = Edition(date=day, profile=profile.name, language=profile.language, title=title,
                 status="selected" if ids else "empty", cadence=cadence)
    store.save_selection(ed, ids)
    store.save_picks(ed.id, chosen)
    emit(progress, "select", f"select[{who(profile, cadence)}]: {len(ids)} of {plural(len(pool), 'paper')} chosen"
         + (f" for {plural(len(chosen), 'reader')}" if chosen else ""), profile=profile.name)
    return store.get_edition(day, profile.name, cadence=cadence)


def who(profile: Profile, cadence: str) -> str:
    """How progress lines name an edition: the profile, and "weekly" for a weekly one."""
    return profile.name if cadence == "daily" else f"{profile.name} weekly"


def stage_analyze(
    store: Store, cfg: Config, ed: Edition, llm=None, progress: Progress | None = None, notice: str = "",
    budget=None,
) -> Edition:
    """An analysis for every chosen paper and the executive summary (analyses are shared per language).

    `notice` (why the LLM was not used although configured) goes at the top of the summary;
    `budget` (analyze.DayBudget) is the day's cap on LLM-analysed papers, shared by the editions."""
    from .analyze import DayBudget, analyze_papers, summarize

    if ed.status not in ("selected",):
        return ed
    papers = [e.paper for e in ed.entries]
    budget = budget or DayBudget(cfg.llm.fulltext_per_day, cfg.llm.abstract_per_day)
    routes = budget.routes(ed.language, [p.id for p in papers]) if llm is not None else None
    analyses = analyze_papers(store, cfg, ed.language, papers, llm=llm, progress=progress, routes=routes)
    for e in ed.entries:
        e.analysis = analyses.get(e.paper.id) or e.analysis
    ed.summary = summarize(store, cfg, ed, llm=llm)
    if notice:
        ed.summary = f"> **{notice}**\n\n{ed.summary}"
    ed.status = "analyzed"
    store.update_edition(ed.id, summary=ed.summary, status=ed.status)
    kinds: dict[str, int] = {}
    for e in ed.entries:
        if e.analysis:
            kinds[e.analysis.kind] = kinds.get(e.analysis.kind, 0) + 1
    emit(progress, "analyze", f"analyze[{ed.profile}]: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())),
         profile=ed.profile)
    return ed


def stage_render(store: Store, cfg: Config, ed: Edition, progress: Progress | None = None) -> Edition:
    """Markdown, HTML, text and attachments of the edition, stored so preview and send never render again."""
    from .render import render_edition

    if ed.status != "analyzed":
        return ed
    chosen = store.get_picks(ed.id)
    out = render_edition(ed, cfg, reader_max=max((len(ids) for ids in chosen.values()), default=None))
    ed.markdown, ed.html, ed.text, ed.attachments, ed.status = out.markdown, out.html, out.text, out.attachments, \
        "rendered"
    ed.parts = out.parts
    store.save_render(ed.id, ed.markdown, ed.html, ed.text, ed.attachments, parts=ed.parts)
    emit(progress, "render", f"render[{ed.profile}]: markdown {len(ed.markdown.encode()) // 1024} KB, "
         f"html {len(ed.html.encode()) // 1024} KB", profile=ed.profile)
    return ed


def stage_deliver(
    store: Store, cfg: Config, ed: Edition, progress: Progress | None = None,
    refused: list[tuple[str, str, str]] | None = None,
) -> dict[str, int]:
    """Send the rendered edition to the profile's subscribers; the ledger makes this exactly-once.
    Recipients the server refused in this send are added to `refused` as (edition key, address, reply)."""
    from .deliver import send_edition

    if ed.status not in ("rendered", "sent"):
        return {}
    readers = picks.readers_of(load_subscribers(cfg), ed.profile, ed.cadence)
    known = store.get_picks(ed.id)
    late = [s for s in readers if s.email.lower() not in known]
    if late:
        store.save_picks(ed.id, picks.late_picks(store, cfg.profile(ed.profile), ed, late), replace=False)
    try:
        report = send_edition(store, cfg, ed, readers, progress=progress)
    except DeliveryError as e:  # the batch stopped: still say who was refused before that
        if refused is not None and e.report is not None:
            refused += [(edition_key(ed), a, reply) for a, reply in e.report.refused.items()]
        raise
    if refused is not None:
        refused += [(edition_key(ed), a, reply) for a, reply in report.refused.items()]
    counts = report.counts()
    if report.complete:
        ed.status = "sent"
        store.update_edition(ed.id, status="sent")
    return counts


def check_templates(cfg: Config) -> None:
    """Before any work: the email, archive and prompt templates (overrides included) all load."""
    from .llm.prompts import prompt_env
    from .render.email import env

    override = templating.override_dir(cfg)
    templating.verify_templates(env(cfg), prompt_env(override, templating.override_names(override)), override)


def check_llm(cfg: Config) -> None:
    """Before any work: a configured model must have its key and a routable name (ConfigError, exit 2)."""
    if cfg.llm.model:
        from .llm import preflight

        problem = preflight(cfg.llm)
        if problem:
            raise ConfigError(f"{cfg.source}: {problem}")


def _run_profile(
    store: Store, cfg: Config, profile: Profile, day: date, papers: list[Paper], wanted: tuple[str, ...],
    info: dict, llm, progress: Progress | None, cadence: str = "daily", budget=None,
    refused: list[tuple[str, str, str]] | None = None,
) -> bool:
    """The stages after fetch for one edition of a profile (its daily one, or its weekly one dated
    `day`); False when a stop request ended it early."""
    notice = ""
    ed: Edition | None = None
    for stage in wanted[1:]:
        info["stage"] = stage
        if stop.stop_requested():
            emit(progress, stage, f"stopped on request before {stage} of {profile.name}; the next run goes on "
                 "from there")
            return False
        try:
            if stage == "select":
                ed = stage_select(store, cfg, profile, day, papers, llm=llm, progress=progress, cadence=cadence)
                info.update(papers=len(ed.entries), status=ed.status)
                if ed.status == "empty":
                    emit(progress, "select", f"{who(profile, cadence)}: nothing new for {day}; no edition is made "
                         "and nothing is mailed", profile=profile.name)
                    return True
            elif stage == "analyze":
                ed = stage_analyze(store, cfg, ed, llm=llm, progress=progress, notice=notice, budget=budget)
            elif stage == "render":
                ed = stage_render(store, cfg, ed, progress)
            else:
                info["deliveries"] = stage_deliver(store, cfg, ed, progress, refused)
        except LLMFatalError as e:
            if cfg.llm.on_failure != "extractive":
                raise
            notice = _degraded_notice(profile)
            info["degraded"] = clip(str(e), 300)
            emit(progress, stage, f"{profile.name}: {e}; going on without the LLM ([llm] on_failure = \"extractive\")",
                 profile=profile.name)
            llm = None
            if stage == "select":
                ed = stage_select(store, cfg, profile, day, papers, llm=None, progress=progress, cadence=cadence)
                info.update(papers=len(ed.entries), status=ed.status)
            elif stage == "analyze" and ed is not None:
                ed = stage_analyze(store, cfg, ed, llm=None, progress=progress, notice=notice, budget=budget)
        if ed is not None:
            info["status"] = ed.status
    return True


def _degraded_notice(profile: Profile) -> str:
    """What the issue says at the top when it was made without the LLM, in its language."""
    if profile.language == "zh":
        return "本期未使用 LLM（模型不可用），分析为抽取式摘要。"
    return "The LLM was unavailable for this issue: analyses are extractive summaries, not LLM-written."


def run_day(
    store: Store, cfg: Config, day: date, until: str = "deliver", profiles: list[str] | None = None,
    progress: Progress | None = None, command: str = "run",
) -> DayReport:
    """Every stage up to `until` for every (chosen) profile of one issue day.

    A stop request (SIGTERM) is honoured between stages: what is done stays in the store, the run
    is recorded as stopped, and the next run goes on from there. A profile that fails is recorded
    with its error and the others go on; the report's status is then "failed" (exit 1). Failures
    that concern every profile (arXiv down, a bad LLM key, the cost ceiling) stop the run."""
    from .analyze import DayBudget
    from .llm import make_llm

    report = DayReport(day=day)
    chosen = [cfg.profile(n) for n in profiles] if profiles else cfg.profiles
    wanted = STAGES[: STAGES.index(until) + 1]
    if "select" in wanted:
        check_llm(cfg)
        check_templates(cfg)
    run_id = store.start_run(command, day)
    stage, llm = "fetch", None
    try:
        papers = stage_fetch(store, cfg, day, progress)
        report.fetched = len(papers)
        if "select" in wanted:
            llm = make_llm(cfg, store, run_id)
        budget = DayBudget(cfg.llm.fulltext_per_day, cfg.llm.abstract_per_day)
        for profile, cadence, on, key in editions_of_day(cfg, chosen, day):
            info = report.editions[key] = {"papers": 0, "status": "pending"}
            try:
                if not _run_profile(store, cfg, profile, on, papers, wanted, info, llm, progress, cadence, budget,
                                    report.refused):
                    report.status, stage = "stopped", info["stage"]
                    break
            except (CostCeilingReached, LLMFatalError, StopRequested):
                raise
            except Exception as e:  # this profile's failure (e.g. its SMTP batch) must not stop the others
                if not isinstance(e, NewsletterError):  # a bug in one profile: its traceback goes to the log
                    log.exception("%s: unexpected error", profile.name)
                _profile_failed(profile, info, e, progress)
                report.status = "failed"
            stage = info.get("stage", stage)
        report.cost = llm.cost if llm is not None else 0.0
        error = "; ".join(f"{n}: {e}" for n, e in report.failed.items())[:500]
        store.update_run(run_id, stage=until if report.status == "ok" else stage, status=report.status,
                         finished=now_iso(), cost=report.cost, counts={"fetched": report.fetched, **report.editions},
                         error=error)
        return report
    except StopRequested as e:
        store.update_run(run_id, stage=stage, status="stopped", finished=now_iso(),
                         cost=store.llm_totals(run_id)["cost"], error=str(e)[:500])
        report.status = "stopped"
        emit(progress, stage, f"{e}; the next run goes on from there")
        return report
    except BaseException as e:
        cost = store.llm_totals(run_id)["cost"]
        store.update_run(run_id, stage=stage, status="failed", finished=now_iso(), cost=cost, error=clip(str(e), 500),
                         counts={"fetched": report.fetched, **report.editions})
        raise


def edition_key(ed: Edition) -> str:
    """How reports name an edition: its profile, and the week of a weekly one (as editions_of_day)."""
    return ed.profile if ed.cadence == "daily" else f"{ed.profile} (weekly {ed.date.isoformat()})"


def editions_of_day(cfg: Config, profiles: list[Profile], day: date) -> list[tuple[Profile, str, date, str]]:
    """(profile, cadence, edition date, report key) of every edition a run on `day` makes: each
    profile's daily one, and its weekly one (dated on the week's weekly_day) when it has weekly readers."""
    weekly = {p for s in picks.all_readers(cfg) if s.frequency == "weekly" for p in s.profiles}
    week = picks.week_of(day, cfg.schedule.weekly_day)
    out = []
    for profile in profiles:
        out.append((profile, "daily", day, profile.name))
        if profile.name in weekly:
            out.append((profile, "weekly", week, f"{profile.name} (weekly {week.isoformat()})"))
    return out


def _profile_failed(profile: Profile, info: dict, e: BaseException, progress: Progress | None) -> None:
    info["error"] = clip(str(e), 300) or type(e).__name__
    emit(progress, info.get("stage", "select"), f"{profile.name}: failed at {info.get('stage')}: {info['error']}; "
         "the other profiles go on", profile=profile.name)


def send_day(
    store: Store, cfg: Config, day: date, progress: Progress | None = None,
    refused: list[tuple[str, str, str]] | None = None,
) -> dict[str, dict[str, int]]:
    """Deliver the already rendered editions of a day (what `newsletter send` does); recipients the
    server refused are added to `refused` as (edition key, address, reply).

    Nothing to send is a failure (RunError, recorded as such), never a finished day."""
    run_id = store.start_run("send", day)
    out: dict[str, dict[str, int]] = {}
    try:
        for profile, cadence, on, key in editions_of_day(cfg, cfg.profiles, day):
            ed = store.get_edition(on, profile.name, cadence=cadence)
            if ed is None or ed.status not in ("rendered", "sent"):
                continue
            out[key] = stage_deliver(store, cfg, ed, progress, refused)
        if not out:
            raise RunError(f"no rendered edition for {day}; run `newsletter run --date {day}` first")
        store.update_run(run_id, stage="deliver", status="ok", finished=now_iso(), counts=out)
        return out
    except BaseException as e:
        store.update_run(run_id, stage="deliver", status="failed", finished=now_iso(), error=str(e)[:500],
                         counts=out)
        raise


def day_done(store: Store, cfg: Config, day: date) -> bool:
    """Every edition a run on `day` makes (daily, and the week's weekly one) is sent, or there was
    nothing to send: catch-up needs no run."""
    for profile, cadence, on, _ in editions_of_day(cfg, cfg.profiles, day):
        ed = store.get_edition(on, profile.name, with_papers=False, cadence=cadence)
        if ed is None or ed.status not in ("sent", "empty"):
            return False
    return not store.day_unsent(day)
