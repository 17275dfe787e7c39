"""The HTML part: Jinja2 → MJML (mjml-python) → CSS inlined by premailer, within a size budget.

Gmail clips an HTML part over ~102 KB as received (and the unsubscribe footer with it), so the
part's size on the wire is measured after inlining: the UTF-8 bytes in the smaller of
quoted-printable and base64 (newsletter.mime.wire_size), what goes out when the server does not
announce 8BITMIME; 8bit, when it does, is never bigger. CJK text is ~1.35x its UTF-8 size there.
When the full analyses do not fit, every analysis is
cut to its key sections under one common character allowance, the largest allowance that
measures under the budget (found by bisection on real renders, newsletter/render/budget.py);
if even key findings alone do not fit, the last cards become a title list. The complete report
then travels as an attachment and, with `[web] public_url`, each shortened card links to the
archive page.

Each reader gets their own issue (their papers of the edition, their order): the template is
rendered once with every entry as list item, card and title-only item between markers
(`marked_html`), cut into per-paper fragments (`email_parts`, newsletter.assembly.Parts) and
joined per reader at send time. The budget holds for the biggest issue any reader can get.
MJML and premailer run once per edition and budget attempt (`mjml_calls` counts them), never per
reader; recipients only get fragments joined and placeholders substituted. With `[web]
public_url` each card ends with the reader's signed "more like this / less like this" links.

Layout for a phone reader: the papers come first, as ONE compact list (rank, title, one-line
takeaway), then a short executive-summary excerpt, then the cards. A card shows the key findings
and at most READING_ALLOWANCE characters of the analysis (its key sections first); the complete
analyses and summary live in the archive page / attached report. Dark mode: see `mj-style` in
newsletter/templates/email.mjml.j2 and `COLOR_SCHEME_META`.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from markupsafe import Markup, escape

from ..assembly import Parts, PartsError, assemble, parse_parts, slot, worst_feedback
from ..errors import ConfigError
from ..mime import canonical, wire_size
from ..models import Edition, EditionEntry
from ..templating import PACKAGE_TEMPLATES, loader, override_dir, override_names, reporting
from . import ui
from .budget import Attempt, Budget, search
from .digest import clip_columns, leading_notice, shorten_analysis, summary_excerpt, takeaway
from .inline import inline_css
from .markdown import anchor
from .sanitize import md_inline, md_to_html, neutralize, one_line

HTML_BUDGET = 100_000  # bytes of the HTML part as transmitted (encoded); Gmail clips at ~102 KB
PERSONALIZATION_RESERVE = 1_500  # room for the longest name + unsubscribe URL substituted later
# characters of a feedback token ("more/less like this" links, two per card) a reader's issue
# is measured with: a list name, an address of ~100 characters, a paper id and the signature
FEEDBACK_TOKEN_RESERVE = 200
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
    html: str  # the whole edition assembled (every entry, edition order)
    size: int  # bytes on the wire (see size_of) of `html`, placeholders unsubstituted
    marked: Marked | None = None  # the one render every reader's issue is cut from (newsletter.assembly)
    parts: Parts | None = None  # `marked` cut (HTML only; render/__init__ adds the text part)
    worst: int = 0  # bytes on the wire of the biggest issue any reader can get
    shortened: list[str] = field(default_factory=list)  # paper ids whose analysis was cut
    dropped: list[str] = field(default_factory=list)  # paper ids `html` shows only as a title
    allowance: int | None = None  # characters of analysis kept per paper; None = all
    max_cards: int | None = None  # full cards one reader gets at most; None = all
    short: bool = False  # something is cut or title-only for some reader (report note, attachment)
    renders: int = 1  # how many full renders the measurement took


def card(e: EditionEntry, lang: str, allowance: int | None, full_url: str) -> dict:
    p, a = e.paper, e.analysis
    text = a.text if a else ""
    shown = text if allowance is None else shorten_analysis(text, allowance)
    shortened = allowance is not None and len(shown) < len(text.strip())
    kind, label = ui.kind_label(a, lang)
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
        "kind_label": label,
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


def preheader_of(c: dict) -> str:
    """The inbox preview line when this paper is the reader's top one: its takeaway, named."""
    if not c["takeaway"]:
        return ""
    name = c["title"].split(":")[0] if ":" in c["title"][:40] else ""
    return clip_columns(f"{name}: {c['takeaway']}" if name else c["takeaway"], 150)


