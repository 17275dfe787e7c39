"""The archive as a static site: every file `newsletter publish` writes, as a path and its bytes.

    index.html                              every list (its feeds, its latest edition), the latest editions
    <list>/index.html                       one list: its feeds and every edition, newest first
    <list>/feed.xml, <list>/feed.json       its daily editions as Atom and JSON Feed (render/feeds.py)
    <list>/weekly.xml, <list>/weekly.json   its weekly editions, when it has any
    archive/<date>/<list>.html              one edition's complete report (archive.report_page), at
    archive/<date>/<list>.weekly.html       the path `serve` answers and the emails link to (ui.archive_path)
    favicon.svg, .nojekyll                  the icon (so browsers ask for nothing else); no Jekyll on GitHub Pages

Every link inside the site is relative, so it works from file:// and under any path prefix; only
the feeds use absolute URLs, and only when `[web] archive_url`/`public_url` says where the site is.
Pages carry a Content-Security-Policy that allows no script, no remote request and no form, and
need no JavaScript. Untrusted text is sanitised exactly as in the email (render/sanitize.py).

An edition's page is the expensive file (~0.2 s); `SiteFile.key` digests everything its bytes
depend on (the edition, its papers and analyses, the links around it, the templates and this
package's code), so the publisher can keep a file whose key has not changed without building it.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from functools import partial
from html import escape
from pathlib import Path

from markupsafe import Markup

from .. import __version__
from ..models import Edition
from . import ui
from .archive import page_context, report_page
from .email import env, render_page
from .feeds import FeedEntry, FeedMeta, FeedPaper, atom_feed, author_name, entry_id, feed_id, id_namespace, json_feed
from .markdown import anchor
from .sanitize import one_line

# what a published page may load: its inline styles and its own icon; no script, frame, form or remote request
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'"
FAVICON = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" '
           b'fill="#0b57d0"/><path d="M16 46 30 16h4l14 30h-7l-3-7H26l-3 7zm12-13h8l-4-10z" fill="#fff"/></svg>\n')
FEED_ENTRIES = 50  # the newest editions a feed carries; the list's page links them all
LATEST = 20  # editions on the front page
PUBLISHED = ("rendered", "sent")
FEEDS = {"daily": ("feed.xml", "feed.json"), "weekly": ("weekly.xml", "weekly.json")}


@dataclass
class SiteFile:
    path: str  # relative to the site root, "/"-separated
    build: Callable[[], bytes]
    key: str = ""  # digest of everything the bytes depend on; "" = cheap to build, always built


@dataclass
class Issue:
    """One published edition: what the list pages, the front page and the feeds say about it."""

    id: int
    day: date
    profile: str
    cadence: str
    title: str
    summary: str
    created: str
    rendered: str
    papers: list[FeedPaper] = field(default_factory=list)

    @property
    def path(self) -> str:
        return ui.archive_path(self.day, self.profile, self.cadence).lstrip("/")


@dataclass
class SiteList:
    name: str
    title: str
    language: str
    categories: list[str]
    issues: list[Issue] = field(default_factory=list)  # newest first

    @property
    def page(self) -> str:
        return f"{self.name}/index.html"

    def feeds(self) -> list[tuple[str, str, str]]:
        """(path, type, label) of the feeds this list has, daily first."""
        out = []
        for cadence, (atom, jsonf) in FEEDS.items():
            if any(i.cadence == cadence for i in self.issues):
                label = "" if cadence == "daily" else f" ({ui.strings(self.language)['weekly_feeds']})"
                out += [(f"{self.name}/{atom}", "application/atom+xml", f"Atom{label}"),
                        (f"{self.name}/{jsonf}", "application/feed+json", f"JSON Feed{label}")]
        return out


def rel(target: str, here: str) -> str:
    """`target` (site path) as a link from a file in folder `here` ("" = the root)."""
    return posixpath.relpath(target, here or ".")


def folder(path: str) -> str:
    return posixpath.dirname(path)


def head(here: str, feeds: list[tuple[str, str, str]], title: str) -> Markup:
    """The <head> additions of a published page: CSP, icon, feed autodiscovery (relative links)."""
    out = [f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
           f'<link rel="icon" type="image/svg+xml" href="{escape(rel("favicon.svg", here))}">']
    out += [f'<link rel="alternate" type="{t}" title="{escape(title)} ({escape(label)})" href="{escape(rel(p, here))}">'
            for p, t, label in feeds]
    return Markup("\n".join(out))


def site_files(store, cfg, profiles: list[str] | None = None) -> list[SiteFile]:
    """Every file of the site for the config's lists (or only `profiles`), from the store.

    A list no longer in the config keeps its pages as long as the store has its editions (links in
    old mail keep working), unless `profiles` names the lists to publish."""
    lists = collect(store, cfg, profiles)
    fp = renderer_fingerprint(cfg)
    files: list[SiteFile] = []
    for sl in lists:
        for issue, key in issue_keys(store, cfg, sl, fp):
            files.append(SiteFile(issue.path, partial(edition_bytes, store, cfg, sl, issue.id), key))
        if sl.issues:
            files.append(SiteFile(sl.page, partial(list_page, cfg, sl)))
            files += feed_files(cfg, sl)
    files.append(SiteFile("index.html", partial(index_page, cfg, lists)))
    files.append(SiteFile("favicon.svg", lambda: FAVICON))
    files.append(SiteFile(".nojekyll", lambda: b""))
    return files


def collect(store, cfg, profiles: list[str] | None) -> list[SiteList]:
    """The lists to publish with their published editions (newest first), in config order."""
    rows = [r for r in store.list_editions(limit=1_000_000) if r["status"] in PUBLISHED]
    wanted = profiles or [p.name for p in cfg.profiles] + sorted(
        {r["profile"] for r in rows} - {p.name for p in cfg.profiles})
    known = {p.name: p for p in cfg.profiles}
    lists = []
    for name in dict.fromkeys(wanted):
        mine = [r for r in rows if r["profile"] == name]
        if name in known:
            p = known[name]
            sl = SiteList(name, one_line(p.title), p.language, list(p.categories))
        else:
            sl = SiteList(name, ui.profile_title(mine[0]["title"], name), mine[0]["language"], [])
        sl.issues = [issue_of(r) for r in mine]
        lists.append(sl)
    return lists


def issue_of(row: dict) -> Issue:
    """An edition row as an Issue; a row without timestamps is dated at the start of its day (UTC)."""
    made = row.get("created") or f"{row['date']}T00:00:00+00:00"
    return Issue(row["id"], date.fromisoformat(row["date"]), row["profile"], row.get("cadence") or "daily",
                 row.get("title") or "", "", made, row.get("rendered") or made)


def renderer_fingerprint(cfg) -> str:
    """A digest of the code and templates that make an edition's page (overrides included)."""
    h = hashlib.sha256(__version__.encode())
    for f in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(f.read_bytes())
    jinja = env(cfg)
    for name in ("archive_base.html.j2", "archive_edition.html.j2"):
        h.update(jinja.loader.get_source(jinja, name)[0].encode())
    return h.hexdigest()


