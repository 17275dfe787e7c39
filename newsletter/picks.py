"""Who gets which papers: every reader's picks for an edition, the union the edition is made of,
and the weekly edition's week.

A daily edition serves the profile's daily readers and a weekly one (dated on `[schedule]
weekly_day`) its weekly readers. The edition's papers are the union of its readers' picks (the
profile's own selection first, then the papers most readers chose), so each paper is analysed and
rendered once however many readers get it. A profile with no reader of that cadence keeps its
own selection as a daily edition (the archive still shows the day) and makes no weekly one.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from .config import Config, Profile
from .models import Edition, Paper, Score, Subscriber
from .progress import Progress
from .roster import load_subscribers
from .store import Store

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def all_readers(cfg: Config) -> list[Subscriber]:
    """Every subscriber; none when there is no subscribers folder (the CLI refuses that before any
    run; a library caller may make editions for the archive alone)."""
    return load_subscribers(cfg) if cfg.resolve(cfg.subscribers_dir).is_dir() else []


def readers_of(subscribers: list[Subscriber], profile: str, cadence: str) -> list[Subscriber]:
    """The subscribers of a profile who get its daily (or weekly) edition."""
    return [s for s in subscribers if profile in s.profiles and s.frequency == cadence]


def union_order(default: list[str], picks: dict[str, list[str]]) -> list[str]:
    """The edition's papers: what some reader gets, the profile's own order first, then by how many
    readers chose a paper and how high (ties: the newer id)."""
    count: Counter[str] = Counter()
    best: dict[str, int] = {}
    for ids in picks.values():
        for rank, pid in enumerate(ids):
            count[pid] += 1
            best[pid] = min(best.get(pid, rank), rank)
    first = [pid for pid in default if pid in count]
    rest = sorted((pid for pid in count if pid not in set(first)), reverse=True)
    rest.sort(key=lambda pid: (-count[pid], best[pid]))
    return first + rest


def choose(
    store: Store, cfg: Config, profile: Profile, readers: list[Subscriber], papers: list[Paper],
    default: list[str], scores: list[Score], progress: Progress | None = None,
) -> tuple[list[str], dict[str, list[str]]]:
    """(the edition's paper ids, each reader's picks) for a new edition."""
    if not readers:
        return default, {}
    from .select import choose_for_readers

    llm_scores = {s.paper_id: s for s in scores if s.model != "keywords"} or None
    picks = choose_for_readers(store, cfg, profile, readers, papers, default, scores=llm_scores, progress=progress)
    picks = {email: ids for email, ids in picks.items() if ids}
    return union_order(default, picks), picks


def late_picks(store: Store, profile: Profile, ed: Edition, readers: list[Subscriber]) -> dict[str, list[str]]:
    """Picks for readers who joined after the edition was chosen: the edition's order minus what they
    already got. No model is loaded on the send path; their own ranking starts with the next issue."""
    order = [e.paper.id for e in ed.entries]
    seen = store.seen_papers([s.email for s in readers], order, exclude_edition=ed.id)
    out: dict[str, list[str]] = {}
    for s in readers:
        had = seen.get(s.email.lower(), set())
        out[s.email.lower()] = [pid for pid in order if pid not in had][: s.max_papers or profile.top_n]
    return out


def week_of(day: date, weekly_day: str) -> date:
    """The weekly edition a run on `day` makes or catches up: the last `weekly_day` on or before it."""
    return day - timedelta(days=(day.weekday() - WEEKDAYS.index(weekly_day)) % 7)


def week_pool(store: Store, cfg: Config, profile: Profile, week: date) -> tuple[list[Paper], list[str]]:
    """(the papers fetched in the 7 days ending on `week`, the profile's daily picks of those days,
    each day's best first)."""
    papers: dict[str, Paper] = {}
    ranked: list[tuple[int, str, str]] = []
    for back in range(7):
        d = week - timedelta(days=back)
        for p in store.fetched_papers(d):
            papers.setdefault(p.id, p)
        ed = store.get_edition(d, profile.name)
        if ed is not None:
            ranked += [(e.rank, d.isoformat(), e.paper.id) for e in ed.entries]
    ranked.sort(key=lambda r: r[1], reverse=True)  # newer days first among equal ranks
    ranked.sort(key=lambda r: r[0])
    default = list(dict.fromkeys(pid for _, _, pid in ranked))
    return list(papers.values()), default


def weekly_title(profile: Profile, week: date) -> str:
    start = week - timedelta(days=6)
    if profile.language == "zh":
        return f"{profile.title} - 周刊 {start.isoformat()} 至 {week.isoformat()}"
    return f"{profile.title} - week {start.isoformat()} to {week.isoformat()}"


def editions_on(store: Store, cfg: Config, day: date) -> list[Edition]:
    """The editions a run on `day` made (without their papers): each profile's daily one and the
    week's weekly one."""
    out = []
    for p in cfg.profiles:
        for cadence, on in (("daily", day), ("weekly", week_of(day, cfg.schedule.weekly_day))):
            ed = store.get_edition(on, p.name, with_papers=False, cadence=cadence)
            if ed is not None:
                out.append(ed)
    return out
