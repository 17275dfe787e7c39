"""The scheduler: cron fire times in local time across DST, coalescing, misfire grace, catch-up on
start, and the one-at-a-time lock between a scheduled job and a manual run. Real APScheduler with
a controlled clock (time-machine), a real store."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED

from newsletter.config import Config, load_config
from newsletter.ops import shutdown
from newsletter.ops.schedule import (
    add_catch_up,
    build_scheduler,
    fire_times,
    make_trigger,
    missed_run,
    next_fire,
    previous_fire,
)
from newsletter.store import Store

SHANGHAI = ZoneInfo("Asia/Shanghai")


def cfg_with(project, cron: str = "30 9 * * mon-fri", tz: str = "Asia/Shanghai", grace: int = 21600) -> Config:
    cfg = load_config(project.config)
    cfg.schedule.cron, cfg.schedule.timezone, cfg.schedule.misfire_grace_seconds = cron, tz, grace
    return cfg


# -- the trigger across DST ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tz, start, end, utc_hours",
    [
        # US DST starts Sun 2026-03-08 and ends Sun 2026-11-01: 20:00 local is 01:00 then 00:00 UTC.
        ("America/New_York", datetime(2026, 3, 5), datetime(2026, 3, 11, 23), {-5: 1, -4: 0}),
        ("America/New_York", datetime(2026, 10, 28), datetime(2026, 11, 4, 23), {-4: 0, -5: 1}),
        # EU DST starts Sun 2026-03-29 and ends Sun 2026-10-25: 20:00 local is 19:00 then 18:00 UTC.
        ("Europe/Berlin", datetime(2026, 3, 25), datetime(2026, 4, 1, 23), {1: 19, 2: 18}),
        ("Europe/Berlin", datetime(2026, 10, 21), datetime(2026, 10, 28, 23), {2: 18, 1: 19}),
    ],
)
def test_fires_at_local_time_on_announcement_days_across_dst(project, tz, start, end, utc_hours):
    cfg = cfg_with(project, cron="0 20 * * sun-thu", tz=tz)
    zone = ZoneInfo(tz)
    times = fire_times(cfg, start.replace(tzinfo=zone), end.replace(tzinfo=zone))
    assert times, "no fire time at all"
    days = [t.date() for t in times]
    expected = [start.date() + timedelta(days=i) for i in range((end.date() - start.date()).days + 1)]
    assert days == [d for d in expected if d.weekday() in (6, 0, 1, 2, 3)]  # Sun-Thu, nothing Fri/Sat
    offsets = set()
    for t in times:
        local = t.astimezone(zone)
        assert (local.hour, local.minute) == (20, 0), local
        off = int(local.utcoffset().total_seconds() // 3600)
        offsets.add(off)
        assert t.astimezone(ZoneInfo("UTC")).hour == utc_hours[off]
    assert offsets == set(utc_hours), "the range must cross the DST change"


def test_next_fire_is_after_now_in_the_schedule_timezone(project):
    cfg = cfg_with(project)  # 09:30 Mon-Fri, Asia/Shanghai
    fri_10 = datetime(2026, 2, 13, 10, 0, tzinfo=SHANGHAI)
    assert next_fire(cfg, fri_10) == datetime(2026, 2, 16, 9, 30, tzinfo=SHANGHAI)  # Monday
    # a time given in another zone is read as the same instant
    assert next_fire(cfg, fri_10.astimezone(ZoneInfo("America/New_York"))) == datetime(2026, 2, 16, 9, 30, tzinfo=SHANGHAI)
    assert previous_fire(cfg, fri_10) == datetime(2026, 2, 13, 9, 30, tzinfo=SHANGHAI)
    assert previous_fire(cfg, datetime(2026, 2, 15, 12, tzinfo=SHANGHAI)).date() == date(2026, 2, 13)


def test_shipped_schedule_follows_the_announcement_days(project):
    cfg = load_config(project.config)
    start = datetime(2026, 2, 9, tzinfo=SHANGHAI)  # a Monday
    times = fire_times(cfg, start, start + timedelta(days=7))
    assert [t.strftime("%a %H:%M") for t in times] == [f"{d} 09:30" for d in ("Mon", "Tue", "Wed", "Thu", "Fri")]
    assert make_trigger(cfg).timezone == SHANGHAI


# -- the running scheduler under a controlled clock ------------------------------------------------


class Recorder:
    """Counts job runs and the scheduler's events; waits are bounded."""

    def __init__(self, sched):
        self.runs: list[datetime] = []
        self.events: list[int] = []
        self.args: list[object] = []
        self._cond = threading.Condition()
        sched.add_listener(self._on_event, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)

    def job(self, *args: object) -> None:
        self.runs.append(datetime.now(SHANGHAI))
        self.args.append(args)

    def _on_event(self, ev) -> None:
        with self._cond:
            self.events.append(ev.code)
            self._cond.notify_all()

    def wait_events(self, n: int, timeout: float = 10) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.events) >= n, timeout), f"only {self.events} after {timeout}s"


