"""Headless Chromium reads the published site from file:// and from a static server under a path
prefix, at phone and desktop widths: no horizontal scrolling, no console errors, no script and no
dialog (hostile text included), no request leaving OUTDIR or 127.0.0.1. Fails (never skips) when
chromium is missing: `make chromium`."""

from __future__ import annotations

from dataclasses import replace

import pytest

from newsletter.config import load_config
from newsletter.ops.publish import publish
from newsletter.store import Store
from tests.servers.browser import Browser
from tests.servers.render_data import hostile_edition, reference_edition, store_rendered, with_extra_entries
from tests.servers.static import StaticServer

WIDTHS = (375, 1024)
PAGES = ("index.html", "cv/index.html", "archive/2026-02-09/cv.html")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with Browser(tmp_path_factory.mktemp("browser")) as b:
        yield b


@pytest.mark.timeout(300)
def test_published_pages_fit_phone_and_desktop_from_file_and_http(project, browser, tmp_path):
    cfg = load_config(project.config)
    store = Store.open(cfg.store_path)
    # the reference day plus the awkward and hostile inputs (long words, wide tables, RTL, scripts)
    hostile = hostile_edition(language="zh")
    store_rendered(store, cfg, with_extra_entries(reference_edition(), [replace(e, rank=0) for e in hostile.entries]))
    out = project.dir / "site"
    publish(store, cfg, out)
    store.close()
    browser.tmpdir = tmp_path
    card = "2602.00001v1"  # the "script" input's card: its anchor is on the edition's page
    with StaticServer(project.dir) as srv:
        roots = {"file": out.as_uri() + "/", "http": f"{srv.url}site/"}  # http: under the path prefix /site/
        for how, root in roots.items():
            for page in PAGES:
                for width in WIDTHS:
                    name = f"{how}-{page.replace('/', '_')}"
                    start = len(browser.events)
                    v = browser.visit(root + page, width, name)
                    where = f"{how} {page} at {width}px"
                    assert v.inner_width == width, where
                    assert v.scroll_width <= v.inner_width, f"{where}: horizontal scrolling ({v.scroll_width}px)"
                    assert not v.errors, f"{where}: console errors {v.errors}"
                    assert v.requests and all(u.startswith(root) for u in v.requests), f"{where}: {v.requests}"
                    assert all(s < 400 for s in v.statuses.values()), f"{where}: {v.statuses}"
                    assert browser.evaluate("document.scripts.length") == 0, where
                    dialogs = [e for e in browser.events[start:] if e["method"] == "Page.javascriptDialogOpening"]
                    assert not dialogs, f"{where}: a script ran: {dialogs}"
                    if page.startswith("archive/"):
                        assert browser.evaluate(f"document.getElementById('{card}') !== null"), where
                    assert v.screenshot.stat().st_size > 3000
        assert any(r.startswith("/site/archive/2026-02-09/cv.html") for r in srv.requests)
