"""Each reader's own issue, assembled from one render: order, ranks, counts, size, safety, speed.

The edition is rendered once (MJML + premailer), cut into per-paper fragments
(newsletter.assembly.Parts) and joined per reader; these tests hold that to the same standards
as the whole edition: every reader under the size budget, valid and safe HTML, their own papers
only, their own signed feedback links, and MJML never run for a reader.
"""

from __future__ import annotations

import email
import random
import re
from dataclasses import replace
from email import policy as email_policy
from html.parser import HTMLParser
from pathlib import Path

import lxml.etree
import lxml.html
import pytest

from newsletter.assembly import (
    EMAIL,
    FB_UP,
    NAME,
    UNSUBSCRIBE_URL,
    Parts,
    assemble,
    assemble_wire,
    compile_parts,
    parse_parts,
)
from newsletter.config import Config, load_config
from newsletter.deliver import send_edition
from newsletter.deliver.message import new_message_id
from newsletter.deliver.send import message_factory
from newsletter.deliver.tokens import make_feedback_token, verify_feedback_token
from newsletter.errors import ConfigError
from newsletter.mime import canonical
from newsletter.models import Analysis, Edition, EditionEntry, Subscriber
from newsletter.pipeline import stage_render
from newsletter.render import personalize, render_edition
from newsletter.render.email import HTML_BUDGET, mjml_calls, size_of
from newsletter.render.sanitize import one_line
from newsletter.store import Store
from tests.servers.render_data import paper, reference_edition, with_extra_entries
from tests.servers.smtp import FaultSMTPServer
from tests.test_deliver import FAST
from tests.test_render_hostile import _check_html

URL = "https://news.example.org"
SECRET = "feedback-secret-for-tests-0123456789"


def _cfg(public_url: str = URL, language: str = "zh") -> Config:
    return Config.model_validate(
        {"profiles": [{"name": "cv", "title": "Arxiv Computer Vision Papers", "categories": ["cs.CV"],
                       "language": language}], "web": {"public_url": public_url},
         "smtp": {"from": "Digest <digest@example.org>"}}
    )


def twelve(language: str = "zh") -> Edition:
    """The reference day's ten papers and two more: the union of every reader's picks."""
    extra = []
    for n in (11, 12):
        p = paper(n, title=f"Extra paper {n}: sparse video tokens at scale")
        extra.append(EditionEntry(p, 0, Analysis(p.id, language, "abstract", f"**Summary:** paper {n} works.",
                                                 [f"Paper {n} cuts tokens by {n}x."])))
    return replace(with_extra_entries(reference_edition(), extra), language=language)


def flat(s: str) -> str:
    return " ".join(s.split())


def titles(ed: Edition) -> dict[str, str]:
    return {e.paper.id: one_line(e.paper.title) for e in ed.entries}


def fb_for(email_addr: str, profile: str = "cv"):
    def url(paper_id: str, vote: int) -> str:
        return f"{URL}/feedback/{make_feedback_token(SECRET.encode(), email_addr, profile, paper_id, vote)}"
    return url


