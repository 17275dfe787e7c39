"""The published site and the mail agree: the emails' "view in browser" and archive links point at
pages `newsletter publish` writes (with `[web] public_url`, or `archive_url` for a site served
elsewhere, such as GitHub Pages); `newsletter schedule` publishes after each run when
`[web] publish_dir` is set; the `publish` command itself."""

from __future__ import annotations

import logging
import re
from email import message_from_bytes
from urllib.parse import urlsplit

import lxml.html

from newsletter.config import load_config
from newsletter.ops import shutdown
from newsletter.ops.schedule import publish_after_run, scheduled_run
from newsletter.store import Store
from tests.servers.arxiv_server import ArxivServer
from tests.servers.render_data import reference_edition, store_rendered
from tests.servers.smtp import FaultSMTPServer
from tests.test_ops_days import MON, configure, entries_for

PUBLIC = "https://news.example.org"
SECRET = "Zq3v9s-UnsubscribeSecret-0123456789abcdef"


def archive_links(html: str, base: str) -> list[str]:
    return [a for a in lxml.html.document_fromstring(html).xpath("//a/@href") if a.startswith(base + "/archive/")]


def assert_published(out, links: list[str], base: str) -> None:
    """Each link names a page of the site in `out` (and a card on it when it has a #fragment)."""
    assert links
    for link in links:
        parts = urlsplit(link)
        page = out / parts.path[len(urlsplit(base).path):].lstrip("/")
        assert page.is_file(), link
        if parts.fragment:
            assert parts.fragment in lxml.html.parse(str(page)).xpath("//@id"), link


def html_part(data: bytes) -> str:
    msg = message_from_bytes(data)
    part = next(p for p in msg.walk() if p.get_content_type() == "text/html")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def test_schedule_publishes_after_each_run_and_the_mail_links_to_the_published_pages(project, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="newsletter")
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)
    with ArxivServer(entries=entries_for([MON])) as arxiv, FaultSMTPServer() as smtp:
        configure(project, arxiv, smtp)
        project.edit('public_url = ""', f'public_url = "{PUBLIC}"')
        project.edit('publish_dir = ""', 'publish_dir = "public"')
        cfg = load_config(project.config)
        shutdown.reset()
        report = scheduled_run(cfg, MON)
        assert report is not None and report.editions["cv"]["status"] == "sent"
        received = list(smtp.handler.received)
    out = project.dir / "public"
    assert (out / "archive/2026-02-09/cv.html").is_file() and (out / "cv/feed.xml").is_file()
    assert "published the archive: " in caplog.text
    assert len(received) == 2
    for m in received:
        html = html_part(m.data)
        links = archive_links(html, PUBLIC)
        assert f"{PUBLIC}/archive/2026-02-09/cv.html" in links  # "view in the browser"
        assert_published(out, links, PUBLIC)
    # the feed's links are absolute under public_url, at the same paths
    feed = (out / "cv/feed.xml").read_text()
    assert f'href="{PUBLIC}/archive/2026-02-09/cv.html"' in feed


def test_archive_url_points_the_mail_at_a_site_served_elsewhere(project, tmp_path):
    """GitHub Pages serves the archive while `serve` (one-click unsubscribe, feedback) runs elsewhere
    or not at all: the archive links follow archive_url, the shortened email attaches nothing and
    carries no feedback block (that needs public_url)."""
    base = "https://someone.github.io/arxiv"
    project.edit('archive_url = ""', f'archive_url = "{base}/"')
    cfg = load_config(project.config)
    store = Store.open(cfg.store_path)
    try:
        ed = store_rendered(store, cfg, reference_edition())
        from newsletter.ops.publish import publish

        publish(store, cfg, tmp_path / "arxiv")
    finally:
        store.close()
    links = archive_links(ed.html, base)
    assert f"{base}/archive/2026-02-09/cv.html" in links
    assert_published(tmp_path / "arxiv", links, base)
    assert ed.attachments == [] and "%%NL_FB_UP%%" not in ed.parts
    assert not re.search(r"/unsubscribe\b|/feedback/", ed.html)


def test_a_failed_publish_after_a_run_is_logged_and_the_scheduler_goes_on(project, caplog):
    caplog.set_level(logging.INFO, logger="newsletter")
    (project.dir / "public").write_text("not a folder")
    project.edit('publish_dir = ""', 'publish_dir = "public"')
    cfg = load_config(project.config)
    store = Store.open(cfg.store_path)
    try:
        publish_after_run(store, cfg)  # never raises
    finally:
        store.close()
    assert "publishing the archive to public failed: " in caplog.text and "is a file, not a folder" in caplog.text


def test_publish_command(project, cli):
    cfg = load_config(project.config)
    store = Store.open(cfg.store_path)
    store_rendered(store, cfg, reference_edition())
    store.close()
    r = cli("publish", "site")
    assert r.code == 0, r.err
    assert re.fullmatch(r".*/site: 7 written, 0 unchanged, 0 removed\n", r.out), r.out
    r = cli("publish", "site")
    assert r.code == 0 and r.out.endswith("site: 0 written, 7 unchanged, 0 removed (nothing changed)\n"), r.out
    # OUTDIR defaults to [web] publish_dir, relative to the config's folder
    project.edit('publish_dir = ""', 'publish_dir = "www/arxiv"')
    (project.dir / "www").mkdir()
    r = cli("publish", "--profile", "cv")
    assert r.code == 0 and (project.dir / "www/arxiv/archive/2026-02-09/cv.html").is_file(), r.out + r.err
    # the demo's own store (nothing there yet: a site that says so)
    r = cli("publish", "--demo", "demo-site")
    assert r.code == 0, r.err
    assert "暂无往期" in (project.dir / "demo-site/index.html").read_text()  # the list is in Chinese


def test_doctor_checks_the_publish_folder(project):
    from newsletter.ops.doctor import check_publish

    assert check_publish(load_config(project.config)).state == "skip"
    project.edit('publish_dir = ""', 'publish_dir = "public"')
    c = check_publish(load_config(project.config))
    assert c.state == "ok" and "not published yet" in c.detail, c.line()
    (project.dir / "public").mkdir()
    (project.dir / "public" / "mine.txt").write_text("x")
    c = check_publish(load_config(project.config))
    assert c.state == "fail" and "was not written by `newsletter publish`" in c.detail, c.line()
    (project.dir / "public" / "mine.txt").unlink()
    cfg = load_config(project.config)
    store = Store.open(cfg.store_path)
    try:
        from newsletter.ops.publish import publish

        publish(store, cfg, project.dir / "public")
    finally:
        store.close()
    c = check_publish(cfg)
    assert c.state == "ok" and ": published; served at no [web] archive_url" in c.detail, c.line()
    assert not list(project.dir.glob(".public.publish-*"))
