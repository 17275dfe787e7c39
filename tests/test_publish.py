"""`newsletter publish`: the archive as a static site with Atom and JSON feeds.

The feeds are read by feedparser (a real consumer) over a local static server under a path
prefix, and checked for the Atom elements RFC 4287 requires; every link of the site resolves to a
file of OUTDIR (and every #anchor to an id on that page); a second publish with nothing new touches
no file (bytes, mtimes, inodes); a new edition rewrites only what it changes; a reader of OUTDIR
never sees a missing or half-written file while it is swapped; hostile LLM text cannot script a page
or a feed. The browser checks are in test_publish_browser.py.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import threading
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import feedparser
import lxml.html
import pytest

from newsletter.config import load_config
from newsletter.ops import publish as publish_mod
from newsletter.ops.publish import MANIFEST, PublishError, publish
from newsletter.store import Store
from tests.conftest import ROOT
from tests.servers.render_data import HOSTILE, hostile_edition, reference_edition, store_rendered
from tests.servers.static import StaticServer

ATOM = "{http://www.w3.org/2005/Atom}"
ML = '[[profiles]]\nname = "ml"\ntitle = "Machine Learning Papers"\ncategories = ["cs.LG"]\nlanguage = "en"\n'
SITE = {
    ".nojekyll", "favicon.svg", "index.html",
    "cv/index.html", "cv/feed.xml", "cv/feed.json", "cv/weekly.xml", "cv/weekly.json",
    "ml/index.html", "ml/feed.xml", "ml/feed.json",
    "archive/2026-02-09/cv.html", "archive/2026-02-13/cv.weekly.html", "archive/2026-02-10/ml.html",
}
BAD_TAGS = {"script", "iframe", "img", "object", "embed", "form", "input", "frame", "svg", "math", "video",
            "audio", "source", "base", "button", "textarea", "select"}


def make_project(d: Path) -> Path:
    text = (ROOT / "config.toml").read_text().replace("empty_retry_hours = 3 ", "empty_retry_hours = 0 ")
    (d / "config.toml").write_text(text + "\n" + ML)
    shutil.copytree(ROOT / "subscribers", d / "subscribers")
    return d / "config.toml"


def add_edition(config: Path, ed) -> None:
    cfg = load_config(config)
    store = Store.open(cfg.store_path)
    try:
        store_rendered(store, cfg, ed)
    finally:
        store.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Two lists: cv (zh) with a daily and a weekly edition, ml (en) with the hostile day."""
    d = tmp_path_factory.mktemp("world")
    config = make_project(d)
    add_edition(config, reference_edition())
    add_edition(config, replace(reference_edition(), date=date(2026, 2, 13), cadence="weekly",
                                title="Arxiv Computer Vision Papers (weekly) - 2026-02-13"))
    add_edition(config, replace(hostile_edition("en"), profile="ml", date=date(2026, 2, 10),
                                title="Machine Learning Papers - 2026-02-10"))
    return d


@pytest.fixture
def proj(world, tmp_path) -> Path:
    """A copy of the world (config, subscribers, store) a test may change; returns its config.toml."""
    shutil.copytree(world, tmp_path / "w")
    return tmp_path / "w" / "config.toml"


def publish_to(config: Path, out: Path, profiles: list[str] | None = None):
    cfg = load_config(config)
    store = Store.open(cfg.store_path)
    try:
        return publish(store, cfg, out, profiles)
    finally:
        store.close()


def files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


def snapshot(out: Path) -> dict[str, tuple]:
    """Every file's bytes, mtime and inode, and every folder's mtime."""
    snap = {"": (out.stat().st_mtime_ns, out.stat().st_ino)}
    for p in sorted(out.rglob("*")):
        st = p.stat()
        snap[p.relative_to(out).as_posix()] = (p.read_bytes() if p.is_file() else None, st.st_mtime_ns, st.st_ino)
    return snap


# -- what the site holds ---------------------------------------------------------------------------


