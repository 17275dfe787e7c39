"""The email as a phone reader sees it: height, order, preheader, subject, links, dark mode.

Chromium tests fail (never skip) when chromium is missing; pages are files on disk or the
preview on 127.0.0.1, and Chromium's resolver maps every other host to nothing.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from dataclasses import replace
from pathlib import Path

import lxml.html
import pytest

from newsletter.config import Config
from newsletter.deliver.message import MessageFactory
from newsletter.render import personalize, render_edition
from newsletter.render.sanitize import md_to_html
from tests.servers.browser import Browser
from tests.servers.render_data import LONG_URL, hostile_edition, reference_edition, with_extra_entries

# Full-page height (document scrollHeight, CSS px) of the reference edition at 375 px, measured
# on main at 373cdda (before this layout) with Browser.visit(file, 375): render_edition(
# reference_edition(), cfg with public_url https://news.example.org), personalised for
# "Sample Reader". Without public_url it measured 15,960 px.
BASELINE_PHONE_HEIGHT = 15_076
CONTRAST_JS = (Path(__file__).parent / "servers" / "contrast.js").read_text()


def _cfg(public_url: str = "https://news.example.org") -> Config:
    return Config.model_validate(
        {"profiles": [{"name": "cv", "title": "Arxiv Computer Vision Papers", "categories": ["cs.CV"],
                       "language": "zh"}], "web": {"public_url": public_url},
         "smtp": {"from": "Digest <digest@example.org>"}}
    )


@pytest.fixture(scope="module")
def rendered():
    ed = reference_edition()
    return ed, render_edition(ed, _cfg())


@pytest.fixture(scope="module")
def email_file(rendered, tmp_path_factory) -> Path:
    _, r = rendered
    f = tmp_path_factory.mktemp("email") / "email.html"
    f.write_text(personalize(r.html, name="Sample Reader", unsubscribe_url="https://news.example.org/u?t=x"))
    return f


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with Browser(tmp_path_factory.mktemp("browser")) as b:
        yield b


@pytest.mark.timeout(120)
def test_phone_height_is_at_most_60_percent_of_before_and_every_paper_is_there(rendered, email_file, browser):
    ed, _ = rendered
    browser.emulate_dark(False)
    v = browser.visit(email_file.as_uri(), 375, "phone")
    assert v.scroll_width <= 375, "horizontal scrolling at 375 px"
    assert v.height <= 0.6 * BASELINE_PHONE_HEIGHT, f"{v.height} px > 60% of {BASELINE_PHONE_HEIGHT}"
    page = browser.evaluate("document.body.innerText")
    for e in ed.entries:
        assert page.count(" ".join(e.paper.title.split())) >= 2, e.paper.title  # in the list and on its card
    # the papers come first: the list starts within the first screen
    top = browser.evaluate("document.querySelector('ol.toc').getBoundingClientRect().top + scrollY")
    assert top < 300


def test_one_compact_list_then_a_short_summary_then_the_cards(rendered):
    ed, r = rendered
    tree = lxml.html.document_fromstring(r.html)
    lists = tree.xpath("//ol[contains(@class,'toc')]")
    assert len(lists) == 1 and len(lists[0].xpath("./li")) == len(ed.entries)
    body = tree.text_content()
    assert body.index(ed.entries[-1].paper.title[:30]) < body.index("执行摘要") < body.index("Kaiyi Huang")
    assert "好的，这是一份" not in body  # the summary's preamble is not in the excerpt
    assert "附件" not in body  # the complete report does not fit the message: no attachment is promised
    first = tree.xpath("//ol[contains(@class,'toc')]/li")[0]
    assert "we introduce the task of cinematic video generation" in first.text_content()  # one-line takeaway


def test_list_links_work_in_every_client(rendered):
    ed, _ = rendered
    # with [web] public_url: the archive page's card; without: the arXiv page. Never "#anchor".
    for cfg, want in ((_cfg(), "https://news.example.org/archive/2026-02-09/cv.html#{}"),
                      (_cfg(""), "https://arxiv.org/abs/{}")):
        html = render_edition(replace(ed, entries=ed.entries[:3]), cfg).html
        hrefs = lxml.html.document_fromstring(html).xpath("//ol[contains(@class,'toc')]/li/a/@href")
        assert hrefs == [want.format(e.paper.versioned_id) for e in ed.entries[:3]]


def test_preheader_is_the_top_takeaway(rendered):
    _, r = rendered
    tree = lxml.html.document_fromstring(r.html)
    hidden = tree.xpath("//body/div[contains(@style,'display:none')]")[0].text_content()
    assert hidden.startswith("CineScene: To address this, we introduce the task")
    assert "Automatic overview" not in hidden and "extractive" not in hidden.lower()


def test_subject_subline_and_footer_show_the_title_and_plurals(rendered):
    ed, r = rendered
    cfg = _cfg()
    assert MessageFactory(cfg, ed).subject == "Arxiv Computer Vision Papers - 2026-02-09 · 10 篇论文"
    one = replace(ed, language="en", entries=ed.entries[:1], title="Robotics digest - 2026-02-09")
    f = MessageFactory(cfg, one)
    assert f.subject == "arXiv · Robotics digest - 2026-02-09 · 1 paper"
    assert f.list_id == '"Robotics digest" <cv.example.org>'  # the same every day
    html = render_edition(one, _cfg("")).html
    text = lxml.html.document_fromstring(html).text_content()
    assert "2026-02-09 · 1 paper" in text and "1 papers" not in text and "1 new paper selected" in text
    assert "“Robotics digest” edition" in " ".join(text.split())
    assert "“cv”" not in text and "· cv ·" not in text
    assert "「Arxiv Computer Vision Papers」" in r.html and "「cv」" not in r.html and "「cv」" not in r.text


def test_urls_in_analyses_are_links_only_when_safe():
    html = md_to_html(f"code: https://github.com/x/y, mail a@b.org, see {LONG_URL} or javascript:alert(1) "
                      "ftp://x.org/f and train.py")
    links = lxml.html.fragment_fromstring(html, create_parent="div").xpath("//a/@href")
    assert links == ["https://github.com/x/y", "mailto:a@b.org", LONG_URL]


@pytest.mark.timeout(120)
def test_long_urls_break_instead_of_scrolling(browser, tmp_path):
    hostile = hostile_edition(language="en")
    ed = with_extra_entries(replace(reference_edition(), entries=[]), hostile.entries)
    r = render_edition(ed, _cfg())
    assert f'href="{LONG_URL}"' in r.html  # linkified
    f = tmp_path / "hostile.html"
    f.write_text(r.html)
    browser.emulate_dark(False)
    v = browser.visit(f.as_uri(), 375, "hostile")
    assert v.scroll_width <= 375 and not v.errors


def _contrast(b: Browser, url: str, name: str) -> dict:
    b.visit(url, 375, name)
    return json.loads(b.evaluate(CONTRAST_JS))


def _fmt(worst: list[dict]) -> str:
    return "; ".join(f"{w['ratio']} {w['tag']}.{w['cls']} {w['color']} on {w['bg']} {w['text']!r}" for w in worst)


@pytest.mark.timeout(180)
def test_text_contrast_in_light_and_emulated_dark(email_file, browser):
    """Every visible text element: computed `color` against the effective background (first
    ancestor with a non-transparent background, blended when translucent), WCAG luminance,
    computed in the page (tests/servers/contrast.js). ≥ 4.5:1 in both themes."""
    for dark in (False, True):
        browser.emulate_dark(dark)
        r = _contrast(browser, email_file.as_uri(), "dark" if dark else "light")
        assert r["dark"] is dark and r["n"] > 100
        assert r["worst"][0]["ratio"] >= 4.5, f"dark={dark}: {_fmt(r['worst'])}"
    browser.emulate_dark(False)


def _png_pixels(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """A tiny PNG decoder for Chromium's screenshots: 8-bit RGB/RGBA, not interlaced."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and color in (2, 6) and interlace == 0
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw, stride, prev, out = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += [tuple(line[x * bpp:x * bpp + 3]) for x in range(w)]
        prev = line
    return w, h, out


