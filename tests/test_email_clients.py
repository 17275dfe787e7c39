"""Client compatibility as a test: every HTML part is linted against caniemail's data.

For the clients we support (CLIENTS: Gmail web/iOS/Android, Outlook Windows/Mac/web/iOS/Android,
Apple Mail macOS/iOS, Yahoo web/iOS/Android) a feature that caniemail marks unsupported or only
partly supported is allowed in two cases only:
(a) bare MJML needs it too: a one-section mj-text document through the same mjml2html and
    inline_css has the same (feature, client) finding — MJML's own markup, tested by MJML;
(b) ALLOWED names the fallback in our email that makes it harmless, with a check on the HTML that
    the fallback (or the condition that keeps the partial support whole) is really there.
Anything else fails with a list of (feature, clients). A new feature in the template either gets a
fallback and an ALLOWED entry here, or it goes.

The linter is npm's @jsx-email/doiuse-email (caniemail's database), pinned in
tools/caniemail/package-lock.json and installed by `make caniemail` (part of `make test`);
tools/caniemail/lint.mjs prints its findings as JSON. Without node or the package this test
fails, it never skips.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest

from newsletter.assembly import Parts, assemble
from newsletter.config import Config
from newsletter.render import render_edition
from newsletter.render.email import inline_css
from tests.servers.render_data import reference_edition

TOOL = Path(__file__).resolve().parent.parent / "tools" / "caniemail"
CLIENTS = (
    "gmail.desktop-webmail", "gmail.ios", "gmail.android",
    # outlook-com (Outlook on the web) is in caniemail's data but not in doiuse-email's client
    # list; lint.mjs sets it directly
    "outlook.windows", "outlook.macos", "outlook.outlook-com", "outlook.ios", "outlook.android",
    "apple-mail.macos", "apple-mail.ios",
    "yahoo.desktop-webmail", "yahoo.ios", "yahoo.android",
)
BARE_MJML = ("<mjml><mj-body><mj-section><mj-column><mj-text>Hello</mj-text>"
             "</mj-column></mj-section></mj-body></mjml>")


def _styles(html: str, prop: str) -> list[str]:
    """Every value of CSS property `prop` in the document (style attributes and style elements)."""
    return [v.strip() for v in re.findall(rf"(?<![\w-]){re.escape(prop)}\s*:\s*([^;\"}}]+)", html)]


def _preheader(html: str) -> str:
    m = re.search(r'<div style="(display:none;[^"]*)"', html)
    return m.group(1) if m else ""


def _wrap_has_word_break(html: str) -> bool:
    """Every inline style with overflow-wrap also carries word-break (supported everywhere here)."""
    styles = [s for s in re.findall(r'style="([^"]*)"', html) if "overflow-wrap" in s]
    return all("word-break" in s for s in styles)


# feature (as doiuse-email names it) -> (the fallback that makes it harmless, check on the HTML)
ALLOWED: dict[str, tuple[str, Callable[[str], bool]]] = {
    "overflow-wrap": (
        "`overflow-wrap: anywhere` is a refinement: the same rules set `word-break: break-word`, "
        "which every client above supports, so long words and URLs still wrap",
        _wrap_has_word_break,
    ),
    "display:none": (
        "only the preheader (mj-preview) uses it; Outlook for Windows also hides it by mso-hide:all, "
        "and max-height:0 + overflow:hidden + opacity:0 hide it elsewhere",
        lambda h: "mso-hide:all" in _preheader(h) and "max-height:0" in _preheader(h)
        and _styles(h, "display").count("none") == 1,
    ),
    "opacity": (
        "only the preheader's opacity:0; display:none (Yahoo) and mso-hide:all (Outlook Windows) hide it",
        lambda h: "opacity:0" in _preheader(h) and len(_styles(h, "opacity")) == 1,
    ),
    "overflow": (
        "only overflow:hidden on the hidden preheader (mj-preview) and overflow-x:auto on wide "
        "tables; where ignored the preheader stays hidden by display:none/mso-hide:all and a wide "
        "table widens the card instead of scrolling in its box",
        lambda h: all(v == "hidden" for v in _styles(h, "overflow"))
        and all(v == "auto" for v in _styles(h, "overflow-x")),
    ),
    "border-radius": (
        "round corners on cards, badges and buttons are decoration: Outlook for Windows shows square "
        "corners; Yahoo's gap (the elliptical `/` notation) is not used",
        lambda h: all("/" not in v for v in _styles(h, "border-radius")),
    ),
    "border": (
        "Outlook for Windows: hairline rules (1-3px, under its 8px limit) under an analysis, beside a "
        "quote and around table cells; one it drops loses no content (spacing still separates)",
        lambda h: all(int(n) <= 3 for v in _styles(h, "border") + _styles(h, "border-top")
                      + _styles(h, "border-left") for n in re.findall(r"(\d+)px", v)),
    ),
    "font-weight": (
        "only 400/600/700 (Yahoo supports the hundreds; Outlook for Windows shows 600 as bold)",
        lambda h: set(_styles(h, "font-weight")) <= {"400", "600", "700", "bold", "normal"},
    ),
    "text-decoration": (
        "only `text-decoration: none` on title links and buttons; where ignored (Gmail apps with "
        "non-Google accounts) links are underlined, which is what a link looks like anyway",
        lambda h: set(_styles(h, "text-decoration")) == {"none"},
    ),
    "<ul>, <ol> and <dl>": (
        "the partial support is about `<ol reversed>` and `<li value>`, which the email never uses "
        "(the rank is the list order)",
        lambda h: not re.search(r"<ol[^>]*\breversed\b|<li[^>]*\bvalue=", h),
    ),
    "aria-label attribute": (
        "mjml-python labels the body with mj-title; Yahoo strips it, and the same title is the "
        "message subject and the h1 a screen reader reads first",
        lambda h: bool(re.search(r'<h1 class="t"', h)),
    ),
}


def _cfg(public_url: str = "https://news.example.org") -> Config:
    return Config.model_validate(
        {"profiles": [{"name": "cv", "title": "Arxiv Computer Vision Papers", "categories": ["cs.CV"],
                       "language": "zh"}], "web": {"public_url": public_url},
         "smtp": {"from": "Digest <digest@example.org>"}}
    )


def lint(html: str) -> set[tuple[str, str]]:
    """caniemail's (feature, client) findings, unsupported or partly supported, for CLIENTS."""
    node = shutil.which("node")
    assert node, "node is not installed: the caniemail lint needs node >= 18 and npm (`make caniemail`)"
    assert (TOOL / "node_modules" / "@jsx-email" / "doiuse-email").is_dir(), (
        "the caniemail linter is not installed: run `make caniemail` (npm ci in tools/caniemail)")
    p = subprocess.run([node, str(TOOL / "lint.mjs"), *CLIENTS], input=html, capture_output=True,
                       text=True, timeout=120, cwd=TOOL)
    assert p.returncode == 0, f"lint.mjs failed ({p.returncode}):\n{p.stderr[-2000:]}"
    return {(f["feature"], f["client"]) for f in json.loads(p.stdout)["findings"]}


