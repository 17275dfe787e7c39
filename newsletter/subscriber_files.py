"""The subscriber files as tomlkit documents: found, changed in memory, checked, written back atomically.

What `subscribers.py` (add, remove, import, unsubscribe) and `preferences.py` (a reader's own
settings) share. tomlkit keeps every comment, blank line and the order of the entries, so a file
changes only where an entry changed. `save(check=True)` validates the files as they would be
(`roster.load_subscribers` on the new texts) before anything is written: a refused edit leaves
every file as it was.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT, Table

from .config import Config
from .errors import ConfigError, UsageError
from .roster import load_subscribers

DEFAULT_FILE = "subscribers.toml"
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HEADER = (
    "# Subscribers of this list. One [[subscriber]] per person: email, name, profiles.\n"
    "# Edit by hand or with `newsletter subscribers add|remove|import|set`.\n"
)


class SubscriberError(UsageError):
    """A request that cannot be applied at all (bad file name, unknown profile...); one line."""


def subscribers_folder(cfg: Config) -> Path:
    folder = cfg.resolve(cfg.subscribers_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def target_file(cfg: Config, file: str | None) -> Path:
    """Where new entries go: `--file NAME` in the folder, else its first file (or subscribers.toml)."""
    folder = subscribers_folder(cfg)
    if file:
        name = file if file.endswith(".toml") else f"{file}.toml"
        if not _FILE_NAME.match(name):
            raise SubscriberError(f"--file {file!r}: use a plain file name such as team.toml")
        return folder / name
    existing = sorted(folder.glob("*.toml"))
    return existing[0] if existing else folder / DEFAULT_FILE


class SubscriberFiles:
    """The subscriber files parsed with tomlkit, changed in memory, written back atomically."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.docs: dict[Path, tomlkit.TOMLDocument] = {}
        self.dirty: set[Path] = set()
        for f in sorted(subscribers_folder(cfg).glob("*.toml")):
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
        return aot if isinstance(aot, AoT | list) else []

    def find(self, email: str) -> tuple[Path, Table] | None:
        key = email.lower()
        for f, doc in self.docs.items():
            for entry in self.entries(doc):
                if isinstance(entry, dict) and str(entry.get("email", "")).lower() == key:
                    return f, entry
        return None

    def position(self, f: Path, entry: Table) -> int:
        """The entry's number in its file (1-based), as errors and `load_subscribers` count them."""
        return next(n for n, e in enumerate(self.entries(self.docs[f]), start=1) if e is entry)

    def add(self, f: Path, email: str, name: str, profiles: list[str]) -> Table:
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
        return t

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

    def set_key(self, f: Path, entry: Table, key: str, value: Any) -> None:
        """Set (or, with None, delete) one key of an entry. An existing key is replaced in place,
        keeping its comment; a new one goes right after the entry's last key, never below a comment
        or blank line that introduces the next entry."""
        if value is None:
            if key in entry:
                del entry[key]
                self.dirty.add(f)
            return
        if key in entry:
            entry[key] = value
        else:
            keys = list(entry.value.keys())  # tomlkit's Container: the keys in file order
            try:
                # tomlkit has no public "insert after"; appending would land below a trailing comment
                entry.value._insert_after(keys[-1], key, value)
            except Exception:  # a tomlkit without it: append (the file stays valid, only placement differs)
                entry[key] = value
        self.dirty.add(f)

    def set_preferences(self, f: Path, entry: Table, changes: dict[str, Any]) -> list[str]:
        """Apply {key: value, or None to delete the key}; returns the keys whose value changed."""
        changed = []
        for key, value in changes.items():
            before = entry.get(key)
            if (before.unwrap() if hasattr(before, "unwrap") else before) == value:
                continue
            self.set_key(f, entry, key, value)
            changed.append(key)
        return changed

    def texts(self) -> dict[Path, str]:
        """The changed files as they would be written."""
        return {f: tomlkit.dumps(self.docs[f]) for f in self.dirty}

    def save(self, check: bool = False) -> set[Path]:
        """Write the changed files (each through a temporary file and a rename). With `check`, the
        whole set is validated as it would be first; a ConfigError then leaves every file untouched."""
        texts = self.texts()
        if check and texts:
            load_subscribers(self.cfg, pending=texts)
        for f, text in texts.items():
            tmp = f.with_name(f".{f.name}.{uuid.uuid4().hex}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, f)
        return set(self.dirty)
