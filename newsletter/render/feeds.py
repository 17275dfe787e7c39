"""A list's editions as feeds: Atom (RFC 4287) and JSON Feed 1.1, one entry per edition.

Each entry has the edition's title, a short plain-text teaser of its executive summary, and as
content the whole summary (sanitised like the email: render/sanitize.py) followed by the papers,
each linked to its card on the edition's page. Output is deterministic, so publishing again
with nothing new writes the same bytes:

- ids are `urn:uuid:` names derived from the `[smtp] from` address, the list, the cadence and
  the date (`entry_id`): they survive moving the site to another host or path;
- `published` is when the edition was made and `updated` when it was last rendered (the store's
  `created` and `rendered`), never the time of publishing; the feed's `updated` is its newest entry's.

Links are absolute under `[web] archive_url`/`public_url` when one is set, else relative to the
feed file (RFC 4287 resolves them against the feed's own URL; feedparser does).
"""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from email.utils import parseaddr
from functools import cached_property
from html import escape
from html.parser import HTMLParser

from .digest import clip_columns, summary_excerpt
from .sanitize import md_to_html, one_line

ATOM_NS = "http://www.w3.org/2005/Atom"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
TEASER_COLUMNS = 300
# characters XML 1.0 cannot carry at all (C0 controls but tab/LF/CR, surrogates, U+FFFE/FFFF)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass
class FeedPaper:
    rank: int
    title: str
    anchor: str  # the id of its card on the edition's page


@dataclass
class FeedEntry:
    """One edition as a feed entry; `href` is its page, as the feed file links to it."""

    id: str
    title: str
    href: str
    published: str  # RFC 3339
    updated: str
    summary: str  # the executive summary (untrusted Markdown)
    subline: str  # "2026-02-09 · 10 papers"
    papers: list[FeedPaper] = field(default_factory=list)

    @cached_property
    def content(self) -> str:
        return content_html(self)

    @cached_property
    def teaser(self) -> str:
        return teaser(self.summary)


@dataclass
class FeedMeta:
    id: str
    title: str
    subtitle: str
    author: str
    language: str
    home: str  # the list's page, as the feed links to it
    self_href: str  # the feed itself


def id_namespace(from_address: str) -> uuid.UUID:
    """The publisher's namespace for feed and entry ids: its From address (never the site URL)."""
    addr = (parseaddr(from_address)[1] or from_address).strip().lower()
    return uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{addr}")


def feed_id(ns: uuid.UUID, profile: str, cadence: str) -> str:
    return f"urn:uuid:{uuid.uuid5(ns, f'feed/{profile}/{cadence}')}"


def entry_id(ns: uuid.UUID, profile: str, cadence: str, day: str) -> str:
    return f"urn:uuid:{uuid.uuid5(ns, f'edition/{profile}/{cadence}/{day}')}"


def author_name(from_address: str, fallback: str) -> str:
    """Who the feed says wrote it: the From display name ("arXiv Daily"), never the address."""
    return one_line(parseaddr(from_address)[0]) or fallback


def xml_text(s: str) -> str:
    return _NOT_XML.sub("", s)


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def teaser(summary: str) -> str:
    """The summary's first prose paragraph as plain text (its Markdown rendered, then the text
    taken from the sanitised HTML), at most TEASER_COLUMNS wide."""
    first = summary_excerpt(summary or "")
    if not first:
        return ""
    parser = _Text()
    parser.feed(md_to_html(first))
    parser.close()
    return clip_columns(one_line("".join(parser.parts)), TEASER_COLUMNS)


def content_html(e: FeedEntry) -> str:
    """The entry's content: subline, whole executive summary, and the papers linked to their cards."""
    parts = [f"<p>{escape(e.subline)}</p>"]
    if e.summary.strip():
        parts.append(md_to_html(e.summary.strip()))
    if e.papers:
        items = "".join(f'<li><a href="{escape(e.href, quote=True)}#{escape(p.anchor, quote=True)}">'
                        f"{escape(one_line(p.title))}</a></li>" for p in e.papers)
        parts.append(f"<ol>{items}</ol>")
    return xml_text("\n".join(parts))


def atom_feed(meta: FeedMeta, entries: list[FeedEntry]) -> bytes:
    """The Atom document (entries newest first); `updated` is the newest entry's."""
    ET.register_namespace("", ATOM_NS)

    def sub(parent, tag: str, text: str | None = None, **attrs: str):
        el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", {k: xml_text(v) for k, v in attrs.items()})
        if text is not None:
            el.text = xml_text(text)
        return el

    feed = ET.Element(f"{{{ATOM_NS}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": meta.language})
    sub(feed, "id", meta.id)
    sub(feed, "title", one_line(meta.title))
    if meta.subtitle:
        sub(feed, "subtitle", meta.subtitle)
    sub(feed, "updated", max((e.updated for e in entries), default="1970-01-01T00:00:00+00:00"))
    sub(feed, "link", rel="self", type="application/atom+xml", href=meta.self_href)
    sub(feed, "link", rel="alternate", type="text/html", href=meta.home)
    sub(sub(feed, "author"), "name", meta.author)
    sub(feed, "generator", "newsletter publish")
    for e in entries:
        entry = sub(feed, "entry")
        sub(entry, "id", e.id)
        sub(entry, "title", one_line(e.title))
        sub(entry, "link", rel="alternate", type="text/html", href=e.href)
        sub(entry, "published", e.published)
        sub(entry, "updated", e.updated)
        if e.teaser:
            sub(entry, "summary", e.teaser, type="text")
        sub(entry, "content", e.content, type="html")
    ET.indent(feed)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode").encode("utf-8") + b"\n"


def json_feed(meta: FeedMeta, entries: list[FeedEntry]) -> bytes:
    """The same feed as JSON Feed 1.1 (https://jsonfeed.org/version/1.1)."""
    doc = {
        "version": JSON_FEED_VERSION,
        "title": one_line(meta.title),
        "description": meta.subtitle,
        "home_page_url": meta.home,
        "feed_url": meta.self_href,
        "language": meta.language,
        "authors": [{"name": meta.author}],
        "items": [
            {
                "id": e.id, "url": e.href, "title": one_line(e.title), "summary": e.teaser,
                "content_html": e.content, "date_published": e.published, "date_modified": e.updated,
            }
            for e in entries
        ],
    }
    return (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
