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
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit
from tomlkit.items import AoT, Table

from .config import Config
from .errors import ConfigError, UsageError
from .models import Subscriber
from .roster import load_subscribers, normalize_email
from .store import Store

DEFAULT_FILE = "subscribers.toml"
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HEADER = (
    "# Subscribers of this list. One [[subscriber]] per person: email, name, profiles.\n"
    "# Edit by hand or with `newsletter subscribers add|remove|import`.\n"
)


class SubscriberError(UsageError):
    """A request that cannot be applied at all (bad file name, unknown profile...); one line."""


@dataclass
class EditResult:
    added: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # one line each: where and why
    files: set[Path] = field(default_factory=set)


def _folder(cfg: Config) -> Path:
    folder = cfg.resolve(cfg.subscribers_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _target(cfg: Config, file: str | None) -> Path:
    folder = _folder(cfg)
    if file:
        name = file if file.endswith(".toml") else f"{file}.toml"
        if not _FILE_NAME.match(name):
            raise SubscriberError(f"--file {file!r}: use a plain file name such as team.toml")
        return folder / name
    existing = sorted(folder.glob("*.toml"))
    return existing[0] if existing else folder / DEFAULT_FILE


class _Files:
    """The subscriber files parsed with tomlkit, changed in memory, written back atomically."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.docs: dict[Path, tomlkit.TOMLDocument] = {}
        self.dirty: set[Path] = set()
        for f in sorted(_folder(cfg).glob("*.toml")):
            self.docs[f] = self._parse(f)

    @staticmethod
    def _parse(f: Path) -> tomlkit.TOMLDocument:
        try:
            return tomlkit.parse(f.read_text(encoding="utf-8"))
        except Exception as e:  # tomlkit raises its own ParseError subclasses
            raise ConfigError(f"{f}: not valid TOML ({e}); fix it by hand first") from None

    def doc(self, f: Path) -> tomlkit.TOMLDocument:
        if f not in self.docs:
            self.docs[f] = tomlkit.parse(_HEADER)
        return self.docs[f]

    @staticmethod
    def entries(doc: tomlkit.TOMLDocument) -> AoT | list:
        aot = doc.get("subscriber")
        return aot if aot is not None else []

    def find(self, email: str) -> tuple[Path, Table] | None:
        key = email.lower()
        for f, doc in self.docs.items():
            for entry in self.entries(doc):
                if str(entry.get("email", "")).lower() == key:
                    return f, entry
        return None

    def add(self, f: Path, email: str, name: str, profiles: list[str]) -> None:
        doc = self.doc(f)
        t = tomlkit.table()
        t["email"] = email
        if name:
            t["name"] = name
        t["profiles"] = profiles
        if doc.get("subscriber") is None:
            aot = tomlkit.aot()
            aot.append(t)
            doc.append("subscriber", aot)
        else:
            aot = doc["subscriber"]
            if len(aot) and not tomlkit.dumps(doc).endswith("\n\n"):
                aot[-1].add(tomlkit.nl())  # a blank line between entries, as people write them
            aot.append(t)
        self.dirty.add(f)

    def remove(self, email: str) -> list[Path]:
        key, out = email.lower(), []
        for f, doc in self.docs.items():
            aot = doc.get("subscriber")
            if aot is None:
                continue
            for i in reversed(range(len(aot))):
                if str(aot[i].get("email", "")).lower() == key:
                    del aot[i]
                    out.append(f)
                    self.dirty.add(f)
        return out

    def drop_profile(self, email: str, profile: str) -> list[Path]:
        """Take one profile out of the address's entry; the entry goes when no profile is left."""
        found = self.find(email)
        if found is None:
            return []
        f, entry = found
        have = entry.get("profiles")
        if have is None or profile not in have:
            return []
        if len(have) == 1:
            return self.remove(email)
        del have[list(have).index(profile)]
        self.dirty.add(f)
        return [f]

    def save(self) -> set[Path]:
        for f in self.dirty:
            tmp = f.with_name(f".{f.name}.{uuid.uuid4().hex}.tmp")
            tmp.write_text(tomlkit.dumps(self.docs[f]), encoding="utf-8")
            os.replace(tmp, f)
        return set(self.dirty)


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


def _apply(files: _Files, target: Path, email: str, name: str, profiles: list[str], result: EditResult) -> None:
    found = files.find(email)
    if found is None:
        files.add(target, email, name, profiles)
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
    if changed:
        files.dirty.add(f)
        result.merged.append(email)
    else:
        result.unchanged.append(email)


def _clean_name(name: str) -> str:
    return " ".join((name or "").split())[:200]


def add_subscriber(
    cfg: Config, email: str, name: str = "", profiles: list[str] | None = None, file: str | None = None,
) -> EditResult:
    """Add one address (or merge it into its existing entry); SubscriberError says why not."""
    try:
        address = normalize_email(email.strip())
    except ValueError as e:
        raise SubscriberError(f"{email!r} is not a valid address: {e}") from None
    chosen = _profiles(cfg, profiles)
    files = _Files(cfg)
    result = EditResult()
    _apply(files, _target(cfg, file), address, _clean_name(name), chosen, result)
    result.files = files.save()
    load_subscribers(cfg)  # the files as a whole must still load
    return result


def remove_subscriber(cfg: Config, email: str) -> list[Path]:
    """Delete the address from every file (case-insensitive); returns the files changed."""
    files = _Files(cfg)
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
    files = _Files(cfg)
    target = _target(cfg, file)
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
    result.files = files.save()
    if result.files:
        load_subscribers(cfg)
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
        files = _Files(cfg)
        changed = files.drop_profile(address, list_name) if list_name else files.remove(address)
        if changed:
            files.save()
    return address.lower()


def resubscribe(store: Store, email: str, cfg: Config | None = None, profile: str | None = None) -> bool:
    """Lift suppressions (only on the reader's explicit request): every one, or that list's only."""
    list_name = _one_profile(cfg, profile) if cfg is not None and profile is not None else profile
    return store.unsuppress(email.strip(), list_name)