def test_the_site_has_every_page_list_and_feed(proj, tmp_path):
    out = tmp_path / "site"
    report = publish_to(proj, out)
    assert set(report.written) == SITE and report.unchanged == 0 and report.removed == []
    assert files(out) == SITE | {MANIFEST}
    assert not list(tmp_path.glob(".site.publish-*"))  # no temporary tree left beside it
    # the edition page is the archive's report page, the one `serve` shows (only the links around it differ)
    from newsletter.render.archive import archive_page

    cfg = load_config(proj)
    store = Store.open(cfg.store_path)
    served = archive_page(store, cfg, date(2026, 2, 9), "cv")
    store.close()
    page = (out / "archive/2026-02-09/cv.html").read_text()
    assert page[page.index("<header"):] == served[served.index("<header"):]
    assert '<nav class="crumbs"><a href="../../cv/index.html">' in page and 'href="../../index.html"' in page
    assert re.search(r'<section class="card" id="2602\.\d+v\d">', page)  # an anchor per paper
    index = (out / "index.html").read_text()
    assert "Arxiv Computer Vision Papers" in index and "Machine Learning Papers" in index
    assert 'href="cv/feed.xml"' in index and 'href="archive/2026-02-10/ml.html"' in index


def test_a_list_dropped_from_the_config_keeps_its_pages(proj, tmp_path):
    """Links in mail already sent keep working: the store's editions of a list no longer configured
    are still published, under the title its editions carried."""
    proj.write_text(proj.read_text().replace(ML, ""))
    out = tmp_path / "site"
    report = publish_to(proj, out)
    assert set(report.written) == SITE
    assert "Machine Learning Papers" in (out / "ml/index.html").read_text()


def atom_required(doc: bytes) -> ET.Element:
    """RFC 4287's required elements: the feed's id, title, updated, an author (here or in every entry)
    and a self link; each entry's id, title, updated and an alternate link (it has content too)."""
    root = ET.fromstring(doc)
    assert root.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated"):
        assert len(root.findall(f"{ATOM}{tag}")) == 1, tag
    assert root.find(f"{ATOM}author/{ATOM}name").text
    assert [ln.get("rel") for ln in root.findall(f"{ATOM}link")].count("self") == 1
    for entry in root.findall(f"{ATOM}entry"):
        for tag in ("id", "title", "updated"):
            assert len(entry.findall(f"{ATOM}{tag}")) == 1, tag
        assert entry.find(f"{ATOM}id").text.startswith("urn:uuid:")
        assert any(ln.get("rel") == "alternate" and ln.get("href") for ln in entry.findall(f"{ATOM}link"))
        for tag in ("updated", "published"):
            datetime.fromisoformat(entry.find(f"{ATOM}{tag}").text)  # RFC 3339 with an offset
    return root


def test_feeds_are_read_by_feedparser_and_match_the_editions(proj, tmp_path):
    out = tmp_path / "news"
    publish_to(proj, out)
    with StaticServer(tmp_path) as srv:
        base = f"{srv.url}news/"
        for path, titles in [
            ("cv/feed.xml", ["Arxiv Computer Vision Papers - 2026-02-09"]),
            ("cv/weekly.xml", ["Arxiv Computer Vision Papers (weekly) - 2026-02-13"]),
            ("ml/feed.xml", ["Machine Learning Papers - 2026-02-10"]),
        ]:
            atom_required((out / path).read_bytes())
            f = feedparser.parse(base + path)
            assert f.get("status") == 200 and not f.bozo, (path, f.get("bozo_exception"))
            assert f.version == "atom10"
            assert f.feed.id.startswith("urn:uuid:") and f.feed.title and f.feed.updated_parsed
            assert f.feed.link == base + path.split("/")[0] + "/index.html"
            assert f.feed.author == "arXiv Daily"
            assert [e.title for e in f.entries] == titles
            for e in f.entries:
                assert e.id.startswith("urn:uuid:") and e.updated_parsed and e.published_parsed
                assert e.link.startswith(base + "archive/") and urllib.request.urlopen(e.link, timeout=10).status == 200
                html = e.content[0].value
                ids = re.findall(r'href="([^"#]+)#([^"]+)"', html)
                assert ids and all(u == e.link for u, _ in ids)  # each paper linked to its card
        # the JSON Feed beside it says the same
        doc = json.loads((out / "cv/feed.json").read_text())
        assert doc["version"] == "https://jsonfeed.org/version/1.1"
        atom = feedparser.parse(base + "cv/feed.xml")
        assert [(i["id"], i["title"], i["url"]) for i in doc["items"]] == [
            (e.id, e.title, "../archive/2026-02-09/cv.html") for e in atom.entries]


