"""The HTML part: Jinja2 → MJML (mjml-python) → CSS inlined by premailer, within a size budget.

Gmail clips an HTML part over ~102 KB as received (and the unsubscribe footer with it), so the
part's size on the wire is measured after inlining: the UTF-8 bytes in the smaller of
quoted-printable and base64 (newsletter.mime.wire_size), what goes out when the server does not
announce 8BITMIME; 8bit, when it does, is never bigger. CJK text is ~1.35x its UTF-8 size there.
When the full analyses do not fit, every analysis is
cut to its key sections under one common character allowance, the largest allowance that
measures under the budget (found by bisection on real renders); if even key findings alone
do not fit, the last cards become a title list. The complete report then travels as an
attachment and, with `[web] public_url`, each shortened card links to the archive page.
MJML and premailer run once per edition; recipients only get placeholders substituted.

Layout for a phone reader: the papers come first, as ONE compact list (rank, title, one-line
takeaway), then a short executive-summary excerpt, then the cards. A card shows the key findings
and at most READING_ALLOWANCE characters of the analysis (its key sections first); the complete
analyses and summary live in the archive page / attached report. Dark mode: see `mj-style` in
newsletter/templates/email.mjml.j2 and `COLOR_SCHEME_META`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from markupsafe import Markup, escape

from ..mime import canonical, wire_size
from ..models import Edition, EditionEntry
from ..templating import loader, override_dir, override_names, reporting
from . import ui
from .digest import clip_columns, leading_notice, shorten_analysis, summary_excerpt, takeaway
from .markdown import anchor
from .sanitize import md_inline, md_to_html, neutralize, one_line

HTML_BUDGET = 100_000  # bytes of the HTML part as transmitted (encoded); Gmail clips at ~102 KB
PERSONALIZATION_RESERVE = 1_500  # room for the longest name + unsubscribe URL substituted later
SHORTENED_MARK = "nl-shortened"  # an id in the HTML of a shortened edition (see is_shortened)
# Characters of analysis a card shows (key sections first). A phone reader scrolls the whole
# email; ten papers at ~500 characters each keep it to a few screens per paper, and the full
# analysis is one tap away (archive link / attached report). None would mean "fill the budget".
READING_ALLOWANCE = 360
# mjml-python has no mj-raw in mj-head: the colour-scheme declarations are put in by build_html
COLOR_SCHEME_META = (
    '<meta name="color-scheme" content="light dark">'
    '<meta name="supported-color-schemes" content="light dark">'
)
# mjml's mj-preview hides the preheader with display:none AND white text. The white is what spam
# filters score as hidden text (SpamAssassin's HTML_FONT_LOW_CONTRAST: it sees white on white);
# display:none, max-height:0, opacity:0 hide it already, and mso-hide:all does in Outlook desktop.
PREHEADER_WHITE = re.compile(r'(<div style="display:none;[^"]*?)color:#ffffff;')

@dataclass
class EmailResult:
    html: str
    size: int  # bytes on the wire (see size_of), placeholders unsubstituted
    shortened: list[str] = field(default_factory=list)  # paper ids whose analysis was cut
    dropped: list[str] = field(default_factory=list)  # paper ids shown only as a title
    allowance: int | None = None  # characters of analysis kept per paper; None = all
    renders: int = 1  # how many full renders the measurement took


def card(e: EditionEntry, lang: str, allowance: int | None, full_url: str) -> dict:
    p, a = e.paper, e.analysis
    s = ui.strings(lang)
    text = a.text if a else ""
    shown = text if allowance is None else shorten_analysis(text, allowance)
    shortened = allowance is not None and len(shown) < len(text.strip())
    kind = a.kind if a and (a.text.strip() or a.key_findings) else "none"
    return {
        "id": p.id,
        "anchor": anchor(p),
        "rank": e.rank,
        "title": one_line(p.title),
        "abs_url": p.abs_url,
        "pdf_url": p.pdf_url or f"https://arxiv.org/pdf/{p.versioned_id}",
        "authors": ui.short_authors([one_line(x) for x in p.authors], lang),
        "categories": ", ".join(p.categories),
        "published": p.published.date().isoformat(),
        "kind": kind,
        "kind_label": s[f"kind_{kind}"],
        "findings": [Markup(md_inline(one_line(k))) for k in (a.key_findings if a else []) if one_line(k)],
        "analysis_html": Markup(md_to_html(shown)) if shown.strip() else "",
        "shortened": shortened,
        "full_url": f"{full_url}#{anchor(p)}" if full_url and shortened else "",
        "takeaway": takeaway(e),
        # The compact list does NOT link to "#card": in-message anchors do nothing in Gmail iOS,
        # Outlook iOS/Android and Yahoo mobile. The cards follow the list in the same order and
        # carry the same rank, so scrolling finds them; the link goes somewhere that works in
        # every client: the paper's card on the archive page (complete analysis) when
        # `[web] public_url` is set, else the paper's arXiv page.
        "list_url": f"{full_url}#{anchor(p)}" if full_url else p.abs_url,
    }


@lru_cache(maxsize=8)
def _env(override: Path | None, names: tuple[str, ...] = ()):
    from jinja2 import Environment, StrictUndefined

    def finalize(v):
        # every plain string is untrusted: break placeholder markers, then autoescape does HTML
        return v if isinstance(v, Markup) or not isinstance(v, str) else neutralize(v)

    return Environment(
        loader=loader(override), autoescape=True, finalize=finalize,
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )


def env(cfg=None):
    """The page templates' environment: `cfg`'s templates_dir overrides first, then the package's
    (one cached environment per override folder, so tests with several configs do not mix them)."""
    override = override_dir(cfg)
    return _env(override, override_names(override))


def render_page(name: str, cfg=None, **ctx) -> str:
    """Render one page template; a missing or broken template is one ConfigError line."""
    override = override_dir(cfg)
    with reporting(name, override):
        return _env(override, override_names(override)).get_template(name).render(**ctx)


def trusted(s: str) -> Markup:
    """Our own words (may hold placeholders): escaped but not neutralized."""
    return Markup(escape(s))


def _mjml_source(ed: Edition, cfg, allowance: int | None, keep_cards: int | None) -> tuple[str, list[dict]]:
    lang = ed.language
    s = ui.strings(lang)
    full_url = ui.archive_url(cfg, ed.date, ed.profile)
    entries = ed.entries if keep_cards is None else ed.entries[:keep_cards]
    cards = [card(e, lang, allowance, full_url) for e in entries]
    dropped = [card(e, lang, 0, full_url) for e in ed.entries[len(entries):]]
    shortened = any(c["shortened"] for c in cards) or bool(dropped)
    mode = ui.report_mode(cfg)
    attached = mode in ("html", "markdown")
    notice, summary = leading_notice(ed.summary)
    note = " ".join(x for x in (notice, s[f"report_{mode}"] if shortened else "") if x)
    summary = summary.strip()
    # the excerpt only when the full summary is one tap away (archive) or attached; else it all
    excerpt = (summary_excerpt(summary) if shortened or full_url else summary) if summary else ""
    top = next((c for c in cards + dropped if c["takeaway"]), None)
    # the inbox preview line: the day's top takeaway, not our own boilerplate
    if top:
        name = top["title"].split(":")[0] if ":" in top["title"][:40] else ""
        preheader = clip_columns(f"{name}: {top['takeaway']}" if name else top["takeaway"], 150)
    else:
        preheader = clip_columns(one_line(re.sub(r"[#*_`>\[\]]", "", excerpt)), 150) if excerpt else one_line(ed.title)
    more = ""
    if excerpt and excerpt != summary and excerpt != one_line(summary):
        more = s["summary_attached"] if shortened and attached else s["summary_more"] if full_url else ""
    pt = ui.profile_title(ed.title, ed.profile)
    html = render_page(
        "email.mjml.j2", cfg,
        lang=lang,
        title=one_line(ed.title),
        heading=pt,
        preheader=preheader,
        fonts=Markup(ui.FONT_STACK.replace('"', "'")),
        mono=Markup(ui.MONO_STACK.replace('"', "'")),
        ui={k: trusted(v) for k, v in s.items()},
        subline=f"{ed.date.isoformat()} · {ui.count_papers(len(ed.entries), lang)}",
        intro=ui.intro(len(ed.entries), lang),
        shortened_note=trusted(note) if note else "",
        summary_html=Markup(md_to_html(excerpt)) if excerpt else "",
        summary_more=trusted(more) if more else "",
        cards=cards,
        dropped=dropped,
        dropped_note=trusted(s["cards_dropped" if attached else f"cards_dropped_{mode}"].format(n=len(dropped))),
        why=trusted(s["why"].replace("{profile}", str(escape(neutralize(pt))))),
        archive_url=full_url,
        body_class=f"nl {SHORTENED_MARK}" if shortened else "nl",
    )
    return html, cards


def inline_css(html: str) -> str:
    """premailer without network and without its cssutils chatter on the user's terminal."""
    import cssutils
    from premailer import Premailer

    logging.getLogger("cssutils").setLevel(logging.CRITICAL)
    cssutils.log.setLevel(logging.CRITICAL)
    return Premailer(
        html, allow_network=False, cssutils_logging_level=logging.CRITICAL, disable_validation=True,
        keep_style_tags=False, strip_important=False, exclude_pseudoclasses=True,
        remove_classes=False, disable_leftover_css=False,
    ).transform()