def edition_content(ed: Edition) -> str:
    """Everything of a stored edition its page shows (not the email's renders)."""
    return repr((ed.date, ed.profile, ed.cadence, ed.language, ed.title, ed.summary,
                 [(e.rank, e.paper, e.analysis) for e in ed.entries]))


def issue_keys(store, cfg, sl: SiteList, fp: str):
    """Each issue of the list with its page's key; fills in its summary and papers for the feeds.
    Editions are loaded one at a time (a stored edition carries its whole email render)."""
    for issue in sl.issues:
        ed = store.get_edition_by_id(issue.id)
        issue.summary = ed.summary
        issue.papers = [FeedPaper(e.rank, e.paper.title, anchor(e.paper)) for e in ed.entries]
        nav = page_nav(sl, issue.path)
        yield issue, hashlib.sha256(f"{fp}\n{nav!r}\n{edition_content(ed)}".encode()).hexdigest()


def page_nav(sl: SiteList, path: str) -> tuple[str, str, str]:
    here = folder(path)
    return rel(sl.page, here), rel("index.html", here), head(here, sl.feeds(), sl.title)


def edition_bytes(store, cfg, sl: SiteList, edition_id: int) -> bytes:
    ed = store.get_edition_by_id(edition_id)
    back, home, extra = page_nav(sl, ui.archive_path(ed.date, ed.profile, ed.cadence).lstrip("/"))
    return report_page(ed, cfg, back=back, home=home, head=extra).encode("utf-8")


def issue_row(issue: Issue, here: str, language: str) -> dict:
    return {"href": rel(issue.path, here), "title": one_line(issue.title) or issue.day.isoformat(),
            "subline": f"{issue.day.isoformat()} · {ui.count_papers(len(issue.papers), language)}",
            "weekly": issue.cadence == "weekly"}