def _mjml_source(ed: Edition, cfg, allowance: int | None, dropping: bool, nonce: str) -> tuple[str, list[dict]]:
    """The MJML of the marked render: every entry as list item, card and title-only item, the
    per-reader values as slots (newsletter.assembly). `dropping`: some reader gets title-only items."""
    lang = ed.language
    s = ui.strings(lang)
    full_url = ui.archive_url(cfg, ed.date, ed.profile, ed.cadence)
    cards = [card(e, lang, allowance, full_url) for e in ed.entries]
    shortened = any(c["shortened"] for c in cards) or dropping
    mode = ui.report_mode(cfg)
    attached = mode in ("html", "markdown")
    notice, summary = leading_notice(ed.summary)
    note = " ".join(x for x in (notice, s[f"report_{mode}"] if shortened else "") if x)
    summary = summary.strip()
    # the excerpt only when the full summary is one tap away (archive) or attached; else it all
    excerpt = (summary_excerpt(summary) if shortened or full_url else summary) if summary else ""
    # the inbox preview line: the reader's top takeaway, not our own boilerplate; else the summary
    fallback = clip_columns(one_line(re.sub(r"[#*_`>\[\]]", "", excerpt)), 150) if excerpt else one_line(ed.title)
    more = ""
    if excerpt and excerpt != summary and excerpt != one_line(summary):
        more = s["summary_attached"] if shortened and attached else s["summary_more"] if full_url else ""
    pt = ui.profile_title(ed.title, ed.profile)
    html = render_page(
        "email.mjml.j2", cfg,
        lang=lang,
        title=one_line(ed.title),
        heading=pt,
        preheader=Markup(slot("PREHEADER")),
        preheaders=[preheader_of(c) for c in cards] + [fallback],
        fonts=Markup(ui.FONT_STACK.replace('"', "'")),
        mono=Markup(ui.MONO_STACK.replace('"', "'")),
        ui={k: trusted(v) for k, v in s.items()},
        subline=Markup(f"{escape(ed.date.isoformat())} · {slot('COUNT')}"),
        intro=Markup(slot("INTRO")),
        shortened_note=trusted(note) if note else "",
        summary_html=Markup(md_to_html(excerpt)) if excerpt else "",
        summary_more=trusted(more) if more else "",
        cards=[{**c, "rank": Markup(slot("RANK"))} for c in cards],
        dropped=cards,
        dropped_note=Markup(slot("DROPPED_NOTE")),
        feedback=bool(getattr(getattr(cfg, "web", None), "public_url", "")),  # served by `serve`, not the archive
        why=trusted(s["why"].replace("{profile}", str(escape(neutralize(pt))))),
        archive_url=full_url,
        body_class=f"nl {SHORTENED_MARK}" if shortened else "nl",
        nl=nonce,
    )
    return html, cards


# a start tag with double-quoted attribute values (as lxml writes them), and what may split one
_START_TAG = re.compile(r'<[A-Za-z][^\s<>"/]*(?:\s+[^\s<>"=/]+(?:="[^"]*")?)*\s*/?>')
_IN_TAG = re.compile(r'"[^"]*"| ')
LINE_CHARS = 240  # a line this long is under 998 octets even if every character took four


def fold_tags(html: str) -> str:
    """Lines over LINE_CHARS broken at the space before an attribute of a start tag, where a line
    break means the same in HTML (in text it would not), so the HTML part can go out 8bit
    (lines of at most 998 octets) instead of quoted-printable or base64. premailer writes
    whole cards on one line."""
    return "\n".join(line if len(line) <= LINE_CHARS else _fold(line) for line in html.split("\n"))


def _fold(line: str) -> str:
    cuts = [t.start() + g.start() for t in _START_TAG.finditer(line) for g in _IN_TAG.finditer(t.group())
            if g.group() == " "]
    out, start, prev = [], 0, -1
    for c in [*cuts, len(line)]:
        if c - start > LINE_CHARS and prev > start:
            out.append(line[start:prev])
            start = prev + 1
        prev = c
    out.append(line[start:])
    return "\n".join(out)


_MJML_CALLS = [0]


def mjml(src: str) -> str:
    """mjml2html, counted: it runs per edition and budget attempt, never per reader (see mjml_calls)."""
    from mjml import mjml2html

    _MJML_CALLS[0] += 1
    return mjml2html(src)


def mjml_calls() -> int:
    """How many MJML renders this process made (tests check readers never add one)."""
    return _MJML_CALLS[0]


@dataclass
class Marked:
    """One full render with markers (newsletter.assembly) and what it was rendered with."""

    html: str
    cards: list[dict]
    nonce: str  # the markers' nonce: random per render, so no paper can write one


def marked_html(ed: Edition, cfg, allowance: int | None = None, dropping: bool = False) -> Marked:
    """One full render (MJML + premailer) with markers, at a given analysis allowance."""
    nonce = secrets.token_hex(8)
    src, cards = _mjml_source(ed, cfg, allowance, dropping, nonce)
    html = inline_css(PREHEADER_WHITE.sub(r"\1mso-hide:all;", mjml(src), count=1))
    return Marked(fold_tags(html.replace("<head>", "<head>" + COLOR_SCHEME_META, 1)), cards, nonce)