def test_missed_runs_are_coalesced_into_one(project):
    cfg = cfg_with(project)
    with time_machine.travel(datetime(2026, 2, 9, 9, 0, tzinfo=SHANGHAI), tick=True) as clock:
        sched = build_scheduler(cfg)
        rec = Recorder(sched)
        sched.get_job("issue").modify(func=rec.job)
        sched.start()
        try:
            assert sched.get_job("issue").next_run_time == datetime(2026, 2, 9, 9, 30, tzinfo=SHANGHAI)
            # the machine sleeps through Mon, Tue, Wed and Thu 09:30 and wakes on Thursday at 10:00
            clock.move_to(datetime(2026, 2, 12, 10, 0, tzinfo=SHANGHAI))
            sched.wakeup()
            rec.wait_events(1)
            assert rec.events == [EVENT_JOB_EXECUTED]
            assert len(rec.runs) == 1 and rec.runs[0].date() == date(2026, 2, 12)
            assert sched.get_job("issue").next_run_time == datetime(2026, 2, 13, 9, 30, tzinfo=SHANGHAI)
        finally:
            sched.shutdown(wait=True)
    assert len(rec.runs) == 1


def test_a_run_later_than_the_grace_time_is_skipped(project):
    cfg = cfg_with(project, grace=3600)
    with time_machine.travel(datetime(2026, 2, 9, 9, 0, tzinfo=SHANGHAI), tick=True) as clock:
        sched = build_scheduler(cfg)
        rec = Recorder(sched)
        sched.get_job("issue").modify(func=rec.job)
        sched.start()
        try:
            clock.move_to(datetime(2026, 2, 9, 11, 0, tzinfo=SHANGHAI))  # 90 min late, grace is 60
            sched.wakeup()
            rec.wait_events(1)
            assert rec.events == [EVENT_JOB_MISSED] and rec.runs == []
            clock.move_to(datetime(2026, 2, 10, 9, 40, tzinfo=SHANGHAI))  # 10 min late: runs
            sched.wakeup()
            rec.wait_events(2)
            assert rec.events[1] == EVENT_JOB_EXECUTED and len(rec.runs) == 1
        finally:
            sched.shutdown(wait=True)


# -- catch-up on start ------------------------------------------------------------------------------


def _edition(store: Store, day: date, status: str, readers: tuple[str, ...] = ()) -> int:
    """The day's cv edition in a given state, with its readers' ledger rows (pending)."""
    from newsletter.models import Edition

    eid = store.save_selection(Edition(date=day, profile="cv", language="zh", title="t", status=status), [])
    store.create_deliveries(eid, [(r, "", f"<{n}@x>") for n, r in enumerate(readers)])
    return eid


def test_missed_run_is_decided_from_the_days_editions(project):
    """Catch-up follows what was mailed, not which command ran: a failed run, a run stopped before
    delivery, a failed `send` or messages left pending all leave the day to be caught up."""
    cfg = cfg_with(project)
    store = Store.open(project.dir / "var" / "newsletter.db")
    mon = date(2026, 2, 9)
    at = lambda *a: datetime(*a, tzinfo=SHANGHAI)  # noqa: E731
    assert missed_run(store, cfg, at(2026, 2, 9, 10, 0)) == mon  # 09:30 passed, nothing ran
    assert missed_run(store, cfg, at(2026, 2, 9, 9, 0)) is None  # not yet time
    assert missed_run(store, cfg, at(2026, 2, 14, 10, 0)) is None  # Saturday: no run today
    assert missed_run(store, cfg, at(2026, 2, 9, 16, 0)) is None  # beyond the 6 h grace
    rid = store.start_run("send", mon)
    store.update_run(rid, status="ok", stage="deliver", finished="2026-02-09T02:00:00+00:00")
    assert missed_run(store, cfg, at(2026, 2, 9, 10, 0)) == mon  # some command "ok" is not a mailed day
    eid = _edition(store, mon, "rendered", ("ada@example.org", "alan@example.org"))
    assert missed_run(store, cfg, at(2026, 2, 9, 10, 0)) == mon  # stopped before delivery
    store.set_delivery(eid, "ada@example.org", "sent")
    store.update_edition(eid, status="sent")
    assert missed_run(store, cfg, at(2026, 2, 9, 10, 0)) == mon  # a stop left a message pending
    store.set_delivery(eid, "alan@example.org", "sent")
    assert missed_run(store, cfg, at(2026, 2, 9, 10, 0)) is None  # done
    store.close()


