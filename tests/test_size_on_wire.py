"""Size as transmitted: the HTML part under 100 KB and the message under 150 KB on the wire, for
long CJK (zh) and long English analyses, with and without 8BITMIME; the encoding follows EHLO."""

from __future__ import annotations

import email
import re
from dataclasses import replace
from email import policy as email_policy

import pytest

from newsletter.config import Config
from newsletter.deliver.message import MessageFactory
from newsletter.mime import canonical, encoded_size, wire_size
from newsletter.models import Analysis, EditionEntry
from newsletter.render import MESSAGE_BUDGET, render_edition
from newsletter.render.email import HTML_BUDGET
from tests.servers.render_data import paper, reference_edition
from tests.servers.smtp import FaultSMTPServer

SECTIONS = ("Problem", "Method", "Results", "Limitations", "Why it matters")


def english_edition():
    """Ten papers with ~9,000-character English analyses (an LLM on a verbose day)."""
    entries = []
    for i in range(1, 11):
        p = paper(i, title=f"Scaling video diffusion transformers with sparse attention, part {i}")
        text = "\n\n".join(f"**{h}:** " + f"The authors of paper {i} study {h.lower()} in depth; " * 30
                           for h in SECTIONS)
        findings = [f"Finding {k}: a {k * 3}% gain over the strongest baseline on benchmark {k}." for k in range(4)]
        entries.append(EditionEntry(p, i, Analysis(p.id, "en", "fulltext", text, findings)))
    return replace(reference_edition(), language="en", entries=entries, summary="Today: " + "video models. " * 200)


def cjk_edition():
    """The reference zh LLM day with every analysis doubled: long CJK text."""
    ed = reference_edition()
    entries = [replace(e, analysis=replace(e.analysis, text=e.analysis.text + "\n\n" + e.analysis.text))
               for e in ed.entries]
    return replace(ed, entries=entries)


def _cfg(public_url: str = "", attach: str = "html", language: str = "zh") -> Config:
    return Config.model_validate({
        "profiles": [{"name": "cv", "categories": ["cs.CV"], "language": language}],
        "web": {"public_url": public_url}, "render": {"attach": attach},
        "smtp": {"from": "News <news@example.org>"},
    })


def _parts(raw: bytes) -> list[tuple[str, str, int]]:
    """(content type, Content-Transfer-Encoding, bytes of the body as transmitted) per leaf part,
    cut out of the raw message at its boundaries."""
    out = []
    for chunk in re.split(rb"\r\n--=_[0-9a-f]+_\d+(?:--)?\r\n", raw)[1:]:
        head, _, body = chunk.partition(b"\r\n\r\n")
        cte = re.search(rb"^Content-Transfer-Encoding: (\S+)", head, re.M | re.I)
        if cte:
            ctype = re.search(rb"^Content-Type: ([^;\s]+)", head, re.M | re.I).group(1).decode().lower()
            out.append((ctype, cte.group(1).decode(), len(body)))
    return out


CASES = [(kind, url, attach) for kind in ("zh", "en") for url, attach in
         (("", "html"), ("", "markdown"), ("", "none"), ("https://news.example.org", "html"))]


@pytest.fixture(scope="module")
def rendered():
    eds = {"zh": cjk_edition(), "en": english_edition()}
    return {(k, url, att): (eds[k], render_edition(eds[k], _cfg(url, att, eds[k].language))) for k, url, att in CASES}


@pytest.mark.parametrize("kind,url,attach", CASES)
@pytest.mark.parametrize("eightbit", [False, True])
def test_html_part_and_message_fit_on_the_wire(rendered, kind, url, attach, eightbit):
    ed, r = rendered[(kind, url, attach)]
    assert r.allowance is not None  # long analyses: the email was shortened
    assert wire_size(canonical(r.html)) == r.html_size <= HTML_BUDGET
    done = replace(ed, html=r.html, text=r.text, attachments=r.attachments)
    f = MessageFactory(_cfg(url, attach, ed.language), done)
    raw = f.build("reader@example.org", "名字" * 20, "<1.x@example.org>", eightbit)
    parts = _parts(raw)
    [(_, cte, html_size)] = [p for p in parts if p[0] == "text/html"]
    assert html_size <= 100_000, (cte, html_size)
    assert len(raw) <= MESSAGE_BUDGET
    if eightbit:
        assert cte in ("8bit", "quoted-printable")  # premailer's long lines may rule out 8bit
    else:
        assert cte in ("quoted-printable", "base64", "7bit")
        sizes = encoded_size(canonical(r.html))
        assert html_size <= min(sizes["quoted-printable"], sizes["base64"]) + 3_000  # + the personal bits
    if url or attach == "none":
        assert r.attachments == [] and len(parts) == 2
    if r.attachments:
        assert len(r.attachments) == 1 and len(parts) == 3


def test_cjk_favours_base64_and_english_quoted_printable():
    zh = canonical("视频生成模型的稀疏注意力。" * 500)
    en = canonical("<p style=\"margin:0\">Sparse attention for video models.</p>\n" * 500)
    zs, es = encoded_size(zh), encoded_size(en)
    assert zs["base64"] < zs["quoted-printable"] and es["7bit"] < es["quoted-printable"] < es["base64"]
    assert wire_size(zh) == zs["base64"]


@pytest.mark.parametrize("announce", [True, False])
def test_encoding_follows_the_servers_ehlo(rendered, announce):
    from newsletter.deliver.send import send_test_copy

    ed, r = rendered[("zh", "", "none")]
    done = replace(ed, html=r.html, text=r.text, attachments=r.attachments)
    with FaultSMTPServer(eightbitmime=announce) as server:
        cfg = _cfg()
        cfg.smtp.host, cfg.smtp.port, cfg.smtp.security = "127.0.0.1", server.port, "none"
        send_test_copy(cfg, done, "reader@example.org")
        [got] = server.handler.received
    ctes = {ctype: cte for ctype, cte, _ in _parts(got.data)}
    if announce:
        assert ctes["text/plain"] == "8bit"  # short lines: 8bit is safe and smallest
    else:
        assert ctes["text/plain"] in ("base64", "quoted-printable")
        assert all(b < 128 for b in got.data)  # nothing 8-bit on the wire
    msg = email.message_from_bytes(got.data, policy=email_policy.default)
    assert "%%NL_" not in msg.get_body(("html",)).get_content()  # decodes, personalised
