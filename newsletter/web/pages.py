"""The small pages the public site answers with (unsubscribe, feedback, refusals): one self-contained
HTML shell (no external CSS, fonts, scripts or images) and the language and title of a list."""

from __future__ import annotations

from html import escape

from ..config import Config, Profile
from ..errors import ConfigError

LANGUAGES = ("en", "zh")

PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title}</title>
<style>body{{font-family:-apple-system,"Segoe UI",Roboto,"PingFang SC","Microsoft YaHei",sans-serif;
max-width:36em;margin:3em auto;padding:0 1em;color:#222;line-height:1.5}}
button{{font-size:1em;padding:.5em 1.2em;border-radius:4px;border:1px solid #555;background:#fff;cursor:pointer}}
</style></head><body><h1>{title}</h1>{body}</body></html>
"""


def page(title: str, body: str, lang: str = "en") -> str:
    """A whole page: `title` is plain text (escaped here), `body` HTML the caller escaped."""
    return PAGE.format(title=escape(title), body=body, lang=lang)


def list_profile(cfg: Config, list_name: str | None) -> Profile | None:
    """The profile a link names, or None when this config does not (or no longer) has it."""
    try:
        return cfg.profile(list_name) if list_name else None
    except ConfigError:
        return None


def list_language(profile: Profile | None) -> str:
    """The language of a list's pages: its own, English for a list we do not know."""
    return profile.language if profile is not None and profile.language in LANGUAGES else "en"