def test_feed_ids_and_timestamps_are_stable_and_the_site_deterministic(proj, tmp_path):
    publish_to(proj, tmp_path / "a")
    before = ET.fromstring((tmp_path / "a/cv/feed.xml").read_bytes())
    add_edition(proj, replace(reference_edition(), date=date(2026, 2, 10), title="Arxiv CV - 2026-02-10"))
    publish_to(proj, tmp_path / "a")
    after = ET.fromstring((tmp_path / "a/cv/feed.xml").read_bytes())

    def entries(root):
        return {e.find(f"{ATOM}id").text: (e.find(f"{ATOM}published").text, e.find(f"{ATOM}updated").text)
                for e in root.findall(f"{ATOM}entry")}

    old, new = entries(before), entries(after)
    assert len(new) == 2 and all(new[k] == v for k, v in old.items())  # the old entry as it was
    assert before.find(f"{ATOM}id").text == after.find(f"{ATOM}id").text
    assert after.find(f"{ATOM}updated").text == max(u for _, u in new.values())
    # the same store published anywhere else gives the same bytes (nothing depends on when or where)
    publish_to(proj, tmp_path / "b")
    assert {p: (tmp_path / "a" / p).read_bytes() for p in files(tmp_path / "a")} == \
        {p: (tmp_path / "b" / p).read_bytes() for p in files(tmp_path / "b")}
    # a site URL makes the links absolute; the ids stay (they do not depend on where the site is)
    text = proj.read_text().replace('archive_url = ""', 'archive_url = "https://example.org/news/"')
    proj.write_text(text)
    publish_to(proj, tmp_path / "c")
    moved = ET.fromstring((tmp_path / "c/cv/feed.xml").read_bytes())
    assert entries(moved) == new
    links = [e.find(f"{ATOM}link").get("href") for e in moved.findall(f"{ATOM}entry")]
    assert links == ["https://example.org/news/archive/2026-02-10/cv.html",
                     "https://example.org/news/archive/2026-02-09/cv.html"]


# -- links -----------------------------------------------------------------------------------------


def local_target(out: Path, page: Path, href: str) -> tuple[Path, str] | None:
    """The file (and fragment) a link inside the site points at; None for a link out of it."""
    if re.match(r"^(https?:|mailto:)", href):
        return None
    assert not href.startswith("/"), f"{page}: {href} is root-relative: it breaks under a path prefix"
    parts = urlsplit(href)
    assert not parts.scheme and not parts.netloc, href
    target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
    assert target.is_relative_to(out.resolve()), f"{page}: {href} leaves the site"
    return target, parts.fragment


def test_every_link_in_the_site_resolves_to_a_file_in_outdir(proj, tmp_path):
    out = tmp_path / "site"
    publish_to(proj, out)
    checked = 0
    for page in sorted(out.rglob("*.html")):
        tree = lxml.html.parse(str(page))
        for el in tree.iter("a", "link"):
            found = local_target(out, page, el.get("href") or "")
            if found is None:
                continue
            target, fragment = found
            assert target.is_file(), f"{page.relative_to(out)}: {el.get('href')} does not exist"
            if fragment:
                ids = lxml.html.parse(str(target)).xpath("//@id")
                assert fragment in ids, f"{page.relative_to(out)}: #{fragment} is not on {target.name}"
            checked += 1
    for feed in sorted(out.rglob("*.xml")):
        root = ET.fromstring(feed.read_bytes())
        hrefs = [ln.get("href") for ln in root.iter(f"{ATOM}link")]
        hrefs += [h for c in root.iter(f"{ATOM}content") for h in re.findall(r'href="([^"]+)"', c.text)]
        for href in hrefs:
            if (found := local_target(out, feed, href)) is not None:
                assert found[0].is_file(), f"{feed.relative_to(out)}: {href}"
                checked += 1
    assert checked > 100