class _Balance(HTMLParser):
    """Every non-void element closed in order: the assembled HTML is one well-formed document."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def well_formed(doc: str) -> None:
    b = _Balance()
    b.feed(doc)
    b.close()
    assert not b.errors and not b.stack, (b.errors[:3], b.stack[-3:])
    tree = lxml.html.document_fromstring(doc)
    assert tree.find("body") is not None


@pytest.fixture(scope="module")
def rendered():
    ed = twelve()
    return ed, render_edition(ed, _cfg(), reader_max=5)


def test_assembling_every_paper_is_the_rendered_issue_and_parts_survive_json(rendered):
    ed, r = rendered
    parts = Parts.from_json(r.parts)
    assert Parts.from_json(parts.to_json()) == parts
    assert parts.ids == [e.paper.id for e in ed.entries]
    whole = assemble(parts, parts.ids)
    assert (whole.html, whole.text, whole.count) == (r.html, r.text, 12)
    assert "<!--nl:" not in r.html and "%%NL_PART" not in r.text
    assert re.findall(r"%%NL_\w+%%", r.html + r.text) == ["%%NL_NAME%%", "%%NL_UNSUBSCRIBE_URL%%"] * 2


def test_without_readers_the_issue_is_the_one_rendered_before(rendered):
    """Everyone gets everything: the same allowance and (but for whitespace) the same HTML as a
    plain render of the whole edition, no feedback links, no title-only section."""
    ed = reference_edition()
    r = render_edition(ed, _cfg())
    assert r.max_cards is None and r.allowance == 360 and r.html_size == size_of(r.html) == r.worst_size
    tree = lxml.html.document_fromstring(r.html)
    assert len(tree.xpath("//ol[contains(@class,'toc')]/li")) == 10 and not tree.xpath("//p[@class='fb']")
    ranks = [one_line(x.text_content()).split(" ")[0] for x in tree.xpath("//p[@class='rank']")]
    assert ranks == [f"#{i}" for i in range(1, 11)]


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_reader_gets_exactly_their_papers_in_their_order(language):
    ed = twelve(language)
    r = render_edition(ed, _cfg(language=language), reader_max=5)
    parts = Parts.from_json(r.parts)
    ids = [e.paper.id for e in ed.entries]
    mine = [ids[7], ids[0], ids[11]]
    a = assemble(parts, mine, fb_for("ann@example.org"))
    assert a.count == 3
    tree = lxml.html.document_fromstring(a.html)
    names = titles(ed)
    assert [one_line(x.text_content()) for x in tree.xpath("//ol[contains(@class,'toc')]/li/a")] == \
           [names[i] for i in mine]
    assert [one_line(x.text_content()) for x in tree.xpath("//h3[@class='pt']/a")] == [names[i] for i in mine]
    ranks = [one_line(x.text_content()).split(" ")[0] for x in tree.xpath("//p[@class='rank']")]
    assert ranks == ["#1", "#2", "#3"]
    html_text, text = flat(tree.text_content()), flat(a.text)
    for pid, title in names.items():
        if pid not in mine:
            assert title not in html_text and title not in text, title
            assert pid not in a.html and pid not in a.text
    assert [text.index(names[i]) for i in mine] == sorted(text.index(names[i]) for i in mine)
    assert [m for m in re.findall(r"#(\d+) ", a.text)] == ["1", "2", "3"]
    words = {"zh": ("2026-02-09 · 3 篇论文", "今天为您精选了 3 篇新论文。"),
             "en": ("2026-02-09 · 3 papers", "3 new papers selected for you today.")}[language]
    for w in words:
        assert w in html_text and w in text
    assert not tree.xpath("//ol[contains(@class,'toc')]")[1:]  # no title-only section: they fit
    # the inbox preview line is their own top paper's takeaway
    pre = tree.xpath("//body/div[contains(@style,'display:none')]")[0].text_content()
    assert pre == parts.preheaders[mine[0]] and pre != parts.preheaders[ids[0]]
    # text links are numbered 1..n in order of appearance, and listed once each
    refs = [int(x) for x in re.findall(r"\[(\d+)\]", a.text.split("\nLinks:\n")[0])]
    listed = re.findall(r"^\[(\d+)\] (\S+)$", a.text.split("\nLinks:\n")[1], re.M)
    assert sorted(set(refs)) == [int(n) for n, _ in listed] == list(range(1, len(listed) + 1))


@pytest.mark.parametrize("language,one", [("zh", ("1 篇论文", "今天为您精选了 1 篇新论文。")),
                                          ("en", ("1 paper", "1 new paper selected for you today."))])
def test_one_paper_is_singular_and_unknown_or_repeated_ids_are_skipped(language, one):
    ed = twelve(language)
    parts = Parts.from_json(render_edition(ed, _cfg(language=language), reader_max=5).parts)
    pid = ed.entries[3].paper.id
    a = assemble(parts, ["9999.99999", pid, pid, "not-a-paper"])
    assert a.count == 1
    for w in one:
        assert w in flat(lxml.html.document_fromstring(a.html).text_content()) and w in flat(a.text)
    assert "1 papers" not in a.html and "1 papers" not in a.text
    nothing = assemble(parts, [])
    assert nothing.count == 0 and ("今天没有论文。" if language == "zh" else "No papers today.") in nothing.text
    well_formed(nothing.html)


def test_papers_beyond_max_cards_are_title_only_and_only_then_listed(rendered):
    ed, r = rendered
    parts = Parts.from_json(r.parts)
    parts.max_cards = 2
    ids = parts.ids
    a = assemble(parts, ids[:4])
    tree = lxml.html.document_fromstring(a.html)
    assert len(tree.xpath("//p[@class='rank']")) == 2
    toc, dropped = tree.xpath("//ol[contains(@class,'toc')]")
    assert len(toc.xpath("./li")) == 4 and len(dropped.xpath("./li")) == 2
    assert "另有 2 篇论文见网页存档" in a.html and "另有 2 篇论文见网页存档" in a.text
    one = assemble(parts, ids[:3])
    assert "另有 1 篇论文见网页存档" in one.html
    fits = assemble(parts, ids[:2])
    assert len(lxml.html.document_fromstring(fits.html).xpath("//ol[contains(@class,'toc')]")) == 1
    assert "另有" not in fits.html and "另有" not in fits.text


def _subsets(ids: list[str], k: int, n: int, seed: int) -> list[list[str]]:
    rnd = random.Random(seed)
    return [rnd.sample(ids, rnd.randint(1, k)) for _ in range(n)] + [ids[:k], ids[-k:]]


def _check_reader(html: str, text: str, who: str) -> None:
    out = personalize(html, name="名" * 100, email=who, unsubscribe_url=f"{URL}/unsubscribe?token=" + "x" * 400)
    assert size_of(out) <= HTML_BUDGET
    well_formed(out)
    _check_html(html)
    tree = lxml.html.document_fromstring(html)
    assert not [c.text for c in tree.iter(lxml.etree.Comment) if c.text.startswith("nl:")]  # no marker left
    assert "%%NL_PART" not in text
    assert not re.search(r"%%NL_(?!NAME|EMAIL|UNSUBSCRIBE_URL)", html + text)


@pytest.mark.timeout(180)
def test_every_reader_fits_the_budget_and_is_safe_html():
    """Long analyses (every one cut) and twelve papers: any reader of up to five papers, feedback
    links included, is under the budget after personalisation, well-formed and free of active content."""
    ed = twelve()
    ed = replace(ed, entries=[replace(e, analysis=replace(e.analysis, text=e.analysis.text * 3)) for e in ed.entries])
    r = render_edition(ed, _cfg(), reader_max=5)
    assert r.worst_size <= HTML_BUDGET - 1_500
    parts = Parts.from_json(r.parts)
    who = "a.rather.long.address.of.a.reader@department.university.example.org"
    for ids in _subsets(parts.ids, 5, 150, seed=1):
        a = assemble(parts, ids, fb_for(who))
        _check_reader(a.html, a.text, who)


@pytest.mark.timeout(300)
def test_a_huge_union_keeps_every_reader_under_budget_with_title_only_cards():
    entries = []
    for i in range(1, 41):
        p = paper(i, title=f"A long paper title number {i} about diffusion models and video generation")
        findings = [f"Finding {k} of paper {i}: " + "important result " * 30 for k in range(5)]
        entries.append(EditionEntry(p, i, Analysis(p.id, "en", "abstract", "Text " * 500, findings)))
    ed = replace(reference_edition(), language="en", entries=entries)
    r = render_edition(ed, _cfg(language="en"), reader_max=30)
    assert r.max_cards is not None and r.max_cards < 30 and r.allowance == 0
    parts = Parts.from_json(r.parts)
    for ids in _subsets(parts.ids, 30, 25, seed=2):
        a = assemble(parts, ids, fb_for("ann@example.org"))
        _check_reader(a.html, a.text, "ann@example.org")
        assert "Text Text" not in a.html and "Text Text" not in a.text  # allowance 0: no analysis in either part
        if len(ids) > r.max_cards:
            assert f"{len(ids) - r.max_cards} more paper" in a.html



@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_bytes_deliver_sends_are_the_str_assembly_personalised_and_canonical(language):
    """assemble_wire (the same walk over Parts compiled to canonical bytes, per-recipient values filled
    in) gives exactly canonical(personalize(assemble(...))), and the edition's bound of the longest
    line holds for every recipient whose values are within the widths it assumed."""
    ed = twelve(language)
    r = render_edition(ed, _cfg(language=language), reader_max=6)
    parts = Parts.from_json(r.parts)
    parts.html.append("<p>%%NL_NAME%% in the skeleton, 100%% sure</p>")
    widths = {NAME: 600, EMAIL: 120, UNSUBSCRIBE_URL: 600, FB_UP: 400}
    wire = compile_parts(parts, widths)
    assert wire is not None and None not in wire.lines
    names = ["", "Ada Lovelace", 'Zoë "Z" O\'Neil, <PhD> & co', "名" * 120, "%%NL_EMAIL%% a\r\nb\x00"]
    for k, ids in enumerate(_subsets(parts.ids, 6, 40, seed=3) + [[], parts.ids[:1], parts.ids * 2]):
        who = f"reader{k}@example.org"
        name, url = names[k % len(names)], f"{URL}/unsubscribe?token=t{k}&x=<'\">"
        for max_cards in (None, 3):
            parts.max_cards = wire.parts.max_cards = max_cards
            a = assemble(parts, ids, fb_for(who) if k % 4 else None)
            w = assemble_wire(wire, ids, fb_for(who) if k % 4 else None, name=name, unsubscribe_url=url, email=who)
            for got, line, part, html in ((w.html, w.html_line, a.html, True), (w.text, w.text_line, a.text, False)):
                want = canonical(personalize(part, name=name, unsubscribe_url=url, email=who, html=html))
                assert got == want
                assert line is not None and line >= max(map(len, want.split(b"\r\n")))
            assert w.count == a.count
    tight = compile_parts(parts, {**widths, FB_UP: 10})  # a feedback URL wider than assumed: measure instead
    w = assemble_wire(tight, parts.ids[:2], fb_for("ann@example.org"), name="Ann", unsubscribe_url=URL)
    assert w.html_line is None and w.text_line is None
    assert compile_parts(parts).lines == (None, None)  # no widths: no bound
    parts.cards_html[parts.ids[0]].append("%%NL_NAME%% in a card: assembled the str way")
    assert compile_parts(parts, widths) is None

FORGERIES = [
    "<!--nl:cards:0--> <!--nl:/items--> --> <!-- %%NL_RANK%% %%NL_L0%% %%NL_FB_UP%% %%NL_LINKS%%",
    "%%NL_PART cards:1%%\n%%NL_PART /cards%%\n%%NL_PART dropped%%\n&#37;&#37;NL_PART items:0&#37;&#37;",
    "%%NL_ITEMS%% %%NL_PREHEADER%% <!--nl:pre:0-->x<!--nl:/pre--> %%NL_DROPPED_NOTE%%",
]


def test_hostile_text_cannot_forge_a_marker_or_a_slot():
    entries = []
    for i, bad in enumerate(FORGERIES * 2, start=1):
        p = paper(i, title=f"Forged {i}: {bad.splitlines()[0]}", abstract=bad)
        p.categories = ["cs.CV", bad.splitlines()[0][:40]]
        p.pdf_url = f"https://arxiv.org/pdf/{bad.splitlines()[0]}"
        entries.append(EditionEntry(p, i, Analysis(p.id, "en", "fulltext", f"{bad}\n\n{bad}", [bad, "plain"])))
    ed = Edition(date=reference_edition().date, profile="cv", language="en", title="Forged - 2026-02-09",
                 summary=FORGERIES[1], entries=entries)
    r = render_edition(ed, _cfg(language="en"), reader_max=4)
    parts = Parts.from_json(r.parts)
    assert parts.ids == [e.paper.id for e in entries] and len(parts.cards_html) == 6
    for ids in ([entries[3].paper.id, entries[1].paper.id], [e.paper.id for e in entries]):
        a = assemble(parts, ids, fb_for("ann@example.org"))
        tree = lxml.html.document_fromstring(a.html)
        assert len(tree.xpath("//p[@class='rank']")) == min(len(ids), 4)
        assert len(tree.xpath("//ol[contains(@class,'toc')]")[0].xpath("./li")) == len(ids)
        assert len(re.findall(r"^#\d+ ", a.text, re.M)) == min(len(ids), 4)
        _check_reader(a.html, a.text, "ann@example.org")
        assert "%\u200b%NL_RANK" in a.text and "&lt;!--nl:cards:0--&gt;" in a.html


def test_a_template_without_markers_is_one_config_line(project):
    from newsletter.templating import PACKAGE_TEMPLATES

    cfg = load_config(project.config)
    src = (PACKAGE_TEMPLATES / "email.mjml.j2").read_text()
    folder = project.dir / "templates"
    folder.mkdir()
    (folder / "email.mjml.j2").write_text(src.replace("<!--nl:{{ nl }}:cards-->", ""))
    with pytest.raises(ConfigError, match=r"templates: email.mjml.j2: .*per-reader markers"):
        render_edition(reference_edition(), cfg)
    with pytest.raises(ValueError, match="items"):
        parse_parts("<html></html>", "", ["1"], nonce="0123456789abcdef")


def test_mjml_runs_once_per_edition_however_many_readers(monkeypatch):
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)
    ed = twelve()
    ed = replace(ed, entries=ed.entries[1:5])  # short analyses: fits at the first attempt
    before = mjml_calls()
    r = render_edition(ed, _cfg(), reader_max=3)
    assert mjml_calls() - before == 1
    done = replace(ed, html=r.html, text=r.text, parts=r.parts)
    ids = [e.paper.id for e in ed.entries]
    rnd = random.Random(3)
    picks = {f"reader{i}@example.org": rnd.sample(ids, rnd.randint(1, 3)) for i in range(300)}
    f = message_factory(_cfg(), done, picks)
    for who in picks:
        f.build(who, "Reader", new_message_id(f.domain))
    assert mjml_calls() - before == 1


def _feedback_links(html: str) -> list[tuple[str, str]]:
    """(paper id, vote) of each card's two links, checked against the signature."""
    out = []
    for href in lxml.html.document_fromstring(html).xpath("//p[@class='fb']/a/@href"):
        assert href.startswith(f"{URL}/feedback/")
        addr, listname, pid, vote = verify_feedback_token(SECRET.encode(), href.rsplit("/", 1)[1])
        out.append((addr, listname, pid, vote))
    return out


