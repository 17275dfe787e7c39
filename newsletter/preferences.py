"""A reader's own settings in their [[subscriber]] entry, and everything `subscribers show` tells.

The preference keys are `interests` (free text), `keywords` (list), `authors` (list), `frequency`
(daily | weekly) and `max_papers` (1-100). `preference_changes` turns command-line text into
{key: value, or None to clear}, each value checked with the subscriber file's own rules
(`roster.preference_problem`) so a mistake names the option. `set_preferences` applies them to
the reader's entry wherever it is, validates the entry (`roster.subscriber_entry`) and the whole
set (`roster.load_subscribers`) as they would be, and only then writes (atomically, comments and
every other byte kept). `reader_report` gathers a reader's entry, suppressions, votes and issues.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Config, Profile
from .models import Subscriber
from .roster import load_subscribers, preference_problem, subscriber_entry
from .store import Store
from .subscriber_files import SubscriberError, SubscriberFiles, subscribers_folder
from .subscribers import suppression_text

PREFERENCE_KEYS = ("interests", "keywords", "authors", "frequency", "max_papers")
OPTIONS = {k: "--" + k.replace("_", "-") for k in PREFERENCE_KEYS}
# keywords are separated by commas; authors by semicolons ("Lovelace, Ada" is one author)
SEPARATORS = {"keywords": (",", "commas", "keyword"), "authors": (";", "semicolons", "author")}
WEEKDAYS = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday", "fri": "Friday",
            "sat": "Saturday", "sun": "Sunday"}


def _quoted(raw: str) -> str:
    """A given value as an error quotes it: whole when short, else its start and its length."""
    return repr(raw) if len(raw) <= 60 else f"{raw[:40]!r}... ({len(raw)} characters)"


def _parse_list(key: str, raw: str) -> list[str]:
    sep, names, item = SEPARATORS[key]
    items = [" ".join(x.split()) for x in raw.split(sep)]
    for n, x in enumerate(items, start=1):
        if not x:
            example = "gaussian splatting, nerf" if key == "keywords" else "Ada Lovelace; Alan Turing"
            raise SubscriberError(f"{OPTIONS[key]} {_quoted(raw)}: {item} {n} is empty; separate "
                                  f"{key} with {names}, e.g. {OPTIONS[key]} \"{example}\"")
    seen: dict[str, str] = {}
    for x in items:
        seen.setdefault(x.lower(), x)
    return list(seen.values())


def _parse(key: str, raw: str) -> Any:
    """One option's text as the value the file will hold ('' was taken care of: it clears)."""
    if key in SEPARATORS:
        return _parse_list(key, raw)
    if key == "max_papers":
        return int(raw) if re.fullmatch(r"\s*[+-]?\d{1,9}\s*", raw) else raw.strip()  # "x": refused below
    if key == "frequency":
        return raw.strip().lower()
    return " ".join(raw.split())  # interests: one paragraph


def _check(key: str, raw: str, value: Any) -> None:
    problem = preference_problem(key, value)
    if problem is None:
        return
    path, msg = problem
    which = ""
    if "." in path and isinstance(value, list):  # e.g. authors.0: name the item
        i = int(path.split(".", 1)[1])
        which = f"{SEPARATORS[key][2]} {i + 1} {value[i]!r}: "
    raise SubscriberError(f"{OPTIONS[key]} {_quoted(raw)}: {which}{msg}")


def preference_changes(given: dict[str, str | None], clear: list[str] | None = None) -> dict[str, Any]:
    """Command-line text -> {key: value, None to clear}, keys in PREFERENCE_KEYS order.

    `given` maps preference keys to the option's text (None: not given); an empty text clears
    the key, as does naming it in `clear` ("all" clears every preference). SubscriberError (one
    line naming the option) when a value would be refused in the file.
    """
    unknown = [k for k in given if k not in PREFERENCE_KEYS]
    if unknown:
        raise SubscriberError(f"{unknown[0]!r} is not a preference; use one of {', '.join(PREFERENCE_KEYS)}")
    cleared: set[str] = set()
    for name in clear or []:
        key = name.strip().lower().replace("-", "_")
        if key == "all":
            cleared.update(PREFERENCE_KEYS)
        elif key in PREFERENCE_KEYS:
            cleared.add(key)
        else:
            raise SubscriberError(f"--clear {name!r}: not a preference; use one of {', '.join(PREFERENCE_KEYS)} or all")
    out: dict[str, Any] = {}
    for key in PREFERENCE_KEYS:
        raw = given.get(key)
        if raw is not None and key in cleared and raw.strip():
            raise SubscriberError(f"{OPTIONS[key]} and --clear {key}: give one of them")
        if key in cleared or (raw is not None and not raw.strip()):
            out[key] = None
        elif raw is not None:
            value = _parse(key, raw)
            _check(key, raw, value)
            out[key] = value
    return out