def _lum(rgb: tuple[int, int, int]) -> float:
    def f(v: float) -> float:
        v /= 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    return 0.2126 * f(rgb[0]) + 0.7152 * f(rgb[1]) + 0.0722 * f(rgb[2])


def _ratio(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = _lum(a), _lum(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


SAMPLES = ("p.hi", "ol.toc a", ".tk", "h3.pt a", ".meta", "ul.kf li", ".an p, .an li", ".foot", "a.btn", "a.btn2")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("flag", ["--force-dark-mode", "--enable-features=WebContentsForceDark"])
def test_text_contrast_when_the_client_forces_dark(email_file, tmp_path, flag):
    """Forced dark, two ways: `--force-dark-mode` (the OS says dark: our prefers-color-scheme
    rules apply, so computed styles tell the truth) and Chromium's auto-dark
    (`WebContentsForceDark`, what Gmail/Outlook apps do: colours inverted at paint time, which
    computed styles do NOT show). So the check is on pixels: for the first element of each
    kind of body text, a screenshot of its box is decoded (pure-python PNG), its most common
    colour taken as the background and the pixel farthest from it in luminance as the text
    colour (glyph stems reach the full text colour); their WCAG ratio must be ≥ 4.5:1."""
    with Browser(tmp_path, extra_flags=(flag,)) as b:
        if flag == "--force-dark-mode":
            r = _contrast(b, email_file.as_uri(), "forced")
            assert r["dark"] is True, "--force-dark-mode should make prefers-color-scheme dark"
            assert r["worst"][0]["ratio"] >= 4.5, _fmt(r["worst"])
        else:
            b.visit(email_file.as_uri(), 375, "autodark")
        results = {}
        for sel in SAMPLES:
            box = b.evaluate(f"JSON.stringify((() => {{ const e = document.querySelector({json.dumps(sel)});"
                             " const r = e.getBoundingClientRect(); return [r.left, r.top + scrollY, r.width, r.height];"
                             " })())")
            assert box, f"no {sel} in the email"
            x, y, w, h = json.loads(box)
            shot = b.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                          clip={"x": x, "y": y, "width": max(w, 1), "height": max(h, 1), "scale": 1})
            _, _, px = _png_pixels(base64.b64decode(shot["data"]))
            counts: dict[tuple[int, int, int], int] = {}
            for p in px:
                counts[p] = counts.get(p, 0) + 1
            bg = max(counts, key=counts.__getitem__)
            fg = max(px, key=lambda p: abs(_lum(p) - _lum(bg)))
            results[sel] = (round(_ratio(fg, bg), 2), bg, fg)
        dark_bg = [sel for sel, (_, bg, _) in results.items() if _lum(bg) < 0.2 and not sel.startswith("a.btn")]
        assert len(dark_bg) >= len(SAMPLES) - 3, f"not dark: {results}"
        low = {k: v for k, v in results.items() if v[0] < 4.5}
        assert not low, f"{flag}: low contrast {low}"


@pytest.mark.timeout(120)
def test_dark_rules_survive_premailer_and_color_scheme_is_declared(rendered):
    _, r = rendered
    head = r.html[: r.html.index("</head>")]
    assert '<meta name="color-scheme" content="light dark">' in head
    assert '<meta name="supported-color-schemes" content="light dark">' in head
    styles = "".join(re.findall(r"<style[^>]*>(.*?)</style>", head, re.S))
    assert ":root" in styles and "color-scheme:light dark" in styles
    assert "@media (prefers-color-scheme: dark)" in styles and "!important" in styles


def test_archive_page_names_the_list_by_its_title_not_its_internal_name():
    from newsletter.render.archive import report_page

    page = report_page(reference_edition())
    assert "· cv ·" not in page and "Arxiv Computer Vision Papers" in page
