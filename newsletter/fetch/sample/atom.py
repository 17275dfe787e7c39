"""arXiv API Atom, written and read back exactly as the arXiv API User's Manual specifies it.

The bundled sample day and the local test server both go through this module, so the feed our
fetcher parses in tests and in `--demo` has the shape of export.arxiv.org's answers: a `feed`
with `opensearch:` totals, entries with `id`, `updated`, `published`, `title`, `summary`,
`author/name`, `arxiv:comment`, `link rel=alternate`, `link title=pdf rel=related`,
`arxiv:primary_category` and `category` terms.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode
from xml.sax.saxutils import escape, quoteattr

ATOM = "http://www.w3.org/2005/Atom"
OPENSEARCH = "http://a9.com/-/spec/opensearch/1.1/"
ARXIV = "http://arxiv.org/schemas/atom"
_NS = {"atom": ATOM, "opensearch": OPENSEARCH, "arxiv": ARXIV}


@dataclass
class Entry:
    """One arXiv record as the API shows it (id carries the version, e.g. 2602.06959v1)."""

    id: str
    title: str
    summary: str
    authors: list[str]
    published: datetime
    updated: datetime
    categories: list[str]
    primary_category: str
    comment: str = ""
    journal_ref: str = ""
    doi: str = ""
    pdf_href: str = ""  # empty: http://arxiv.org/pdf/<id>
    extra: dict = field(default_factory=dict)

    @property
    def base_id(self) -> str:
        return self.id.rsplit("v", 1)[0]

    def with_pdf(self, href: str) -> Entry:
        return replace(self, pdf_href=href)


def atom_time(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_ts(s: str) -> datetime:
    dt = datetime.fromisoformat(s.strip().replace("Z", "+00:00"))
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)


def feed_id(query: str) -> str:
    return hashlib.sha1(query.encode()).hexdigest()[:27]


def _entry_xml(e: Entry) -> str:
    pdf = e.pdf_href or f"http://arxiv.org/pdf/{e.id}"
    out = [
        "  <entry>",
        f"    <id>http://arxiv.org/abs/{escape(e.id)}</id>",
        f"    <updated>{atom_time(e.updated)}</updated>",
        f"    <published>{atom_time(e.published)}</published>",
        f"    <title>{escape(e.title)}</title>",
        f"    <summary>{escape(e.summary)}</summary>",
    ]
    out += [f"    <author>\n      <name>{escape(a)}</name>\n    </author>" for a in e.authors]
    if e.comment:
        out.append(f"    <arxiv:comment>{escape(e.comment)}</arxiv:comment>")
    if e.journal_ref:
        out.append(f"    <arxiv:journal_ref>{escape(e.journal_ref)}</arxiv:journal_ref>")
    if e.doi:
        out.append(f'    <link title="doi" href="http://dx.doi.org/{escape(e.doi)}" rel="related"/>')
    out.append(f'    <link href="http://arxiv.org/abs/{escape(e.id)}" rel="alternate" type="text/html"/>')
    out.append(f'    <link title="pdf" href={quoteattr(pdf)} rel="related" type="application/pdf"/>')
    if e.doi:
        out.append(f"    <arxiv:doi>{escape(e.doi)}</arxiv:doi>")
    out.append(f'    <arxiv:primary_category term={quoteattr(e.primary_category)} scheme="{ARXIV}"/>')
    out += [f'    <category term={quoteattr(c)} scheme="{ARXIV}"/>' for c in e.categories]
    out.append("  </entry>")
    return "\n".join(out)


def feed_xml(
    entries: list[Entry], *, total: int | None = None, start: int = 0, items_per_page: int | None = None,
    query: dict[str, str] | None = None, updated: datetime | None = None,
) -> bytes:
    """A whole API response: the page `entries` of a result set of `total` records."""
    q = urlencode(query or {"search_query": "", "id_list": "", "start": str(start),
                            "max_results": str(items_per_page or len(entries))})
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<feed xmlns="{ATOM}" xmlns:opensearch="{OPENSEARCH}" xmlns:arxiv="{ARXIV}">',
        f'  <id>https://arxiv.org/api/{feed_id(q)}</id>',
        f"  <title>arXiv Query: {escape(q)}</title>",
        f"  <updated>{atom_time(updated or datetime.now(UTC))}</updated>",
        f'  <link href={quoteattr("https://arxiv.org/api/query?" + q)} type="application/atom+xml"/>',
        f"  <opensearch:itemsPerPage>{items_per_page if items_per_page is not None else len(entries)}"
        "</opensearch:itemsPerPage>",
        f"  <opensearch:totalResults>{total if total is not None else len(entries)}</opensearch:totalResults>",
        f"  <opensearch:startIndex>{start}</opensearch:startIndex>",
    ]
    body = [_entry_xml(e) for e in entries]
    return ("\n".join(head + body + ["</feed>", ""])).encode("utf-8")


def read_entries(data: bytes | str | Path) -> list[Entry]:
    """Entries of an Atom file or response (the sample day is stored as one)."""
    if isinstance(data, Path):
        data = data.read_bytes()
    root = ET.fromstring(data)
    out: list[Entry] = []
    for el in root.iterfind("atom:entry", _NS):
        def t(path: str, el: ET.Element = el) -> str:
            found = el.find(path, _NS)
            return (found.text or "").strip() if found is not None else ""

        pdf = ""
        for link in el.iterfind("atom:link", _NS):
            if link.get("title") == "pdf":
                pdf = link.get("href", "")
        prim = el.find("arxiv:primary_category", _NS)
        out.append(Entry(
            id=t("atom:id").split("/abs/")[-1],
            title=" ".join(t("atom:title").split()),
            summary=t("atom:summary"),
            authors=[(a.findtext("atom:name", "", _NS) or "").strip() for a in el.iterfind("atom:author", _NS)],
            published=_parse_ts(t("atom:published")),
            updated=_parse_ts(t("atom:updated")),
            categories=[c.get("term", "") for c in el.iterfind("atom:category", _NS)],
            primary_category=prim.get("term", "") if prim is not None else "",
            comment=t("arxiv:comment"),
            journal_ref=t("arxiv:journal_ref"),
            doi=t("arxiv:doi"),
            pdf_href=pdf,
        ))
    return out