@cache
def bare_findings() -> frozenset[tuple[str, str]]:
    from mjml import mjml2html

    return frozenset(lint(inline_css(mjml2html(BARE_MJML))))


def _reference():
    return render_edition(reference_edition(), _cfg()).html


def _extractive():
    """Like the demo: English, every analysis extractive (no LLM), no archive URL."""
    ed = replace(reference_edition(), language="en")
    for e in ed.entries:
        if e.analysis:
            e.analysis.kind = "extractive"
    return render_edition(ed, _cfg(public_url="")).html


def _personal():
    """One reader's own issue: three of the papers, one title-only, with "more/less like this" links."""
    parts = Parts.from_json(render_edition(reference_edition(), _cfg(), reader_max=3).parts)
    parts.max_cards = 2
    return assemble(parts, parts.ids[4:7], lambda p, v: f"https://news.example.org/feedback/t.{p}{v}").html


EDITIONS = {"reference": _reference, "extractive": _extractive, "personal": _personal}


@cache
def findings(name: str) -> tuple[str, frozenset[tuple[str, str]]]:
    html = EDITIONS[name]()
    return html, frozenset(lint(html))


def unexplained(found: frozenset[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for feature, client in sorted(found - bare_findings()):
        if feature not in ALLOWED:
            out[feature].append(client)
    return dict(out)


def test_the_linter_runs_and_sees_a_known_gap():
    """A sanity check of the tool: display:none is partial in Outlook for Windows (caniemail)."""
    got = lint('<html><body><div style="display:none">x</div></body></html>')
    assert ("display:none", "outlook.windows") in got
    assert {c for _, c in got} <= set(CLIENTS)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", sorted(EDITIONS))
def test_every_feature_beyond_bare_mjml_has_a_named_fallback(name):
    html, found = findings(name)
    bad = unexplained(found)
    assert not bad, (
        f"{name} edition: features some supported clients lack, with no fallback in ALLOWED "
        f"(tests/test_email_clients.py) — add a fallback and name it there, or remove the feature:\n"
        + "\n".join(f"  {f}: {', '.join(cs)}" for f, cs in bad.items())
    )
    broken = [f for f, (_, check) in ALLOWED.items()
              if any(x == f for x, _ in found - bare_findings()) and not check(html)]
    assert not broken, f"{name} edition: the fallback ALLOWED names is not in the HTML for: {broken}"


@pytest.mark.timeout(180)
def test_every_allowed_entry_is_still_needed():
    """A stale ALLOWED entry would let a feature back in unnoticed: each one matches a finding."""
    used = {f for name in EDITIONS for f, _ in findings(name)[1] - bare_findings()}
    assert set(ALLOWED) <= used, f"ALLOWED entries no edition needs any more: {sorted(set(ALLOWED) - used)}"