def email_parts(ed: Edition, cfg, marked: Marked, marked_text: str = "", urls: list[str] | None = None,
                max_cards: int | None = None) -> Parts:
    """The marked render cut into Parts; a template without the markers is one ConfigError line."""
    try:
        return parse_parts(marked.html, marked_text, [e.paper.id for e in ed.entries], nonce=marked.nonce,
                           urls=urls, words=ui.count_words(ed.language, ui.report_mode(cfg)), max_cards=max_cards)
    except PartsError as e:
        where = override_dir(cfg)
        raise ConfigError(f"templates: email.mjml.j2: {e}; the per-reader markers (<!--nl:…-->, %%NL_…%%) "
                          f"must stay as in the package's copy ({PACKAGE_TEMPLATES})"
                          + (f"; compare your override in {where}" if where else "")) from None


def build_html(ed: Edition, cfg, allowance: int | None = None, keep_cards: int | None = None) -> tuple[str, list[dict]]:
    """The whole edition's email (every entry, edition order) at a given allowance; `keep_cards`
    full cards at most, the rest title-only."""
    marked = marked_html(ed, cfg, allowance, dropping=keep_cards is not None and keep_cards < len(ed.entries))
    parts = email_parts(ed, cfg, marked, max_cards=keep_cards)
    return assemble(parts, parts.ids).html, marked.cards


def size_of(html: str) -> int:
    """The HTML part's bytes as transmitted without 8BITMIME (the worst case the sender uses)."""
    return wire_size(canonical(html))


def render_email(ed: Edition, cfg, budget: int = HTML_BUDGET, reading: int | None = READING_ALLOWANCE,
                 reader_max: int | None = None) -> EmailResult:
    """The email under `budget` bytes (minus the personalisation reserve) for EVERY reader, by
    measurement (newsletter/render/budget.py). `reader_max`: the most papers one reader gets
    (None: everyone gets the whole edition)."""

    def render_of(edition: Edition):
        def render(allowance: int | None, dropping: bool) -> tuple[Marked, Parts]:
            marked = marked_html(edition, cfg, allowance, dropping)
            return marked, email_parts(edition, cfg, marked)
        return render

    fb = worst_feedback(cfg.web.public_url, FEEDBACK_TOKEN_RESERVE) if cfg.web.public_url else None
    b = Budget(render_of(ed), len(ed.entries), reader_max, budget - PERSONALIZATION_RESERVE, size_of, fb)
    longest = max((len(e.analysis.text) for e in ed.entries if e.analysis), default=0)
    a = _union_search(ed, b, reading, longest, render_of) or search(b, reading, longest)
    whole = assemble(a.parts, a.parts.ids).html
    cut = [c["id"] for c in a.marked.cards if c["shortened"]]
    cap = a.parts.max_cards
    return EmailResult(
        html=whole, size=size_of(whole), marked=a.marked, parts=a.parts, worst=a.worst, renders=b.renders,
        allowance=a.allowance if (cut or a.dropping) else None, shortened=cut, max_cards=cap,
        short=bool(cut) or a.dropping, dropped=[e.paper.id for e in ed.entries[cap:]] if cap is not None else [],
    )


def _union_search(ed: Edition, b: Budget, reading: int | None, longest: int, render_of) -> Attempt | None:
    """For a union far bigger than any reader's issue (readers with their own picks): the size search
    on the papers that can make its worst reader (the heaviest, estimated from their text), then ONE
    render of the whole union at what it found, kept when the union's own worst reader, measured as
    always, fits; else None, and the search runs on the whole union. A union of 343 papers: one full
    render instead of one per attempt."""
    if not b.personal:
        return None
    heavy = heaviest_entries(ed, b.k, reading)
    if len(heavy) * 2 > len(ed.entries):
        return None
    sub = Budget(render_of(replace(ed, entries=heavy)), len(heavy), b.k, b.limit, b.size_of, b.feedback)
    found = search(sub, reading, longest)
    a = b.attempt(found.allowance, found.dropping)
    if found.parts.max_cards is not None and found.parts.max_cards < (a.parts.max_cards or b.k):
        a.parts.max_cards = found.parts.max_cards
        a.worst = b.worst(a.parts)
    return a if b.fits(a) else None


def heaviest_entries(ed: Edition, k: int, reading: int | None) -> list[EditionEntry]:
    """The entries a reader of `k` papers with the biggest issue would get, estimated from the text
    each card shows (title, authors, key findings, the analysis up to `reading`), with and without
    the analysis: the k + 5 heaviest by each, in edition order."""
    def weight(e: EditionEntry, analysis: bool) -> int:
        a = e.analysis
        text = e.paper.title + " ".join(e.paper.authors) + (" ".join(a.key_findings) if a else "")
        return len((text + (a.text[:reading] if analysis and a and reading else "")).encode())

    chosen: set[int] = set()
    for analysis in (True, False):
        chosen.update(id(e) for e in sorted(ed.entries, key=lambda e: -weight(e, analysis))[: k + 5])
    return [e for e in ed.entries if id(e) in chosen]


def is_shortened(html: str) -> bool:
    """True when a stored email HTML is a shortened version (so the full report must be attached)."""
    return SHORTENED_MARK in html
