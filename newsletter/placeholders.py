"""Per-reader placeholders: render writes them once per edition, deliver fills them per message.

    %%NL_NAME%%             the subscriber's name (HTML-escaped in HTML); "reader"/"读者" when empty
    %%NL_EMAIL%%            the subscriber's address (HTML-escaped in HTML)
    %%NL_UNSUBSCRIBE_URL%%  the unsubscribe link (https one-click page or mailto:)

They survive MJML and premailer unchanged, and untrusted text (titles, abstracts, LLM answers)
can never contain one: render's sanitizer breaks every `%%` in it with a zero-width space.
Filling them costs a join, not a render.
"""

from __future__ import annotations

import html as _html
import re
from functools import lru_cache

PLACEHOLDERS = ("NAME", "EMAIL", "UNSUBSCRIBE_URL")
PLACEHOLDER_RE = re.compile(r"%%NL_(NAME|EMAIL|UNSUBSCRIBE_URL)%%")
_CTRL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


@lru_cache(maxsize=16)
def _split(s: str) -> tuple[tuple[str, ...], tuple[str, ...], bool, str]:
    """The rendered string cut at its placeholders, computed once per distinct string."""
    parts = PLACEHOLDER_RE.split(s)  # text, name, text, name, ..., text
    head = s[:400].lstrip().lower()
    is_html = head.startswith(("<!doctype", "<html", "<mjml"))
    return tuple(parts[0::2]), tuple(parts[1::2]), is_html, default_name(s)


def default_name(rendered: str) -> str:
    """The greeting's name for a reader without one: "读者" in a Chinese part, else "reader"."""
    return "读者" if "%%NL_NAME%%，您好" in rendered else "reader"


def _clean(value: str) -> str:
    return _CTRL.sub(" ", value or "").strip()


def values(*, name: str, unsubscribe_url: str, email: str = "", html: bool, default: str) -> dict[str, str]:
    """Placeholder (NAME, EMAIL, UNSUBSCRIBE_URL) -> one recipient's value: control characters and line
    breaks stripped, the name cut to 100 characters (`default` when empty), HTML-escaped for HTML."""
    out = {"NAME": _clean(name)[:100] or default, "EMAIL": _clean(email), "UNSUBSCRIBE_URL": _clean(unsubscribe_url)}
    return {k: _html.escape(v, quote=True) for k, v in out.items()} if html else out


def personalize(html_or_text: str, *, name: str, unsubscribe_url: str, email: str = "",
                html: bool | None = None) -> str:
    """Substitute one recipient's placeholders into a rendered part (HTML or text).

    `html` None detects the part from its first characters. Values are stripped of control
    characters and line breaks, and HTML-escaped in HTML; substitution is a single pass, so a
    value that itself looks like a placeholder is not expanded again. Costs a join, not a render.
    """
    texts, names, detected, default = _split(html_or_text)
    if not names:
        return html_or_text
    is_html = detected if html is None else html
    filled = values(name=name, unsubscribe_url=unsubscribe_url, email=email, html=is_html, default=default)
    out = [texts[0]]
    for n, t in zip(names, texts[1:], strict=True):
        out.append(filled[n])
        out.append(t)
    return "".join(out)