def test_messages_carry_the_readers_papers_and_their_signed_feedback_links(rendered, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)
    ed, r = rendered
    ids = [e.paper.id for e in ed.entries]
    picks = {"Ann@Example.org": [ids[9], ids[2]], "bob@example.org": ids[4:9]}
    f = message_factory(_cfg(), replace(ed, html=r.html, text=r.text, parts=r.parts), picks)
    names = titles(ed)
    for who, mine in (("ann@example.org", picks["Ann@Example.org"]), ("bob@example.org", picks["bob@example.org"])):
        for eightbit in (False, True):
            fast = email.message_from_bytes(f.build(who, "R", "<1.x@example.org>", eightbit), policy=email_policy.default)
            plain = email.message_from_bytes(f.build_message(who, "R", "<1.x@example.org>", eightbit).as_bytes(),
                                             policy=email_policy.default)  # both as they go out
            assert [p.get_content() for p in fast.walk() if not p.is_multipart()] == \
                   [p.get_content() for p in plain.walk() if not p.is_multipart()]
            assert str(fast["Subject"]) == str(plain["Subject"]) == \
                   f"Arxiv Computer Vision Papers - 2026-02-09 · {len(mine)} 篇论文"
        html = fast.get_body(("html",)).get_content()
        text = fast.get_body(("plain",)).get_content().replace("\r\n", "\n")
        shown = [one_line(x.text_content()) for x in lxml.html.document_fromstring(html).xpath("//h3[@class='pt']/a")]
        assert shown == [names[i] for i in mine]
        assert _feedback_links(html) == [(who, "cv", pid, v) for pid in mine for v in (1, -1)]
        text_urls = re.findall(rf"^\[\d+\] ({re.escape(URL)}/feedback/\S+)$", text, re.M)
        assert [verify_feedback_token(SECRET.encode(), u.rsplit("/", 1)[1])[2:] for u in text_urls] == \
               [(pid, v) for pid in mine for v in (1, -1)]
    # no picks: the whole edition as rendered (cards for as many as one reader may get, the rest
    # by title), without feedback links: nothing was chosen for them
    whole = f.build_message("carol@example.org", "C", "<2.x@example.org>")
    html = whole.get_body(("html",)).get_content()
    tree = lxml.html.document_fromstring(html)
    assert len(tree.xpath("//h3[@class='pt']")) == r.max_cards == 5 and "/feedback/" not in html
    assert [len(ol.xpath("./li")) for ol in tree.xpath("//ol[contains(@class,'toc')]")] == [12, 7]
    assert str(whole["Subject"]).endswith("· 12 篇论文")