def list_page(cfg, sl: SiteList) -> bytes:
    here = sl.name
    subline = " · ".join(x for x in (", ".join(sl.categories), ui.count_editions(len(sl.issues), sl.language)) if x)
    return render_page(
        "site_list.html.j2", cfg, **page_context(sl.language), head=head(here, sl.feeds(), sl.title),
        page_title=sl.title, title=sl.title, subline=subline, home=rel("index.html", here),
        feeds=[{"href": rel(p, here), "type": t, "label": label} for p, t, label in sl.feeds()],
        editions=[issue_row(i, here, sl.language) for i in sl.issues], wide=False,
    ).encode("utf-8")


def index_page(cfg, lists: list[SiteList]) -> bytes:
    """The front page, in the lists' language when they share one (else English)."""
    langs = {sl.language for sl in lists}
    lang = langs.pop() if len(langs) == 1 else "en"
    every = sorted((i for sl in lists for i in sl.issues), key=lambda i: (i.day, i.profile, i.cadence), reverse=True)
    titles = {sl.name: sl.title for sl in lists}
    heading = lists[0].title if len(lists) == 1 else "arXiv daily"
    rows = []
    for sl in lists:
        newest = sl.issues[0] if sl.issues else None
        rows.append({
            "title": sl.title, "href": sl.page if sl.issues else "",
            "count": ui.count_editions(len(sl.issues), sl.language) if sl.issues else ui.strings(lang)["no_editions"],
            "latest_href": newest.path if newest else "", "latest_date": newest.day.isoformat() if newest else "",
            "feeds": [{"href": p, "type": t, "label": label} for p, t, label in sl.feeds()],
        })
    latest = [issue_row(i, "", lang) for i in every[:LATEST]]
    if len(lists) > 1:  # say which list each edition is of
        for row, i in zip(latest, every, strict=False):
            row["subline"] = f"{titles[i.profile]} · {row['subline']}"
    feeds = [f for sl in lists for f in sl.feeds() if f[1] == "application/atom+xml"]
    return render_page(
        "site_index.html.j2", cfg, **page_context(lang), head=head("", feeds, heading), page_title=heading,
        heading=heading, subline=ui.count_editions(len(every), lang), lists=rows, latest=latest, wide=False,
    ).encode("utf-8")


def feed_files(cfg, sl: SiteList) -> list[SiteFile]:
    """The Atom and JSON feeds of each cadence the list has; both share one set of entries (their
    summaries are rendered once: feeds.FeedEntry caches its content)."""
    out = []
    for cadence, names in FEEDS.items():
        issues = [i for i in sl.issues if i.cadence == cadence][:FEED_ENTRIES]
        if issues:
            meta, entries = feed_parts(cfg, sl, cadence, issues)
            for name, make in zip(names, (atom_feed, json_feed), strict=True):
                path = f"{sl.name}/{name}"
                out.append(SiteFile(path, partial(make, replace(meta, self_href=site_link(cfg, path, sl.name)), entries)))
    return out


def site_link(cfg, target: str, here: str) -> str:
    """A link from a feed in folder `here`: absolute under the site's URL when it is configured,
    else relative to the feed file."""
    base = ui.site_url(cfg)
    return f"{base}/{target}" if base else rel(target, here)


def feed_parts(cfg, sl: SiteList, cadence: str, issues: list[Issue]) -> tuple[FeedMeta, list[FeedEntry]]:
    """The feed of the list's issues of one cadence (its `self_href` is filled in per file)."""
    ns = id_namespace(cfg.smtp.from_)
    weekly = f" ({ui.strings(sl.language)['weekly']})" if cadence == "weekly" else ""
    meta = FeedMeta(
        id=feed_id(ns, sl.name, cadence), title=sl.title + weekly, subtitle=", ".join(sl.categories),
        author=author_name(cfg.smtp.from_, sl.title), language=sl.language, home=site_link(cfg, sl.page, sl.name),
        self_href="",
    )
    entries = [
        FeedEntry(
            id=entry_id(ns, sl.name, cadence, i.day.isoformat()), title=one_line(i.title) or i.day.isoformat(),
            href=site_link(cfg, i.path, sl.name), published=i.created, updated=i.rendered,
            summary=i.summary, subline=f"{i.day.isoformat()} · {ui.count_papers(len(i.papers), sl.language)}",
            papers=i.papers,
        )
        for i in issues
    ]
    return meta, entries
