"""Subscriber files: `subscribers/*.toml` read and validated into Subscribers (one clear line per mistake)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError

from .config import Config, StrictModel
from .errors import ConfigError
from .models import Subscriber


class _SubscriberIn(StrictModel):
    email: str
    name: str = ""
    profiles: list[str] = Field(min_length=1)
    language: Literal["zh", "en"] | None = None
    interests: str = Field(default="", max_length=2000)
    keywords: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default=[], max_length=50)
    authors: list[Annotated[str, Field(min_length=2, max_length=200)]] = Field(default=[], max_length=50)
    frequency: Literal["daily", "weekly"] = "daily"
    max_papers: int | None = Field(default=None, ge=1, le=100)


SUBSCRIBER_KEYS = tuple(_SubscriberIn.model_fields)


def normalize_email(address: str) -> str:
    """Validate without network (no DNS) and return the normalized form; ValueError says why."""
    from email_validator import EmailNotValidError, validate_email

    if any(c in address for c in "\r\n"):
        raise ValueError("an address cannot contain a line break")
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise ValueError(str(e)) from None


def load_subscribers(cfg: Config, pending: dict[Path, str] | None = None) -> list[Subscriber]:
    """All subscriber files, validated together: bad or duplicate addresses and unknown profiles fail.

    `pending` maps files to texts not written yet (an edit checked before it is saved): they are
    read instead of the disk, and a new file among them counts as if it were there.
    """
    folder = cfg.resolve(cfg.subscribers_dir)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: subscribers folder not found; create it or set subscribers_dir in {cfg.source}")
    pending = pending or {}
    seen: dict[str, str] = {}
    out: list[Subscriber] = []
    for f in sorted(set(folder.glob("*.toml")) | set(pending)):
        for n, raw in enumerate(_entries(f, pending.get(f)), start=1):
            where = f"{f}: [[subscriber]] #{n}"
            s = subscriber_entry(cfg, raw, where)
            key = s.email.lower()
            if key in seen:
                raise ConfigError(f"{where}: email {s.email} is listed twice (also in {seen[key]}); keep one entry")
            seen[key] = f"{f.name}"
            s.source = str(f)
            out.append(s)
    return out


def _entries(f: Path, text: str | None = None) -> list:
    try:
        data = tomllib.loads(f.read_text(encoding="utf-8") if text is None else text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{f}: not valid TOML ({e}); fix the syntax at that line") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{f}: cannot read the file ({e})") from None
    extra = set(data) - {"subscriber"}
    if extra:
        raise ConfigError(f"{f}: unknown table {sorted(extra)[0]!r}; only [[subscriber]] entries belong here")
    entries = data.get("subscriber", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{f}: 'subscriber' must be an array of tables: write [[subscriber]]")
    return entries


def _problem(err: dict) -> tuple[str, str]:
    """(key, what is wrong) for one pydantic error, in the words a subscriber file's author needs."""
    key = ".".join(str(x) for x in err["loc"]) or "entry"
    msg = err["msg"]
    if err["type"] == "missing":
        msg = "required key is missing"
    elif err["type"] == "extra_forbidden":
        msg = f"unknown key (allowed: {', '.join(SUBSCRIBER_KEYS)})"
    elif err["type"] == "list_type" and isinstance(err.get("input"), str):
        items = [x.strip() for x in re.split(r"[,;]", err["input"]) if x.strip()] or ["..."]
        msg = f"must be a list, not a string: write {key} = [{', '.join(json.dumps(x, ensure_ascii=False) for x in items)}]"
    return key, msg


def preference_problem(key: str, value: object) -> tuple[str, str] | None:
    """Why one value of a [[subscriber]] key would be refused: (key path, e.g. 'authors.0', and what
    is wrong), or None when it would be accepted. The checks are the file's own."""
    try:
        _SubscriberIn.model_validate({"email": "reader@example.org", "profiles": ["any"], key: value})
    except ValidationError as e:
        return _problem(e.errors()[0])
    return None


def subscriber_entry(cfg: Config, raw: object, where: str) -> Subscriber:
    """One [[subscriber]] table checked against the config; ConfigError (one line, `where` first) if wrong."""
    try:
        s = _SubscriberIn.model_validate(raw)
    except ValidationError as e:
        key, msg = _problem(e.errors()[0])
        raise ConfigError(f"{where}: {key}: {msg}") from None
    try:
        email = normalize_email(s.email)
    except ValueError as e:
        raise ConfigError(f"{where}: email {s.email!r} is not a valid address: {e}") from None
    profiles = {p.name for p in cfg.profiles}
    unknown = [p for p in s.profiles if p not in profiles]
    if unknown:
        raise ConfigError(f"{where}: profiles: unknown profile {unknown[0]!r}; known: {', '.join(sorted(profiles))}")
    if s.language is not None:
        other = [p for p in s.profiles if cfg.profile(p).language != s.language]
        if other:
            raise ConfigError(
                f"{where}: language {s.language!r} has no effect: profile {other[0]!r} is written in "
                f"{cfg.profile(other[0]).language!r}; remove `language`, or subscribe to a profile in "
                f"{s.language!r} (a profile is one audience in one language)"
            )
    return Subscriber(
        email=email, name=s.name, profiles=s.profiles, language=s.language,
        interests=s.interests.strip(), keywords=[k.strip() for k in s.keywords if k.strip()],
        authors=[a.strip() for a in s.authors if a.strip()], frequency=s.frequency, max_papers=s.max_papers,
    )
