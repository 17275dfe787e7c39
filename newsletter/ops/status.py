"""`newsletter status` (what happened, what is next) and `history` (which editions featured what).

Plain functions returning lines, so the CLI only prints them and tests call them directly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..config import Config
from ..llm.faults import clip
from ..store import Store
from ..wording import plural


def _deliveries(d: dict[str, Any]) -> str:
    """'sent 2 (2 now), deferred 1': the non-zero counts of a delivery report."""
    now = d.get("sent_now")
    parts = [f"{k} {v}" + (f" ({now} now)" if k == "sent" and now is not None else "")
             for k, v in sorted(d.items()) if k != "sent_now" and isinstance(v, int) and v]
    return ", ".join(parts) or "nothing to send"


def _counts(c: dict[str, Any]) -> str:
    """A run's counts in one line: fetched N; profile: P papers, status; deliveries."""
    parts = []
    if "fetched" in c:
        parts.append(f"fetched {c['fetched']}")
    for k, v in c.items():
        if k == "fetched":
            continue
        if isinstance(v, dict) and "papers" in v:
            bit = f"{k}: {plural(v['papers'], 'paper')}, {v.get('status', '')}"
            if v.get("degraded"):  # [llm] on_failure = "extractive" mailed it without the LLM
                bit += f" (degraded, without the LLM: {clip(v['degraded'], 160)})"
            if v.get("deliveries"):
                bit += f"; {_deliveries(v['deliveries'])}"
            parts.append(bit)
        elif isinstance(v, dict):  # `send`: profile -> delivery counts
            parts.append(f"{k}: {_deliveries(v)}")
        else:
            parts.append(f"{k} {v}")
    return "; ".join(parts)


def _degraded(c: dict[str, Any]) -> list[str]:
    """The profiles of a run that went out without the LLM although one is configured."""
    return [k for k, v in c.items() if isinstance(v, dict) and v.get("degraded")]


def status_lines(cfg: Config, store: Store, now: datetime | None = None, runs: int = 10) -> list[str]:
    """What `newsletter status` prints: scheduler, last runs, editions and the delivery ledger."""
    from .lock import describe, holder, is_held, run_lock_path, scheduler_lock_path
    from .schedule import next_fire, tz

    now = (now or datetime.now(tz(cfg))).astimezone(tz(cfg))
    lines: list[str] = []
    nxt = next_fire(cfg, now)
    sl = scheduler_lock_path(cfg.var_dir)
    sched = f"running ({describe(holder(sl))})" if is_held(sl) else "not running (start it: newsletter schedule)"
    lines.append(f"scheduler: {sched}")
    lines.append(f"next scheduled run: {nxt:%a %Y-%m-%d %H:%M %Z}" if nxt else "next scheduled run: never")
    lines[-1] += f" (cron {cfg.schedule.cron!r}, {cfg.schedule.timezone})"
    rl = run_lock_path(cfg.var_dir)
    if is_held(rl):
        lines.append(f"in progress: {describe(holder(rl))}")
    rows = store.recent_runs(runs)
    lines.append("last runs:" if rows else "last runs: none yet")
    for r in rows:
        took = ""
        if r["finished"] and r["started"]:
            try:
                secs = (datetime.fromisoformat(r["finished"]) - datetime.fromisoformat(r["started"])).total_seconds()
                took = f" in {secs:.0f}s"
            except ValueError:
                pass
        degraded = _degraded(r["counts"] or {})
        state = f"{r['status']}, degraded ({', '.join(degraded)})" if degraded else r["status"]
        lines.append(f"  #{r['id']} {r['command']} issue {r['date'] or '-'} started {r['started']}{took}: "
                     f"{state} at stage {r['stage']}, cost ${r['cost'] or 0:.4f}")
        c = _counts(r["counts"] or {})
        if c:
            lines.append(f"      {c}")
        if r["error"]:
            lines.append(f"      error: {r['error']}")
    eds = store.list_editions(10)
    returns = store.edition_return_counts()
    if eds:
        lines.append("editions:")
        for e in eds:
            c = store.delivery_counts(e["id"])
            lines.append(f"  {e['date']} {e['profile']}: {plural(e['papers'], 'paper')}, {e['status']}; deliveries "
                         + (", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none")
                         + return_rates(returns.get(e["id"], {}), c.get("sent", 0)))
    lines += mailbox_lines(cfg, store)
    total = store.delivery_counts()
    lines.append("deliveries: " + ", ".join(f"{k} {total.get(k, 0)}" for k in
                                              ("sent", "pending", "sending", "deferred", "failed", "suppressed")))
    issues = store.delivery_issues(("pending", "sending", "deferred", "failed"), limit=10)
    for d in issues:
        err = f": {d['last_error']}" if d["last_error"] else ""
        lines.append(f"  {d['status']} {d['email']} ({d['date']} {d['profile']}, {plural(d['attempts'], 'attempt')}){err}")
    if any(d["status"] in ("pending", "sending", "deferred") for d in issues):
        lines.append("  (pending and deferred messages go out on the next run or `newsletter send --date DAY`)")
    return lines


