"""Archive pages for the browser: the index of editions and one edition's complete report.

The report page is also the HTML attachment of a shortened email and the target of its
"read the full analysis" links, so it carries every analysis in full. Pages are plain HTML
with one <style> block: no scripts, no external fonts, CSS or images.
"""

from __future__ import annotations

import re
from datetime import date

from markupsafe import Markup

from ..models import Edition
from . import ui
from .email import card, render_page, trusted
from .sanitize import md_to_html, one_line


def page_context(lang: str) -> dict:
    return {
        "lang": lang,
        "fonts": Markup(ui.FONT_STACK),
        "mono": Markup(ui.MONO_STACK),
        "ui": {k: trusted(v) for k, v in ui.strings(lang).items()},
    }


def report_page(ed: Edition, cfg=None, back: str = "", home: str = "", head: Markup | str = "") -> str:
    """The complete edition (abstracts, key findings, full analyses) as one HTML page.

    `back` links to the list of editions, `home` (optional) to every list; `head` is trusted
    markup for the page's <head> (the published site's CSP, icon and feed links)."""
    cards = []
    for e in ed.entries:
        c = card(e, ed.language, None, "")
        c["all_authors"] = ", ".join(one_line(a) for a in e.paper.authors)
        c["abstract_html"] = Markup(md_to_html(one_line(e.paper.abstract))) if e.paper.abstract.strip() else ""
        cards.append(c)
    return render_page(
        "archive_edition.html.j2", cfg,
        **page_context(ed.language),
        page_title=one_line(ed.title),
        title=one_line(ed.title),
        subline=f"{ed.date.isoformat()} · {ui.count_papers(len(ed.entries), ed.language)}",
        summary_html=Markup(md_to_html(ed.summary.strip())) if ed.summary.strip() else "",
        cards=cards,
        back=back,
        home=home,
        head=Markup(head),
        wide=False,
    )


_STYLE = re.compile(r"<style[^>]*>.*?</style>", re.S | re.I)
_MSO = re.compile(r"<!--\[if [^\]]*\]>.*?<!\[endif\]-->", re.S)
_BODY = re.compile(r"<body([^>]*)>(.*)</body>", re.S | re.I)
_STYLE_ATTR = re.compile(r'\sstyle="([^"]*)"')


def email_fragment(email_html: str) -> Markup:
    """The rendered email as a block to put inside a page (the preview), instead of an iframe.

    An iframe cannot grow to its content without a script, and the preview's CSP allows none;
    inline, the email is as tall as it is and reflows at the page's width. Its head styles
    (media queries, dark mode) come along; the body's own style moves to the wrapper. The HTML
    is our rendered, sanitised email, never raw input.
    """
    head, _, rest = email_html.partition("</head>")
    m = _BODY.search(rest)
    if not m:
        return Markup("")
    styles = "".join(_STYLE.findall(_MSO.sub("", head)))
    style = _STYLE_ATTR.search(m.group(1))
    wrapper_style = f' style="{style.group(1)}"' if style else ""
    return Markup(f'<div class="mailframe"{wrapper_style}>{styles}{m.group(2)}</div>')


def index_page(editions: list[dict], heading: str = "arXiv daily: archive", preview: bool = False,
               href=None, cfg=None) -> str:
    """The list of editions (rows of `Store.list_editions()`), newest first.

    `href(row) -> str` gives each row's link; by default the public archive path.
    """
    from datetime import date

    rows = []
    for r in editions:
        link = href(r) if href else ui.archive_path(date.fromisoformat(r["date"]), r["profile"], r.get("cadence") or "daily")
        rows.append({**r, "href": link, "title": one_line(r.get("title") or "")})
    return render_page(
        "archive_index.html.j2", cfg, **page_context("en"), page_title=heading, heading=heading, editions=rows,
        preview=preview, wide=False,
    )


def archive_page(store, cfg, day, profile: str, back: str = "/", cadence: str = "daily") -> str | None:
    """The public archive page of (day, profile) from the store, or None when there is none."""
    ed = store.get_edition(day, profile, cadence=cadence)
    if ed is None or ed.status not in ("rendered", "sent"):
        return None
    return report_page(ed, cfg, back=back)


ARCHIVE_PATH = re.compile(r"/archive/(\d{4}-\d{2}-\d{2})/([a-z0-9_-]+)(\.weekly)?\.html")


def archive_for_path(store, cfg, path: str, back: str = "/") -> str | None:
    """The archive page a URL path names (`/archive/<date>/<profile>.html`), or None: the route
    `preview` and `serve` share."""
    m = ARCHIVE_PATH.fullmatch(path)
    if not m:
        return None
    try:
        day = date.fromisoformat(m.group(1))
    except ValueError:
        return None
    return archive_page(store, cfg, day, m.group(2), back=back, cadence="weekly" if m.group(3) else "daily")