def test_send_edition_mails_each_reader_their_own_issue(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)
    cfg = _cfg()
    cfg.smtp.host, cfg.smtp.security, cfg.smtp.timeout = "127.0.0.1", "none", 5
    ed = twelve()
    ed = replace(ed, entries=ed.entries[:6])
    store = Store.open(tmp_path / "t.db")
    store.upsert_papers([e.paper for e in ed.entries])
    for e in ed.entries:
        store.put_analysis(e.analysis)
    new = Edition(date=ed.date, profile="cv", language="zh", title=ed.title, status="analyzed")
    store.save_selection(new, [e.paper.id for e in ed.entries])
    store.update_edition(new.id, summary=ed.summary, status="analyzed")
    ids = [e.paper.id for e in ed.entries]
    picks = {"ann@example.org": [ids[5], ids[1]], "bob@example.org": [ids[0]]}
    store.save_picks(new.id, picks)
    done = stage_render(store, cfg, store.get_edition(ed.date, "cv"))
    assert done.parts and store.get_edition(ed.date, "cv").parts == done.parts
    readers = [Subscriber(email=e, name=e[:3], profiles=["cv"]) for e in (*picks, "carol@example.org")]
    with FaultSMTPServer() as srv:
        cfg.smtp.port = srv.port
        send_edition(store, cfg, store.get_edition(ed.date, "cv"), readers, policy=FAST)
    got = {r.rcpt: email.message_from_bytes(r.data, policy=email_policy.default) for r in srv.handler.received}
    names = titles(ed)
    # carol has no picks: the whole edition, with as many cards as one reader may get (2) and the rest by title
    for who, mine in {**picks, "carol@example.org": ids}.items():
        html = got[who].get_body(("html",)).get_content()
        tree = lxml.html.document_fromstring(html)
        assert [one_line(x.text_content()) for x in tree.xpath("//h3[@class='pt']/a")] == [names[i] for i in mine[:2]]
        assert [one_line(x.text_content()) for x in tree.xpath("//ol[contains(@class,'toc')]")[0].xpath("./li/a")] \
            == [names[i] for i in mine]
        assert str(got[who]["Subject"]).endswith(f"· {len(mine)} 篇论文")
        assert _feedback_links(html) == ([(who, "cv", p, v) for p in mine for v in (1, -1)] if who in picks else [])
    store.close()


