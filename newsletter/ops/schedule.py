"""`newsletter schedule`: make the day's issue on the cron schedule, in the subscribers' timezone.

APScheduler 3 (BackgroundScheduler, the main thread waits for a signal) with one cron job:
coalesce (runs missed while asleep become one), max_instances=1, a misfire grace time, and a
catch-up on start when today's scheduled run was missed. With `[mailbox]` set, the bounce mailbox is
read before each run and every hour (ops/mailbox.py). Each job takes the run lock shared with
`newsletter run` and `send`, so two runs never overlap. SIGTERM/SIGINT set the stop flag: the
delivery loop finishes the message in flight, the job returns, the scheduler shuts down, exit 0.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ..config import Config
from ..cron import crontab_trigger
from ..errors import NewsletterError
from ..store import Store
from ..wording import plural
from . import shutdown
from .lock import LockHeld, hold, run_lock_path, scheduler_lock_path
from .logs import detach_file
from .mailbox import scheduled_mailbox

log = logging.getLogger(__name__)

JOB_ID = "issue"
CATCH_UP_ID = "catch-up"
MAILBOX_ID = "mailbox"
MAILBOX_EVERY = 3600  # seconds between two reads of the bounce mailbox
LOCK_RETRY_SECONDS = 30.0


def make_trigger(cfg: Config) -> CronTrigger:
    """The cron expression of [schedule] (weekdays as crontab means them), in its timezone (DST-aware)."""
    return crontab_trigger(cfg.schedule.cron, timezone=cfg.schedule.timezone)


def tz(cfg: Config) -> ZoneInfo:
    return ZoneInfo(cfg.schedule.timezone)


def next_fire(cfg: Config, now: datetime | None = None) -> datetime | None:
    """The next scheduled run after `now` (aware, in the schedule's timezone)."""
    now = (now or datetime.now(tz(cfg))).astimezone(tz(cfg))
    return make_trigger(cfg).get_next_fire_time(None, now + timedelta(microseconds=1))


def fire_times(cfg: Config, start: datetime, end: datetime) -> list[datetime]:
    """Every scheduled time in [start, end] (bounded: at most one per minute)."""
    trig, out = make_trigger(cfg), []
    t = trig.get_next_fire_time(None, start.astimezone(tz(cfg)))
    while t is not None and t <= end and len(out) < 50_000:
        out.append(t)
        t = trig.get_next_fire_time(t, t + timedelta(microseconds=1))
    return out


def previous_fire(cfg: Config, now: datetime | None = None, lookback: timedelta = timedelta(days=8)) -> datetime | None:
    """The latest scheduled time at or before `now`."""
    now = (now or datetime.now(tz(cfg))).astimezone(tz(cfg))
    times = fire_times(cfg, now - lookback, now)
    return times[-1] if times else None


def missed_run(store: Store, cfg: Config, now: datetime | None = None) -> date | None:
    """The issue date to catch up on start: today's scheduled time has passed (within the
    misfire grace time) and the store shows no finished run for today."""
    now = (now or datetime.now(tz(cfg))).astimezone(tz(cfg))
    last = previous_fire(cfg, now, lookback=timedelta(days=1, hours=1))
    if last is None or last.date() != now.date():
        return None
    if (now - last).total_seconds() > cfg.schedule.misfire_grace_seconds:
        log.warning("today's %s run was missed by more than the grace time (%ss); the next issue covers it",
                    last.strftime("%H:%M"), cfg.schedule.misfire_grace_seconds)
        return None
    from ..pipeline import day_done

    return None if day_done(store, cfg, last.date()) else last.date()


def _explain(store: Store, day: date, report: Any) -> None:
    """Log what the run did, and why nothing was mailed when nothing was."""
    mailed = 0
    for name, info in report.editions.items():
        d = info.get("deliveries") or {}
        mailed += d.get("sent_now", 0)
        log.info("issue %s [%s]: %s papers, %s; deliveries %s", day, name, info.get("papers"), info.get("status"), d)
    if not report.editions or all(i.get("status") == "empty" for i in report.editions.values()):
        f = store.get_fetch(day)
        why = (f"arXiv announced nothing new for {day} (fetch status {f['status']}, {plural(f['count'], 'paper')})"
               if f else f"nothing fetched for {day}")
        log.info("%s: no edition, nothing mailed", why)
    elif shutdown.stop_requested():
        log.warning("issue %s: stopped on request after %d messages; the rest go out on the next run", day, mailed)


def scheduled_run(cfg: Config, day: date | None = None, wait_lock: float | None = None) -> Any:
    """The job: the whole pipeline for the issue date of the latest scheduled time.

    Never raises (a failed day is logged and recorded in `runs`; the scheduler keeps going).
    Waits for the run lock (a manual `newsletter run` may hold it) up to the misfire grace time.
    Returns the pipeline's DayReport, or None when nothing ran.
    """
    from ..pipeline import run_day

    if shutdown.stop_requested():
        return None
    if day is None:
        last = previous_fire(cfg) or datetime.now(tz(cfg))
        day = last.date()
    budget = cfg.schedule.misfire_grace_seconds if wait_lock is None else wait_lock
    deadline = time.monotonic() + budget
    while True:
        try:
            with hold(run_lock_path(cfg.var_dir), f"newsletter schedule (issue {day})"):
                scheduled_mailbox(cfg, "before the run")  # bounces and unsubscribes count before anything is sent
                store = Store.open(cfg.store_path)
                try:
                    log.info("scheduled run for issue %s starts", day)
                    report = run_day(store, cfg, day, until="deliver", progress=None, command="schedule")
                    _explain(store, day, report)
                    publish_after_run(store, cfg)
                    return report
                finally:
                    store.close()
        except LockHeld as e:
            left = deadline - time.monotonic()
            if left <= 0:
                log.error("scheduled run for %s skipped: %s", day, e)
                return None
            log.warning("scheduled run for %s waits: %s", day, e)
            if shutdown.wait(min(LOCK_RETRY_SECONDS, left)):
                return None
        except NewsletterError as e:  # arXiv down, SMTP refused...: one line, the scheduler goes on
            log.error("scheduled run for issue %s failed: %s; see `newsletter status`", day, e)
            return None
        except Exception:
            log.exception("scheduled run for issue %s failed; see `newsletter status`", day)
            return None


def publish_after_run(store: Store, cfg: Config) -> None:
    """With `[web] publish_dir`, publish the archive there after each run (newsletter publish);
    a failure is logged and the scheduler goes on (the next run publishes again)."""
    if not cfg.web.publish_dir or shutdown.stop_requested():
        return
    from .publish import publish

    try:
        report = publish(store, cfg, cfg.resolve(cfg.web.publish_dir))
        log.info("published the archive: %s", report.line())
    except NewsletterError as e:
        log.error("publishing the archive to %s failed: %s", cfg.web.publish_dir, e)
    except Exception:
        log.exception("publishing the archive to %s failed", cfg.web.publish_dir)


def build_scheduler(cfg: Config, job: Callable[[], Any] | None = None) -> BackgroundScheduler:
    """A scheduler with the daily job (not started). `job` defaults to `scheduled_run(cfg)`."""
    grace = cfg.schedule.misfire_grace_seconds
    sched = BackgroundScheduler(
        timezone=cfg.schedule.timezone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
    )
    sched.add_job(job or (lambda: scheduled_run(cfg)), make_trigger(cfg), id=JOB_ID, name="daily issue",
                  coalesce=True, max_instances=1, misfire_grace_time=grace, replace_existing=True)
    if cfg.mailbox.host:  # the bounce mailbox, every hour (and before each run, in scheduled_run)
        sched.add_job(lambda: scheduled_mailbox(cfg), IntervalTrigger(seconds=MAILBOX_EVERY), id=MAILBOX_ID,
                      name="bounce mailbox", coalesce=True, max_instances=1, misfire_grace_time=MAILBOX_EVERY,
                      replace_existing=True)
    return sched


def add_catch_up(sched: BackgroundScheduler, cfg: Config, store: Store, now: datetime | None = None,
                 job: Callable[[date], Any] | None = None) -> date | None:
    """When today's run was missed, queue it to run at once; returns the issue date queued."""
    day = missed_run(store, cfg, now)
    if day is None:
        return None
    log.warning("today's scheduled run (issue %s) was missed: catching up now", day)
    fn = job or (lambda d: scheduled_run(cfg, d))
    sched.add_job(fn, DateTrigger(run_date=now or datetime.now(tz(cfg)), timezone=tz(cfg)), args=[day],
                  id=CATCH_UP_ID, name=f"catch-up {day}", misfire_grace_time=None, replace_existing=True)
    return day


def serve(cfg: Config, catch_up: bool = True) -> int:
    """Run the scheduler in the foreground until SIGTERM/SIGINT; returns the exit code (0)."""
    with shutdown.graceful(), hold(scheduler_lock_path(cfg.var_dir), "newsletter schedule"):
        sched = build_scheduler(cfg)
        if catch_up:
            store = Store.open(cfg.store_path)
            try:
                store.check_writable()
                add_catch_up(sched, cfg, store)
            finally:
                store.close()
        sched.start()
        nxt = sched.get_job(JOB_ID).next_run_time
        log.info("scheduler started: cron %r in %s; next run %s", cfg.schedule.cron, cfg.schedule.timezone,
                 nxt.isoformat() if nxt else "never")
        try:
            while not shutdown.wait(3600):
                pass
        finally:
            log.info("stopping: %s; waiting for the job in flight", shutdown.stop_reason() or "exit")
            sched.shutdown(wait=True)
        log.info("scheduler stopped cleanly")
    detach_file()  # the log file is closed with everything written
    return 0
