"""Headless Chromium loads the preview at phone and desktop widths.

No horizontal scrolling, no console errors, no request leaving 127.0.0.1; screenshots are kept
in the test's tmp dir. Fails (never skips) when chromium is missing: `make chromium`.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from newsletter.config import load_config
from newsletter.store import Store
from newsletter.web import preview
from tests.servers.browser import Browser
from tests.servers.render_data import hostile_edition, reference_edition, store_rendered, with_extra_entries

WIDTHS = (375, 1024)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with Browser(tmp_path_factory.mktemp("browser")) as b:
        yield b


@pytest.mark.timeout(240)
def test_preview_pages_fit_phone_and_desktop_without_leaving_localhost(project, browser, tmp_path):
    cfg = load_config(project.config)
    store = Store.open(cfg.store_path)
    # the reference day plus the awkward inputs (long words, URLs, wide tables, RTL, emoji)
    hostile = hostile_edition(language="zh")
    ed = with_extra_entries(reference_edition(), [replace(e, rank=0) for e in hostile.entries])
    ed = store_rendered(store, cfg, ed)
    assert ed.status == "rendered"
    browser.tmpdir = tmp_path
    with preview.start(store, cfg) as srv:
        pages = {
            "index": srv.url,
            "email": f"{srv.url}edition/{ed.id}/email.html",
            "preview": f"{srv.url}edition/{ed.id}",
            "archive": f"{srv.url}archive/2026-02-09/cv.html",
        }
        for name, url in pages.items():
            for width in WIDTHS:
                v = browser.visit(url, width, name)
                where = f"{name} at {width}px"
                assert v.inner_width == width, where
                assert v.scroll_width <= v.inner_width, f"{where}: horizontal scrolling ({v.scroll_width}px)"
                assert not v.errors, f"{where}: console errors {v.errors}"
                assert v.requests, where
                outside = [u for u in v.requests if not u.startswith(srv.url)]
                assert not outside, f"{where}: requests leaving 127.0.0.1: {outside}"
                assert all(s < 400 for s in v.statuses.values()), f"{where}: {v.statuses}"
                assert v.screenshot.stat().st_size > 5000
    store.close()
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(
        f"{n}-{w}.png" for n in ("index", "email", "preview", "archive") for w in WIDTHS
    )