@pytest.mark.timeout(180)
def test_a_readers_issue_on_a_phone_light_and_dark(tmp_path: Path):
    """A reader's issue (their cards, feedback links, title-only items) at 375 px: no sideways
    scrolling, no request leaves the page, and every text (the small feedback links included) keeps
    4.5:1 contrast in light and dark (tests/servers/contrast.js)."""
    import json

    from tests.servers.browser import Browser
    from tests.test_email_layout import CONTRAST_JS

    ed = twelve("en")
    parts = Parts.from_json(render_edition(ed, _cfg(language="en"), reader_max=5).parts)
    parts.max_cards = 2
    a = assemble(parts, [parts.ids[i] for i in (10, 3, 0, 5)], fb_for("ann@example.org"))
    page = tmp_path / "reader.html"
    page.write_text(personalize(a.html, name="Ann", unsubscribe_url=f"{URL}/unsubscribe?token=x"))
    with Browser(tmp_path / "browser") as b:
        for dark in (False, True):
            b.emulate_dark(dark)
            v = b.visit(page.as_uri(), 375, "dark" if dark else "light")
            assert v.scroll_width <= 375 and not v.errors
            assert all(u.startswith("file:") for u in v.requests), v.requests
            assert b.evaluate("document.querySelectorAll('p.fb a').length") == 4
            r = json.loads(b.evaluate(CONTRAST_JS))
            assert r["dark"] is dark and r["worst"][0]["ratio"] >= 4.5, r["worst"][:3]
            fb = b.evaluate("getComputedStyle(document.querySelector('p.fb a')).color")
            assert fb == ("rgb(138, 180, 248)" if dark else "rgb(82, 96, 109)")


def test_unreadable_parts_stop_the_send_with_one_line(rendered, monkeypatch):
    from newsletter.errors import DeliveryError

    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)
    ed, r = rendered
    stale = replace(ed, html=r.html, text=r.text, parts=r.parts.replace('"version":1', '"version":0'))
    with pytest.raises(DeliveryError, match="stored parts"):
        message_factory(_cfg(), stale, {"ann@example.org": [ed.entries[0].paper.id]})
    assert message_factory(_cfg(), stale, {}).subject.endswith("12 篇论文")  # no picks: parts not needed