@dataclass
class PreferenceEdit:
    """What `set_preferences` did: the reader as their entry now reads, where, and what changed."""

    subscriber: Subscriber
    file: Path
    changed: list[str] = field(default_factory=list)  # keys whose value changed (set or cleared)


def set_preferences(cfg: Config, email: str, changes: dict[str, Any]) -> PreferenceEdit:
    """Apply {key: value, None to clear} to the reader's entry, in whichever file it is.

    The edited entry is validated with `subscriber_entry` and the whole set with `load_subscribers`
    before anything is written: a ConfigError or SubscriberError leaves every file untouched.
    """
    if not changes:
        raise SubscriberError("nothing to change: give " + ", ".join(OPTIONS.values()) + " or --clear KEY")
    unknown = [k for k in changes if k not in PREFERENCE_KEYS]
    if unknown:
        raise SubscriberError(f"{unknown[0]!r} is not a preference; use one of {', '.join(PREFERENCE_KEYS)}")
    address = email.strip()
    files = SubscriberFiles(cfg)
    found = files.find(address)
    if found is None:
        raise SubscriberError(f"{address!r} is not in {subscribers_folder(cfg)}; add the reader first with "
                              f"`newsletter subscribers add {address}`")
    f, entry = found
    changed = files.set_preferences(f, entry, changes)
    where = f"{f}: [[subscriber]] #{files.position(f, entry)} ({entry.get('email')})"
    subscriber = subscriber_entry(cfg, entry.unwrap(), where)
    subscriber.source = str(f)
    files.save(check=True)
    return PreferenceEdit(subscriber, f, changed)


@dataclass
class ReaderReport:
    """Everything `subscribers show` prints about one reader."""

    subscriber: Subscriber
    lists: list[Profile]
    suppression: str  # '' when every list is mailed, see subscribers.suppression_text
    votes: list[dict[str, Any]]  # store.vote_rows: paper_id, vote, profile, at, title
    issues: list[dict[str, Any]]  # store.reader_issues: date, profile, cadence, papers, status
    weekly_day: str  # "Friday"
    returns: list[dict[str, Any]] = field(default_factory=list)  # store.bounce_rows: bounces, complaints, mailto
    suppressions: list[dict[str, str]] = field(default_factory=list)  # store.suppressions: reason, detail, list, at

    @property
    def language(self) -> str:
        """The language the reader reads in: their own key, else that of their lists."""
        return self.subscriber.language or ", ".join(dict.fromkeys(p.language for p in self.lists))

    @property
    def max_papers_text(self) -> str:
        tops = {p.name: p.top_n for p in self.lists}
        if self.subscriber.max_papers is not None:
            return f"{self.subscriber.max_papers}"
        if len(set(tops.values())) == 1:
            return f"the list's top_n ({next(iter(tops.values()))})"
        return "each list's top_n (" + ", ".join(f"{k} {v}" for k, v in tops.items()) + ")"

    @property
    def frequency_text(self) -> str:
        if self.subscriber.frequency == "weekly":
            return f"weekly (one issue on {self.weekly_day}s, [schedule] weekly_day)"
        return "daily"


def find_reader(cfg: Config, email: str) -> Subscriber:
    """The reader with this address (any case) in the subscriber files; SubscriberError if none."""
    key = email.strip().lower()
    for s in load_subscribers(cfg):
        if s.email.lower() == key:
            return s
    raise SubscriberError(f"{email.strip()!r} is not in {cfg.resolve(cfg.subscribers_dir)}; "
                          "`newsletter subscribers list` shows who is")


def reader_report(cfg: Config, store: Store, email: str, issues: int = 10) -> ReaderReport:
    """A reader's entry, suppressions (with why), feedback votes (newest first), last `issues` issues, and the
    mail that came back about them (bounces, complaints, mailto unsubscribes)."""
    s = find_reader(cfg, email)
    return ReaderReport(
        subscriber=s, lists=[cfg.profile(p) for p in s.profiles], suppression=suppression_text(store.suppressions(s.email)),
        votes=store.vote_rows(s.email), issues=store.reader_issues(s.email, issues),
        weekly_day=WEEKDAYS.get(cfg.schedule.weekly_day, cfg.schedule.weekly_day),
        returns=store.bounce_rows(s.email), suppressions=store.suppressions(s.email),
    )