def build_html(ed: Edition, cfg, allowance: int | None = None, keep_cards: int | None = None) -> tuple[str, list[dict]]:
    """One full render (MJML + premailer) at a given analysis allowance."""
    from mjml import mjml2html

    src, cards = _mjml_source(ed, cfg, allowance, keep_cards)
    html = inline_css(PREHEADER_WHITE.sub(r"\1mso-hide:all;", mjml2html(src), count=1))
    return html.replace("<head>", "<head>" + COLOR_SCHEME_META, 1), cards


def size_of(html: str) -> int:
    """The HTML part's bytes as transmitted without 8BITMIME (the worst case the sender uses)."""
    return wire_size(canonical(html))


def render_email(ed: Edition, cfg, budget: int = HTML_BUDGET, reading: int | None = READING_ALLOWANCE) -> EmailResult:
    """The email HTML under `budget` bytes (minus the personalisation reserve), by measurement.

    Analyses are first cut to `reading` characters (the phone-length design); only when that
    still does not fit the budget is the allowance lowered further by measurement.
    """
    limit = budget - PERSONALIZATION_RESERVE
    html, cards = build_html(ed, cfg, allowance=reading)
    cut = any(c["shortened"] for c in cards)
    if size_of(html) <= limit:
        return EmailResult(html=html, size=size_of(html), allowance=reading if cut else None,
                           shortened=[c["id"] for c in cards if c["shortened"]])
    renders = 1
    longest = max((len(e.analysis.text) for e in ed.entries if e.analysis), default=0)
    if reading is not None:
        longest = min(longest, reading)
    lo_html, lo_cards = build_html(ed, cfg, allowance=0)
    renders += 1
    if size_of(lo_html) <= limit:
        # bisection on the allowance: the largest that measures under the limit
        best, best_cards, best_a = lo_html, lo_cards, 0
        lo, hi = 0, longest
        while hi - lo > max(200, longest // 64) and renders < 12:
            mid = (lo + hi) // 2
            h, c = build_html(ed, cfg, allowance=mid)
            renders += 1
            if size_of(h) <= limit:
                best, best_cards, best_a, lo = h, c, mid, mid
            else:
                hi = mid
        return EmailResult(
            html=best, size=size_of(best), allowance=best_a, renders=renders,
            shortened=[c["id"] for c in best_cards if c["shortened"]],
        )
    # even key findings alone are too big: keep the first cards, list the rest by title
    lo, hi = 0, len(ed.entries)
    best, best_cards, keep = build_html(ed, cfg, allowance=0, keep_cards=0)[0], [], 0
    renders += 1
    while lo < hi and renders < 20:
        mid = (lo + hi + 1) // 2
        h, c = build_html(ed, cfg, allowance=0, keep_cards=mid)
        renders += 1
        if size_of(h) <= limit:
            best, best_cards, keep, lo = h, c, mid, mid
        else:
            hi = mid - 1
    return EmailResult(
        html=best, size=size_of(best), allowance=0, renders=renders,
        shortened=[c["id"] for c in best_cards if c["shortened"]],
        dropped=[e.paper.id for e in ed.entries[keep:]],
    )


def is_shortened(html: str) -> bool:
    """True when a stored email HTML is a shortened version (so the full report must be attached)."""
    return SHORTENED_MARK in html
