"""The preview server: index, stored editions as subscribers see them, --as, 127.0.0.1 only."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from newsletter.config import load_config
from newsletter.store import Store
from newsletter.web import preview
from tests.servers.render_data import reference_edition, store_rendered


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


@pytest.fixture
def stored(project):
    cfg = load_config(project.config)
    store = Store.open(cfg.store_path)
    ed = store_rendered(store, cfg, reference_edition())
    yield cfg, store, ed
    store.close()


def test_index_and_edition_pages_read_the_stored_rendering(stored):
    cfg, store, ed = stored
    # tamper with the stored parts: the preview must show exactly what is stored, never re-render
    store.update_edition(ed.id, html=ed.html.replace("执行摘要", "STORED-HTML-MARK", 1),
                         text="STORED-TEXT-MARK %%NL_NAME%%\n")
    with preview.start(store, cfg) as srv:
        assert srv.url.startswith("http://127.0.0.1:") and srv.httpd.server_address[0] == "127.0.0.1"
        code, _, index = get(srv.url)
        assert code == 200
        assert "2026-02-09" in index and ">cv<" in index and "<td>10</td>" in index
        assert f"/edition/{ed.id}" in index
        code, _, page = get(f"{srv.url}edition/{ed.id}")
        assert code == 200 and "STORED-TEXT-MARK Sample Reader" in page
        assert "## Table of Contents" in page  # the Markdown alongside
        code, _, mail = get(f"{srv.url}edition/{ed.id}/email.html")
        assert "STORED-HTML-MARK" in mail and "Sample Reader" in mail and "%%NL_" not in mail
        code, ctype, text = get(f"{srv.url}edition/{ed.id}/text.txt")
        assert ctype.startswith("text/plain") and text == "STORED-TEXT-MARK Sample Reader\n"
        code, _, md = get(f"{srv.url}edition/{ed.id}/issue.md")
        assert md == ed.markdown
        code, _, report = get(f"{srv.url}archive/2026-02-09/cv.html")
        assert code == 200 and "摄像机可控的动态视频" in report  # the complete analyses
        assert get(f"{srv.url}edition/999")[0] == 404
        assert get(f"{srv.url}../../etc/passwd")[0] == 404
        assert get(f"{srv.url}favicon.ico")[0] == 204


def test_as_subscriber_shows_their_exact_message(stored, monkeypatch):
    cfg, store, ed = stored
    monkeypatch.setenv(cfg.web.unsubscribe_secret_env, "s3cret-for-tests")
    cfg.web.public_url = "https://news.example.org"
    with preview.start(store, cfg, as_email="ADA@example.org") as srv:
        code, _, mail = get(f"{srv.url}edition/{ed.id}/email.html")
        assert code == 200 and "Ada Lovelace" in mail and "Sample Reader" not in mail
        assert "https://news.example.org/unsubscribe?token=" in mail
        code, _, page = get(f"{srv.url}edition/{ed.id}")
        assert "Ada Lovelace" in page and "List-Unsubscribe" in page
        code, _, eml = get(f"{srv.url}edition/{ed.id}/message.eml")
        assert code == 200 and "To: Ada Lovelace <ada@example.org>" in eml


def test_unknown_subscriber_is_a_usage_error(stored, cli, project):
    cfg, store, ed = stored
    with pytest.raises(preview.PreviewError, match="no such subscriber"):
        preview.make_app(store, cfg, as_email="nobody@example.org")
    r = cli("preview", "--no-open", "--port", "0", "--as", "nobody@example.org")
    assert r.code == 2 and "no such subscriber" in r.err


def test_unrendered_edition_says_how_to_render_it(project):
    cfg = load_config(project.config)
    store = Store.open(cfg.store_path)
    ed = reference_edition()
    store.upsert_papers([e.paper for e in ed.entries])
    from newsletter.models import Edition

    new = Edition(date=ed.date, profile="cv", language="zh", title=ed.title, status="selected")
    store.save_selection(new, [e.paper.id for e in ed.entries])
    with preview.start(store, cfg) as srv:
        code, _, page = get(f"{srv.url}edition/{new.id}")
        assert code == 200 and "--until render" in page
        assert get(f"{srv.url}archive/2026-02-09/cv.html")[0] == 404
    with pytest.raises(preview.PreviewError, match="no edition"):
        preview.edition_url("http://127.0.0.1:1/", store, ed.date, "other")
    store.close()