# Gmail's and Yahoo's bulk-sender rules: spam complaints under 0.3%; bounces over ~2% hurt a sender too
COMPLAINT_LIMIT, BOUNCE_LIMIT = 0.003, 0.02


def return_rates(r: dict[str, int], sent: int) -> str:
    """'; bounces 2 (1 hard, 1 soft) = 2.0%, complaints 0 = 0.0%' for an edition, from the mailbox's
    events (distinct addresses); '' when nothing came back."""
    hard, soft, complaints = r.get("hard_bounce", 0), r.get("soft_bounce", 0), r.get("complaint", 0)
    if not (hard or soft or complaints):
        return ""
    base = max(sent, 1)
    warn = []
    if complaints / base >= COMPLAINT_LIMIT:
        warn.append("complaints over 0.3%")
    if (hard + soft) / base >= BOUNCE_LIMIT:
        warn.append("bounces over 2%")
    return (f"; bounces {hard + soft} ({hard} hard, {soft} soft) = {100 * (hard + soft) / base:.1f}%, "
            f"complaints {complaints} = {100 * complaints / base:.1f}%" + (f" [{'; '.join(warn)}]" if warn else ""))


def mailbox_lines(cfg: Config, store: Store) -> list[str]:
    """What the bounce mailbox gave: messages read by kind and when last."""
    if not cfg.mailbox.host:
        return ["mailbox: not read ([mailbox] host is empty: bounces, complaints and mailto unsubscribes are ignored)"]
    s = store.inbound_summary()
    if not s["kinds"]:
        return [f"mailbox: {cfg.mailbox.host} {cfg.mailbox.folder}: nothing read yet (`newsletter mailbox`)"]
    kinds = ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in sorted(s["kinds"].items()))
    return [f"mailbox: {plural(sum(s['kinds'].values()), 'message')} read ({kinds}), the last at {s['last']}"]


def history_lines(store: Store, query: str = "", profile: str | None = None, limit: int = 20) -> list[str]:
    """Editions newest first and the papers they featured; with a query, only editions featuring a
    matching paper (an arXiv id, or words found in a title or abstract), matches marked with '*'."""
    rows = store.search_editions(query, profile, limit)
    if not rows:
        return [f"no edition featured {query!r}" if query else "no editions yet"]
    out: list[str] = []
    for e in rows:
        out.append(f"{e['date']} {e['profile']} ({e['status']}, {plural(len(e['papers']), 'paper')}, sent to {e['sent']}): "
                   f"{e['title']}")
        for p in e["papers"]:
            mark = "*" if p["id"] in e["matches"] else " "
            out.append(f"  {mark}{p['rank']:>2}. {p['id']}v{p['version']}  {p['title']}")
    return out


def reader_lines(store: Store, cfg: Config, day, limit: int = 10) -> list[str]:
    """One line per reader of the day's editions saying what they got (the first `limit` readers),
    then one line for the rest: how personal the issues were."""
    from ..picks import editions_on

    out: list[str] = []
    shown = 0
    for ed in editions_on(store, cfg, day):
        chosen = store.get_picks(ed.id)
        titles = {p.id: p.title for p in store.get_papers(sorted({i for ids in chosen.values() for i in ids}))}
        for email, ids in sorted(chosen.items()):
            if shown < limit:
                names = "; ".join(clip(titles.get(i, i), 48) for i in ids[:3]) + (" …" if len(ids) > 3 else "")
                out.append(f"  {email} ({ed.profile}{'' if ed.cadence == 'daily' else ', weekly'}): "
                           f"{plural(len(ids), 'paper')}: {names}")
            shown += 1
    if shown > limit:
        out.append(f"  … and {plural(shown - limit, 'more reader')}")
    return out
