"""Render an edition once (Markdown, HTML email, plain text); personalise it per recipient cheaply.

Per-recipient placeholders in the rendered HTML and text (substituted by `personalize`):

    %%NL_NAME%%             the subscriber's name (HTML-escaped in HTML); "reader"/"读者" when empty
    %%NL_EMAIL%%            the subscriber's address (HTML-escaped in HTML)
    %%NL_UNSUBSCRIBE_URL%%  the unsubscribe link (https one-click page or mailto:)

They survive MJML and premailer unchanged, and untrusted text (titles, abstracts, LLM answers)
can never contain one: `sanitize.neutralize` breaks every `%%` in it with a zero-width space.
"""

from __future__ import annotations

import html as _html
import re
from dataclasses import dataclass, field
from functools import lru_cache

from ..models import Edition

PLACEHOLDERS = ("NAME", "EMAIL", "UNSUBSCRIBE_URL")
_PH = re.compile(r"%%NL_(NAME|EMAIL|UNSUBSCRIBE_URL)%%")
_CTRL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


@dataclass
class Rendered:
    markdown: str
    html: str
    text: str
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)  # (filename, mimetype, data)
    html_size: int = 0  # UTF-8 bytes of `html` before personalisation
    shortened: list[str] = field(default_factory=list)  # paper ids whose analysis the email cut
    dropped: list[str] = field(default_factory=list)  # paper ids the email lists by title only
    allowance: int | None = None  # analysis characters kept per paper; None = everything


def render_edition(edition: Edition, cfg) -> Rendered:
    """Markdown, HTML (under the size budget) and text of an edition: once per edition."""
    from . import ui
    from .email import render_email, shorten_analysis
    from .markdown import render_markdown
    from .text import render_text

    md = render_markdown(edition)
    mail = render_email(edition, cfg)
    cut: dict[str, str] | None = None
    if mail.allowance is not None:
        cut = {}
        for e in edition.entries:
            if e.paper.id in mail.dropped:
                cut[e.paper.id] = ""
            elif e.paper.id in mail.shortened and e.analysis:
                cut[e.paper.id] = shorten_analysis(e.analysis.text, mail.allowance)
    text = render_text(edition, cfg, shortened=cut, full_url=ui.archive_url(cfg, edition.date, edition.profile))
    out = Rendered(
        markdown=md, html=mail.html, text=text, html_size=mail.size, shortened=mail.shortened,
        dropped=mail.dropped, allowance=mail.allowance,
    )
    if mail.allowance is not None:
        out.attachments = full_report_attachments(edition, cfg, md)
    return out


def full_report_attachments(edition: Edition, cfg, markdown: str | None = None) -> list[tuple[str, str, bytes]]:
    """The complete report as HTML and Markdown files (what a shortened email carries)."""
    from .archive import report_page
    from .markdown import render_markdown

    stem = f"arxiv-{edition.profile}-{edition.date.isoformat()}"
    md = markdown if markdown is not None else (edition.markdown or render_markdown(edition))
    return [
        (f"{stem}.html", "text/html", report_page(edition, cfg).encode("utf-8")),
        (f"{stem}.md", "text/markdown", md.encode("utf-8")),
    ]


def attachments_for(edition: Edition, cfg) -> list[tuple[str, str, bytes]]:
    """Attachments for a stored, rendered edition: the full report when its email was shortened.

    Call once per edition (not per recipient); needs the edition with its entries
    (`Store.get_edition(day, profile)`), uses the stored Markdown.
    """
    from .email import is_shortened

    if not edition.html or not is_shortened(edition.html):
        return []
    return full_report_attachments(edition, cfg, edition.markdown or None)


@lru_cache(maxsize=16)
def _split(s: str) -> tuple[tuple[str, ...], tuple[str, ...], bool, str]:
    """The rendered string cut at its placeholders, computed once per distinct string."""
    parts = _PH.split(s)  # text, name, text, name, ..., text
    head = s[:400].lstrip().lower()
    is_html = head.startswith(("<!doctype", "<html", "<mjml"))
    default = "读者" if "%%NL_NAME%%，您好" in s else "reader"
    return tuple(parts[0::2]), tuple(parts[1::2]), is_html, default


def _clean(value: str) -> str:
    return _CTRL.sub(" ", value or "").strip()


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
    values = {"NAME": _clean(name)[:100] or default, "EMAIL": _clean(email), "UNSUBSCRIBE_URL": _clean(unsubscribe_url)}
    if is_html:
        values = {k: _html.escape(v, quote=True) for k, v in values.items()}
    out = [texts[0]]
    for n, t in zip(names, texts[1:], strict=True):
        out.append(values[n])
        out.append(t)
    return "".join(out)


def attachments(edition: Edition, cfg=None) -> list[tuple[str, bytes, str]]:
    """`attachments_for` in the (filename, content, mimetype) order that newsletter.message reads."""
    return [(name, data, mime) for name, mime, data in attachments_for(edition, cfg)]