# -- incremental, atomic ---------------------------------------------------------------------------


def test_publishing_again_with_nothing_new_changes_no_file(proj, tmp_path):
    out = tmp_path / "site"
    publish_to(proj, out)
    before = snapshot(out)
    report = publish_to(proj, out)
    assert report.written == [] and report.removed == [] and report.unchanged == len(SITE)
    assert report.line().endswith("(nothing changed)")
    assert snapshot(out) == before


def test_a_new_edition_rewrites_only_what_it_changes(proj, tmp_path):
    out = tmp_path / "site"
    publish_to(proj, out)
    (out / "CNAME").write_text("news.example.org\n")  # a file of the site's owner (GitHub Pages' domain)
    before = snapshot(out)
    add_edition(proj, replace(reference_edition(), date=date(2026, 2, 10), title="Arxiv CV - 2026-02-10"))
    report = publish_to(proj, out)
    assert sorted(report.written) == ["archive/2026-02-10/cv.html", "cv/feed.json", "cv/feed.xml",
                                      "cv/index.html", "index.html"]
    assert report.removed == [] and report.kept == ["CNAME"] and report.unchanged == len(SITE) - 4
    after = snapshot(out)
    for path, (data, *_) in before.items():
        if path and path not in report.written and path != MANIFEST and data is not None:
            assert after[path] == before[path], path  # the same file (bytes, mtime, inode), not a copy
    assert (out / "CNAME").read_text() == "news.example.org\n"
    # one list only: the other's pages go, and the report says so
    report = publish_to(proj, out, ["cv"])
    assert sorted(report.removed) == ["archive/2026-02-10/ml.html", "ml/feed.json", "ml/feed.xml", "ml/index.html"]
    assert not (out / "ml").exists() and (out / "CNAME").exists()
    assert "Machine Learning" not in (out / "index.html").read_text()


def test_a_reader_never_sees_a_missing_or_half_written_file(proj, tmp_path):
    out = tmp_path / "site"
    publish_to(proj, out)
    versions = {(out / "index.html").read_bytes()}
    seen, missing, stop = set(), [], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                seen.add((out / "index.html").read_bytes())
                (out / "cv" / "feed.xml").read_bytes()
            except FileNotFoundError as e:
                missing.append(e.filename)

    t = threading.Thread(target=reader)
    t.start()
    try:
        for day in (10, 11, 12):
            add_edition(proj, replace(reference_edition(), date=date(2026, 2, day), title=f"Arxiv CV - 2026-02-{day}"))
            publish_to(proj, out)
            versions.add((out / "index.html").read_bytes())
    finally:
        stop.set()
        t.join(30)
    assert not missing, missing[:3]
    assert seen <= versions  # every read was one whole published version


