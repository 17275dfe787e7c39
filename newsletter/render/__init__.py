"""Render: takes an analysed edition; gives its Markdown (the reference layout), the HTML email
under the size budget, the text part and attachments, once per edition, with per-reader placeholders,
and the per-paper parts every reader's own issue is assembled from (newsletter.assembly).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..assembly import assemble
from ..mime import canonical, wire_size
from ..models import Attachment, Edition
from ..placeholders import personalize

__all__ = ["MESSAGE_BUDGET", "Rendered", "full_report_attachments", "personalize", "render_edition"]

# bytes of the whole message as transmitted (worst case, no 8BITMIME): HTML + text + attachment
# + headers. An attachment that would go past it is left out (the email then says nothing about one).
MESSAGE_BUDGET = 150_000
HEADERS_RESERVE = 4_000  # headers and MIME boundaries of a message


@dataclass
class Rendered:
    markdown: str
    html: str  # the whole edition (every entry, edition order): what preview and test copies show
    text: str
    attachments: list[Attachment] = field(default_factory=list)  # the full report when the email is shortened
    html_size: int = 0  # bytes on the wire of `html` before personalisation
    shortened: list[str] = field(default_factory=list)  # paper ids whose analysis the email cut
    dropped: list[str] = field(default_factory=list)  # paper ids `html` lists by title only
    allowance: int | None = None  # analysis characters kept per paper; None = everything
    parts: str = ""  # every reader's issue is assembled from these (newsletter.assembly.Parts JSON)
    max_cards: int | None = None  # full cards one reader gets at most; the rest title-only
    worst_size: int = 0  # bytes on the wire of the biggest issue any reader can get


def render_edition(edition: Edition, cfg, reader_max: int | None = None) -> Rendered:
    """Markdown, HTML (under the size budget for every reader) and text of an edition: once per edition.

    `reader_max`: the most papers one reader gets (their picks); None: everyone gets every entry.
    A shortened email carries the complete report as one attachment (`[render] attach`) when
    `[web] public_url` is unset and it fits MESSAGE_BUDGET; else it is rendered again without one.
    """
    out = _render(edition, cfg, reader_max)
    if out.attachments:
        total = HEADERS_RESERVE + sum(wire_size(canonical(t)) for t in (out.html, out.text)) + sum(
            wire_size(canonical(a.data.decode("utf-8", "replace"))) for a in out.attachments)
        if total > MESSAGE_BUDGET:
            bare = cfg.model_copy(deep=True)
            bare.render.attach = "none"
            out = _render(edition, bare, reader_max)
    return out


def _render(edition: Edition, cfg, reader_max: int | None) -> Rendered:
    from . import ui
    from .email import email_parts, render_email, shorten_analysis
    from .markdown import render_markdown
    from .text import marked_text

    md = render_markdown(edition)
    mail = render_email(edition, cfg, reader_max=reader_max)
    cut: dict[str, str] = {}
    if mail.allowance is not None:  # 0 too: key findings only, in the text part as in the HTML
        cut = {e.paper.id: shorten_analysis(e.analysis.text, mail.allowance)
               for e in edition.entries if e.paper.id in mail.shortened and e.analysis}
    text, urls = marked_text(edition, cfg, short=mail.short, cut=cut,
                             full_url=ui.archive_url(cfg, edition.date, edition.profile, edition.cadence))
    parts = email_parts(edition, cfg, mail.marked, text, urls, mail.max_cards)
    whole = assemble(parts, parts.ids)
    out = Rendered(
        markdown=md, html=whole.html, text=whole.text, html_size=mail.size, shortened=mail.shortened,
        dropped=mail.dropped, allowance=mail.allowance, parts=parts.to_json(), max_cards=mail.max_cards,
        worst_size=mail.worst,
    )
    if mail.short:
        out.attachments = full_report_attachments(edition, cfg, md)
    return out


def full_report_attachments(edition: Edition, cfg, markdown: str | None = None) -> list[Attachment]:
    """The complete report a shortened email carries: one file as `[render] attach` says
    ("html" | "markdown"), none with "none" or when `[web] public_url` links to the archive."""
    from . import ui
    from .archive import report_page
    from .markdown import render_markdown

    mode = ui.report_mode(cfg)
    stem = f"arxiv-{edition.profile}-{edition.date.isoformat()}"
    if mode == "html":
        return [Attachment(f"{stem}.html", "text/html", report_page(edition, cfg).encode("utf-8"))]
    if mode == "markdown":
        md = markdown if markdown is not None else (edition.markdown or render_markdown(edition))
        return [Attachment(f"{stem}.md", "text/markdown", md.encode("utf-8"))]
    return []
