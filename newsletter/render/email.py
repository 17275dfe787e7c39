"""The HTML part: Jinja2 → MJML (mjml-python) → CSS inlined by premailer, within a size budget.

Gmail clips an HTML part over ~102 KB (and the unsubscribe footer with it), so the encoded
UTF-8 size is measured after inlining. When the full analyses do not fit, every analysis is
cut to its key sections under one common character allowance, the largest allowance that
measures under the budget (found by bisection on real renders); if even key findings alone
do not fit, the last cards become a title list. The complete report then travels as an
attachment and, with `[web] public_url`, each shortened card links to the archive page.
MJML and premailer run once per edition; recipients only get placeholders substituted.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from markupsafe import Markup, escape

from ..models import Edition, EditionEntry
from . import ui
from .markdown import anchor
from .sanitize import md_inline, md_to_html, neutralize, one_line

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"  # package data: wheels carry it
HTML_BUDGET = 100_000  # bytes of UTF-8; Gmail clips at ~102 KB
PERSONALIZATION_RESERVE = 1_500  # room for the longest name + unsubscribe URL substituted later
SHORTENED_MARK = "nl-shortened"  # an id in the HTML of a shortened edition (see is_shortened)

_KEY_SECTION = re.compile(
    r"总结|结论|核心|贡献|要点|summary|conclusion|takeaway|contribution|key", re.IGNORECASE
)
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")


@dataclass
class EmailResult:
    html: str
    size: int  # UTF-8 bytes, placeholders unsubstituted
    shortened: list[str] = field(default_factory=list)  # paper ids whose analysis was cut
    dropped: list[str] = field(default_factory=list)  # paper ids shown only as a title
    allowance: int | None = None  # characters of analysis kept per paper; None = all
    renders: int = 1  # how many full renders the measurement took


def _blocks(text: str) -> list[str]:
    """Markdown split at blank lines outside code fences: the units a cut may keep or drop."""
    blocks, cur, fenced = [], [], False
    for line in text.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        if not line.strip() and not fenced:
            if cur:
                blocks.append("\n".join(cur))
                cur = []
            continue
        cur.append(line)
    if cur:
        blocks.append("\n".join(cur))
    return blocks


def shorten_analysis(text: str, allowance: int) -> str:
    """The analysis cut to about `allowance` characters, keeping whole blocks.

    Sections whose heading names a summary/conclusion/contribution come first, then the others
    in order, each from its heading on; the result keeps the original order. Cutting only at
    block boundaries means no unbalanced emphasis, list or code fence is left behind.
    """
    if allowance <= 0:
        return ""
    blocks = _blocks(text)
    if sum(len(b) for b in blocks) <= allowance:
        return "\n\n".join(blocks)
    sections: list[list[int]] = [[]]
    for i, b in enumerate(blocks):
        if _HEADING.match(b) or (b.startswith("**") and b.rstrip().endswith("**") and len(b) < 80):
            sections.append([])
        sections[-1].append(i)
    sections = [s for s in sections if s]

    def is_key(s: list[int]) -> bool:
        head = blocks[s[0]]
        return bool(_HEADING.match(head) or head.startswith("**")) and bool(_KEY_SECTION.search(head[:80]))

    order = [s for s in sections if is_key(s)] + [s for s in sections if not is_key(s)]
    keep: set[int] = set()
    used = 0
    for s in order:
        for n, i in enumerate(s):
            cost = len(blocks[i]) + 2
            if n == 0 and len(s) > 1:
                cost += len(blocks[s[1]]) + 2  # a heading only comes with its first paragraph
            if used + cost > allowance:
                break
            if i not in keep:
                keep.add(i)
                used += len(blocks[i]) + 2
    if not keep and blocks:  # nothing fits whole: the first paragraph, cut at a sentence
        first = blocks[0] if not _HEADING.match(blocks[0]) or len(blocks) == 1 else blocks[1]
        if _FENCE.match(first):
            return ""
        cut = first[:allowance]
        stop = max(cut.rfind(c) for c in "。.！!？?；;")
        return (cut[: stop + 1] if stop > allowance // 3 else cut.rstrip()) + " …"
    return "\n\n".join(blocks[i] for i in sorted(keep))


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
    }


def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    def finalize(v):
        # every plain string is untrusted: break placeholder markers, then autoescape does HTML
        return v if isinstance(v, Markup) or not isinstance(v, str) else neutralize(v)

    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, finalize=finalize,
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )


_ENV = None


def env():
    global _ENV
    if _ENV is None:
        _ENV = _env()
    return _ENV


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
    note = s["attached"] if shortened else ""
    summary = ed.summary.strip()
    preheader = one_line(re.sub(r"[#*_`>\[\]]", "", summary))[:140] if summary else one_line(ed.title)
    html = env().get_template("email.mjml.j2").render(
        lang=lang,
        title=one_line(ed.title),
        preheader=preheader,
        fonts=Markup(ui.FONT_STACK.replace('"', "'")),
        mono=Markup(ui.MONO_STACK.replace('"', "'")),
        ui={k: trusted(v) for k, v in s.items()},
        subline=f"{ed.date.isoformat()} · {ed.profile} · {len(ed.entries)} {s['papers']}",
        intro=s["intro"].format(n=len(ed.entries)) if ed.entries else s["nothing"],
        shortened_note=trusted(note) if note else "",
        summary_html=Markup(md_to_html(summary)) if summary else "",
        cards=cards,
        dropped=dropped,
        dropped_note=trusted(s["cards_dropped"].format(n=len(dropped))),
        why=trusted(s["why"].replace("{profile}", str(escape(neutralize(ed.profile))))),
        archive_url=full_url,
    )
    if shortened:
        html = html.replace("<mj-body ", f'<mj-body css-class="{SHORTENED_MARK}" ', 1)
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
    return inline_css(mjml2html(src)), cards


def size_of(html: str) -> int:
    return len(html.encode("utf-8"))


def render_email(ed: Edition, cfg, budget: int = HTML_BUDGET) -> EmailResult:
    """The email HTML under `budget` bytes (minus the personalisation reserve), by measurement."""
    limit = budget - PERSONALIZATION_RESERVE
    html, cards = build_html(ed, cfg)
    if size_of(html) <= limit:
        return EmailResult(html=html, size=size_of(html))
    renders = 1
    longest = max((len(e.analysis.text) for e in ed.entries if e.analysis), default=0)
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