def test_without_an_atomic_exchange_the_site_is_still_swapped_whole(proj, tmp_path, monkeypatch):
    monkeypatch.setattr(publish_mod, "exchange", lambda a, b: False)  # not Linux, or a filesystem without it
    out = tmp_path / "site"
    publish_to(proj, out)
    add_edition(proj, replace(reference_edition(), date=date(2026, 2, 10), title="Arxiv CV - 2026-02-10"))
    publish_to(proj, out)
    assert "archive/2026-02-10/cv.html" in files(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site", "w"]


def test_a_failed_publish_leaves_the_site_as_it_was(proj, tmp_path, monkeypatch):
    out = tmp_path / "site"
    publish_to(proj, out)
    (tmp_path / ".site.publish-99999").mkdir()  # the temporary tree of a publish that crashed
    (tmp_path / ".site.publish-99999" / "junk.html").write_text("x")
    before = snapshot(out)
    add_edition(proj, replace(reference_edition(), date=date(2026, 2, 10), title="Arxiv CV - 2026-02-10"))
    real, calls = publish_mod.write_file, []

    def disk_full(dest, data):
        calls.append(dest)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dest))
        real(dest, data)

    monkeypatch.setattr(publish_mod, "write_file", disk_full)
    with pytest.raises(PublishError, match="No space left on device.*the published site is unchanged"):
        publish_to(proj, out)
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site", "w"]  # the crashed tree went too


# -- hostile text ----------------------------------------------------------------------------------


def check_page(doc: bytes, where: str) -> None:
    """No script, handler, frame, form or remote resource; links go out over http(s)/mailto or stay inside."""
    assert not re.search(rb"<\s*script", doc, re.I), where
    tree = lxml.html.document_fromstring(doc)
    csp = tree.xpath('//meta[@http-equiv="Content-Security-Policy"]/@content')
    assert csp and "default-src 'none'" in csp[0] and "script-src" not in csp[0], where
    for el in tree.find("head"):
        assert el.tag in ("meta", "title", "style", "link"), (where, el.tag)
        if el.tag == "link":
            assert el.get("rel") in ("icon", "alternate") and not re.match(r"^[a-z]+:|^/", el.get("href")), where
    for el in tree.find("body").iter():
        if not isinstance(el.tag, str):
            continue
        assert el.tag not in BAD_TAGS, (where, el.tag)
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on") and name not in ("src", "srcset", "action"), (where, name)
            if name == "href":
                assert re.match(r"^(https?://|mailto:|#|[A-Za-z0-9._/-]+(#[\w.-]*)?$)", value), (where, value)
                assert not re.match(r"^\s*(javascript|data|vbscript):", value, re.I), (where, value)
            if name == "style":
                assert "url(" not in value and "expression" not in value, (where, value)


@pytest.fixture(scope="module")
def hostile_site(world, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hostile") / "site"
    publish_to(world / "config.toml", out)
    return out


def test_no_published_page_can_be_scripted(hostile_site):
    for page in sorted(hostile_site.rglob("*.html")):
        check_page(page.read_bytes(), str(page.relative_to(hostile_site)))


@pytest.mark.parametrize("name,text", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_each_hostile_input_is_inert_on_its_page_and_in_the_feeds(hostile_site, name, text):
    n = [h[0] for h in HOSTILE].index(name) + 1
    page = lxml.html.parse(str(hostile_site / "archive/2026-02-10/ml.html"))
    card = page.xpath(f'//section[@id="2602.{n:05d}v1"]')
    assert len(card) == 1, name
    check_page(f"<html><head><meta http-equiv='Content-Security-Policy' content=\"default-src 'none'\"></head>"
               f"<body>{lxml.html.tostring(card[0], encoding='unicode')}</body></html>".encode(), name)
    assert card[0].xpath(".//h3")[0].text_content().startswith(name)  # shown as text, not swallowed
    for feed in ("ml/feed.xml", "ml/feed.json"):
        raw = (hostile_site / feed).read_bytes()
        if feed.endswith(".xml"):
            root = atom_required(raw)
            html = root.find(f"{ATOM}entry/{ATOM}content").text
        else:
            html = json.loads(raw)["items"][0]["content_html"]
        body = lxml.html.fragment_fromstring(html, create_parent="div")
        for el in body.iter():
            assert el.tag not in BAD_TAGS, (feed, el.tag)
            assert not any(a.lower().startswith("on") or a == "src" for a in el.attrib), (feed, el.attrib)
            href = el.get("href")
            assert href is None or not re.match(r"^\s*(javascript|data|vbscript):", href, re.I), (feed, href)