def test_failed_send_is_recorded_as_failed_and_leaves_the_day_to_catch_up(project, cli):
    r = cli("send", "--date", "2026-02-09")
    assert r.code == 1 and "no rendered edition for 2026-02-09" in r.err
    store = Store.open(project.dir / "var" / "newsletter.db")
    run = store.recent_runs(1)[0]
    assert (run["command"], run["status"]) == ("send", "failed")
    at = datetime(2026, 2, 9, 10, 0, tzinfo=SHANGHAI)
    assert missed_run(store, cfg_with(project), at) == date(2026, 2, 9)
    store.close()
    assert "failed at stage deliver" in cli("status").out


def test_catch_up_runs_once_at_start_when_todays_run_was_missed(project):
    cfg = cfg_with(project)
    store = Store.open(project.dir / "var" / "newsletter.db")
    now = datetime(2026, 2, 10, 11, 0, tzinfo=SHANGHAI)  # Tuesday, 90 min after the 09:30 run time
    with time_machine.travel(now, tick=True):
        sched = build_scheduler(cfg)
        rec = Recorder(sched)
        sched.get_job("issue").modify(func=rec.job)
        assert add_catch_up(sched, cfg, store, now=now, job=rec.job) == date(2026, 2, 10)
        sched.start()
        try:
            rec.wait_events(1)
            assert rec.args == [(date(2026, 2, 10),)]
            assert sched.get_job("issue").next_run_time == datetime(2026, 2, 11, 9, 30, tzinfo=SHANGHAI)
        finally:
            sched.shutdown(wait=True)
    assert len(rec.runs) == 1
    # once the day is done, a restart does not run it again
    _edition(store, date(2026, 2, 10), "sent")
    sched2 = build_scheduler(cfg)
    assert add_catch_up(sched2, cfg, store, now=now) is None
    assert sched2.get_job("catch-up") is None
    store.close()


def test_stop_flag_wait_wakes_early():
    shutdown.reset()
    t = threading.Timer(0.05, shutdown.request_stop, args=("test",))
    t.start()
    try:
        assert shutdown.wait(30) is True
        assert shutdown.stop_requested() and shutdown.stop_reason() == "test"
    finally:
        t.cancel()
        shutdown.reset()
    assert not shutdown.stop_requested()


@pytest.mark.parametrize(
    "field, days",
    [
        ("1-5", "Mon Tue Wed Thu Fri"),  # APScheduler 3 alone would read Tue-Sat
        ("mon-fri", "Mon Tue Wed Thu Fri"),
        ("0", "Sun"),
        ("7", "Sun"),
        ("sun-thu", "Mon Tue Wed Thu Sun"),  # wrap-around, refused by APScheduler 3 alone
        ("*/2", "Tue Thu Sat Sun"),  # cron: 0,2,4,6
        ("0,6", "Sat Sun"),
    ],
)
def test_crontab_weekdays_mean_what_cron_means(project, field, days):
    cfg = cfg_with(project, cron=f"0 8 * * {field}", tz="UTC")
    start = datetime(2026, 2, 9, tzinfo=ZoneInfo("UTC"))  # Monday
    got = {t.strftime("%a") for t in fire_times(cfg, start, start + timedelta(days=6, hours=23))}
    assert got == set(days.split())


def test_config_accepts_crontab_weekdays_and_refuses_nonsense(project):
    from newsletter.errors import ConfigError

    project.edit('cron = "30 9 * * mon-fri"', 'cron = "0 20 * * sun-thu"')
    assert load_config(project.config).schedule.cron == "0 20 * * sun-thu"
    project.edit('cron = "0 20 * * sun-thu"', 'cron = "0 20 * * funday"')
    with pytest.raises(ConfigError, match="cron"):
        load_config(project.config)
