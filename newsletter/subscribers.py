"""Edit subscribers/*.toml: add, remove, import CSV, unsubscribe; comments and order are kept.

The files stay the reviewable source of truth (tomlkit rewrites only what changed). Addresses
are validated without network and compared case-insensitively: adding a known address merges
into its entry (profiles are united) instead of making a duplicate. Every refused input gets one
line that says which row and why. Unsubscribing goes to the store's `suppressions` (for one
list, or for every list), which every send honours whatever the files say.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Config
from .models import Subscriber
from .roster import load_subscribers, normalize_email
from .store import Store
from .subscriber_files import SubscriberError, SubscriberFiles, target_file

__all__ = ["EditResult", "SubscriberError", "add_subscriber", "import_csv", "list_subscribers", "remove_subscriber",
           "resubscribe", "suppression_text", "unsubscribe"]


@dataclass
class EditResult:
    added: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # one line each: where and why
    files: set[Path] = field(default_factory=set)


def _profiles(cfg: Config, given: list[str] | None) -> list[str]:
    known = [p.name for p in cfg.profiles]
    if not given:
        if len(known) == 1:
            return known
        raise SubscriberError(f"say which profiles with --profile (known: {', '.join(known)})")
    unknown = [p for p in given if p not in known]
    if unknown:
        raise SubscriberError(f"unknown profile {unknown[0]!r}; known: {', '.join(known)}")
    return list(dict.fromkeys(given))


def _apply(files: SubscriberFiles, target: Path, email: str, name: str, profiles: list[str], result: EditResult,
           preferences: dict[str, Any] | None = None) -> None:
    found = files.find(email)
    if found is None:
        entry = files.add(target, email, name, profiles)
        files.set_preferences(target, entry, {k: v for k, v in (preferences or {}).items() if v is not None})
        result.added.append(email)
        return
    f, entry = found
    changed = False
    have = entry.get("profiles")
    if have is None:
        entry["profiles"] = profiles
        changed = True
    else:
        for p in profiles:
            if p not in have:
                have.append(p)
                changed = True
    if name and str(entry.get("name", "")) != name:
        entry["name"] = name
        changed = True
    if files.set_preferences(f, entry, preferences or {}):
        changed = True
    if changed:
        files.dirty.add(f)
        result.merged.append(email)
    else:
        result.unchanged.append(email)


def _clean_name(name: str) -> str:
    return " ".join((name or "").split())[:200]


def add_subscriber(
    cfg: Config, email: str, name: str = "", profiles: list[str] | None = None, file: str | None = None,
    preferences: dict[str, Any] | None = None,
) -> EditResult:
    """Add one address (or merge it into its existing entry); SubscriberError says why not.

    `preferences` ({key: value, None to clear}, see `preferences.preference_changes`) are set in
    the same entry. The files are checked as a whole before anything is written.
    """
    try:
        address = normalize_email(email.strip())
    except ValueError as e:
        raise SubscriberError(f"{email!r} is not a valid address: {e}") from None
    chosen = _profiles(cfg, profiles)
    files = SubscriberFiles(cfg)
    result = EditResult()
    _apply(files, target_file(cfg, file), address, _clean_name(name), chosen, result, preferences)
    result.files = files.save(check=True)
    if not result.files:
        load_subscribers(cfg)  # nothing changed, yet the files as a whole must still load
    return result


def remove_subscriber(cfg: Config, email: str) -> list[Path]:
    """Delete the address from every file (case-insensitive); returns the files changed."""
    files = SubscriberFiles(cfg)
    changed = files.remove(email.strip())
    if not changed:
        raise SubscriberError(f"{email.strip()!r} is not in {cfg.resolve(cfg.subscribers_dir)}")
    files.save()
    return changed


def import_csv(
    cfg: Config, source: str | Path | io.TextIOBase, profiles: list[str] | None = None, file: str | None = None,
) -> EditResult:
    """Rows `email[,name[,profiles]]` (a header row naming these columns is recognised).

    Good rows are added or merged (also duplicates within the CSV); each bad row is refused with
    one line naming it; nothing is written if no row is good.
    """
    default_profiles = _profiles(cfg, profiles) if profiles or len(cfg.profiles) == 1 else None
    known = {p.name for p in cfg.profiles}
    if isinstance(source, str | Path):
        try:
            text = Path(source).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise SubscriberError(f"{source}: cannot read the CSV file ({e})") from None
        label = str(source)
    else:
        text, label = source.read(), "CSV"
    rows = list(csv.reader(io.StringIO(text)))
    columns = {"email": 0, "name": 1, "profiles": 2}
    start = 0
    if rows and any(c.strip().lower() == "email" for c in rows[0]):
        header = [c.strip().lower() for c in rows[0]]
        columns = {k: header.index(k) for k in ("email", "name", "profiles") if k in header}
        start = 1
    files = SubscriberFiles(cfg)
    target = target_file(cfg, file)
    result = EditResult()
    for n, row in enumerate(rows[start:], start=start + 1):
        if not any(c.strip() for c in row):
            continue

        def col(key: str, row: list[str] = row) -> str:
            i = columns.get(key)
            return row[i].strip() if i is not None and i < len(row) else ""

        raw = col("email")
        where = f"{label}: row {n}"
        if not raw:
            result.refused.append(f"{where}: no email address")
            continue
        try:
            address = normalize_email(raw)
        except ValueError as e:
            result.refused.append(f"{where}: {raw!r} is not a valid address: {e}")
            continue
        chosen = [p for p in re.split(r"[;|\s]+", col("profiles")) if p] or default_profiles
        if not chosen:
            result.refused.append(f"{where}: no profiles column and no --profile given")
            continue
        unknown = [p for p in chosen if p not in known]
        if unknown:
            result.refused.append(f"{where}: unknown profile {unknown[0]!r} (known: {', '.join(sorted(known))})")
            continue
        _apply(files, target, address, _clean_name(col("name")), chosen, result)
    result.files = files.save(check=True)
    return result


def suppression_text(rows: list[dict[str, str]]) -> str:
    """How one address's suppressions read in `subscribers list`: "unsubscribed" when it covers
    every list, "unsubscribed from cv" for one list, joined with "; " ('' when mail goes out)."""
    return "; ".join(r["reason"] if not r["list"] else f"{r['reason']} from {r['list']}" for r in rows)


def list_subscribers(cfg: Config, store: Store | None = None) -> list[tuple[Subscriber, str]]:
    """Every subscriber with its suppressions ('' when every list is mailed), see suppression_text."""
    by_email: dict[str, list[dict[str, str]]] = {}
    for row in store.suppressions() if store is not None else []:
        by_email.setdefault(row["email"], []).append(row)
    return [(s, suppression_text(by_email.get(s.email.lower(), []))) for s in load_subscribers(cfg)]


def _one_profile(cfg: Config, profile: str | None) -> str:
    """The list to act on: "" for every list, or a known profile name (SubscriberError otherwise)."""
    if profile is None:
        return ""
    known = [p.name for p in cfg.profiles]
    if profile not in known:
        raise SubscriberError(f"unknown profile {profile!r}; known: {', '.join(known)}")
    return profile


def unsubscribe(store: Store, cfg: Config, email: str, remove: bool = False, profile: str | None = None) -> str:
    """Suppress the address for one list (profile) or every list (None), whatever the files say.

    With `remove`, the files change too: the profile leaves the entry's profiles (the entry goes
    when none is left), or without a profile the entry is deleted.
    """
    address = email.strip()
    try:
        address = normalize_email(address)
    except ValueError as e:
        raise SubscriberError(f"{email!r} is not a valid address: {e}") from None
    list_name = _one_profile(cfg, profile)
    store.suppress(address, "unsubscribed", "newsletter subscribers unsubscribe", list_name=list_name)
    if remove:
        files = SubscriberFiles(cfg)
        changed = files.drop_profile(address, list_name) if list_name else files.remove(address)
        if changed:
            files.save()
    return address.lower()


def resubscribe(store: Store, email: str, cfg: Config | None = None, profile: str | None = None) -> bool:
    """Lift suppressions (only on the reader's explicit request): every one, or that list's only."""
    list_name = _one_profile(cfg, profile) if cfg is not None and profile is not None else profile
    return store.unsuppress(email.strip(), list_name)
