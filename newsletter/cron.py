"""Standard crontab expressions for APScheduler 3, whose weekday numbers differ from cron's.

APScheduler 3's `CronTrigger.from_crontab` reads the weekday field with 0 = Monday (its issue
#286), so "30 9 * * 1-5" would run Tuesday to Saturday, and it refuses wrap-around ranges such as
"sun-thu". Here the weekday field is read as cron reads it (0 and 7 = Sunday, names too, ranges,
steps, wrap-around allowed) and handed over as names, which mean the same in both.
"""

from __future__ import annotations

import re

from apscheduler.triggers.cron import CronTrigger

NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]  # cron numbering: index = number


def _day(token: str) -> int:
    t = token.strip().lower()
    if t.isdigit() and 0 <= int(t) <= 7:
        return int(t) % 7
    if t[:3] in NAMES and len(t) == 3:
        return NAMES.index(t)
    raise ValueError(f"day of week {token!r} is not 0-7 or sun..sat")


def weekdays(field: str) -> str:
    """The crontab weekday field as APScheduler names, e.g. '1-5' -> 'mon,tue,wed,thu,fri'."""
    if field.strip() in ("*", "?"):
        return "*"
    days: list[int] = []
    for part in field.split(","):
        base, _, step_s = part.partition("/")
        step = int(step_s) if step_s else 1
        if step < 1:
            raise ValueError(f"step {step_s!r} in {field!r} must be at least 1")
        if base == "*":
            seq = list(range(7))
        elif "-" in base:
            a_s, b_s = base.split("-", 1)
            a, b = _day(a_s), _day(b_s)
            if b_s.strip() == "7":
                b = 7  # "1-7" is Monday to Sunday
            seq = [d % 7 for d in range(a, b + 1)] if a <= b else [d % 7 for d in range(a, b + 8)]
        else:
            seq = [_day(base)]
            if step_s:  # "1/2": from Monday, every other day up to Saturday, as cron does
                seq = list(range(seq[0], 7))
        for d in seq[::step]:
            if d not in days:
                days.append(d)
    return ",".join(NAMES[d] for d in sorted(days, key=lambda d: (d + 6) % 7))


def crontab_trigger(expr: str, timezone: str | None = None) -> CronTrigger:
    """A CronTrigger from five crontab fields, weekdays as cron means them; ValueError if bad."""
    values = expr.split()
    if len(values) != 5:
        raise ValueError(f"wrong number of fields: got {len(values)}, expected 5")
    dow = values[4]
    if not re.fullmatch(r"[0-9a-zA-Z*,/\-?]+", dow):
        raise ValueError(f"day of week {dow!r} is not understood")
    return CronTrigger(minute=values[0], hour=values[1], day=values[2], month=values[3],
                       day_of_week=weekdays(dow), timezone=timezone)
